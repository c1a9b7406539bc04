package store

// FailWrites makes every commit fail with err until called with nil, as a
// full disk would.
func (s *Store) FailWrites(err error) {
	if err == nil {
		s.failNext = nil
		return
	}
	s.failNext = func() error { return err }
}
