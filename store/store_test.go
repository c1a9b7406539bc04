package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/tillworks/posd/payflow"
	"github.com/tillworks/posd/printer"
	"github.com/tillworks/posd/store"
)

// open opens a journal for a test; when the test ends, the journal is
// closed and checked whole — bbolt's own consistency check and posd's
// indexes (Verify, full) — as bbolt's tests end with theirs.
func open(t *testing.T) *store.Store {
	t.Helper()
	path := filepath.Join(t.TempDir(), "posd.db")
	s, err := store.Open(path)
	require.NoError(t, err)
	t.Cleanup(func() {
		s.Close()
		if _, err := os.Stat(path); err != nil {
			return // the test moved or removed it
		}
		rep, err := store.Verify(path, true)
		assert.NoError(t, err, "the journal a test leaves is consistent: %+v", rep)
	})
	return s
}

func payment(id, order string, at time.Time, s payflow.State) *payflow.Payment {
	return &payflow.Payment{ID: id, OrderID: order, Amount: 100, Currency: "CNY", State: s,
		AuthCode: "134567890123456789", AuthCodeMasked: "1345**********6789",
		CreatedAt: at, UpdatedAt: at, History: []payflow.HistoryEntry{{At: at, State: s}}}
}

var day1 = time.Date(2026, 11, 20, 9, 30, 0, 0, time.Local)

func TestCreateGetIndexes(t *testing.T) {
	s := open(t)
	p := payment("pay_a", "A1", day1, payflow.StatePaying)
	_, err := s.Create(p)
	require.NoError(t, err)

	got, err := s.Get("pay_a")
	require.NoError(t, err)
	assert.Equal(t, "A1", got.OrderID)
	assert.Empty(t, got.AuthCode, "the full code never reaches the journal")
	assert.Equal(t, "1345**********6789", got.AuthCodeMasked)
	assert.NotNil(t, got.Refunds)

	got, err = s.ByOrder("A1")
	require.NoError(t, err)
	assert.Equal(t, "pay_a", got.ID)

	existing, err := s.Create(payment("pay_b", "A1", day1, payflow.StatePaying))
	assert.ErrorIs(t, err, payflow.ErrOrderExists)
	require.NotNil(t, existing)
	assert.Equal(t, "pay_a", existing.ID)

	_, err = s.Get("pay_zz")
	assert.ErrorIs(t, err, payflow.ErrNotFound)
	_, err = s.ByOrder("nope")
	assert.ErrorIs(t, err, payflow.ErrNotFound)
	assert.ErrorIs(t, s.Save(payment("pay_zz", "Z", day1, payflow.StatePaid)), payflow.ErrNotFound)

	_, err = s.Create(payment("pay_c", "C1", day1.Add(24*time.Hour), payflow.StatePaid))
	require.NoError(t, err)
	ps, err := s.Day("2026-11-20")
	require.NoError(t, err)
	require.Len(t, ps, 1)
	assert.Equal(t, "pay_a", ps[0].ID)
	ps, err = s.Day("2026-11-21")
	require.NoError(t, err)
	require.Len(t, ps, 1)
	_, err = s.Day("21/11/2026")
	assert.Error(t, err)

	open, err := s.Open()
	require.NoError(t, err)
	require.Len(t, open, 1)
	assert.Equal(t, "pay_a", open[0].ID)
}

func TestNoFullCodeOnDiskAndOpenIndex(t *testing.T) {
	s := open(t)
	p := payment("pay_a", "A1", day1, payflow.StateInDoubt)
	_, err := s.Create(p)
	require.NoError(t, err)
	p.State = payflow.StatePaid
	require.NoError(t, s.Save(p))
	got, err := s.Get("pay_a")
	require.NoError(t, err)
	assert.Empty(t, got.AuthCode)
	assert.Equal(t, "1345**********6789", got.AuthCodeMasked)
	open, err := s.Open()
	require.NoError(t, err)
	assert.Empty(t, open)

	// The code is gone from the file itself, not only from what Get returns.
	path := s.Path()
	require.NoError(t, s.Close())
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.NotContains(t, string(raw), "134567890123456789")
}

func TestOpenKeepsRefundsAndAttention(t *testing.T) {
	s := open(t)
	p := payment("pay_a", "A1", day1, payflow.StatePaid)
	p.Refunds = []*payflow.Refund{{ID: "r1", State: payflow.RefundInDoubt, Amount: 10}}
	_, err := s.Create(p)
	require.NoError(t, err)
	q := payment("pay_b", "B1", day1, payflow.StateNeedsAttention)
	q.NeedsAttention = true
	_, err = s.Create(q)
	require.NoError(t, err)
	open, err := s.Open()
	require.NoError(t, err)
	assert.Len(t, open, 2)
}

func TestFileModeAndLock(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "posd.db")
	require.NoError(t, os.WriteFile(path, nil, 0o644))
	require.NoError(t, os.Remove(path))
	require.NoError(t, os.WriteFile(store.LogFile(path), nil, 0o644)) // an empty log, made by hand
	s, err := store.Open(path)
	require.NoError(t, err)
	defer s.Close()
	for _, f := range []string{path, store.LogFile(path)} {
		fi, err := os.Stat(f)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), f)
	}

	_, err = store.Open(path)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "another posd")
}

func TestReserveSeqDurableAndUnique(t *testing.T) {
	path := filepath.Join(t.TempDir(), "posd.db")
	s, err := store.Open(path)
	require.NoError(t, err)
	a, err := s.ReserveSeq(10)
	require.NoError(t, err)
	assert.Equal(t, uint64(1), a)
	b, _ := s.ReserveSeq(1)
	assert.Equal(t, uint64(11), b)
	_, err = s.ReserveSeq(0)
	assert.Error(t, err)
	require.NoError(t, s.Close())
	s, err = store.Open(path)
	require.NoError(t, err)
	defer s.Close()
	c, _ := s.ReserveSeq(5)
	assert.Equal(t, uint64(12), c, "numbers are never reused across restarts")
}

func TestPrune(t *testing.T) {
	s := open(t)
	old := day1.AddDate(0, 0, -500)
	for _, p := range []*payflow.Payment{
		payment("pay_old_paid", "O1", old, payflow.StatePaid),
		payment("pay_old_attention", "O2", old, payflow.StateNeedsAttention),
		payment("pay_old_live", "O3", old, payflow.StateInDoubt),
		payment("pay_new", "N1", day1, payflow.StatePaid),
	} {
		p.NeedsAttention = p.State == payflow.StateNeedsAttention
		_, err := s.Create(p)
		require.NoError(t, err)
	}
	n, err := s.Prune(context.Background(), day1.AddDate(0, 0, -400))
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	_, err = s.Get("pay_old_paid")
	assert.ErrorIs(t, err, payflow.ErrNotFound)
	_, err = s.ByOrder("O1")
	assert.ErrorIs(t, err, payflow.ErrNotFound)
	for _, id := range []string{"pay_old_attention", "pay_old_live", "pay_new"} {
		_, err := s.Get(id)
		assert.NoError(t, err, id)
	}
	ps, err := s.Day(old.Format(time.DateOnly))
	require.NoError(t, err)
	assert.Len(t, ps, 2)
}

// TestCorruptRecord: a settled payment's unreadable record does not stop
// the till (start-up reads what recovery reads), is an error when read,
// and is named by the full check; an open payment's unreadable record
// stops the start: recovery could not resume it.
func TestCorruptRecord(t *testing.T) {
	path := filepath.Join(t.TempDir(), "posd.db")
	s, err := store.Open(path)
	require.NoError(t, err)
	_, err = s.Create(payment("pay_a", "A1", day1, payflow.StatePaid))
	require.NoError(t, err)
	_, err = s.Create(payment("pay_b", "B1", day1, payflow.StatePaying))
	require.NoError(t, err)
	require.NoError(t, s.Close())
	corrupt := func(id string) {
		db, err := bolt.Open(path, 0o600, nil)
		require.NoError(t, err)
		require.NoError(t, db.Update(func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("payments")).Put([]byte(id), []byte("{not json"))
		}))
		require.NoError(t, db.Close())
	}

	corrupt("pay_a")
	s, err = store.Open(path)
	require.NoError(t, err)
	_, err = s.Get("pay_a")
	require.Error(t, err)
	assert.True(t, strings.Contains(err.Error(), "corrupt"), err.Error())
	assert.False(t, errors.Is(err, payflow.ErrNotFound))
	require.NoError(t, s.Close())
	_, err = store.Verify(path, true)
	var de *store.DamagedError
	require.ErrorAs(t, err, &de)
	assert.Contains(t, err.Error(), "payment pay_a: its record is not readable")

	corrupt("pay_b")
	_, err = store.Open(path)
	require.ErrorAs(t, err, &de)
	assert.Contains(t, err.Error(), "open payment pay_b")
	assert.Contains(t, err.Error(), "posd journal recover")
}

// BenchmarkCommit measures one journal write: a payment state change
// committed and fsynced, as the engine does before each gateway request.
func BenchmarkCommit(b *testing.B) {
	s, err := store.Open(filepath.Join(b.TempDir(), "posd.db"))
	require.NoError(b, err)
	defer s.Close()
	p := payment("pay_bench", "B1", day1, payflow.StatePaying)
	_, err = s.Create(p)
	require.NoError(b, err)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		p.CancelAttempts = i
		if err := s.Save(p); err != nil {
			b.Fatal(err)
		}
	}
}

func TestRefundDay(t *testing.T) {
	s := open(t)
	p := payment("pay_a", "A1", day1, payflow.StatePaid)
	_, err := s.Create(p)
	require.NoError(t, err)
	next := day1.AddDate(0, 0, 1)
	p.Refunds = append(p.Refunds,
		&payflow.Refund{ID: "r1", Amount: 10, State: payflow.RefundRefunded, CreatedAt: next},
		&payflow.Refund{ID: "r2", Amount: 10, State: payflow.RefundRefunded, CreatedAt: next})
	require.NoError(t, s.Save(p))
	ps, err := s.RefundDay(next.Format(time.DateOnly))
	require.NoError(t, err)
	require.Len(t, ps, 1, "one payment, however many refunds it had that day")
	ps, err = s.RefundDay(day1.Format(time.DateOnly))
	require.NoError(t, err)
	assert.Empty(t, ps)

	n, err := s.Prune(context.Background(), next.AddDate(1, 0, 0))
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	ps, err = s.RefundDay(next.Format(time.DateOnly))
	require.NoError(t, err)
	assert.Empty(t, ps, "pruning removes the refund index too")
}

func TestPrintJobs(t *testing.T) {
	s := open(t)
	j := &store.PrintJob{ID: "payment/pay_a", PaymentID: "pay_a", State: store.JobPending, Data: []byte("x")}
	added, err := s.AddJob(j)
	require.NoError(t, err)
	assert.True(t, added)
	added, err = s.AddJob(&store.PrintJob{ID: "payment/pay_a"})
	require.NoError(t, err)
	assert.False(t, added, "a job id is queued once")
	jobs, err := s.PendingJobs()
	require.NoError(t, err)
	require.Len(t, jobs, 1)

	j.State = store.JobDone
	require.NoError(t, s.SaveJob(j))
	jobs, _ = s.PendingJobs()
	assert.Empty(t, jobs)
	added, _ = s.AddJob(&store.PrintJob{ID: "payment/pay_a"})
	assert.False(t, added, "not even after it printed")
	ok, _ := s.HasJob("payment/pay_a")
	assert.True(t, ok)

	// Pruning the payment forgets its job ids.
	_, err = s.Create(payment("pay_a", "A1", day1, payflow.StatePaid))
	require.NoError(t, err)
	_, err = s.Prune(context.Background(), day1.AddDate(1, 0, 0))
	require.NoError(t, err)
	ok, _ = s.HasJob("payment/pay_a")
	assert.False(t, ok)
}

// TestCheckReportsFailedWrites: a full disk answers reads while every
// write fails; Check says so until a write succeeds.
func TestCheckReportsFailedWrites(t *testing.T) {
	s := open(t)
	require.NoError(t, s.Check())
	_, err := s.Create(payment("pay_a", "A1", day1, payflow.StatePaying))
	require.NoError(t, err)
	s.FailWrites(errors.New("write posd.db: no space left on device"))
	require.Error(t, s.Save(payment("pay_a", "A1", day1, payflow.StateInDoubt)))
	err = s.Check()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no space left on device")
	_, err = s.Create(payment("pay_b", "A1", day1, payflow.StatePaying))
	assert.ErrorIs(t, err, payflow.ErrOrderExists, "a refusal is not a write failure")
	assert.Error(t, s.Check(), "still failing")
	s.FailWrites(nil)
	require.NoError(t, s.Save(payment("pay_a", "A1", day1, payflow.StateInDoubt)))
	assert.NoError(t, s.Check())
}

// TestNewerSchemaRefused: a journal written by a newer posd is not opened
// (this one could misread its records or drop their new fields).
func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "posd.db")
	s, err := store.Open(path)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	db, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("meta")).Put([]byte("schema"), []byte("3")) }))
	require.NoError(t, db.Close())
	_, err = store.Open(path)
	require.ErrorIs(t, err, store.ErrNewerSchema)
	assert.Contains(t, err.Error(), "newer posd")
}

// TestPruneInBatches: a backlog larger than one prune transaction is
// pruned whole, batch after batch, keeping what is open among it; a
// cancelled prune stops between batches.
func TestPruneInBatches(t *testing.T) {
	s := open(t)
	old := day1.AddDate(0, 0, -500)
	const n = 2100
	for i := range n {
		st := payflow.StatePaid
		if i == 1500 {
			st = payflow.StateInDoubt
		}
		p := payment(fmt.Sprintf("pay_%05d", i), fmt.Sprintf("O%05d", i), old.Add(time.Duration(i)*time.Second), st)
		if i == 7 {
			p.Refunds = []*payflow.Refund{{ID: "R1", RequestNo: "26112200000001", Amount: 1, State: payflow.RefundRefunded, CreatedAt: old, UpdatedAt: old}}
		}
		_, err := s.Create(p)
		require.NoError(t, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	got, err := s.Prune(ctx, day1)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Zero(t, got, "nothing pruned once cancelled")

	got, err = s.Prune(context.Background(), day1)
	require.NoError(t, err)
	assert.Equal(t, n-1, got)
	ps, err := s.Day(old.Format(time.DateOnly))
	require.NoError(t, err)
	require.Len(t, ps, 1)
	assert.Equal(t, "pay_01500", ps[0].ID, "the open payment is kept")
	refunds, err := s.RefundDay(old.Format(time.DateOnly))
	require.NoError(t, err)
	assert.Empty(t, refunds, "the refund index goes with its payment")
}

// TestGroupCommit: writes made at the same time share transactions (fewer
// commits than writes), and one write's refusal (an order that exists)
// fails that write alone.
func TestGroupCommit(t *testing.T) {
	s := open(t)
	_, err := s.Create(payment("pay_dup0", "DUP", day1, payflow.StatePaid))
	require.NoError(t, err)
	burst := func(n int, order func(i int) string) []error {
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				_, errs[i] = s.Create(payment(fmt.Sprintf("pay_%s_%03d", order(i), i), order(i), day1, payflow.StatePaid))
			})
		}
		wg.Wait()
		return errs
	}
	before := s.Commits()
	const n = 64
	for i, err := range burst(n, func(i int) string { return fmt.Sprintf("G%03d", i) }) {
		require.NoError(t, err, "write %d", i)
	}
	got := s.Commits() - before
	t.Logf("%d writes at once, %d commits", n, got)
	assert.Less(t, got, uint64(n), "writes at the same time share commits")

	errs := burst(n, func(i int) string {
		if i%8 == 0 {
			return "DUP" // refused: the order has its payment
		}
		return fmt.Sprintf("H%03d", i)
	})
	for i, err := range errs {
		if i%8 == 0 {
			assert.ErrorIs(t, err, payflow.ErrOrderExists, "write %d", i)
			continue
		}
		require.NoError(t, err, "write %d: another's refusal does not fail it", i)
		_, err := s.ByOrder(fmt.Sprintf("H%03d", i))
		assert.NoError(t, err)
	}
	require.NoError(t, s.Check())
}

// TestJobsDue: a payment saved paid is journaled with its receipt's job in
// the one commit; a job that cannot be rendered does not stop the payment
// being saved; a job already queued is not rendered again.
func TestJobsDue(t *testing.T) {
	s := open(t)
	renders := 0
	s.SetJobsDue(func(p *payflow.Payment) []printer.DueJob {
		if p.State != payflow.StatePaid {
			return nil
		}
		return []printer.DueJob{
			{ID: "payment/" + p.ID, Render: func() (*printer.Job, error) {
				renders++
				return &printer.Job{ID: "payment/" + p.ID, PaymentID: p.ID, State: printer.JobPending, Data: []byte("receipt")}, nil
			}},
			{ID: "broken/" + p.ID, Render: func() (*printer.Job, error) { return nil, errors.New("no font") }},
		}
	})
	p := payment("pay_due", "D1", day1, payflow.StatePaying)
	_, err := s.Create(p)
	require.NoError(t, err)
	has, err := s.HasJob("payment/pay_due")
	require.NoError(t, err)
	assert.False(t, has, "not paid: no receipt")

	before := s.Commits()
	p.State = payflow.StatePaid
	require.NoError(t, s.Save(p))
	assert.Equal(t, uint64(1), s.Commits()-before, "the payment and its receipt in one commit")
	has, err = s.HasJob("payment/pay_due")
	require.NoError(t, err)
	assert.True(t, has)
	has, _ = s.HasJob("broken/pay_due")
	assert.False(t, has, "a job that cannot be rendered is left out")
	got, err := s.Get("pay_due")
	require.NoError(t, err)
	assert.Equal(t, payflow.StatePaid, got.State, "saved whatever the job")

	require.NoError(t, s.Save(p))
	assert.Equal(t, 1, renders, "rendered once")
	j, pending, err := s.NextJob()
	require.NoError(t, err)
	assert.Equal(t, 1, pending)
	assert.Equal(t, "receipt", string(j.Data))
}

// TestPrinterLogoRecord: the record of the logo written into the printer
// survives a restart; an unreadable one reads as none (the logo is
// written again), never as an error that would stop receipts.
func TestPrinterLogoRecord(t *testing.T) {
	path := filepath.Join(t.TempDir(), "posd.db")
	s, err := store.Open(path)
	require.NoError(t, err)
	rec, err := s.PrinterLogo()
	require.NoError(t, err)
	assert.Zero(t, rec)
	want := printer.LogoRecord{Printer: "tcp:192.168.1.50:9100", Sum: "ab12", At: day1.UTC(), Written: true}
	require.NoError(t, s.SetPrinterLogo(want))
	require.NoError(t, s.Close())
	s, err = store.Open(path)
	require.NoError(t, err)
	defer s.Close()
	rec, err = s.PrinterLogo()
	require.NoError(t, err)
	assert.Equal(t, want, rec)
	require.NoError(t, s.PutMeta("printer_logo", []byte("{not json")))
	rec, err = s.PrinterLogo()
	require.NoError(t, err)
	assert.Zero(t, rec)
}

// TestSaveJobLater: a job state that may wait rides with the next write
// (no commit of its own), goes with the checkpoint when no write comes,
// and is written at Close; NextJobAfter skips the jobs the queue printed.
func TestSaveJobLater(t *testing.T) {
	store.SetCheckpointIdle(t, 300*time.Millisecond)
	path := filepath.Join(t.TempDir(), "posd.db")
	s, err := store.Open(path)
	require.NoError(t, err)
	job := func(id string) *store.PrintJob {
		j := &store.PrintJob{ID: id, State: store.JobPending, Data: []byte("x")}
		added, err := s.AddJob(j)
		require.NoError(t, err)
		require.True(t, added)
		return j
	}
	pending := func() int {
		_, n, err := s.NextJob()
		require.NoError(t, err)
		return n
	}
	a, b, c := job("a"), job("b"), job("c")
	next, n, err := s.NextJobAfter(a.Seq)
	require.NoError(t, err)
	assert.Equal(t, "b", next.ID)
	assert.Equal(t, 2, n)

	before := s.Commits()
	a.State = store.JobDone
	s.SaveJobLater(a)
	_, err = s.Create(payment("pay_later1", "L1", day1, payflow.StatePaid))
	require.NoError(t, err)
	assert.Equal(t, before+1, s.Commits(), "the job's state rode with the payment")
	assert.Equal(t, 2, pending())

	b.State = store.JobDone
	require.NoError(t, s.Checkpoint()) // the log is empty: the next checkpoint is b's
	syncs := s.Syncs()
	s.SaveJobLater(b)
	assert.Equal(t, 2, pending(), "not yet")
	require.Eventually(t, func() bool { return pending() == 1 }, 5*time.Second, 10*time.Millisecond, "with the checkpoint when no write comes")
	assert.Equal(t, before+1, s.Commits(), "no record of its own")
	require.Eventually(t, func() bool { return s.Syncs() >= syncs+2 }, 5*time.Second, 10*time.Millisecond)
	time.Sleep(50 * time.Millisecond)
	assert.Equal(t, syncs+2, s.Syncs(), "the checkpoint's two syncs, no more")

	c.State = store.JobDone
	s.SaveJobLater(c)
	require.NoError(t, s.Close())
	s.SaveJobLater(c) // after Close: dropped, not a panic
	s, err = store.Open(path)
	require.NoError(t, err)
	defer s.Close()
	assert.Zero(t, pending(), "written at Close")
}

// TestJobBytesApart: a job's record holds its state, not its bytes, so
// that marking it printing rewrites a few hundred bytes; its bytes come
// back with it, and go when it is done. A job journaled with its bytes in
// its record (before) reads, changes state and is done the same way.
func TestJobBytesApart(t *testing.T) {
	s := open(t)
	receipt := bytes.Repeat([]byte("收款凭证 "), 2000)
	again := append([]byte("重印 "), receipt...)
	for _, legacy := range []bool{false, true} {
		j := &store.PrintJob{ID: fmt.Sprintf("payment/pay_%v", legacy), State: store.JobPending, Data: receipt, ReprintData: again}
		if legacy {
			require.NoError(t, s.PutLegacyJob(j))
		} else {
			added, err := s.AddJob(j)
			require.NoError(t, err)
			require.True(t, added)
		}
		raw, err := s.RawJob(j.Seq)
		require.NoError(t, err)
		if !legacy {
			assert.Less(t, len(raw), 500, "the record holds the state only")
		}
		j.State, j.Attempts = store.JobPrinting, 1
		require.NoError(t, s.SaveJob(&store.PrintJob{ID: j.ID, Seq: j.Seq, State: store.JobPrinting, Attempts: 1}))
		got, _, err := s.NextJob()
		require.NoError(t, err)
		assert.Equal(t, store.JobPrinting, got.State)
		assert.Equal(t, receipt, got.Data, "legacy %v: the bytes stay", legacy)
		assert.Equal(t, again, got.ReprintData)
		got.State = store.JobDone
		require.NoError(t, s.SaveJob(got))
		next, n, err := s.NextJob()
		require.NoError(t, err)
		assert.Nil(t, next)
		assert.Zero(t, n)
	}
}

// TestSaveJobLaterFlood: more writes that may wait than the committer
// holds (a slow disk, a printer draining a backlog) are written at once
// rather than dropped: every job ends done.
func TestSaveJobLaterFlood(t *testing.T) {
	path := filepath.Join(t.TempDir(), "posd.db")
	s, err := store.Open(path)
	require.NoError(t, err)
	const n = 600
	jobs := make([]*store.PrintJob, n)
	for i := range jobs {
		jobs[i] = &store.PrintJob{ID: fmt.Sprintf("payment/pay_%04d", i), State: store.JobPending, Data: []byte("x")}
		_, err := s.AddJob(jobs[i])
		require.NoError(t, err)
	}
	s.SlowSyncs(20 * time.Millisecond)
	busy := make(chan error, 1)
	go func() { _, err := s.Create(payment("pay_slow", "SLOW", day1, payflow.StatePaid)); busy <- err }()
	for _, j := range jobs {
		j.State = store.JobDone
		s.SaveJobLater(j)
	}
	require.NoError(t, <-busy)
	require.NoError(t, s.Close())
	s, err = store.Open(path)
	require.NoError(t, err)
	defer s.Close()
	next, pending, err := s.NextJob()
	require.NoError(t, err)
	assert.Nil(t, next, "every job done")
	assert.Zero(t, pending)
}
