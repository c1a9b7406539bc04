package store

import (
	"bytes"
	"encoding/json"
	"os"
	"strconv"
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

// SlowSyncs adds d to every sync posd asks for, as a disk with slow
// fsyncs would.
func (s *Store) SlowSyncs(d time.Duration) { s.slowSync = d }

// PutMeta writes a raw value into the meta bucket, as damage would.
func (s *Store) PutMeta(key string, v []byte) error {
	return s.update(func(tx *wtx) error { return tx.put(bucketMeta, []byte(key), v) })
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
	return s.update(func(tx *wtx) error {
		for _, b := range [][]byte{bucketJobs, bucketJobIDs} {
			if err := tx.createBucket(b); err != nil {
				return err
			}
		}
		var err error
		if j.Seq, err = tx.nextSequence(bucketJobs); err != nil {
			return err
		}
		v, err := json.Marshal(j)
		if err != nil {
			return err
		}
		if err := tx.put(bucketJobIDs, []byte(j.ID), jobKey(j.Seq)); err != nil {
			return err
		}
		return tx.put(bucketJobs, jobKey(j.Seq), v)
	})
}

// SetCheckpointIdle sets how long journals opened after it wait for a
// write before they checkpoint, until the test ends.
func SetCheckpointIdle(t interface{ Cleanup(func()) }, d time.Duration) {
	old := checkpointIdle
	checkpointIdle = d
	t.Cleanup(func() { checkpointIdle = old })
}

// SetInitialMmap sets how much journals opened after it map at first
// (small: bbolt remaps as they grow, waiting for the checkpoint's pin),
// until the test ends.
func SetInitialMmap(t interface{ Cleanup(func()) }, n int) {
	old := initialMmap
	initialMmap = n
	t.Cleanup(func() { initialMmap = old })
}

// SetTestHook sets the store's test hook until the test ends.
func SetTestHook(t interface{ Cleanup(func()) }, f func(step, path string) error) {
	testHook = f
	t.Cleanup(func() { testHook = nil })
}

// Dump is every key and value of every bucket, and every bucket's
// sequence, as "bucket/key" and "bucket#seq".
func (s *Store) Dump() (map[string]string, error) {
	out := map[string]string{}
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			out[string(name)+"#seq"] = strconv.FormatUint(b.Sequence(), 10)
			return b.ForEach(func(k, v []byte) error {
				out[string(name)+"/"+string(k)] = string(v)
				return nil
			})
		})
	})
	return out, err
}

// PinWaits counts the commits that had the checkpoint's pin let go (bbolt
// remapping the file).
func (s *Store) PinWaits() uint64 { return s.pinWaits.Load() }

// FailLogSyncs makes every sync of the journal's log fail with err, as a
// disk that reports an I/O error would.
func (s *Store) FailLogSyncs(err error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.log.sync = func(*os.File) error { return err }
}
