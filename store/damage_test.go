package store_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/tillworks/posd/payflow"
	"github.com/tillworks/posd/store"
)

// goodJournal writes a journal of n payments (every fifth one still open,
// some with refunds) and a print job each, and returns its path.
func goodJournal(t testing.TB, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "posd.db")
	s, err := store.Open(path)
	require.NoError(t, err)
	for i := range n {
		st := payflow.StatePaid
		if i%5 == 0 {
			st = payflow.StateInDoubt
		}
		p := payment(fmt.Sprintf("pay_%04d", i), fmt.Sprintf("order-%04d", i), day1, st)
		if i%3 == 0 {
			p.Refunds = []*payflow.Refund{{ID: "r1", RequestNo: "26112000000012345678", Amount: 10, State: payflow.RefundRefunded, CreatedAt: day1}}
		}
		_, err := s.Create(p)
		require.NoError(t, err)
		j := &store.PrintJob{ID: "payment/" + p.ID, PaymentID: p.ID, State: store.JobPending, Data: make([]byte, 300)}
		_, err = s.AddJob(j)
		require.NoError(t, err)
		if i%2 == 1 { // printed: only its id stays
			j.State = store.JobDone
			require.NoError(t, s.SaveJob(j))
		}
	}
	_, err = s.ReserveSeq(100)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	return path
}

// usedBytes is the size of the pages a journal holds (its high-water mark).
func usedBytes(t testing.TB, path string) int {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	require.NoError(t, err)
	defer db.Close()
	var n int64
	require.NoError(t, db.View(func(tx *bolt.Tx) error { n = tx.Size(); return nil }))
	return int(n)
}

func sum(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return sha256.Sum256(b)
}

// damage writes a copy of good changed by f next to it.
func damage(t *testing.T, good string, f func(b []byte) []byte) string {
	t.Helper()
	b, err := os.ReadFile(good)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "posd.db")
	require.NoError(t, os.WriteFile(path, f(b), 0o600))
	return path
}

// TestDamagedJournal: truncated, zeroed and bit-flipped journals never make
// posd panic (it did: invalid freelist page, SIGBUS, SIGSEGV, exit code 2)
// and are never written to. A damaged one is refused with a *DamagedError
// that says what to do; one whose damage bbolt cannot see (a flip in a
// free page) opens and reads whole. Either way, recover copies out what
// can be read.
func TestDamagedJournal(t *testing.T) {
	const n = 300
	good := goodJournal(t, n)
	info, err := os.Stat(good)
	require.NoError(t, err)
	size := int(info.Size())
	const page = 4096
	used := usedBytes(t, good) // bbolt grows files ahead of what they hold

	type fixture struct {
		name      string
		f         func([]byte) []byte
		mustError bool
	}
	fixtures := []fixture{
		{"empty", func(b []byte) []byte { return nil }, true},
		{"only the first meta page", func(b []byte) []byte { return b[:page] }, true},
		{"cut to the two meta pages", func(b []byte) []byte { return b[:2*page] }, true},
		{"cut in half", func(b []byte) []byte { return b[:size/2] }, true},
		{"cut a page short of what it holds", func(b []byte) []byte { return b[:used-page] }, true},
		{"cut a byte short of what it holds", func(b []byte) []byte { return b[:used-1] }, true},
		{"its unused tail cut off", func(b []byte) []byte { return b[:used] }, false},
		{"all zeroes", func(b []byte) []byte { return make([]byte, len(b)) }, true},
		{"both meta pages zeroed", func(b []byte) []byte { clear(b[:2*page]); return b }, true},
	}
	for pg := 2; pg*page < size; pg += max(1, size/page/12) {
		fixtures = append(fixtures, fixture{fmt.Sprintf("page %d zeroed", pg), func(b []byte) []byte {
			clear(b[pg*page : (pg+1)*page])
			return b
		}, false})
	}
	for i, off := range []int{20, 24, 40, 48, 56, page + 20, page + 56} {
		fixtures = append(fixtures, fixture{fmt.Sprintf("meta bit flip %d at %d", i, off), func(b []byte) []byte { b[off] ^= 0x10; return b }, false})
	}
	for off := 2*page + 7; off < size; off += size / 40 {
		fixtures = append(fixtures, fixture{fmt.Sprintf("bit flip at %d", off), func(b []byte) []byte { b[off] ^= 0x04; return b }, false})
	}
	for off := 2 * page; off < size; off += size / 20 {
		fixtures = append(fixtures, fixture{fmt.Sprintf("page header smashed at %d", off), func(b []byte) []byte {
			page0 := off - off%page
			for i := 8; i < 16; i++ { // flags, count, overflow
				b[page0+i] = 0xff
			}
			return b
		}, false})
	}

	refused := 0
	for _, fx := range fixtures {
		t.Run(fx.name, func(t *testing.T) {
			path := damage(t, good, fx.f)
			before := sum(t, path)
			s, err := store.Open(path)
			var de *store.DamagedError
			if err != nil {
				refused++
				require.ErrorAs(t, err, &de, "a damaged journal is refused as damaged, not %v", err)
				assert.Contains(t, err.Error(), "posd journal recover")
				assert.Equal(t, before, sum(t, path), "a refused journal is not written to")
			} else {
				require.False(t, fx.mustError, "a %s journal was opened", fx.name)
				// Undetected damage must not hide anything recovery needs.
				open, err := s.Open()
				require.NoError(t, err)
				assert.Len(t, open, n/5)
				require.NoError(t, s.Close())
				before = sum(t, path) // opened read-write, as a daemon would
			}

			// Recovery copies out what can be read, never touching the file.
			out := filepath.Join(t.TempDir(), "recovered.db")
			rep, rerr := store.Recover(path, out)
			assert.Equal(t, before, sum(t, path), "recover does not write to the damaged file")
			if rerr != nil {
				assert.True(t, fx.mustError || de != nil, "recover failed on a journal that opened: %v", rerr)
				return
			}
			if _, err := store.Verify(out, true); err != nil {
				t.Fatalf("the recovered journal is not sound: %v (report %+v)", err, rep)
			}
			r, err := store.Open(out)
			require.NoError(t, err)
			defer r.Close()
			assert.LessOrEqual(t, rep.Payments, n)
			if _, err := store.Verify(path, true); err == nil {
				assert.Equal(t, n, rep.Payments, "nothing lost from a journal the full check passes")
			}
			first, err := r.ReserveSeq(1)
			require.NoError(t, err)
			if rep.Payments > 0 {
				assert.Greater(t, first, uint64(100), "numbering carries on past the damaged journal's")
			}
		})
	}
	t.Logf("%d of %d damaged journals refused", refused, len(fixtures))
	assert.Greater(t, refused, len(fixtures)/3)
}

// TestRecoverKeepsEverythingFromASoundJournal: recover on a sound journal
// is a full copy: the same payments, indexes and jobs.
func TestRecoverKeepsEverythingFromASoundJournal(t *testing.T) {
	good := goodJournal(t, 40)
	out := filepath.Join(t.TempDir(), "r.db")
	rep, err := store.Recover(good, out)
	require.NoError(t, err)
	assert.Equal(t, 40, rep.Payments)
	assert.Equal(t, 40, rep.Jobs)
	assert.Empty(t, rep.Lost)
	full, err := store.Verify(out, true)
	require.NoError(t, err)
	assert.Equal(t, 40, full.Payments)
	assert.Equal(t, 8, full.Open)
	assert.Equal(t, 40, full.Jobs)

	s, err := store.Open(out)
	require.NoError(t, err)
	defer s.Close()
	p, err := s.ByOrder("order-0003")
	require.NoError(t, err)
	assert.Len(t, p.Refunds, 1)
	ps, err := s.RefundDay(day1.Format("2006-01-02"))
	require.NoError(t, err)
	assert.Len(t, ps, 14)
	has, err := s.HasJob("payment/pay_0007")
	require.NoError(t, err)
	assert.True(t, has, "printed receipts stay printed: not printed again")
	pending, err := s.PendingJobs()
	require.NoError(t, err)
	assert.Len(t, pending, 20, "receipts still to print are kept")
	assert.Len(t, pending[0].Data, 300, "with their bytes")
	j := &store.PrintJob{ID: "payment/new", State: store.JobPending}
	added, err := s.AddJob(j)
	require.NoError(t, err)
	assert.True(t, added)
	assert.Greater(t, j.Seq, uint64(40), "job numbers carry on")

	_, err = store.Recover(good, out)
	assert.Error(t, err, "never overwrites")
}

// TestVerifyLockedAndBackup: a journal held by a running posd is reported
// locked (not damaged); a backup taken while it runs is a sound journal.
func TestVerifyLockedAndBackup(t *testing.T) {
	good := goodJournal(t, 10)
	s, err := store.Open(good)
	require.NoError(t, err)
	defer s.Close()
	_, err = store.Verify(good, true)
	require.ErrorIs(t, err, store.ErrLocked)
	var de *store.DamagedError
	assert.False(t, errors.As(err, &de))

	backup := filepath.Join(t.TempDir(), "backup.db")
	f, err := os.Create(backup)
	require.NoError(t, err)
	_, err = s.Backup(f)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	rep, err := store.Verify(backup, true)
	require.NoError(t, err)
	assert.Equal(t, 10, rep.Payments)
}

// TestRecoverKeepsTheSchema: a journal from before payments named their
// gateway, recovered, is still upgraded at the next start: its payments
// get a gateway, none is left orphaned.
func TestRecoverKeepsTheSchema(t *testing.T) {
	out := filepath.Join(t.TempDir(), "r.db")
	rep, err := store.Recover(filepath.Join("testdata", "journal-before-gateways.db"), out)
	require.NoError(t, err)
	assert.Equal(t, 5, rep.Payments)
	s, err := store.Open(out)
	require.NoError(t, err)
	defer s.Close()
	n, err := s.AssignGateway("sqb", "T1", day1)
	require.NoError(t, err)
	assert.Equal(t, 5, n, "the upgrade still runs on the recovered journal")
	p, err := s.Get("pay_old1")
	require.NoError(t, err)
	assert.Equal(t, "sqb", p.Gateway)
}

// TestAssignGatewaySkipsUnreadable: one unreadable record does not stop
// the upgrade (and so the daemon's start).
func TestAssignGatewaySkipsUnreadable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "posd.db")
	b, err := os.ReadFile(filepath.Join("testdata", "journal-before-gateways.db"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, b, 0o600))
	db, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("payments")).Put([]byte("pay_old3"), []byte("{not json"))
	}))
	require.NoError(t, db.Close())
	s, err := store.Open(path)
	require.NoError(t, err, "a settled payment's record is not what start-up reads")
	defer s.Close()
	n, err := s.AssignGateway("sqb", "", day1)
	require.NoError(t, err)
	assert.Equal(t, 4, n)
}

// TestRandomDamage flips random bytes in the pages a journal holds, a
// different set each run (POSD_DAMAGE_SEED replays one): the check,
// opening and recovery never crash the process, and never pass a journal
// whose records they cannot all read; the start's check (a walk of the
// file's pages) refuses whatever bbolt's own check finds. A damaged offset that bbolt's own
// check read in a goroutine of its own once crashed this test.
func TestRandomDamage(t *testing.T) {
	good := goodJournal(t, 200)
	used := usedBytes(t, good)
	seed := uint64(time.Now().UnixNano())
	if v, err := strconv.ParseUint(os.Getenv("POSD_DAMAGE_SEED"), 10, 64); err == nil {
		seed = v
	}
	t.Logf("POSD_DAMAGE_SEED=%d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	for i := range 150 {
		flips := 1 + rng.IntN(4)
		path := damage(t, good, func(b []byte) []byte {
			for range flips {
				b[2*4096+rng.IntN(used-2*4096)] ^= byte(1 + rng.IntN(255))
			}
			return b
		})
		rep, err := store.Verify(path, true)
		if err != nil {
			// What only the full check runs (bbolt's own check, and a walk
			// of every key through bbolt) finds nothing the start's page
			// walk lets through.
			_, quick := store.Verify(path, false)
			for _, p := range rep.Problems {
				if strings.HasPrefix(p, "bbolt") || strings.HasPrefix(p, "reading the file failed") {
					require.Error(t, quick, "case %d: the start's check passed a journal the full check finds damaged: %s", i, p)
				}
			}
		}
		if err == nil {
			s, err := store.Open(path)
			require.NoError(t, err, "case %d", i)
			ps, err := s.Day(day1.Format(time.DateOnly))
			require.NoError(t, err, "case %d: the full check passed, so every payment reads", i)
			assert.Len(t, ps, 200, "case %d", i)
			require.NoError(t, s.Close())
		}
		s, err := store.Open(path)
		if err == nil {
			s.Close()
		}
		store.Recover(path, filepath.Join(t.TempDir(), "r.db"))
	}
}

// TestSeal: a clean Close seals the journal, and the next start reads only
// its meta pages and open payments; anything that may have changed the
// file since (a commit whose seal removal a crash lost, a torn meta page,
// a touched or replaced file, a seal from elsewhere) gets the check of
// every page, which still refuses damage.
func TestSeal(t *testing.T) {
	good := goodJournal(t, 50)
	sealBytes, err := os.ReadFile(good + ".sealed")
	require.NoError(t, err, "a clean close seals the journal")

	// written: the journal as a power cut after one more commit leaves it,
	// with the seal whose removal at the start was lost.
	written := func(t *testing.T) string {
		at := copyKeepingTime(t, good)
		require.NoError(t, os.WriteFile(at+".sealed", sealBytes, 0o600))
		s, rep, err := store.OpenChecked(at)
		require.NoError(t, err)
		require.True(t, rep.Sealed)
		_, err = os.Stat(at + ".sealed")
		require.ErrorIs(t, err, os.ErrNotExist, "the seal goes when the journal opens for writing")
		_, err = s.Create(payment("pay_more", "order-more", day1, payflow.StatePaid))
		require.NoError(t, err)
		b, err := os.ReadFile(at) // every commit is synced: this is what the disk holds
		require.NoError(t, err)
		require.NoError(t, s.Close())
		path := filepath.Join(t.TempDir(), "posd.db")
		require.NoError(t, os.WriteFile(path, b, 0o600))
		return path
	}
	for _, tc := range []struct {
		name   string
		path   func(t *testing.T) string
		seal   func() []byte
		sealed bool
	}{
		{"as closed", func(t *testing.T) string { return copyKeepingTime(t, good) }, func() []byte { return sealBytes }, true},
		{"no seal (a crash)", func(t *testing.T) string { return copyKeepingTime(t, good) }, nil, false},
		{"committed to since", written, func() []byte { return sealBytes }, false},
		{"touched", func(t *testing.T) string {
			path := copyKeepingTime(t, good)
			require.NoError(t, os.Chtimes(path, time.Now(), time.Now().Add(time.Hour)))
			return path
		}, func() []byte { return sealBytes }, false},
		{"a meta page torn, its time kept", func(t *testing.T) string {
			path := copyKeepingTime(t, good)
			fi, err := os.Stat(path)
			require.NoError(t, err)
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			require.NoError(t, err)
			_, err = f.WriteAt([]byte{0xff}, 4096+60)
			require.NoError(t, err)
			require.NoError(t, f.Close())
			require.NoError(t, os.Chtimes(path, fi.ModTime(), fi.ModTime()))
			return path
		}, func() []byte { return sealBytes }, false},
		{"the seal unreadable", func(t *testing.T) string { return copyKeepingTime(t, good) }, func() []byte { return sealBytes[:len(sealBytes)/2] }, false},
		{"another journal's seal", func(t *testing.T) string { return copyKeepingTime(t, goodJournal(t, 49)) }, func() []byte { return sealBytes }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.path(t)
			if tc.seal != nil {
				require.NoError(t, os.WriteFile(path+".sealed", tc.seal(), 0o600))
			}
			s, rep, err := store.OpenChecked(path)
			require.NoError(t, err)
			assert.Equal(t, tc.sealed, rep.Sealed)
			open, err := s.Open()
			require.NoError(t, err)
			assert.NotEmpty(t, open)
			require.NoError(t, s.Close())
		})
	}

	// A page damaged after a commit the seal predates is refused, as
	// without a seal.
	t.Run("committed to since, then damaged", func(t *testing.T) {
		path := written(t)
		require.NoError(t, os.WriteFile(path+".sealed", sealBytes, 0o600))
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		used := usedBytes(t, path)
		for pg := 2; pg*4096 < used; pg++ {
			for i := 8; i < 16; i++ {
				b[pg*4096+i] = 0xff
			}
		}
		require.NoError(t, os.WriteFile(path, b, 0o600))
		_, _, err = store.OpenChecked(path)
		var de *store.DamagedError
		require.ErrorAs(t, err, &de)
	})
}

// copyKeepingTime copies a journal (without its seal) into a new
// directory with its modification time, as cp -p does.
func copyKeepingTime(t *testing.T, from string) string {
	t.Helper()
	b, err := os.ReadFile(from)
	require.NoError(t, err)
	fi, err := os.Stat(from)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "posd.db")
	require.NoError(t, os.WriteFile(path, b, 0o600))
	require.NoError(t, os.Chtimes(path, fi.ModTime(), fi.ModTime()))
	return path
}

// FuzzStartCheck damages a sound journal at fuzzed places: the start's
// check never crashes the process, and refuses whatever bbolt's own check
// (in the full check) finds.
func FuzzStartCheck(f *testing.F) {
	f.Add(uint32(2*4096+20), byte(0x04), uint32(0), byte(0))
	f.Add(uint32(3*4096+8), byte(0xff), uint32(3*4096+9), byte(0xff))
	f.Add(uint32(5*4096+100), byte(0x80), uint32(9*4096), byte(0x01))
	good := goodJournal(f, 60)
	b, err := os.ReadFile(good)
	require.NoError(f, err)
	used := usedBytes(f, good)
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, off1 uint32, x1 byte, off2 uint32, x2 byte) {
		d := bytes.Clone(b)
		d[2*4096+int(off1)%(used-2*4096)] ^= x1
		d[2*4096+int(off2)%(used-2*4096)] ^= x2
		path := filepath.Join(dir, fmt.Sprintf("fuzz-%d.db", off1))
		require.NoError(t, os.WriteFile(path, d, 0o600))
		defer os.Remove(path)
		_, quick := store.Verify(path, false)
		rep, full := store.Verify(path, true)
		if full == nil {
			return
		}
		for _, p := range rep.Problems {
			if strings.HasPrefix(p, "bbolt") || strings.HasPrefix(p, "reading the file failed") {
				require.Error(t, quick, "the start's check passed a journal the full check finds damaged: %s", p)
			}
		}
	})
}
