package store

import (
	"time"

	bolt "go.etcd.io/bbolt"
)

// FailWrites makes every commit fail with err until called with nil, as a
// full disk would.
func (s *Store) FailWrites(err error) {
	if err == nil {
		s.failNext = nil
		return
	}
	s.failNext = func() error { return err }
}

// SlowSyncs adds d to every commit, as a disk with slow fsyncs would.
func (s *Store) SlowSyncs(d time.Duration) { s.slowSync = d }

// PutMeta writes a raw value into the meta bucket, as damage would.
func (s *Store) PutMeta(key string, v []byte) error {
	return s.update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put([]byte(key), v) })
}
