package store

import "time"

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
