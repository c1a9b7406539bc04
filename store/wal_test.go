package store_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillworks/posd/payflow"
	"github.com/tillworks/posd/printer"
	"github.com/tillworks/posd/store"
)

// diskModel is what a power cut can leave of the journal: the bytes the
// last checkpoint synced (copied as it synced them) and, for every page
// written since, the old bytes, the new ones, or a torn mix of sectors.
type diskModel struct {
	path     string
	synced   []byte // the journal file as the last checkpoint synced it
	pageSize int
}

// cut builds, in dir, the journal and its log as a power cut could leave
// them when bbolt's file was live: the journal's pages written since the
// checkpoint mixed by rng (all old when mix is "old", all new when
// "new"), the log as it is now with keep bytes of it kept (all when
// keep < 0) and junk after them when junk is set.
func (m *diskModel) cut(t *testing.T, rng *rand.Rand, dir string, live []byte, mix string, keep int, junk bool) string {
	t.Helper()
	logBytes, err := os.ReadFile(m.path + ".wal")
	require.NoError(t, err)
	size := len(live)
	if len(live) > len(m.synced) && mix == "random" {
		// Growth is unsynced too: the file may end anywhere past the synced size.
		size = len(m.synced) + rng.IntN((len(live)-len(m.synced))/m.pageSize+1)*m.pageSize
	}
	img := make([]byte, size)
	old := func(i int) []byte {
		p := make([]byte, m.pageSize)
		if i*m.pageSize < len(m.synced) {
			copy(p, m.synced[i*m.pageSize:])
		}
		return p
	}
	for i := 0; i*m.pageSize < size; i++ {
		o, n := old(i), live[i*m.pageSize:min((i+1)*m.pageSize, len(live))]
		dst := img[i*m.pageSize:]
		switch c := rng.IntN(3); {
		case mix == "old" || (mix == "random" && c == 0):
			copy(dst, o)
		case mix == "new" || c == 1:
			copy(dst, n)
		default: // torn: each 512-byte sector old or new
			for s := 0; s < m.pageSize; s += 512 {
				src := o
				if rng.IntN(2) == 0 && s < len(n) {
					src = n
				}
				copy(dst[s:min(s+512, len(dst))], src[s:min(s+512, len(src))])
			}
		}
	}
	if keep >= 0 {
		logBytes = logBytes[:keep]
	}
	if junk {
		tail := make([]byte, 1+rng.IntN(300))
		for i := range tail {
			tail[i] = byte(rng.Uint32())
		}
		logBytes = append(logBytes, tail...)
	}
	out := filepath.Join(dir, "posd.db")
	require.NoError(t, os.WriteFile(out, img, 0o600))
	require.NoError(t, os.WriteFile(out+".wal", logBytes, 0o600))
	return out
}

// TestPowerCut: after a power cut at any moment between two writes, with
// any mix of the journal pages written since the last checkpoint on the
// disk (old, new or torn), the journal opens whole and holds every write
// that was answered; with the last record of the log torn, every write
// before it. A workload of payments, receipts with large bytes, prunes,
// reserved numbers and checkpoints runs in a journal mapped small, so
// that bbolt remaps it (waiting for the checkpoint's pin) as it grows.
func TestPowerCut(t *testing.T) {
	store.SetInitialMmap(t, 0)
	store.SetCheckpointIdle(t, time.Hour)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(17, seed))
	dir := t.TempDir()
	path := filepath.Join(dir, "posd.db")
	model := &diskModel{path: path, pageSize: os.Getpagesize()}
	checkpoints := 0
	var failCommit bool
	var atCheckpoint string // a power cut as a checkpoint syncs, kept here
	store.SetTestHook(t, func(step, p string) error {
		switch {
		case p != path:
		case step == "commit" && failCommit:
			return errors.New("no space left on device")
		case step == "checkpoint": // synced: bbolt's file as the disk holds it
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if atCheckpoint == "" && checkpoints > 0 {
				// Cut before the header: bbolt's file is synced whole,
				// the log still starts from the last checkpoint.
				atCheckpoint = t.TempDir()
				l, err := os.ReadFile(p + ".wal")
				require.NoError(t, err)
				require.NoError(t, os.WriteFile(filepath.Join(atCheckpoint, "posd.db"), b, 0o600))
				require.NoError(t, os.WriteFile(filepath.Join(atCheckpoint, "posd.db.wal"), l, 0o600))
			}
			model.synced = b
			checkpoints++
		}
		return nil
	})
	s, err := store.Open(path)
	require.NoError(t, err)
	defer func() { s.Close() }()

	var ids []string
	var jobs []*store.PrintJob
	prev, err := s.Dump()
	require.NoError(t, err)
	prevLog := logSize(t, path)
	prevFile, err := os.ReadFile(path)
	require.NoError(t, err)
	cuts, torn, failed, later, inCheckpoint := 0, 0, 0, 0, 0
	const ops = 300
	for i := range ops {
		before := checkpoints
		day := day1.AddDate(0, 0, -rng.IntN(5))
		op := rng.IntN(10)
		if i%25 == 24 || i%25 == 12 {
			op = 9 // a checkpoint, cut as it syncs; a commit refused
		}
		switch {
		case op < 3 || len(ids) == 0:
			id := fmt.Sprintf("pay_%04d", i)
			st := []payflow.State{payflow.StatePaying, payflow.StatePaid, payflow.StateInDoubt, payflow.StateCancelled}[rng.IntN(4)]
			_, err := s.Create(payment(id, "O"+id, day, st))
			require.NoError(t, err)
			ids = append(ids, id)
		case op < 5:
			p, err := s.Get(ids[rng.IntN(len(ids))])
			if errors.Is(err, payflow.ErrNotFound) {
				continue // pruned
			}
			require.NoError(t, err)
			p.State = payflow.StatePaid
			p.History = append(p.History, payflow.HistoryEntry{At: day1, State: p.State, Note: strings.Repeat("n", rng.IntN(3000))})
			if rng.IntN(3) == 0 {
				p.Refunds = append(p.Refunds, &payflow.Refund{ID: fmt.Sprintf("r%d", i), Amount: 1, State: payflow.RefundRefunded, CreatedAt: day1})
			}
			require.NoError(t, s.Save(p))
		case op < 7:
			j := &store.PrintJob{ID: fmt.Sprintf("payment/j%d", i), State: store.JobPending, Data: bytes.Repeat([]byte{byte(i)}, 100+rng.IntN(20000))}
			_, err := s.AddJob(j)
			require.NoError(t, err)
			jobs = append(jobs, j)
		case op < 8 && len(jobs) > 0:
			k := rng.IntN(len(jobs))
			j := jobs[k]
			j.State = store.JobDone
			if rng.IntN(2) == 0 {
				s.SaveJobLater(j) // with the next write, or the checkpoint
				later++
			} else {
				require.NoError(t, s.SaveJob(j))
			}
			jobs = append(jobs[:k], jobs[k+1:]...)
		case op < 9:
			if rng.IntN(4) == 0 {
				_, err := s.Prune(t.Context(), day1.AddDate(0, 0, -2))
				require.NoError(t, err)
			} else {
				_, err := s.ReserveSeq(uint64(1 + rng.IntN(50)))
				require.NoError(t, err)
			}
		default:
			switch c := rng.IntN(3); {
			case (c == 0 && i%25 != 12) || i%25 == 24:
				atCheckpoint = ""
				require.NoError(t, s.Checkpoint())
				if atCheckpoint != "" {
					// The writes that waited were lost with the
					// checkpoint; every answered one is there.
					got := reopen(t, filepath.Join(atCheckpoint, "posd.db"))
					require.Equal(t, prev, got, "op %d: a power cut as a checkpoint syncs", i)
					inCheckpoint++
				}
			case c == 1 || i%25 == 12:
				failCommit = true
				_, err := s.Create(payment(fmt.Sprintf("pay_full%d", i), fmt.Sprintf("full%d", i), day1, payflow.StatePaid))
				failCommit = false
				require.Error(t, err, "a commit bbolt refuses fails")
				failed++
			default:
				require.NoError(t, s.SetPrinterLogo(printer.LogoRecord{Printer: "file", Sum: fmt.Sprint(i)}))
			}
		}
		now, err := s.Dump()
		require.NoError(t, err)
		size := logSize(t, path)
		file, err := os.ReadFile(path)
		require.NoError(t, err)
		if i%3 == 0 || i == ops-1 {
			mix := []string{"random", "random", "old", "new"}[rng.IntN(4)]
			img := model.cut(t, rng, t.TempDir(), file, mix, -1, rng.IntN(3) == 0)
			got := reopen(t, img)
			require.Equal(t, now, got, "op %d: a power cut (%s pages) loses nothing answered", i, mix)
			cuts++
			if checkpoints == before && size > prevLog {
				// The last record torn: bbolt never had its write (it
				// waits for the record's sync), which was never answered.
				keep := int(prevLog) + rng.IntN(int(size-prevLog))
				got := reopen(t, model.cut(t, rng, t.TempDir(), prevFile, "random", keep, rng.IntN(2) == 0))
				require.Equal(t, prev, got, "op %d: a power cut in the last record's write leaves the state before it", i)
				torn++
			}
		}
		prev, prevLog, prevFile = now, size, file
	}
	t.Logf("%d power cuts, %d of them in a record's write, %d as a checkpoint synced; %d checkpoints; %d commits refused; %d writes that waited",
		cuts, torn, inCheckpoint, checkpoints, failed, later)
	assert.Greater(t, torn, 20)
	assert.Greater(t, inCheckpoint, 3)
	assert.Greater(t, failed, 3)
	assert.NotZero(t, s.PinWaits(), "bbolt remapped the growing journal past the pin")
	require.NoError(t, s.Close())
}

// reopen opens the journal at path as posd's start would, and returns
// what it holds.
func reopen(t *testing.T, path string) map[string]string {
	t.Helper()
	s, err := store.Open(path)
	require.NoError(t, err, "a journal after a power cut opens")
	defer s.Close()
	d, err := s.Dump()
	require.NoError(t, err)
	return d
}

func logSize(t *testing.T, path string) int64 {
	fi, err := os.Stat(path + ".wal")
	require.NoError(t, err)
	return fi.Size()
}

// TestWritesAreLogged: the store's code changes buckets only through the
// logged write transaction (wtx), whose changes go to the log, and commits
// only where the checkpoint's pin is let go when bbolt must remap (a
// commit elsewhere could wait for the pin for ever, as one did, or reach
// bbolt without its record, and be lost to a power cut).
func TestWritesAreLogged(t *testing.T) {
	allowed := map[string]int{
		"wtx.go":    -1, // the logged writes themselves, and replay
		"store.go":  2,  // commitPinned's Commit; open's replay, before the first pin
		"settle.go": 1,  // the tools' copy of a crashed journal, thrown away
	}
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	write := regexp.MustCompile(`(\w+)\.(Put|Delete|SetSequence|NextSequence|CreateBucket|CreateBucketIfNotExists|DeleteBucket|Commit|Update|Batch)\(`)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		var found []string
		for i, line := range strings.Split(string(b), "\n") {
			code, _, _ := strings.Cut(line, "//")
			if m := write.FindStringSubmatch(code); m != nil && m[1] != "crc32" {
				found = append(found, fmt.Sprintf("%s:%d: %s", f, i+1, strings.TrimSpace(line)))
			}
		}
		if n, ok := allowed[f]; ok && (n < 0 || len(found) == n) {
			continue
		}
		assert.Empty(t, found, "writes to the journal that the log does not see")
	}
}

// crashCopy copies the journal at path and its log into a new directory
// as a crash of the process (not of the machine) would leave them.
func crashCopy(t testing.TB, path string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "posd.db")
	for _, suffix := range []string{"", ".wal"} {
		b, err := os.ReadFile(path + suffix)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(out+suffix, b, 0o600))
	}
	return out
}

// TestLogOfAnotherJournal: a journal restored from a backup (or copied
// without its log) beside a log that holds writes is refused, untouched,
// with what to do; moving the log aside opens the backup. A log with no
// writes beside a replaced journal is started afresh.
func TestLogOfAnotherJournal(t *testing.T) {
	path, s := openQuiet(t)
	var err error
	_, err = s.Create(payment("pay_old", "OLD", day1, payflow.StatePaid))
	require.NoError(t, err)
	require.NoError(t, s.Close())
	backup, err := os.ReadFile(path)
	require.NoError(t, err)
	s, err = store.Open(path)
	require.NoError(t, err)
	_, err = s.Create(payment("pay_mid", "MID", day1, payflow.StatePaid))
	require.NoError(t, err)
	require.NoError(t, s.Close()) // the backup is now older than the log's checkpoint

	s, err = store.Open(path)
	require.NoError(t, err)
	paid(t, s, 30)
	crashed := crashCopy(t, path)
	require.NoError(t, s.Close())
	require.NoError(t, os.WriteFile(crashed, backup, 0o600)) // the backup put back, the crashed log kept
	before := sum(t, crashed)

	_, err = store.Open(crashed)
	require.ErrorIs(t, err, store.ErrForeignLog)
	assert.Regexp(t, `holds \d+ writes`, err.Error()) // (fewer than 30 where a remap has checkpointed)
	assert.Contains(t, err.Error(), "move "+crashed+".wal aside")
	assert.Equal(t, before, sum(t, crashed), "the journal is not written to")

	require.NoError(t, os.Rename(crashed+".wal", crashed+".wal.aside"))
	s, err = store.Open(crashed)
	require.NoError(t, err)
	_, err = s.Get("pay_old")
	assert.NoError(t, err, "the backup's payments")
	_, err = s.Get("pay_00")
	assert.ErrorIs(t, err, payflow.ErrNotFound, "not the log's")
	require.NoError(t, s.Close())

	// A clean stop leaves no writes in the log: a journal replaced then
	// opens as it is.
	require.NoError(t, os.WriteFile(path, backup, 0o600))
	s, err = store.Open(path)
	require.NoError(t, err)
	defer s.Close()
	_, err = s.Get("pay_00")
	assert.ErrorIs(t, err, payflow.ErrNotFound)
}

// TestToolWritesAfterCleanClose: what a tool writes into a journal posd
// closed cleanly (bbolt's own commits, several, reusing the pages of the
// state the log's last checkpoint names) stays: the start puts nothing
// back, and the journal is whole.
func TestToolWritesAfterCleanClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "posd.db")
	s, err := store.Open(path)
	require.NoError(t, err)
	paid(t, s, 20)
	require.NoError(t, s.Close())
	db, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	for i := range 20 {
		require.NoError(t, db.Update(func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("meta")).Put([]byte(fmt.Sprintf("tool%02d", i)), bytes.Repeat([]byte("t"), 3000))
		}))
	}
	require.NoError(t, db.Close())
	s, err = store.Open(path)
	require.NoError(t, err, "the journal is whole")
	d, err := s.Dump()
	require.NoError(t, err)
	assert.Len(t, d["meta/tool19"], 3000, "the tool's writes stay")
	assert.Contains(t, d, "payments/pay_19")
	require.NoError(t, s.Close())
	_, err = store.Verify(path, true)
	require.NoError(t, err)
}

// TestToolsApplyTheLog: after a power cut that left the journal's file as
// its last checkpoint and its writes in the log, check, backup and recover
// (tools for a stopped posd) see the journal as the next start will: with
// the log's writes; they neither write to it nor to its log.
func TestToolsApplyTheLog(t *testing.T) {
	store.SetCheckpointIdle(t, time.Hour)
	path := filepath.Join(t.TempDir(), "posd.db")
	var synced []byte
	store.SetTestHook(t, func(step, p string) error {
		if step == "checkpoint" && p == path {
			synced, _ = os.ReadFile(p)
		}
		return nil
	})
	s, err := store.Open(path)
	require.NoError(t, err)
	paid(t, s, 12)
	cut := crashCopy(t, path)
	require.NoError(t, s.Close())
	require.NoError(t, os.WriteFile(cut, synced, 0o600)) // none of bbolt's unsynced pages reached the disk
	before, beforeLog := sum(t, cut), sum(t, cut+".wal")

	rep, err := store.Verify(cut, true)
	require.NoError(t, err)
	assert.Equal(t, 12, rep.Payments)
	assert.Regexp(t, `a crash left \d+ writes in the journal's log`, strings.Join(rep.Warnings, "\n"))

	var backup bytes.Buffer
	_, err = store.BackupFile(cut, &backup)
	require.NoError(t, err)
	copied := filepath.Join(t.TempDir(), "copy.db")
	require.NoError(t, os.WriteFile(copied, backup.Bytes(), 0o600))
	rep, err = store.Verify(copied, true)
	require.NoError(t, err)
	assert.Equal(t, 12, rep.Payments, "the backup has the log's writes")

	out := filepath.Join(t.TempDir(), "recovered.db")
	rr, err := store.Recover(cut, out)
	require.NoError(t, err)
	assert.Equal(t, 12, rr.Payments)
	assert.Empty(t, rr.Lost)

	assert.Equal(t, before, sum(t, cut), "the tools only read the journal")
	assert.Equal(t, beforeLog, sum(t, cut+".wal"), "and its log")
	s, orep, err := store.OpenChecked(cut)
	require.NoError(t, err)
	defer s.Close()
	assert.Positive(t, orep.Replayed, "the start says it applied the log")
	assert.True(t, orep.Restored, "after putting the checkpoint back")
	open, err := s.Open()
	require.NoError(t, err)
	assert.Len(t, open, 0)
	_, err = s.Get("pay_11")
	assert.NoError(t, err, "the start applies the log")
}

// FuzzLog: whatever the journal's log holds (torn, damaged, another
// program's file), the start reads it without a panic, and applies its
// records, or refuses them, without one.
func FuzzLog(f *testing.F) {
	dir := f.TempDir()
	path := filepath.Join(dir, "posd.db")
	s, err := store.Open(path)
	require.NoError(f, err)
	paid(f, s, 3)
	live := crashCopy(f, path)
	require.NoError(f, s.Close())
	journal, err := os.ReadFile(live)
	require.NoError(f, err)
	log, err := os.ReadFile(live + ".wal")
	require.NoError(f, err)
	f.Add(log)
	f.Add(log[:len(log)-7])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(t.TempDir(), "posd.db")
		require.NoError(t, os.WriteFile(p, journal, 0o600))
		require.NoError(t, os.WriteFile(p+".wal", b, 0o600))
		s, err := store.Open(p)
		if err != nil {
			return // refused: a clear error, not a panic
		}
		_, err = s.Open()
		assert.NoError(t, err)
		require.NoError(t, s.Close())
	})
}

// TestNoWriteAfterClose: a bulk write that comes after Close (a prune
// still running) is refused: the log is marked closed, and nothing may
// follow it.
func TestNoWriteAfterClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "posd.db")
	s, err := store.Open(path)
	require.NoError(t, err)
	_, err = s.Create(payment("pay_1", "N1", day1.AddDate(0, 0, -30), payflow.StatePaid))
	require.NoError(t, err)
	require.NoError(t, s.Close())
	_, err = s.Prune(t.Context(), day1)
	require.Error(t, err)
	s, err = store.Open(path)
	require.NoError(t, err)
	defer s.Close()
	_, err = s.Get("pay_1")
	assert.NoError(t, err)
}

// TestDamagedLog: a log that holds writes but no sound header (both
// header slots damaged) is refused with what to do, the journal
// untouched; moved aside, the journal opens as its file has it.
func TestDamagedLog(t *testing.T) {
	crashed := crashedWith(t, 5)
	log, err := os.ReadFile(crashed + ".wal")
	require.NoError(t, err)
	require.Greater(t, len(log), 1024, "the log holds writes")
	clear(log[:1024])
	require.NoError(t, os.WriteFile(crashed+".wal", log, 0o600))
	before := sum(t, crashed)

	_, err = store.Open(crashed)
	require.ErrorIs(t, err, store.ErrDamagedLog)
	assert.Contains(t, err.Error(), "move it aside")
	assert.Equal(t, before, sum(t, crashed))
	_, err = store.Verify(crashed, true)
	require.ErrorIs(t, err, store.ErrDamagedLog, "the check says so too")

	require.NoError(t, os.Rename(crashed+".wal", crashed+".wal.damaged"))
	s, err := store.Open(crashed)
	require.NoError(t, err)
	require.NoError(t, s.Close())
}

// TestJournalMissingBesideItsLog: a log that holds writes beside no
// journal (deleted, or on another disk) is refused, not taken for a new
// journal's.
func TestJournalMissingBesideItsLog(t *testing.T) {
	crashed := crashedWith(t, 1)
	require.NoError(t, os.Remove(crashed))
	_, err := store.Open(crashed)
	require.ErrorIs(t, err, store.ErrForeignLog)
	assert.Contains(t, err.Error(), "is missing")
	assert.NoFileExists(t, crashed, "no new journal made")
}

// paid journals n paid payments, pay_00 onwards.
func paid(t testing.TB, s *store.Store, n int) {
	t.Helper()
	for i := range n {
		_, err := s.Create(payment(fmt.Sprintf("pay_%02d", i), fmt.Sprintf("N%02d", i), day1, payflow.StatePaid))
		require.NoError(t, err)
	}
}

// crashedWith is a journal, and its log, as a crash of posd leaves them
// after n paid payments since its start.
func crashedWith(t *testing.T, n int) string {
	t.Helper()
	path, s := openQuiet(t)
	paid(t, s, n)
	crashed := crashCopy(t, path)
	require.NoError(t, s.Close())
	return crashed
}

// TestLogSyncFails: once a sync of the log fails (what the kernel did
// with the pages is unknown), the write is refused, health says so, and
// every later write is refused until posd restarts; the restart finds
// the journal whole with every write that was answered.
func TestLogSyncFails(t *testing.T) {
	path, s := openQuiet(t)
	var err error
	paid(t, s, 1)
	s.FailLogSyncs(errors.New("input/output error"))
	_, err = s.Create(payment("pay_eio", "EIO", day1, payflow.StatePaid))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "restart posd")
	require.Error(t, s.Check(), "health reports the journal failing")
	s.FailLogSyncs(nil)
	_, err = s.Create(payment("pay_after", "AFTER", day1, payflow.StatePaid))
	require.Error(t, err, "nothing more is written until the restart")
	s.Close()

	s, err = store.Open(path)
	require.NoError(t, err)
	defer s.Close()
	_, err = s.Get("pay_00")
	assert.NoError(t, err, "the answered write")
	_, err = s.Get("pay_after")
	assert.ErrorIs(t, err, payflow.ErrNotFound)
	// The refused write's record reached the log: the restart applies it.
	// The engine, told it failed, sent nothing; recovery resolves it.
	_, err = s.Get("pay_eio")
	assert.NoError(t, err)
	_, err = s.Create(payment("pay_next", "NEXT", day1, payflow.StatePaid))
	assert.NoError(t, err, "and writes again")
}

// openQuiet opens a new journal that checkpoints only when a test says
// (or its log fills), so that its log holds what the test writes.
func openQuiet(t *testing.T) (string, *store.Store) {
	t.Helper()
	store.SetCheckpointIdle(t, time.Hour)
	path := filepath.Join(t.TempDir(), "posd.db")
	s, err := store.Open(path)
	require.NoError(t, err)
	return path, s
}
