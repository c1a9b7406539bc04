package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	bolt "go.etcd.io/bbolt"

	"github.com/tillworks/posd/payflow"
	"github.com/tillworks/posd/printer"
)

var (
	bucketJobs     = []byte("print_jobs")      // jobs not yet printed, by sequence: their state, without their bytes
	bucketJobIDs   = []byte("print_job_ids")   // every job id ever queued (printed ones too), to its sequence key
	bucketJobBytes = []byte("print_job_bytes") // a job's bytes, "<seq>d", and its 重印 copy, "<seq>r"
)

// A job's bytes are kept apart from its state, so that marking it printing
// or done rewrites a few hundred bytes, not the receipt twice over (30 kB
// with a logo sent inline). Jobs journaled before kept their bytes in
// their record; those are read as they are.
func bytesKey(seq uint64, which byte) []byte { return append(jobKey(seq), which) }

// encodeJob is j's record: its state, without its bytes.
func encodeJob(j *PrintJob) ([]byte, error) {
	meta := *j
	meta.Data, meta.ReprintData = nil, nil
	return json.Marshal(&meta)
}

// decodeJob reads a job's record and, unless the record carries them (a
// job journaled before), its bytes.
func decodeJob(tx *bolt.Tx, k, v []byte) (*PrintJob, error) {
	j := new(PrintJob)
	if err := json.Unmarshal(v, j); err != nil {
		return nil, fmt.Errorf("store: corrupt print job %s: %w", k, err)
	}
	if j.Data == nil {
		b := tx.Bucket(bucketJobBytes)
		if b == nil || b.Get(bytesKey(j.Seq, 'd')) == nil {
			return nil, fmt.Errorf("store: print job %s has lost its bytes", k)
		}
		j.Data = bytes.Clone(b.Get(bytesKey(j.Seq, 'd')))
		j.ReprintData = bytes.Clone(b.Get(bytesKey(j.Seq, 'r')))
	}
	return j, nil
}

// The queue's jobs are printer.Job: the store keeps them the way the
// printer's queue asks (printer.JobStore), as it keeps payments for the
// engine (payflow.Journal).
type (
	PrintJob = printer.Job
	JobState = printer.JobState
)

// The job states, as the store reads them.
const (
	JobPending  = printer.JobPending
	JobPrinting = printer.JobPrinting
	JobDone     = printer.JobDone
)

func jobKey(seq uint64) []byte { return []byte(fmt.Sprintf("%020d", seq)) }

// AddJob journals a new job unless one with its id exists; it reports
// whether it added it. Jobs are kept in the order they were added.
func (s *Store) AddJob(j *PrintJob) (added bool, err error) {
	err = s.update(func(tx *wtx) error {
		var err error
		added, err = addJob(tx, j)
		return err
	})
	return added, err
}

func addJob(tx *wtx, j *PrintJob) (bool, error) {
	for _, b := range [][]byte{bucketJobs, bucketJobIDs, bucketJobBytes} {
		if err := tx.createBucket(b); err != nil {
			return false, err
		}
	}
	if tx.Bucket(bucketJobIDs).Get([]byte(j.ID)) != nil {
		return false, nil
	}
	var err error
	if j.Seq, err = tx.nextSequence(bucketJobs); err != nil {
		return false, err
	}
	v, err := encodeJob(j)
	if err != nil {
		return false, err
	}
	if err := tx.put(bucketJobIDs, []byte(j.ID), jobKey(j.Seq)); err != nil {
		return false, err
	}
	if err := tx.put(bucketJobBytes, bytesKey(j.Seq, 'd'), j.Data); err != nil {
		return false, err
	}
	if err := tx.put(bucketJobBytes, bytesKey(j.Seq, 'r'), j.ReprintData); err != nil {
		return false, err
	}
	return true, tx.put(bucketJobs, jobKey(j.Seq), v)
}

// SetJobsDue has the store ask f, each time it saves a payment, which print
// jobs the payment's record makes due (printer.Queue.DueReceipts), and
// journal those it does not have in the same transaction: a paid payment
// and its receipt are durable together, in one commit. A job that cannot
// be rendered is left to the queue (which logs why); the payment is saved
// whatever happens to it.
func (s *Store) SetJobsDue(f func(*payflow.Payment) []printer.DueJob) { s.jobsDue.Store(&f) }

// addDueJobs journals the jobs p makes due that tx does not have.
func (s *Store) addDueJobs(tx *wtx, p *payflow.Payment) error {
	f := s.jobsDue.Load()
	if f == nil {
		return nil
	}
	for _, d := range (*f)(p) {
		if ids := tx.Bucket(bucketJobIDs); ids != nil && ids.Get([]byte(d.ID)) != nil {
			continue
		}
		j, err := d.Render()
		if err != nil {
			continue
		}
		if _, err := addJob(tx, j); err != nil {
			return err
		}
	}
	return nil
}

// SaveJob records a job's new state. A done job drops its bytes: only its
// id stays, so that it is never printed again.
func (s *Store) SaveJob(j *PrintJob) error {
	return s.update(saveJob(j))
}

// SaveJobLater records a job's new state with the next write to the
// journal, or with the checkpoint once writes stop coming (a minute
// without one), or at Close (printer.LaterJobs): for a state the queue
// can tell again after a crash (a receipt file that exists was printed),
// which need not cost a sync of its own. It does not wait,
// and a failure is not reported: the job's old state stays, and is told
// again.
func (s *Store) SaveJobLater(j *PrintJob) {
	if s.closed.Load() {
		return
	}
	w := &write{fn: saveJob(j), done: make(chan error, 1)}
	select {
	case s.later <- w:
	case <-s.stop:
	default: // the committer is behind: write it now
		s.update(w.fn)
	}
}

// saveJob is the write that records j's state (its bytes stay as they
// were journaled). A done job's record and bytes go.
func saveJob(j *PrintJob) func(*wtx) error {
	v, err := encodeJob(j)
	snap := *j // the state as it is now: a later write may run after j changed
	state, seq, id := j.State, j.Seq, j.ID
	return func(tx *wtx) error {
		b := tx.Bucket(bucketJobs)
		var old []byte
		if b != nil {
			old = b.Get(jobKey(seq))
		}
		if old == nil {
			return fmt.Errorf("store: no print job %s", id)
		}
		if state == JobDone {
			if tx.Bucket(bucketJobBytes) != nil {
				if err := tx.del(bucketJobBytes, bytesKey(seq, 'd')); err != nil {
					return err
				}
				if err := tx.del(bucketJobBytes, bytesKey(seq, 'r')); err != nil {
					return err
				}
			}
			return tx.del(bucketJobs, jobKey(seq))
		}
		if err != nil {
			return err
		}
		record := v
		if data := tx.Bucket(bucketJobBytes); data == nil || data.Get(bytesKey(seq, 'd')) == nil {
			// Journaled before bytes were kept apart: the record keeps them.
			var before PrintJob
			if err := json.Unmarshal(old, &before); err != nil {
				return fmt.Errorf("store: corrupt print job %s: %w", id, err)
			}
			keep := snap
			keep.Data, keep.ReprintData = before.Data, before.ReprintData
			var err error
			if record, err = json.Marshal(&keep); err != nil {
				return err
			}
		}
		return tx.put(bucketJobs, jobKey(seq), record)
	}
}

// NextJob returns the oldest job not yet printed (nil when there is none)
// and how many are waiting. It decodes that one job only: with thousands
// waiting (a printer out of paper all day) each receipt still costs the
// same to pick.
func (s *Store) NextJob() (j *PrintJob, pending int, err error) {
	return s.NextJobAfter(0)
}

// NextJobAfter is NextJob past the job numbered seq: the oldest job
// added after it that is not yet printed, and how many such wait
// (printer.LaterJobs). Jobs up to seq are the queue's own business: it
// printed them and records them done later.
func (s *Store) NextJobAfter(seq uint64) (j *PrintJob, pending int, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketJobs)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		k, v := c.Seek(jobKey(seq + 1))
		if k == nil {
			return nil
		}
		var err error
		if j, err = decodeJob(tx, k, v); err != nil {
			return err
		}
		// Jobs are printed in the order they were added, so those waiting
		// are numbered from this one to the last: counted from the
		// numbers, not by walking thousands of keys before each receipt.
		last, _ := c.Last()
		if n, err := strconv.ParseUint(string(last), 10, 64); err == nil && n >= j.Seq {
			pending = int(n-j.Seq) + 1
		} else {
			pending = 1
		}
		return nil
	})
	return j, pending, err
}

// PendingJobs returns the jobs not yet printed, oldest first.
func (s *Store) PendingJobs() (jobs []*PrintJob, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketJobs)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			j, err := decodeJob(tx, k, v)
			if err != nil {
				return err
			}
			jobs = append(jobs, j)
			return nil
		})
	})
	return jobs, err
}

// HasJob reports whether a job with the id was ever added.
func (s *Store) HasJob(id string) (bool, error) {
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		if ids := tx.Bucket(bucketJobIDs); ids != nil {
			ok = ids.Get([]byte(id)) != nil
		}
		return nil
	})
	return ok, err
}

// forgetJobs drops the printed-job ids of a pruned payment.
func forgetJobs(tx *wtx, paymentID string) error {
	ids := tx.Bucket(bucketJobIDs)
	if ids == nil {
		return nil
	}
	for _, prefix := range []string{"payment/" + paymentID, "refund/" + paymentID + "/", "reprint/" + paymentID + "/", "qr/" + paymentID} {
		var doomed [][]byte
		c := ids.Cursor()
		for k, _ := c.Seek([]byte(prefix)); k != nil && bytes.HasPrefix(k, []byte(prefix)); k, _ = c.Next() {
			doomed = append(doomed, bytes.Clone(k))
		}
		for _, k := range doomed {
			if err := tx.del(bucketJobIDs, k); err != nil {
				return err
			}
		}
	}
	return nil
}

var keyPrinterLogo = []byte("printer_logo")

// PrinterLogo is the last logo written into the printer's NV memory
// (printer.LogoMemory); zero when none was.
func (s *Store) PrinterLogo() (r printer.LogoRecord, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(keyPrinterLogo); v != nil && json.Unmarshal(v, &r) != nil {
			r = printer.LogoRecord{} // unreadable: the logo is written again
		}
		return nil
	})
	return r, err
}

// SetPrinterLogo records a logo written (or about to be) into the printer.
func (s *Store) SetPrinterLogo(r printer.LogoRecord) error {
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return s.update(func(tx *wtx) error { return tx.put(bucketMeta, keyPrinterLogo, v) })
}
