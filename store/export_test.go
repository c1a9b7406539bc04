package store

import (
	"bytes"
	"encoding/json"
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

// RawJob is the record of the job numbered seq as the journal holds it.
func (s *Store) RawJob(seq uint64) (v []byte, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		v = bytes.Clone(tx.Bucket(bucketJobs).Get(jobKey(seq)))
		return nil
	})
	return v, err
}

// PutLegacyJob journals j the way posd did before a job's bytes were kept
// apart: in its record.
func (s *Store) PutLegacyJob(j *PrintJob) error {
	return s.update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketJobs)
		if err != nil {
			return err
		}
		ids, err := tx.CreateBucketIfNotExists(bucketJobIDs)
		if err != nil {
			return err
		}
		if j.Seq, err = b.NextSequence(); err != nil {
			return err
		}
		v, err := json.Marshal(j)
		if err != nil {
			return err
		}
		if err := ids.Put([]byte(j.ID), jobKey(j.Seq)); err != nil {
			return err
		}
		return b.Put(jobKey(j.Seq), v)
	})
}
