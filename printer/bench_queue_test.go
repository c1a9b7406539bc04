package printer_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tillworks/posd/printer"
	"github.com/tillworks/posd/store"
)

// BenchmarkPrintBacklog is the cost of one receipt (picking it from the
// journal, writing it through the file printer, journaling it printed)
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
			for {
				_, pending, err := st.NextJob()
				require.NoError(b, err)
				if pending <= backlog {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			b.StopTimer()
			cancel()
			<-done
		})
	}
}
