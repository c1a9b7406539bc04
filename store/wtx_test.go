package store

import (
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// FuzzReplay: a log record that passed its checksum but holds nonsense
// (a bug, or a checksum that matched by chance) is refused or applied,
// never a panic; what a logged transaction records replays to the same
// changes.
func FuzzReplay(f *testing.F) {
	db, err := bolt.Open(filepath.Join(f.TempDir(), "fuzz.db"), 0o600, nil)
	if err != nil {
		f.Fatal(err)
	}
	defer db.Close()
	var seed []byte
	db.Update(func(tx *bolt.Tx) error {
		w := &wtx{Tx: tx}
		w.createBucket([]byte("b"))
		w.put([]byte("b"), []byte("k"), []byte("v"))
		w.nextSequence([]byte("b"))
		w.del([]byte("b"), []byte("k"))
		seed = w.rec
		return nil
	})
	f.Add(seed)
	f.Add([]byte{opPut, 1, 'b', 200})
	f.Add([]byte{opSeq, 1, 'b'})
	f.Fuzz(func(t *testing.T, rec []byte) {
		db.Update(func(tx *bolt.Tx) error {
			replay(tx, rec)
			return errBadRecord // never keep what a fuzz case wrote
		})
	})
}
