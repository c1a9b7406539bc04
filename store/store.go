// Package store is posd's journal: a bbolt database in which every payment
// state change is durable (its record appended to the journal's log and
// synced: see wal) before the engine acts on it.
//
// Layout: bucket "payments" maps a payment id to its JSON record (with its
// history and refunds); "orders" maps the cash register's order id to the
// payment id; "days" holds "YYYY-MM-DD/<id>" keys for daily listings and
// pruning; "refund_days" holds "YYYY-MM-DD/<payment id>/<refund id>" keys
// for refunds by the day they were made; "open" holds the ids of payments that are live or need
// attention, which is all that recovery has to read.
package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/tillworks/posd/payflow"
	"github.com/tillworks/posd/printer"
)

var (
	bucketPayments = []byte("payments")
	bucketOrders   = []byte("orders")
	bucketDays     = []byte("days")
	bucketRefDays  = []byte("refund_days")
	bucketOpen     = []byte("open")
	bucketMeta     = []byte("meta")
)

// Store is the bbolt journal. It implements payflow.Journal.
type Store struct {
	db *bolt.DB
	// writeErr is the last failed commit (a full disk, an I/O error),
	// cleared by the next one that succeeds; Check reports it.
	writeErr atomic.Pointer[writeFailure]
	failNext func() error // tests: makes the next commits fail
	// slowSync, in tests, is added to every sync: a disk whose fsyncs
	// are slow (the HDDs and cheap SSDs of many tills).
	slowSync time.Duration
	// onCommit, when set (ObserveCommits), is told how long each write
	// transaction took, its sync included.
	onCommit atomic.Pointer[func(time.Duration)]
	closed   atomic.Bool
	commits  atomic.Uint64
	jobsDue  atomic.Pointer[func(*payflow.Payment) []printer.DueJob]
	syncs    atomic.Uint64

	// The log (see wal): wmu orders write transactions and checkpoints.
	// pin is the read transaction held at the last checkpoint, so that
	// bbolt reuses none of its pages; a commit that has to remap the file
	// waits for it, and unpin lets it go (see commit).
	log       *wal
	file      *os.File // bbolt's file, read-only: its meta pages at a checkpoint
	wmu       sync.Mutex
	pinMu     sync.Mutex
	pin       *bolt.Tx
	pinHWM    int64         // the file's high-water mark at the checkpoint
	pinWaits  atomic.Uint64 // commits that had the pin let go (see commit)
	idleAfter time.Duration // without a write this long, the committer checkpoints
	closeErr  error         // the closing checkpoint's, for Close

	// Group commit: writes from any goroutine go to the committer, which
	// runs those waiting together in one transaction (one record in the
	// log, one fdatasync), with no delay added to a write that comes alone.
	writes    chan *write
	later     chan *write     // writes that may wait for the next commit (SaveJobLater)
	flush     chan chan error // Checkpoint's requests
	stop      chan struct{}   // closed by Close
	committed chan struct{}   // closed when the committer has stopped
	closeOnce sync.Once
}

// write is one caller's transaction function waiting for the committer.
type write struct {
	fn   func(*wtx) error
	done chan error
}

// maxGroup bounds the writes one transaction carries.
const maxGroup = 256

// Commits counts the write transactions committed since the journal was
// opened: each is one record in the log, synced once.
func (s *Store) Commits() uint64 { return s.commits.Load() }

// Syncs counts the fdatasyncs posd has asked of the disk since the
// journal was opened: one per commit, two per checkpoint (bbolt's file,
// then the log's header). Benchmarks report it per payment.
func (s *Store) Syncs() uint64 { return s.syncs.Load() }

// ObserveCommits has f told how long each write transaction takes,
// its sync included (for the journal commit latency metric).
func (s *Store) ObserveCommits(f func(time.Duration)) { s.onCommit.Store(&f) }

type writeFailure struct {
	err error
	at  time.Time
}

// update runs fn in a write transaction, shared with the other writes
// waiting at that moment (group commit), and returns once it is durable.
// fn may be run more than once (a write sharing the transaction failed,
// and each is run again alone): it must only touch tx, and set what it
// returns, never accumulate into it.
func (s *Store) update(fn func(*wtx) error) error {
	if s.closed.Load() {
		return berrors.ErrDatabaseNotOpen
	}
	w := &write{fn: fn, done: make(chan error, 1)}
	select {
	case s.writes <- w:
	case <-s.stop:
		return berrors.ErrDatabaseNotOpen
	}
	return <-w.done
}

// commitLoop is the committer: it takes the writes waiting, runs them in
// one transaction and answers each. If one of them fails, the
// transaction is abandoned and each runs again alone, so that one write's
// refusal never takes the others with it. Writes that may wait (later)
// ride with the next write, or with the checkpoint when writes stop
// coming (quiet), or at Close.
func (s *Store) commitLoop() {
	defer close(s.committed)
	var waiting []*write // writes that may wait, for the next commit
	idle := time.NewTimer(s.idleAfter)
	defer idle.Stop()
	for {
		var group []*write
		select {
		case <-idle.C:
			s.quiet(waiting, false, false)
			waiting = nil
			idle.Reset(s.idleAfter)
			continue
		case req := <-s.flush:
			req <- s.quiet(waiting, true, false)
			waiting = nil
			continue
		case w := <-s.writes:
			group = append(waiting, w)
		case w := <-s.later:
			if waiting = append(waiting, w); len(waiting) < maxGroup {
				continue
			}
			group = waiting
		case <-s.stop:
			for len(s.later) > 0 {
				waiting = append(waiting, <-s.later)
			}
			s.closeErr = s.quiet(waiting, true, true)
			return
		}
		waiting = nil
	more:
		for len(group) < maxGroup {
			select {
			case w := <-s.writes:
				group = append(group, w)
			default:
				break more
			}
		}
		s.commitGroup(group)
		idle.Reset(s.idleAfter)
	}
}

// quiet is what the committer does when writes stop coming (idleAfter
// without one) and at Close: the writes that may wait are committed
// without a record of their own, and a checkpoint makes them and the
// log's records durable in bbolt. Those writes are lost if the
// checkpoint is (they may be: see SaveJobLater); if it fails, nothing
// more is written until posd restarts. force checkpoints even when
// nothing waits; closing marks the log as a clean Close leaves it.
func (s *Store) quiet(waiting []*write, force, closing bool) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.log.broken != nil {
		for _, w := range waiting {
			w.done <- s.log.broken
		}
		return s.log.broken
	}
	wrote := false
	if len(waiting) > 0 {
		err := s.unlogged(func(tx *wtx) error {
			for _, w := range waiting {
				if err := w.fn(tx); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil { // each alone: one refusal does not take the others with it
			for _, w := range waiting {
				s.unlogged(w.fn)
			}
		}
		for _, w := range waiting {
			w.done <- nil
		}
		wrote = true
	}
	if !wrote && s.log.n == 0 && !force {
		return nil
	}
	if err := s.checkpointAs(closing); err != nil {
		s.log.broken = fmt.Errorf("%w: restart posd", err)
		s.writeErr.Store(&writeFailure{err: err, at: time.Now()})
		return err
	}
	if closing {
		// The log is marked closed: a bulk write still running (a prune)
		// must not follow that.
		s.log.broken = berrors.ErrDatabaseNotOpen
	}
	return nil
}

// commitGroup runs the writes of group in one transaction and answers
// each; if one fails, each runs again alone.
func (s *Store) commitGroup(group []*write) {
	if len(group) == 1 {
		group[0].done <- s.updateSolo(group[0].fn)
		return
	}
	errFailed := errors.New("a write of the group failed")
	err := s.updateSolo(func(tx *wtx) error {
		for _, w := range group {
			if err := w.fn(tx); err != nil {
				return errFailed
			}
		}
		return nil
	})
	if errors.Is(err, errFailed) {
		for _, w := range group {
			w.done <- s.updateSolo(w.fn)
		}
		return
	}
	for _, w := range group {
		w.done <- err
	}
}

// updateSolo runs fn in a write transaction of its own and remembers
// whether the commit itself (not fn's own refusal) failed. Bulk writes
// (prune, recover), whose functions count as they go, use it directly.
func (s *Store) updateSolo(fn func(*wtx) error) error {
	var fnErr error
	if f := s.onCommit.Load(); f != nil {
		start := time.Now()
		defer func() { (*f)(time.Since(start)) }()
	}
	s.wmu.Lock()
	err := s.commit(fn, &fnErr)
	s.wmu.Unlock()
	switch {
	case err == nil:
		s.writeErr.Store(nil)
	case fnErr == nil:
		s.writeErr.Store(&writeFailure{err: err, at: time.Now()})
	}
	return err
}

// checkpointIdle is how long the committer waits for a write before it
// checkpoints (a variable for tests).
var checkpointIdle = time.Minute

// Checkpoints come after this many records, this much growth of the file
// while the checkpoint's pages are pinned, this long without a write,
// and at Close.
const (
	checkpointRecords = 1000
	checkpointGrowth  = 1 << 20
	// pinPatience is how long a commit may take before its wait is taken
	// for bbolt remapping the file, which waits for every read
	// transaction, the pin included.
	pinPatience = 100 * time.Millisecond
)

// commit runs fn in a write transaction, appends its changes to the log
// (one fdatasync) and commits them to bbolt without syncing. The caller
// holds wmu.
//
// bbolt frees pages for reuse only as a write transaction begins, keeping
// those the read transactions open then can see: the pin keeps the
// checkpoint's pages out of this one. bbolt remapping a growing file
// inside Commit waits for every read transaction to end, so that a commit
// still running after pinPatience has the pin let go (the pages it may
// reuse were chosen as it began), and a checkpoint pins the new state
// before the next transaction begins.
func (s *Store) commit(fn func(*wtx) error, fnErr *error) error {
	if s.log.broken != nil {
		return s.log.broken
	}
	tx, err := s.db.Begin(true)
	if err != nil {
		return err
	}
	w := &wtx{Tx: tx}
	if *fnErr = fn(w); *fnErr != nil {
		tx.Rollback()
		return *fnErr
	}
	if s.failNext != nil {
		if err := s.failNext(); err != nil {
			tx.Rollback()
			return err
		}
	}
	if w.ops == 0 {
		tx.Rollback() // nothing changed: nothing to make durable
		return nil
	}
	at := s.log.off
	if err := s.log.append(w.rec); err != nil {
		tx.Rollback()
		return err
	}
	if testHook != nil {
		if err := testHook("commit", s.db.Path()); err != nil {
			tx.Rollback()
			s.log.undo(at)
			return err
		}
	}
	size := tx.Size() // the file's high-water mark before this commit (the transaction is gone after)
	if err := s.commitPinned(tx); err != nil {
		// The log holds what bbolt refused (a full disk): take it back,
		// or nothing more may be written until a restart replays it.
		s.log.undo(at)
		if !s.pinned() {
			s.checkpoint()
		}
		return fmt.Errorf("store: committing to the journal: %w", err)
	}
	s.commits.Add(1)
	if s.pinned() && s.log.n < checkpointRecords && size < s.pinHWM+checkpointGrowth {
		return nil
	}
	if err := s.checkpoint(); err != nil {
		// The write is durable in the log; the next commit tries again.
		s.writeErr.Store(&writeFailure{err: err, at: time.Now()})
	}
	return nil
}

// commitPinned commits tx to bbolt, letting the pin go if the commit
// waits for it longer than pinPatience (see commit); the caller
// checkpoints when it did.
func (s *Store) commitPinned(tx *bolt.Tx) error {
	s.pinMu.Lock()
	pin := s.pin
	s.pinMu.Unlock()
	waited := make(chan struct{})
	stuck := time.AfterFunc(pinPatience, func() {
		if s.unpinIf(pin) {
			s.pinWaits.Add(1)
		}
		close(waited)
	})
	err := tx.Commit()
	if !stuck.Stop() {
		<-waited // the pin is let go before it is looked at
	}
	return err
}

// unlogged runs fn in a write transaction committed without a record in
// the log, for quiet, which checkpoints straight after. The caller holds
// wmu.
func (s *Store) unlogged(fn func(*wtx) error) error {
	tx, err := s.db.Begin(true)
	if err != nil {
		return err
	}
	if err := fn(&wtx{Tx: tx}); err != nil {
		tx.Rollback()
		return err
	}
	return s.commitPinned(tx)
}

// pinned reports whether the checkpoint's read transaction is held.
func (s *Store) pinned() bool {
	s.pinMu.Lock()
	defer s.pinMu.Unlock()
	return s.pin != nil
}

// unpin lets the checkpoint's pages go.
func (s *Store) unpin() {
	s.pinMu.Lock()
	defer s.pinMu.Unlock()
	if s.pin != nil {
		s.pin.Rollback()
		s.pin = nil
	}
}

// unpinIf lets the checkpoint's pages go if pin still holds them, and
// reports whether it did.
func (s *Store) unpinIf(pin *bolt.Tx) bool {
	s.pinMu.Lock()
	defer s.pinMu.Unlock()
	if s.pin != pin || pin == nil {
		return false
	}
	s.pin.Rollback()
	s.pin = nil
	return true
}

// repin pins the journal's state as it is, the log's checkpoint.
func (s *Store) repin() error {
	pin, err := s.db.Begin(false)
	if err != nil {
		return err
	}
	s.unpin()
	s.pinMu.Lock()
	s.pin, s.pinHWM = pin, pin.Size()
	s.pinMu.Unlock()
	return nil
}

// Checkpoint makes every write durable in bbolt's file, those that may
// wait (SaveJobLater) included, and starts the log afresh. posd does this
// by itself (after checkpointRecords writes, when writes stop coming, at
// Close); tests call it to see those writes.
func (s *Store) Checkpoint() error {
	if s.closed.Load() {
		return berrors.ErrDatabaseNotOpen
	}
	req := make(chan error, 1)
	select {
	case s.flush <- req:
	case <-s.stop:
		return berrors.ErrDatabaseNotOpen
	}
	return <-req
}

// checkpointLocked is checkpoint, taking wmu.
func (s *Store) checkpointLocked() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.checkpoint()
}

// checkpoint syncs bbolt and makes its state the log's new start, pinned.
// The caller holds wmu.
func (s *Store) checkpoint() error { return s.checkpointAs(false) }

// checkpointAs is checkpoint; closed marks the log as a clean Close
// leaves it.
func (s *Store) checkpointAs(closed bool) error {
	if err := s.dbSync(); err != nil {
		return fmt.Errorf("store: syncing the journal: %w", err)
	}
	h, err := durableHeader(s.file)
	if err != nil {
		return fmt.Errorf("store: reading the journal's state: %w", err)
	}
	h.closed = closed
	if testHook != nil {
		testHook("checkpoint", s.db.Path())
	}
	if err := s.log.reset(h); err != nil {
		return err
	}
	return s.repin()
}

// testHook, in tests, is told when a checkpoint has synced bbolt's file
// ("checkpoint": to copy the files as a power cut then would leave them)
// and may make a commit fail after its record is logged ("commit").
var testHook func(step, path string) error

// dbSync is the fdatasync of bbolt's file.
func (s *Store) dbSync() error {
	s.syncs.Add(1)
	if s.slowSync > 0 {
		time.Sleep(s.slowSync)
	}
	return s.db.Sync()
}

// syncFile is an fdatasync of the log (or of the journal, restoring it).
func (s *Store) syncFile(f *os.File) error {
	s.syncs.Add(1)
	if s.slowSync > 0 {
		time.Sleep(s.slowSync)
	}
	return datasync(f)
}

// Open opens (creating if needed) the journal at path with mode 0600. It
// fails after a second if another process holds the file. An existing
// file is first checked read-only (Verify; only its meta pages and open
// payments when a clean Close sealed it and nothing has touched it
// since): a damaged one is refused with an error wrapping *DamagedError
// and is not written to.
func Open(path string) (*Store, error) {
	s, _, err := OpenChecked(path)
	return s, err
}

// OpenChecked is Open, also returning what the check found (warnings a
// caller should log).
//
// The journal's log is locked first (another posd is refused before
// anything is touched) and, after a crash, the journal is put back to
// the log's checkpoint (see wal) before it is checked; the log's records
// are applied once the check has passed.
func OpenChecked(path string) (*Store, Report, error) {
	var rep Report
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return nil, rep, fmt.Errorf("store: the journal %s is a directory", path)
	}
	log, err := openWAL(path, datasync)
	if err != nil {
		return nil, rep, err
	}
	restored, err := log.restore(path)
	if err != nil {
		log.close()
		return nil, rep, err
	}
	switch _, err := os.Stat(path); {
	case err == nil:
		depth := checkQuick
		if sealed(path) && !restored && len(log.records) == 0 {
			depth = checkSealed
		}
		if rep, err = verify(path, depth); err != nil {
			log.close()
			return nil, rep, err
		}
	case !errors.Is(err, fs.ErrNotExist):
		log.close()
		return nil, rep, fmt.Errorf("store: %w", err)
	}
	rep.Replayed, rep.Restored = len(log.records), restored
	unseal(path)
	s, err := open(path, log)
	if err != nil {
		log.close()
	}
	return s, rep, err
}

func open(path string, log *wal) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, NoGrowSync: true, InitialMmapSize: initialMmap})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("store: %s is locked: is another posd running with this data directory?", path)
	}
	if err != nil {
		return nil, fmt.Errorf("store: opening journal %s: %w", path, err)
	}
	fail := func(what string, err error) (*Store, error) {
		db.Close()
		return nil, fmt.Errorf("store: %s journal %s: %w", what, path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		return fail("securing", err)
	}
	file, err := os.Open(path)
	if err != nil {
		return fail("opening", err)
	}
	s := &Store{db: db, log: log, file: file, idleAfter: checkpointIdle, writes: make(chan *write), later: make(chan *write, maxGroup), flush: make(chan chan error), stop: make(chan struct{}), committed: make(chan struct{})}
	log.sync = s.syncFile
	// What the log holds past its checkpoint, and the buckets a new
	// journal lacks, in one transaction that bbolt syncs itself (it
	// cannot reuse the pages of the checkpoint, which it frees), then
	// checkpointed: a crash before that finds the same checkpoint and the
	// same records.
	need, err := unprepared(db)
	if err != nil {
		file.Close()
		return fail("reading", err)
	}
	if len(log.records) > 0 || need {
		err := db.Update(func(tx *bolt.Tx) error {
			if err := replayAll(tx, log.records); err != nil {
				return err
			}
			return prepare(&wtx{Tx: tx})
		})
		if err != nil {
			file.Close()
			return fail("preparing", err)
		}
	}
	// A new checkpoint, whatever the log held: the header a clean Close
	// wrote must not stand for the writes to come.
	if err := s.checkpointLocked(); err != nil {
		file.Close()
		return fail("checkpointing", err)
	}
	db.NoSync = true // from here on, the log makes writes durable
	go s.commitLoop()
	return s, nil
}

// unprepared reports whether the journal lacks its buckets, and refuses
// a newer schema.
func unprepared(db *bolt.DB) (need bool, err error) {
	err = db.View(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketPayments, bucketOrders, bucketDays, bucketRefDays, bucketOpen, bucketMeta} {
			need = need || tx.Bucket(b) == nil
		}
		if v := schemaOf(tx); v > SchemaVersion {
			return fmt.Errorf("%w: it was written by a newer posd (journal schema %d; this posd reads up to %d): run that posd, or a newer one", ErrNewerSchema, v, SchemaVersion)
		}
		return nil
	})
	return need, err
}

// prepare creates the journal's buckets and schema mark when they are
// missing.
func prepare(tx *wtx) error {
	fresh := tx.Bucket(bucketPayments) == nil
	for _, b := range [][]byte{bucketPayments, bucketOrders, bucketDays, bucketRefDays, bucketOpen, bucketMeta} {
		if err := tx.createBucket(b); err != nil {
			return err
		}
	}
	if fresh {
		return setSchema(tx, SchemaVersion)
	}
	return nil
}

// SchemaVersion is the journal's record format. 1: no version recorded
// (before payments named their gateway); 2: every payment past
// awaiting_scan names its gateway.
const SchemaVersion = 2

// ErrNewerSchema means the journal was written by a newer posd, whose
// records this one could misread or silently drop fields of.
var ErrNewerSchema = errors.New("store: the journal is newer than this posd")

var keySchema = []byte("schema")

func schemaOf(tx *bolt.Tx) int {
	b := tx.Bucket(bucketMeta)
	if b == nil {
		return 1
	}
	v := b.Get(keySchema)
	if v == nil {
		return 1
	}
	n, err := strconv.Atoi(string(v))
	if err != nil {
		return SchemaVersion + 1 // unreadable: treat as newer, never as older
	}
	return n
}

func setSchema(tx *wtx, v int) error {
	return tx.put(bucketMeta, keySchema, []byte(strconv.Itoa(v)))
}

// AssignGateway is the upgrade from schema 1: every payment that has left
// awaiting_scan but names no gateway (written before payments recorded
// theirs) is assigned gateway name (and account), once, in one
// transaction, with a line in its history. It returns how many were.
// A journal already at schema 2 is left as it is.
func (s *Store) AssignGateway(name, account string, at time.Time) (n int, err error) {
	current := false
	if err := s.db.View(func(tx *bolt.Tx) error { current = schemaOf(tx) >= 2; return nil }); err != nil || current {
		return 0, err // nothing to write: no commit (and no fsync) at every start
	}
	err = s.update(func(tx *wtx) error {
		if schemaOf(tx.Tx) >= 2 {
			return nil
		}
		var todo []*payflow.Payment
		err := tx.Bucket(bucketPayments).ForEach(func(k, v []byte) error {
			// A record that cannot be read is left as it is: reading it fails
			// everywhere else too, and 'posd journal check' names it.
			if p, err := decode(v); err == nil && p.Gateway == "" && p.State != payflow.StateAwaitingScan {
				todo = append(todo, p)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, p := range todo {
			p.Gateway, p.GatewayAccount = name, account
			p.History = append(p.History, payflow.HistoryEntry{At: at, State: p.State, Trigger: "assigned",
				Note: "journaled before posd recorded gateways: assigned to gateway " + name + " at the first start after the upgrade"})
			if err := put(tx, p); err != nil {
				return err
			}
		}
		n = len(todo)
		return setSchema(tx, SchemaVersion)
	})
	return n, err
}

// Close closes the database and seals it (see seal), so that the next
// start need not read every page again: what the log holds is first
// checkpointed. A seal that cannot be written costs only that.
func (s *Store) Close() error {
	s.closed.Store(true)
	first := false
	s.closeOnce.Do(func() { close(s.stop); first = true })
	<-s.committed
	var ckErr error
	if first {
		s.wmu.Lock()
		ckErr = s.closeErr // quiet checkpointed what the log held
		s.unpin()
		s.wmu.Unlock()
	}
	path := s.db.Path()
	err := s.db.Close()
	if first {
		s.file.Close()
		s.log.close()
	}
	if err != nil {
		return err
	}
	if first && ckErr == nil {
		writeSeal(path)
	}
	return ckErr
}

// Path returns the database file's path.
func (s *Store) Path() string { return s.db.Path() }

// encode serializes a payment. The full payment code is never written:
// recovery resolves an interrupted pay by query and never sends it again,
// so the code is needed only in memory for the one request. (Writing it and
// clearing it later would not do: bbolt's copy-on-write pages keep old
// copies in the file until they are reused.)
func encode(p *payflow.Payment) ([]byte, error) {
	return json.Marshal(p)
}

func decode(b []byte) (*payflow.Payment, error) {
	p := new(payflow.Payment)
	if err := json.Unmarshal(b, p); err != nil {
		return nil, fmt.Errorf("store: corrupt payment record: %w", err)
	}
	if p.Refunds == nil {
		p.Refunds = []*payflow.Refund{}
	}
	return p, nil
}

func dayKey(p *payflow.Payment) []byte {
	return []byte(p.CreatedAt.Format(time.DateOnly) + "/" + p.ID)
}

func refundDayKey(p *payflow.Payment, r *payflow.Refund) []byte {
	return []byte(r.CreatedAt.Format(time.DateOnly) + "/" + p.ID + "/" + r.ID)
}

func isOpen(p *payflow.Payment) bool { return p.Live() || p.Attention() }

func put(tx *wtx, p *payflow.Payment) error {
	b, err := encode(p)
	if err != nil {
		return err
	}
	if err := tx.put(bucketPayments, []byte(p.ID), b); err != nil {
		return err
	}
	for _, r := range p.Refunds {
		if err := tx.put(bucketRefDays, refundDayKey(p, r), nil); err != nil {
			return err
		}
	}
	if isOpen(p) {
		return tx.put(bucketOpen, []byte(p.ID), nil)
	}
	if tx.Bucket(bucketOpen).Get([]byte(p.ID)) == nil {
		return nil // not open, and not in the index: nothing to log
	}
	return tx.del(bucketOpen, []byte(p.ID))
}

// Create journals a new payment and indexes it by order id and day.
func (s *Store) Create(p *payflow.Payment) (*payflow.Payment, error) {
	var existing *payflow.Payment
	err := s.update(func(tx *wtx) error {
		orders := tx.Bucket(bucketOrders)
		if id := orders.Get([]byte(p.OrderID)); id != nil {
			var err error
			existing, err = get(tx.Tx, string(id))
			if err != nil {
				return err
			}
			return fmt.Errorf("%w: %s", payflow.ErrOrderExists, p.OrderID)
		}
		if tx.Bucket(bucketPayments).Get([]byte(p.ID)) != nil {
			return fmt.Errorf("store: payment id %s already exists", p.ID)
		}
		if err := tx.put(bucketOrders, []byte(p.OrderID), []byte(p.ID)); err != nil {
			return err
		}
		if err := tx.put(bucketDays, dayKey(p), nil); err != nil {
			return err
		}
		return put(tx, p)
	})
	return existing, err
}

// Save replaces a payment's record. It refuses an id it has never seen, so
// a stray save cannot create an unindexed payment.
func (s *Store) Save(p *payflow.Payment) error {
	return s.update(func(tx *wtx) error {
		if tx.Bucket(bucketPayments).Get([]byte(p.ID)) == nil {
			return fmt.Errorf("%w: %s", payflow.ErrNotFound, p.ID)
		}
		if err := put(tx, p); err != nil {
			return err
		}
		return s.addDueJobs(tx, p)
	})
}

func get(tx *bolt.Tx, id string) (*payflow.Payment, error) {
	b := tx.Bucket(bucketPayments).Get([]byte(id))
	if b == nil {
		return nil, fmt.Errorf("%w: %s", payflow.ErrNotFound, id)
	}
	return decode(b)
}

// Get returns a payment by id.
func (s *Store) Get(id string) (p *payflow.Payment, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		p, err = get(tx, id)
		return err
	})
	return p, err
}

// ByOrder returns the payment made for a cash-register order id.
func (s *Store) ByOrder(orderID string) (p *payflow.Payment, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		id := tx.Bucket(bucketOrders).Get([]byte(orderID))
		if id == nil {
			return fmt.Errorf("%w: no payment for order %s", payflow.ErrNotFound, orderID)
		}
		p, err = get(tx, string(id))
		return err
	})
	return p, err
}

// Day returns the payments created on day (YYYY-MM-DD), in id order.
func (s *Store) Day(day string) ([]*payflow.Payment, error) {
	return s.byDay(bucketDays, day)
}

// RefundDay returns the payments with a refund created on day, in id order.
func (s *Store) RefundDay(day string) ([]*payflow.Payment, error) {
	return s.byDay(bucketRefDays, day)
}

// byDay reads the payments an index lists under "day/<id>[/...]" keys.
func (s *Store) byDay(bucket []byte, day string) (ps []*payflow.Payment, err error) {
	if _, err := time.Parse(time.DateOnly, day); err != nil {
		return nil, fmt.Errorf("store: day %q is not YYYY-MM-DD", day)
	}
	prefix := []byte(day + "/")
	err = s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucket).Cursor()
		last := ""
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			id, _, _ := strings.Cut(string(k[len(prefix):]), "/")
			if id == last {
				continue
			}
			last = id
			p, err := get(tx, id)
			if err != nil {
				return err
			}
			ps = append(ps, p)
		}
		return nil
	})
	return ps, err
}

// Open returns the payments that are live or need attention.
func (s *Store) Open() (ps []*payflow.Payment, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketOpen).ForEach(func(k, _ []byte) error {
			p, err := get(tx, string(k))
			if err != nil {
				return err
			}
			ps = append(ps, p)
			return nil
		})
	})
	return ps, err
}

// ReserveSeq durably reserves n sequence numbers and returns the first.
// Numbers reserved but not used before a restart are skipped, never reused.
func (s *Store) ReserveSeq(n uint64) (first uint64, err error) {
	if n == 0 {
		return 0, errors.New("store: reserving no numbers")
	}
	err = s.update(func(tx *wtx) error {
		b := tx.Bucket(bucketMeta)
		first = b.Sequence() + 1
		return tx.setSequence(bucketMeta, b.Sequence()+n)
	})
	return first, err
}

// Check reports whether the journal is usable: its last write did not
// fail (a full disk answers reads while every write fails). It takes no
// transaction: health calls it, and must answer at once even while a
// large commit, or bbolt growing the file, holds readers back.
func (s *Store) Check() error {
	if f := s.writeErr.Load(); f != nil {
		return fmt.Errorf("store: the last journal write failed at %s (%v): payments are refused until a write succeeds; free disk space", f.at.Format(time.TimeOnly), f.err)
	}
	if s.closed.Load() {
		return errors.New("store: the journal is closed")
	}
	return nil
}

// pruneBatch bounds the day-index entries one prune transaction walks:
// a backlog of a hundred thousand payments is pruned in small
// transactions, each holding little memory and the writer briefly.
const pruneBatch = 1000

// pruneView is as much of a payment record as pruning reads: whether it
// is settled, and the keys of its indexes. Decoding it skips the history,
// items and raw answers that make up most of a record.
type pruneView struct {
	ID             string        `json:"id"`
	OrderID        string        `json:"order_id"`
	State          payflow.State `json:"state"`
	NeedsAttention bool          `json:"needs_attention"`
	CreatedAt      time.Time     `json:"created_at"`
	Refunds        []struct {
		ID        string              `json:"refund_id"`
		State     payflow.RefundState `json:"state"`
		CreatedAt time.Time           `json:"created_at"`
	} `json:"refunds"`
}

// payment is the view as a payment, for isOpen and the index keys.
func (v *pruneView) payment() *payflow.Payment {
	p := &payflow.Payment{ID: v.ID, OrderID: v.OrderID, State: v.State, NeedsAttention: v.NeedsAttention, CreatedAt: v.CreatedAt}
	for _, r := range v.Refunds {
		p.Refunds = append(p.Refunds, &payflow.Refund{ID: r.ID, State: r.State, CreatedAt: r.CreatedAt})
	}
	return p
}

// Prune deletes settled payments created before cutoff, with their
// indexes. Payments still open or needing attention are kept whatever
// their age. It walks the day index in transactions of pruneBatch
// entries, so that the journal stays writable for payments meanwhile, and
// stops between them when ctx ends. It returns how many were deleted.
func (s *Store) Prune(ctx context.Context, cutoff time.Time) (n int, err error) {
	end := []byte(cutoff.Format(time.DateOnly) + "/")
	var from []byte
	for ctx.Err() == nil {
		var walked int
		err = s.updateSolo(func(tx *wtx) error {
			// The pages the last batch read leave posd's resident memory:
			// a backlog walks the whole journal.
			s.dropMappedIn(tx.Tx)
			days := tx.Bucket(bucketDays)
			var doomed [][]byte
			c := days.Cursor()
			k, _ := c.First()
			if from != nil {
				k, _ = c.Seek(from)
			}
			for ; k != nil && bytes.Compare(k, end) < 0 && walked < pruneBatch; k, _ = c.Next() {
				walked++
				from = append(bytes.Clone(k), 0) // the next batch starts after this key
				id := k[bytes.IndexByte(k, '/')+1:]
				b := tx.Bucket(bucketPayments).Get(id)
				if b == nil {
					doomed = append(doomed, bytes.Clone(k))
					continue
				}
				var v pruneView
				if err := json.Unmarshal(b, &v); err != nil {
					return fmt.Errorf("store: corrupt payment record %s: %w", id, err)
				}
				p := v.payment()
				if isOpen(p) || !p.CreatedAt.Before(cutoff) {
					continue
				}
				doomed = append(doomed, bytes.Clone(k))
				if err := tx.del(bucketPayments, id); err != nil {
					return err
				}
				if err := tx.del(bucketOrders, []byte(p.OrderID)); err != nil {
					return err
				}
				for _, r := range p.Refunds {
					if err := tx.del(bucketRefDays, refundDayKey(p, r)); err != nil {
						return err
					}
				}
				if err := forgetJobs(tx, p.ID); err != nil {
					return err
				}
				n++
			}
			for _, k := range doomed {
				if err := tx.del(bucketDays, k); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil || walked < pruneBatch {
			return n, err
		}
	}
	return n, ctx.Err()
}
