package store_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tillworks/posd/payflow"
	"github.com/tillworks/posd/store"
)

// BenchmarkVerify measures the read-only check posd runs before every
// start (the quick one) and posd journal check (full), on a journal of
// 20,000 payments: about two months of a busy till.
func BenchmarkVerify(b *testing.B) {
	path := filepath.Join(b.TempDir(), "posd.db")
	s, err := store.Open(path)
	require.NoError(b, err)
	at := time.Date(2026, 9, 1, 9, 0, 0, 0, time.Local)
	for i := range 20000 {
		st := payflow.StatePaid
		if i%1000 == 0 {
			st = payflow.StateInDoubt
		}
		p := payment(fmt.Sprintf("pay_%06d", i), fmt.Sprintf("order-%06d", i), at.Add(time.Duration(i)*time.Minute), st)
		p.History = append(p.History, p.History[0], p.History[0], p.History[0])
		_, err := s.Create(p)
		require.NoError(b, err)
	}
	require.NoError(b, s.Close())
	for _, full := range []bool{false, true} {
		b.Run(fmt.Sprintf("full=%v", full), func(b *testing.B) {
			for b.Loop() {
				if _, err := store.Verify(path, full); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
