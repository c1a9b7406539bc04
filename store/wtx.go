package store

import (
	"encoding/binary"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// wtx is a write transaction that also records its changes, for the
// journal's log. Writes go through its methods; reads through the
// embedded bbolt transaction. (TestWritesAreLogged holds that no store
// code writes to a bucket any other way.)
type wtx struct {
	*bolt.Tx
	rec []byte // the changes, encoded as the log's payload
	ops int
}

// Log operations. Buckets are all top level.
const (
	opPut    = 'p'
	opDelete = 'd'
	opSeq    = 's'
	opBucket = 'b'
)

func (t *wtx) record(op byte, bucket, key, value []byte, seq uint64) {
	t.ops++
	t.rec = append(t.rec, op)
	t.rec = binary.AppendUvarint(t.rec, uint64(len(bucket)))
	t.rec = append(t.rec, bucket...)
	switch op {
	case opPut:
		t.rec = binary.AppendUvarint(t.rec, uint64(len(key)))
		t.rec = append(t.rec, key...)
		t.rec = binary.AppendUvarint(t.rec, uint64(len(value)))
		t.rec = append(t.rec, value...)
	case opDelete:
		t.rec = binary.AppendUvarint(t.rec, uint64(len(key)))
		t.rec = append(t.rec, key...)
	case opSeq:
		t.rec = binary.AppendUvarint(t.rec, seq)
	}
}

func (t *wtx) bucket(name []byte) (*bolt.Bucket, error) {
	b := t.Bucket(name)
	if b == nil {
		return nil, fmt.Errorf("store: the journal has no bucket %q", name)
	}
	return b, nil
}

// put sets key to value in bucket.
func (t *wtx) put(bucket, key, value []byte) error {
	b, err := t.bucket(bucket)
	if err != nil {
		return err
	}
	if err := b.Put(key, value); err != nil {
		return err
	}
	t.record(opPut, bucket, key, value, 0)
	return nil
}

// del deletes key from bucket.
func (t *wtx) del(bucket, key []byte) error {
	b, err := t.bucket(bucket)
	if err != nil {
		return err
	}
	if err := b.Delete(key); err != nil {
		return err
	}
	t.record(opDelete, bucket, key, nil, 0)
	return nil
}

// setSequence sets bucket's sequence to n.
func (t *wtx) setSequence(bucket []byte, n uint64) error {
	b, err := t.bucket(bucket)
	if err != nil {
		return err
	}
	if err := b.SetSequence(n); err != nil {
		return err
	}
	t.record(opSeq, bucket, nil, nil, n)
	return nil
}

// nextSequence advances bucket's sequence and returns it.
func (t *wtx) nextSequence(bucket []byte) (uint64, error) {
	b, err := t.bucket(bucket)
	if err != nil {
		return 0, err
	}
	n, err := b.NextSequence()
	if err != nil {
		return 0, err
	}
	t.record(opSeq, bucket, nil, nil, n)
	return n, nil
}

// createBucket creates the top-level bucket name if it is missing.
func (t *wtx) createBucket(name []byte) error {
	if t.Bucket(name) != nil {
		return nil
	}
	if _, err := t.CreateBucket(name); err != nil {
		return err
	}
	t.record(opBucket, name, nil, nil, 0)
	return nil
}

var errBadRecord = errors.New("store: a record of the journal's log cannot be read")

// replayAll applies the log's records to tx, in order.
func replayAll(tx *bolt.Tx, records [][]byte) error {
	for i, rec := range records {
		if err := replay(tx, rec); err != nil {
			return fmt.Errorf("replaying record %d of %d of the log: %w", i+1, len(records), err)
		}
	}
	return nil
}

// replay applies one logged transaction's changes to tx.
func replay(tx *bolt.Tx, rec []byte) error {
	r := recordReader{rec: rec}
	for len(r.rec) > 0 {
		op := r.rec[0]
		r.rec = r.rec[1:]
		name, err := r.field()
		if err != nil {
			return err
		}
		if op == opBucket {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
			continue
		}
		b := tx.Bucket(name)
		if b == nil {
			return fmt.Errorf("%w: it writes to bucket %q, which the journal lacks", errBadRecord, name)
		}
		if err := r.apply(b, op); err != nil {
			return err
		}
	}
	return nil
}

// recordReader reads a logged transaction's changes in order.
type recordReader struct{ rec []byte }

func (r *recordReader) uvarint() (uint64, error) {
	n, k := binary.Uvarint(r.rec)
	if k <= 0 {
		return 0, errBadRecord
	}
	r.rec = r.rec[k:]
	return n, nil
}

func (r *recordReader) field() ([]byte, error) {
	n, err := r.uvarint()
	if err != nil || n > uint64(len(r.rec)) {
		return nil, errBadRecord
	}
	b := r.rec[:n:n]
	r.rec = r.rec[n:]
	return b, nil
}

// apply makes one change, op, to b.
func (r *recordReader) apply(b *bolt.Bucket, op byte) error {
	switch op {
	case opPut:
		k, err := r.field()
		if err != nil {
			return err
		}
		v, err := r.field()
		if err != nil {
			return err
		}
		return b.Put(k, v)
	case opDelete:
		k, err := r.field()
		if err != nil {
			return err
		}
		return b.Delete(k)
	case opSeq:
		n, err := r.uvarint()
		if err != nil {
			return err
		}
		return b.SetSequence(n)
	}
	return fmt.Errorf("%w: unknown operation %q", errBadRecord, op)
}
