package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/tillworks/posd/payflow"
)

// ErrLocked means another process (a running posd) holds the journal.
var ErrLocked = errors.New("store: the journal is locked by another process")

// DamagedError says the journal file cannot be trusted. posd writes
// nothing to such a file: the first write could destroy what is left.
type DamagedError struct {
	Path     string
	Problems []string // what the check found, first things first
}

func (e *DamagedError) Error() string {
	what := strings.Join(e.Problems, "; ")
	if len(e.Problems) > 3 {
		what = strings.Join(e.Problems[:3], "; ") + fmt.Sprintf("; and %d more", len(e.Problems)-3)
	}
	return fmt.Sprintf("the journal %s is damaged (%s). posd has not written to it. "+
		"Stop posd, then run 'posd journal check' for the details and 'posd journal recover' to copy every readable payment into a new journal "+
		"(the damaged file is kept beside it); or restore a backup (docs/journal.md). Payments taken since then must be checked in the gateway's merchant console",
		e.Path, what)
}

// Report is what a check of the journal found.
type Report struct {
	Size     int64
	Payments int // payment records read
	Open     int // payments recovery would resume
	Jobs     int // receipts queued (printed or not) that the journal remembers
	Warnings []string
	Problems []string
	// Sealed says the journal was as a clean close left it (see Open):
	// only its meta pages and open payments were read.
	Sealed bool
	// Replayed is how many writes a crash left in the journal's log, put
	// back by the start (after Restored: the journal's file set back to
	// the log's checkpoint, as a power cut requires).
	Replayed int
	Restored bool
}

// Verify checks the journal at path without writing to it: that the file
// is whole (not cut short, its meta pages sound), that its pages are
// consistent (read from the file, page by page), and that posd's own
// indexes agree with the records recovery needs. full also runs bbolt's
// own check, decodes every payment and checks every index entry (posd
// journal check); without it the check maps into memory only what
// recovery reads, so that start-up stays quick and small on a large
// journal.
// A damaged file is an error wrapping *DamagedError; a file another
// process holds is a plain error.
//
// When a crash left writes in the journal's log, the check reads the
// journal as the next start will have it: a copy with the log applied.
func Verify(path string, full bool) (Report, error) {
	depth := checkQuick
	if full {
		depth = checkFull
	}
	p, pending, done, err := settled(path)
	if err != nil {
		return Report{}, err
	}
	defer done()
	rep, err := verify(p, depth)
	if pending > 0 {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("a crash left %d writes in the journal's log: checked with them applied, as posd's next start applies them", pending))
	}
	var de *DamagedError
	if errors.As(err, &de) {
		de.Path = path
	}
	return rep, err
}

// checkDepth is how much of the journal a check reads.
type checkDepth int

const (
	// checkSealed reads the meta pages and what recovery reads: for a
	// journal as a clean Close left it (see seal).
	checkSealed checkDepth = iota
	// checkQuick also walks every page from the file and every order:
	// before a start after a crash, or of a journal posd did not close.
	checkQuick
	// checkFull also runs bbolt's own check and decodes every record and
	// index entry (posd journal check).
	checkFull
)

func verify(path string, depth checkDepth) (Report, error) {
	r := Report{Sealed: depth == checkSealed}
	fi, err := os.Stat(path)
	if err != nil {
		return r, fmt.Errorf("store: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return r, fmt.Errorf("store: %s is not a regular file", path)
	}
	r.Size = fi.Size()
	damaged := func(p ...string) (Report, error) {
		r.Problems = append(r.Problems, p...)
		return r, &DamagedError{Path: path, Problems: r.Problems}
	}
	if r.Size == 0 {
		return damaged("the file is empty (0 bytes): its payments are gone. If this till never took a payment, delete the file; otherwise restore a backup")
	}
	use, pageSize, warn, problem := readMetas(path, r.Size)
	if problem != "" {
		return damaged(problem)
	}
	if warn != "" {
		r.Warnings = append(r.Warnings, warn)
	}
	// Every page bbolt would read, checked from the file's bytes first:
	// bbolt's own check reads keys in a goroutine of its own, where a
	// damaged offset would crash the process instead of being reported.
	if depth != checkSealed {
		if p := checkPages(path, pageSize, use); len(p) > 0 {
			return damaged(p...)
		}
	}
	err = guarded(func() error {
		db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
		if errors.Is(err, berrors.ErrTimeout) {
			return fmt.Errorf("%w: %s: is another posd running with this data directory? Stop it first, or check a backup of it (posd journal backup FILE, then posd journal check --file FILE)", ErrLocked, path)
		}
		if err != nil {
			r.Problems = append(r.Problems, "bbolt cannot open it: "+err.Error())
			return nil
		}
		defer db.Close()
		return db.View(func(tx *bolt.Tx) error {
			if depth != checkFull {
				// The page walk above has checked what bbolt's own check
				// does (every page's shape, its keys' order, each page
				// reached once, none both free and in use), reading the
				// file rather than mapping it page by page into posd's
				// memory; what the index check maps it gives back as it
				// goes.
				data, size := db.Info().Data, tx.Size()
				r.Problems = append(r.Problems, checkIndexes(tx, depth, &r, func() { dropMapped(data, size) })...)
				return nil
			}
			r.Problems = append(r.Problems, walk(tx)...)
			if len(r.Problems) > 0 {
				return nil // bbolt's own check could fault on what the walk found
			}
			for err := range tx.Check() {
				r.Problems = append(r.Problems, "bbolt: "+err.Error())
			}
			if len(r.Problems) == 0 {
				r.Problems = append(r.Problems, checkIndexes(tx, depth, &r, func() {})...)
			}
			return nil
		})
	})
	if errors.Is(err, ErrLocked) {
		return r, err
	}
	if err != nil {
		r.Problems = append(r.Problems, err.Error())
	}
	if len(r.Problems) > 0 {
		return r, &DamagedError{Path: path, Problems: r.Problems}
	}
	return r, nil
}

// guarded runs f so that a panic in bbolt, or a memory fault reading a
// damaged file through its mmap, becomes an error instead of a crash.
func guarded(f func() error) (err error) {
	old := debug.SetPanicOnFault(true)
	defer debug.SetPanicOnFault(old)
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("reading the file failed: %v", r)
		}
	}()
	return f()
}

// The layout of a bbolt meta page (go.etcd.io/bbolt/internal/common):
// a 16-byte page header, then magic, version, page size, flags (uint32
// each), the root bucket (root page, sequence), the freelist page, the
// high-water page id, the transaction id and an FNV-64a checksum of all
// before it, in the machine's byte order (little-endian on every target
// posd is built for).
const (
	metaOffset   = 16
	metaSumLen   = 56
	boltMagic    = 0xED0CDAED
	boltVersion  = 2
	minReadBytes = metaOffset + metaSumLen + 8
)

type meta struct {
	pageSize       uint32
	root, freelist uint64
	pgid, txid     uint64
	ok             bool
}

func readMeta(b []byte) meta {
	if len(b) < minReadBytes {
		return meta{}
	}
	m := b[metaOffset:]
	le := binary.LittleEndian
	h := fnv.New64a()
	h.Write(m[:metaSumLen])
	return meta{
		pageSize: le.Uint32(m[8:]),
		root:     le.Uint64(m[16:]),
		freelist: le.Uint64(m[32:]),
		pgid:     le.Uint64(m[40:]),
		txid:     le.Uint64(m[48:]),
		ok:       le.Uint32(m[0:]) == boltMagic && le.Uint32(m[4:]) == boltVersion && le.Uint64(m[56:]) == h.Sum64(),
	}
}

// checkMeta reads both meta pages as bbolt would and checks that the file
// holds every page the newer sound one counts: a file cut short would
// make bbolt read past its end (SIGBUS) or silently lose the tail.
func checkMeta(path string, size int64) (warning, problem string) {
	_, _, warning, problem = readMetas(path, size)
	return warning, problem
}

// readMetas is checkMeta, also returning the meta page bbolt would use and
// the page size.
func readMetas(path string, size int64) (use meta, pageSize uint32, warning, problem string) {
	f, err := os.Open(path)
	if err != nil {
		return use, 0, "", err.Error()
	}
	defer f.Close()
	head := make([]byte, minReadBytes)
	if _, err := io.ReadFull(f, head); err != nil {
		return use, 0, "", fmt.Sprintf("the file is %d bytes, too short to be a journal", size)
	}
	m0 := readMeta(head)
	pageSize = 4096
	if m0.ok && m0.pageSize >= 1024 && m0.pageSize <= 1<<16 && m0.pageSize&(m0.pageSize-1) == 0 {
		pageSize = m0.pageSize
	}
	second := make([]byte, minReadBytes)
	var m1 meta
	if _, err := f.ReadAt(second, int64(pageSize)); err == nil {
		m1 = readMeta(second)
	}
	switch {
	case !m0.ok && !m1.ok:
		return use, pageSize, "", "neither of its two meta pages is sound: this is not a journal posd can read"
	case m0.ok && m1.ok:
		use = m0
		if m1.txid > m0.txid {
			use = m1
		}
	case m0.ok:
		use, warning = m0, "meta page 1 is unsound: bbolt falls back to meta page 0, the transaction before the last (a power cut during a write does this; so does a damaged disk)"
	default:
		use, warning = m1, "meta page 0 is unsound: bbolt falls back to meta page 1, the transaction before the last (a power cut during a write does this; so does a damaged disk)"
	}
	if use.pageSize != pageSize && use.pageSize != 0 {
		pageSize = use.pageSize
	}
	switch {
	case use.pgid < 2 || use.root >= use.pgid || (use.freelist >= use.pgid && use.freelist != ^uint64(0)):
		return use, pageSize, warning, fmt.Sprintf("its meta page points outside the file (root page %d, freelist %d, %d pages)", use.root, use.freelist, use.pgid)
	case int64(use.pgid)*int64(pageSize) > size:
		return use, pageSize, warning, fmt.Sprintf("the file is cut short: %d bytes where its meta page counts %d pages of %d bytes (%d bytes)",
			size, use.pgid, pageSize, int64(use.pgid)*int64(pageSize))
	}
	return use, pageSize, warning, ""
}

// walk visits every key of every bucket with cursors, so that a damaged
// page is met here, in guarded code, rather than in bbolt's checker.
func walk(tx *bolt.Tx) (problems []string) {
	err := tx.ForEach(func(name []byte, b *bolt.Bucket) error {
		return walkBucket(b, string(name))
	})
	if err != nil {
		problems = append(problems, err.Error())
	}
	return problems
}

func walkBucket(b *bolt.Bucket, name string) error {
	return b.ForEach(func(k, v []byte) error {
		if v == nil {
			if sub := b.Bucket(k); sub != nil {
				return walkBucket(sub, name+"/"+string(k))
			}
		}
		return nil
	})
}

// checkIndexes holds posd's own indexes against the records: every open
// payment (what recovery resumes) and every order must lead to a readable
// payment of that order. full reads every payment too.
//
// drop, called every thousand entries, may give back the journal's
// mapped pages (see dropMapped).
func checkIndexes(tx *bolt.Tx, depth checkDepth, r *Report, drop func()) (problems []string) {
	full := depth == checkFull
	for _, b := range [][]byte{bucketPayments, bucketOrders, bucketDays, bucketRefDays, bucketOpen, bucketMeta} {
		if tx.Bucket(b) == nil {
			problems = append(problems, fmt.Sprintf("bucket %q is missing", b))
		}
	}
	if len(problems) > 0 {
		return problems
	}
	pays := tx.Bucket(bucketPayments)
	read := func(id []byte) (*payflow.Payment, string) {
		v := pays.Get(id)
		if v == nil {
			return nil, "no record"
		}
		p, err := decode(v)
		if err != nil {
			return nil, "its record is not readable"
		}
		if p.ID != string(id) {
			return nil, fmt.Sprintf("its record says it is %s", p.ID)
		}
		return p, ""
	}
	tx.Bucket(bucketOpen).ForEach(func(k, _ []byte) error {
		r.Open++
		if _, why := read(k); why != "" {
			problems = append(problems, fmt.Sprintf("open payment %s: %s", k, why))
		}
		return nil
	})
	if depth == checkSealed {
		return problems
	}
	n := 0
	tx.Bucket(bucketOrders).ForEach(func(k, v []byte) error {
		if n++; n%1024 == 0 {
			drop()
		}
		if !full {
			if pays.Get(v) == nil {
				problems = append(problems, fmt.Sprintf("order %s: its payment %s has no record", k, v))
			}
			return nil
		}
		if p, why := read(v); why != "" {
			problems = append(problems, fmt.Sprintf("order %s: payment %s: %s", k, v, why))
		} else if p.OrderID != string(k) {
			problems = append(problems, fmt.Sprintf("order %s: payment %s is for order %s", k, v, p.OrderID))
		}
		return nil
	})
	if full {
		orders := tx.Bucket(bucketOrders)
		pays.ForEach(func(k, v []byte) error {
			r.Payments++
			p, why := read(k)
			if why != "" {
				problems = append(problems, fmt.Sprintf("payment %s: %s", k, why))
				return nil
			}
			if !bytes.Equal(orders.Get([]byte(p.OrderID)), k) {
				problems = append(problems, fmt.Sprintf("payment %s: order %s does not lead to it", k, p.OrderID))
			}
			if isOpen(p) && tx.Bucket(bucketOpen).Get(k) == nil {
				problems = append(problems, fmt.Sprintf("payment %s is %s but not in the open index: recovery would miss it", k, p.State))
			}
			return nil
		})
		// The day indexes behind listings, reports and pruning.
		for _, idx := range [][]byte{bucketDays, bucketRefDays} {
			tx.Bucket(idx).ForEach(func(k, _ []byte) error {
				day, rest, _ := strings.Cut(string(k), "/")
				id, refund, _ := strings.Cut(rest, "/")
				if _, err := time.Parse(time.DateOnly, day); err != nil || id == "" {
					problems = append(problems, fmt.Sprintf("index %s: key %q is not day/payment", idx, k))
					return nil
				}
				p, why := read([]byte(id))
				switch {
				case why != "":
					problems = append(problems, fmt.Sprintf("index %s: %s: payment %s: %s", idx, k, id, why))
				case refund != "" && p.Refund(refund) == nil:
					problems = append(problems, fmt.Sprintf("index %s: %s: payment %s has no refund %s", idx, k, id, refund))
				}
				return nil
			})
		}
		if ids := tx.Bucket(bucketJobIDs); ids != nil {
			r.Jobs = ids.Stats().KeyN
		}
		// Every receipt still to print can be printed.
		if jobs := tx.Bucket(bucketJobs); jobs != nil {
			jobs.ForEach(func(k, v []byte) error {
				if _, err := decodeJob(tx, k, v); err != nil {
					problems = append(problems, err.Error())
				}
				return nil
			})
		}
	}
	return problems
}

// RecoverReport is what Recover copied and what it could not.
type RecoverReport struct {
	Payments int
	Jobs     int      // receipts remembered (printed or still to print)
	Lost     []string // what could not be read
}

// Recover copies every payment (with its indexes) and print job that can
// be read from the damaged journal at from into a new journal at to, which
// must not exist. The damaged file is only read. Where a damaged page cuts
// a bucket short, the records after it are read backwards from the end.
func Recover(from, to string) (RecoverReport, error) {
	var rep RecoverReport
	if _, err := os.Stat(to); !errors.Is(err, fs.ErrNotExist) {
		return rep, fmt.Errorf("store: %s already exists; move it away first", to)
	}
	if fi, err := os.Stat(from); err != nil {
		return rep, fmt.Errorf("store: %w", err)
	} else if fi.Size() == 0 {
		return rep, fmt.Errorf("store: %s is empty: there is nothing to recover; move it away to start a new journal", from)
	}
	if _, problem := checkMeta(from, mustSize(from)); strings.HasPrefix(problem, "neither") {
		return rep, fmt.Errorf("store: %s: %s", from, problem)
	}
	var payments, jobs, jobIDs, jobBytes []kv
	var seq uint64
	schema := 1
	read := from
	p, pending, done, err := settled(from)
	switch {
	case errors.Is(err, ErrLocked):
		return rep, err
	case err != nil:
		rep.Lost = append(rep.Lost, fmt.Sprintf("the %d writes a crash left in the journal's log: they could not be applied (%v)", pending, err))
	default:
		read = p
		defer done()
	}
	err = guarded(func() error {
		db, err := bolt.Open(read, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
		if errors.Is(err, berrors.ErrTimeout) {
			return fmt.Errorf("%w: %s: stop posd first", ErrLocked, from)
		}
		if err != nil {
			return fmt.Errorf("store: bbolt cannot open %s: %w", from, err)
		}
		defer db.Close()
		return db.View(func(tx *bolt.Tx) error {
			var lost []string
			payments, lost = salvage(tx, bucketPayments)
			rep.Lost = append(rep.Lost, lost...)
			jobs, lost = salvage(tx, bucketJobs)
			rep.Lost = append(rep.Lost, lost...)
			jobIDs, lost = salvage(tx, bucketJobIDs)
			rep.Lost = append(rep.Lost, lost...)
			jobBytes, lost = salvage(tx, bucketJobBytes)
			rep.Lost = append(rep.Lost, lost...)
			guarded(func() error {
				if b := tx.Bucket(bucketMeta); b != nil {
					seq = b.Sequence()
				}
				schema = schemaOf(tx)
				return nil
			})
			if schema > SchemaVersion {
				return fmt.Errorf("%w: %s was written by a newer posd (journal schema %d): recover it with that posd", ErrNewerSchema, from, schema)
			}
			return nil
		})
	})
	if err != nil {
		return rep, err
	}
	s, err := Open(to)
	if err != nil {
		return rep, err
	}
	defer s.Close()
	err = s.updateSolo(func(tx *wtx) error {
		orders := tx.Bucket(bucketOrders)
		for _, e := range payments {
			p, err := decode(e.v)
			if err != nil || p.ID != string(e.k) || p.OrderID == "" {
				rep.Lost = append(rep.Lost, fmt.Sprintf("payment %s: its record is not readable", e.k))
				continue
			}
			if id := orders.Get([]byte(p.OrderID)); id != nil {
				rep.Lost = append(rep.Lost, fmt.Sprintf("payment %s: order %s already has payment %s", p.ID, p.OrderID, id))
				continue
			}
			if err := tx.put(bucketOrders, []byte(p.OrderID), []byte(p.ID)); err != nil {
				return err
			}
			if err := tx.put(bucketDays, dayKey(p), nil); err != nil {
				return err
			}
			if err := put(tx, p); err != nil {
				return err
			}
			rep.Payments++
		}
		// Receipts: the ids of every job ever queued (so that printed
		// receipts are not printed again) and the jobs still to print.
		for _, b := range [][]byte{bucketJobs, bucketJobIDs, bucketJobBytes} {
			if err := tx.createBucket(b); err != nil {
				return err
			}
		}
		ids, data := tx.Bucket(bucketJobIDs), tx.Bucket(bucketJobBytes)
		var top uint64
		for _, e := range jobIDs {
			if err := tx.put(bucketJobIDs, e.k, e.v); err != nil {
				return err
			}
			if n, err := strconv.ParseUint(string(e.v), 10, 64); err == nil {
				top = max(top, n)
			}
		}
		for _, e := range jobBytes {
			if err := tx.put(bucketJobBytes, e.k, e.v); err != nil {
				return err
			}
		}
		for _, e := range jobs {
			var j PrintJob
			if err := json.Unmarshal(e.v, &j); err != nil || j.ID == "" {
				rep.Lost = append(rep.Lost, fmt.Sprintf("print job %s: its record is not readable", e.k))
				continue
			}
			if j.Data == nil && data.Get(bytesKey(j.Seq, 'd')) == nil {
				// Its id is kept below: the receipt is never printed, and
				// the report names it.
				rep.Lost = append(rep.Lost, fmt.Sprintf("print job %s (%s): its bytes are not readable; print it again with posd receipt --reprint", e.k, j.ID))
			} else if err := tx.put(bucketJobs, e.k, e.v); err != nil {
				return err
			}
			if err := tx.put(bucketJobIDs, []byte(j.ID), e.k); err != nil {
				return err
			}
			top = max(top, j.Seq)
		}
		ids.ForEach(func(_, _ []byte) error { rep.Jobs++; return nil }) // Stats does not see this transaction's writes
		if err := tx.setSequence(bucketJobs, top); err != nil {
			return err
		}
		// The records keep their schema: a journal from before payments
		// named their gateway is upgraded at the next start, as it would
		// have been.
		if err := setSchema(tx, schema); err != nil {
			return err
		}
		// Numbers carry on past the damaged journal's, with room for
		// blocks it reserved that may not have been recorded.
		return tx.setSequence(bucketMeta, seq+10*seqMargin)
	})
	if err != nil {
		return rep, fmt.Errorf("store: writing the recovered journal %s: %w", to, err)
	}
	return rep, nil
}

// seqMargin is a generous count of numbers one engine reserves at once.
const seqMargin = 1000

type kv struct{ k, v []byte }

// salvage reads every key and value of bucket name it can: forwards until
// a damaged page stops it, then backwards from the end to the same place.
func salvage(tx *bolt.Tx, name []byte) (out []kv, lost []string) {
	var b *bolt.Bucket
	if err := guarded(func() error { b = tx.Bucket(name); return nil }); err != nil || b == nil {
		if err != nil {
			lost = append(lost, fmt.Sprintf("bucket %s: %v", name, err))
		}
		return nil, lost
	}
	seen := map[string]bool{}
	take := func(k, v []byte) {
		if len(k) == 0 {
			// A damaged page can hold an empty key, which no bucket takes.
			lost = append(lost, fmt.Sprintf("bucket %s: an entry with an empty key (a damaged page)", name))
			return
		}
		if v != nil && !seen[string(k)] {
			seen[string(k)] = true
			out = append(out, kv{bytes.Clone(k), bytes.Clone(v)})
		}
	}
	var stopped []byte
	err := guarded(func() error {
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			stopped = bytes.Clone(k)
			take(k, v)
		}
		stopped = nil
		return nil
	})
	if err == nil {
		return out, lost
	}
	lost = append(lost, fmt.Sprintf("bucket %s: reading forwards stopped after key %q: %v", name, stopped, err))
	if err := guarded(func() error {
		c := b.Cursor()
		for k, v := c.Last(); k != nil && !seen[string(k)]; k, v = c.Prev() {
			take(k, v)
		}
		return nil
	}); err != nil {
		lost = append(lost, fmt.Sprintf("bucket %s: reading backwards stopped: %v; the records between are lost", name, err))
	}
	slices.SortFunc(out, func(a, b kv) int { return bytes.Compare(a.k, b.k) })
	return out, lost
}

func mustSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// Backup writes a consistent copy of the journal to w while posd runs
// (one read transaction: writes go on meanwhile).
func (s *Store) Backup(w io.Writer) (int64, error) {
	var n int64
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	return n, err
}

// BackupFile copies the journal at path, which no process may hold, to w,
// with any writes a crash left in its log applied.
func BackupFile(path string, w io.Writer) (int64, error) {
	var n int64
	p, _, done, err := settled(path)
	if err != nil {
		return 0, err
	}
	defer done()
	err = guarded(func() error {
		db, err := bolt.Open(p, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
		if errors.Is(err, berrors.ErrTimeout) {
			return fmt.Errorf("%w: %s: a running posd holds it; ask the daemon for the copy instead", ErrLocked, path)
		}
		if err != nil {
			return err
		}
		defer db.Close()
		return db.View(func(tx *bolt.Tx) error {
			n, err = tx.WriteTo(w)
			return err
		})
	})
	return n, err
}
