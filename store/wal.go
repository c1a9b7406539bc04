package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"time"
)

// The journal's log (<journal>.wal) is what makes one fdatasync enough
// for a write: each write transaction's changes are appended to it and
// synced, and only then committed to bbolt, without bbolt's own two
// syncs. A checkpoint syncs bbolt and starts the log afresh; between two
// checkpoints the Store holds a read transaction open at the last one,
// so that bbolt never reuses the pages of that synced state. After a
// power cut the file's meta pages may point at pages that never reached
// the disk: the start puts back the meta page the log's header holds
// (that state's pages are all on disk, untouched since) and applies the
// log's records on top.
//
// Layout: two header slots of walSlot bytes (the newer sound one counts,
// so that a torn header write leaves the previous one), then records:
//
//	header: magic[8] epoch[8] metaLen[4] meta[metaLen] id[16] closed[1] crc[4]
//	record: len[4] crc[4] epoch[8] payload[len]
//
// A record belongs to the header's epoch; the first record that is torn,
// fails its checksum or names another epoch ends the log (records of an
// older epoch left past a truncation are never read as new).
const (
	walMagic   = "posdwal1"
	walSlot    = 512
	walStart   = 2 * walSlot
	walMetaLen = 128 // of the meta page: its header and bbolt's meta, the rest is zero
	walRecHead = 16
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// walFile returns the log's path for the journal at path.
func walFile(path string) string { return path + ".wal" }

// LogFile is where the log of the journal at path is kept: it goes
// wherever the journal goes (a copy of the journal without it may lack
// the last writes after a crash).
func LogFile(path string) string { return walFile(path) }

// walHeader is a checkpoint: the synced state the log's records apply to.
type walHeader struct {
	epoch uint64
	meta  []byte   // the first walMetaLen bytes of that state's meta page
	id    [16]byte // a hash of that state's root and freelist pages: which journal this is
	// closed: written by a clean Close. The journal is then whatever
	// the file holds (a tool may have written to it since), and nothing
	// is put back.
	closed bool
}

func (h walHeader) encode() []byte {
	b := make([]byte, 0, walSlot)
	b = append(b, walMagic...)
	b = binary.LittleEndian.AppendUint64(b, h.epoch)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(h.meta)))
	b = append(b, h.meta...)
	b = append(b, h.id[:]...)
	if h.closed {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
}

func decodeHeader(b []byte) (walHeader, bool) {
	var h walHeader
	if len(b) < 24 || string(b[:8]) != walMagic {
		return h, false
	}
	n := int(binary.LittleEndian.Uint32(b[16:]))
	end := 20 + n + 17
	if n != walMetaLen || end+4 > len(b) {
		return h, false
	}
	if binary.LittleEndian.Uint32(b[end:]) != crc32.Checksum(b[:end], crcTable) {
		return h, false
	}
	h.epoch = binary.LittleEndian.Uint64(b[8:])
	h.meta = bytes.Clone(b[20 : 20+n])
	copy(h.id[:], b[20+n:end-1])
	h.closed = b[end-1] == 1
	return h, true
}

// wal is the open log.
type wal struct {
	f       *os.File
	unlock  func()
	head    walHeader
	fresh   bool     // no sound header: a new log, or one from before posd kept logs
	records [][]byte // read at open: what the last checkpoint lacks
	off     int64    // where the next record goes
	n       int      // records since the checkpoint
	sync    func(*os.File) error
	broken  error // a sync failed: nothing more is written (see append)
}

// openWAL opens (creating) the log of the journal at path, locked
// against another posd, and reads its header and records.
func openWAL(path string, sync func(*os.File) error) (*wal, error) {
	f, err := os.OpenFile(walFile(path), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store: opening the journal's log: %w", err)
	}
	if err := f.Chmod(0o600); err != nil { // one made by hand, or restored, may be more open
		f.Close()
		return nil, fmt.Errorf("store: securing the journal's log: %w", err)
	}
	unlock, err := lockFile(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: %s: is another posd running with this data directory? Stop it first (%v)", ErrLocked, walFile(path), err)
	}
	w := &wal{f: f, unlock: unlock, sync: sync}
	if err := w.read(); err != nil {
		w.close()
		return nil, err
	}
	return w, nil
}

func (w *wal) close() {
	w.unlock()
	w.f.Close()
}

// read finds the newer sound header and the records of its epoch.
func (w *wal) read() error {
	fi, err := w.f.Stat()
	if err != nil {
		return fmt.Errorf("store: reading the journal's log: %w", err)
	}
	slots := make([]byte, walStart)
	n, err := w.f.ReadAt(slots, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("store: reading the journal's log: %w", err)
	}
	slots = slots[:n]
	w.fresh = true
	for i := 0; i < 2; i++ {
		if len(slots) < (i+1)*walSlot {
			break
		}
		if h, ok := decodeHeader(slots[i*walSlot : (i+1)*walSlot]); ok && (w.fresh || h.epoch > w.head.epoch) {
			w.head, w.fresh = h, false
		}
	}
	w.off = walStart
	switch {
	case w.fresh && fi.Size() > walStart:
		// Records, and no header to say what they apply to.
		return fmt.Errorf("%w: %s has writes but neither of its headers is sound. Keep it, and copy it and the journal aside; to start without it, move it aside (the writes it held since the last checkpoint are lost: compare recent payments with the gateway's merchant console)",
			ErrDamagedLog, w.f.Name())
	case w.fresh || fi.Size() <= walStart:
		return nil
	}
	r := io.NewSectionReader(w.f, walStart, fi.Size()-walStart)
	var off int64
	head := make([]byte, walRecHead)
	for {
		if _, err := r.ReadAt(head, off); err != nil {
			break // the end, or a torn record head
		}
		size := binary.LittleEndian.Uint32(head)
		if int64(size) > fi.Size()-walStart-off-walRecHead || binary.LittleEndian.Uint64(head[8:]) != w.head.epoch {
			break
		}
		payload := make([]byte, size)
		if _, err := r.ReadAt(payload, off+walRecHead); err != nil {
			break
		}
		crc := crc32.Update(crc32.Checksum(head[8:], crcTable), crcTable, payload)
		if crc != binary.LittleEndian.Uint32(head[4:]) {
			break
		}
		w.records = append(w.records, payload)
		off += walRecHead + int64(size)
	}
	w.off = walStart + off
	w.n = len(w.records)
	return nil
}

// append writes one transaction's changes after the last record and
// syncs them. A failed write is overwritten by the next; a failed sync
// breaks the log for good (what the kernel did with the pages is
// unknown), so that the journal refuses writes until posd restarts.
func (w *wal) append(payload []byte) error {
	if w.broken != nil {
		return w.broken
	}
	rec := make([]byte, walRecHead, walRecHead+len(payload))
	binary.LittleEndian.PutUint32(rec, uint32(len(payload)))
	binary.LittleEndian.PutUint64(rec[8:], w.head.epoch)
	binary.LittleEndian.PutUint32(rec[4:], crc32.Update(crc32.Checksum(rec[8:16], crcTable), crcTable, payload))
	rec = append(rec, payload...)
	if _, err := w.f.WriteAt(rec, w.off); err != nil {
		return fmt.Errorf("store: writing the journal's log: %w", err)
	}
	if err := w.sync(w.f); err != nil {
		w.broken = fmt.Errorf("store: syncing the journal's log failed (%v): restart posd, which replays the log", err)
		return w.broken
	}
	w.off += int64(len(rec))
	w.n++
	return nil
}

// reset makes h the log's checkpoint: written to the slot the current
// one is not in and synced, after which the records before it are dead
// (another epoch) and the file is cut back to its header.
func (w *wal) reset(h walHeader) error {
	if w.broken != nil {
		return w.broken
	}
	h.epoch = w.head.epoch + 1
	slot := make([]byte, walSlot)
	copy(slot, h.encode())
	if _, err := w.f.WriteAt(slot, int64(h.epoch%2)*walSlot); err != nil {
		return fmt.Errorf("store: writing the journal's log header: %w", err)
	}
	if err := w.sync(w.f); err != nil {
		w.broken = fmt.Errorf("store: syncing the journal's log header failed (%v): restart posd, which replays the log", err)
		return w.broken
	}
	w.head, w.fresh, w.records = h, false, nil
	w.off, w.n = walStart, 0
	// Records left past the header are of the old epoch and never read;
	// cutting them off only saves space, so it need not be synced.
	w.f.Truncate(walStart)
	return nil
}

// pageID hashes the root and freelist pages m names, as the file at f
// holds them: a checkpoint's pages are never rewritten until the next,
// so that a log's header recognises its own journal (and not a backup
// restored over it, or another till's).
func pageID(f io.ReaderAt, m meta, pageSize uint32) ([16]byte, error) {
	h := sha256.New()
	page := make([]byte, pageSize)
	for _, id := range []uint64{m.root, m.freelist} {
		if id == ^uint64(0) {
			continue
		}
		if _, err := f.ReadAt(page, int64(id)*int64(pageSize)); err != nil {
			return [16]byte{}, err
		}
		h.Write(page)
	}
	var out [16]byte
	copy(out[:], h.Sum(nil))
	return out, nil
}

// durableHeader describes the state of the journal file f as it is on
// disk now (the caller has synced it): its newer sound meta page.
func durableHeader(f *os.File) (walHeader, error) {
	fi, err := f.Stat()
	if err != nil {
		return walHeader{}, err
	}
	use, pageSize, _, problem := readMetas(f.Name(), fi.Size())
	if problem != "" {
		return walHeader{}, errors.New(problem)
	}
	h := walHeader{meta: make([]byte, walMetaLen)}
	if _, err := f.ReadAt(h.meta, int64(use.txid%2)*int64(pageSize)); err != nil {
		return h, err
	}
	if m := readMeta(h.meta); !m.ok || m.txid != use.txid {
		return h, fmt.Errorf("meta page %d does not hold transaction %d", use.txid%2, use.txid)
	}
	h.id, err = pageID(f, use, pageSize)
	return h, err
}

// ErrDamagedLog means the journal's log holds writes that cannot be read
// as a log: posd does not start without them unless told to (by moving
// the log aside).
var ErrDamagedLog = errors.New("store: the journal's log is damaged")

// ErrForeignLog means the journal's log belongs to another state of the
// journal than the file beside it: a backup restored over the journal, or
// a journal copied without its log, while the log holds writes.
var ErrForeignLog = errors.New("store: the journal's log does not belong to this journal")

// restore puts the journal file at path back to the log's checkpoint
// after a crash: both meta pages become the checkpoint's, unless the
// file already uses it. It reports whether it wrote. Nothing is put back
// after a clean Close, nor in a file the header does not recognise
// (replaced while posd was stopped); such a file with records in the
// log is ErrForeignLog.
func (w *wal) restore(path string) (wrote bool, err error) {
	if w.fresh || w.head.closed {
		return false, nil
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	switch {
	case errors.Is(err, os.ErrNotExist) && len(w.records) == 0:
		return false, nil
	case errors.Is(err, os.ErrNotExist):
		return false, fmt.Errorf("%w: %s holds %d writes, and the journal %s is missing. Put the journal back; or, to start a new journal and lose those writes, move %s aside",
			ErrForeignLog, walFile(path), len(w.records), path, walFile(path))
	case err != nil:
		return false, fmt.Errorf("store: %w", err)
	}
	defer f.Close()
	m := readMeta(w.head.meta)
	ps := m.pageSize
	id, idErr := pageID(f, m, ps)
	if !m.ok || idErr != nil || id != w.head.id {
		if len(w.records) == 0 {
			return false, nil // replaced while posd was stopped: the log has nothing to add
		}
		return false, fmt.Errorf("%w: %s holds %d writes made after the state it starts from, and %s is not that state (restored from a backup, or copied without its log?). Put back the journal that goes with the log; or, to keep this journal and lose those writes, move %s aside",
			ErrForeignLog, walFile(path), len(w.records), path, walFile(path))
	}
	fi, err := f.Stat()
	if err != nil {
		return false, fmt.Errorf("store: %w", err)
	}
	if use, _, _, problem := readMetas(path, fi.Size()); problem == "" && use.txid == m.txid {
		cur := make([]byte, walMetaLen)
		if _, err := f.ReadAt(cur, int64(m.txid%2)*int64(ps)); err == nil && bytes.Equal(cur, w.head.meta) {
			return false, nil
		}
	}
	for slot := uint64(0); slot < 2; slot++ {
		page := make([]byte, ps)
		copy(page, w.head.meta)
		binary.LittleEndian.PutUint64(page, slot) // the page header's id
		if _, err := f.WriteAt(page, int64(slot)*int64(ps)); err != nil {
			return true, fmt.Errorf("store: restoring the journal's checkpoint: %w", err)
		}
	}
	if err := w.sync(f); err != nil {
		return true, fmt.Errorf("store: restoring the journal's checkpoint: %w", err)
	}
	return true, nil
}

// sleepLock is the wait between two tries at a lock another process holds.
func sleepLock() { time.Sleep(50 * time.Millisecond) }

// undo takes back the record at off, the last one appended (bbolt
// refused to commit it): its head is zeroed and synced, which ends the
// log there. If that fails, the log is broken (see append).
func (w *wal) undo(off int64) {
	if w.broken != nil {
		return
	}
	if _, err := w.f.WriteAt(make([]byte, walRecHead), off); err != nil {
		w.broken = fmt.Errorf("store: the journal's log holds a write the journal refused, and taking it back failed (%v): restart posd", err)
		return
	}
	if err := w.sync(w.f); err != nil {
		w.broken = fmt.Errorf("store: the journal's log holds a write the journal refused, and taking it back failed (%v): restart posd", err)
		return
	}
	w.off, w.n = off, w.n-1
}
