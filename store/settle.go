package store

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// settled returns the journal at path as posd's start would find it, for
// the tools that read a stopped journal (check, recover, backup): when a
// crash left writes in its log, a copy in a temporary directory (which
// done removes) with the log's checkpoint put back and its writes
// applied; otherwise path itself. The journal and its log are only read.
// pending is how many writes the log held.
func settled(path string) (out string, pending int, done func(), err error) {
	done = func() {}
	if _, err := os.Stat(walFile(path)); err != nil {
		return path, 0, done, nil // no log: a journal from before posd kept one, or none
	}
	w, err := openWAL(path, datasync)
	if err != nil {
		return "", 0, done, err
	}
	pending = len(w.records)
	if w.fresh || w.head.closed || (pending == 0 && atCheckpoint(path, w.head)) {
		w.close()
		return path, 0, done, nil
	}
	dir, err := os.MkdirTemp("", "posd-journal-")
	if err != nil {
		w.close()
		return "", pending, done, err
	}
	done = func() { os.RemoveAll(dir) }
	out = filepath.Join(dir, filepath.Base(path))
	err = copyFile(path, out)
	if err == nil {
		// Through the locked handle: Windows refuses a second one the
		// locked byte.
		err = copyFrom(w.f, walFile(out))
	}
	w.close()
	if err != nil {
		done()
		return "", pending, func() {}, err
	}
	if err := settle(out); err != nil {
		done()
		return "", pending, func() {}, fmt.Errorf("store: applying the %d writes the journal's log holds: %w", pending, err)
	}
	return out, pending, done, nil
}

// atCheckpoint reports whether the journal at path uses the meta page of
// the checkpoint h (nothing to put back).
func atCheckpoint(path string, h walHeader) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	cur, err := durableHeader(f)
	return err == nil && bytes.Equal(cur.meta, h.meta)
}

// settle puts the journal at path back to its log's checkpoint and
// applies the log's writes, leaving the log as it was (the copy it works
// on is thrown away).
func settle(path string) error {
	w, err := openWAL(path, datasync)
	if err != nil {
		return err
	}
	defer w.close()
	if _, err := w.restore(path); err != nil {
		return err
	}
	if p := checkPages(path, readMeta(w.head.meta).pageSize, readMeta(w.head.meta)); len(p) > 0 {
		return &DamagedError{Path: path, Problems: p}
	}
	var db *bolt.DB
	err = guarded(func() error {
		db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
		if err != nil {
			return err
		}
		return db.Update(func(tx *bolt.Tx) error { return replayAll(tx, w.records) })
	})
	if db != nil {
		db.Close()
	}
	return err
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	return copyFrom(in, to)
}

// copyFrom copies all of in, from its start, to a new file at to.
func copyFrom(in *os.File, to string) error {
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(to, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, io.NewSectionReader(in, 0, fi.Size())); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
