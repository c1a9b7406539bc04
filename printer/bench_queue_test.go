package printer_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tillworks/posd/printer"
	"github.com/tillworks/posd/store"
)

// BenchmarkPrintBacklog is the cost of one receipt (picking it from the
// journal, writing it through the file printer, recording it printed)
// with 100 and with 3000 others waiting behind it: a printer that was out
// of paper all day. The two should be about the same.
func BenchmarkPrintBacklog(b *testing.B) {
	for _, backlog := range []int{100, 3000} {
		b.Run(fmt.Sprintf("pending=%d", backlog), func(b *testing.B) {
			st, err := store.Open(filepath.Join(b.TempDir(), "posd.db"))
			require.NoError(b, err)
			defer st.Close()
			l := layout(b, 80)
			data, err := l.Receipt(paidPayment(), nil, false)
			require.NoError(b, err)
			again, err := l.Receipt(paidPayment(), nil, true)
			require.NoError(b, err)
			q := &printer.Queue{Jobs: st, Transport: printer.FileTransport{Dir: b.TempDir()}, Layout: l}
			for i := range backlog + b.N {
				_, err := q.Enqueue(fmt.Sprintf("payment/pay_%07d", i), "pay", "", data, again)
				require.NoError(b, err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			b.ResetTimer()
			done := make(chan struct{})
			go func() { q.Run(ctx, nil, nil); close(done) }()
			// Printed, not yet journaled done: the file printer's done
			// records ride with the journal's next write (or go within a
			// second), and are not part of a receipt's cost.
			for q.State().Printed < b.N {
				time.Sleep(5 * time.Millisecond)
			}
			b.StopTimer()
			cancel()
			<-done
		})
	}
}

var oldReceipts = flag.Int("old-receipts", 20000, "receipts already written, for BenchmarkFileReceipts (docs/performance.md quotes 200000)")

// BenchmarkFileReceipts is the cost of one receipt through the file
// printer with no receipts before it and with many (a year of a busy till,
// 2000 a day): the same, since each day has its own directory.
func BenchmarkFileReceipts(b *testing.B) {
	l := layout(b, 80)
	data, err := l.Receipt(paidPayment(), nil, false)
	require.NoError(b, err)
	for _, old := range []int{0, *oldReceipts} {
		b.Run(fmt.Sprintf("old=%d", old), func(b *testing.B) {
			dir := b.TempDir()
			day := time.Date(2025, 1, 1, 0, 0, 0, 0, time.Local)
			for i := range old {
				d := filepath.Join(dir, day.AddDate(0, 0, i/2000).Format(time.DateOnly))
				if i%2000 == 0 {
					require.NoError(b, os.MkdirAll(d, 0o700))
				}
				require.NoError(b, os.WriteFile(filepath.Join(d, fmt.Sprintf("payment_pay_%07d.bin", i)), data, 0o600))
			}
			tr := printer.FileTransport{Dir: dir, RetentionDays: 400}
			b.ResetTimer()
			for i := range b.N {
				c, err := tr.Open(context.Background(), fmt.Sprintf("payment/pay_new%07d", i))
				require.NoError(b, err)
				_, err = c.Write(data)
				require.NoError(b, err)
				require.NoError(b, c.Close())
			}
		})
	}
}
