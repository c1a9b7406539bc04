package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tillworks/posd/payflow"
	"github.com/tillworks/posd/printer"
	"github.com/tillworks/posd/store"
)

// instant is a gateway that pays at once.
type instant struct{}

func (instant) Pay(ctx context.Context, r payflow.PayRequest) (payflow.Outcome, error) {
	return payflow.Outcome{Kind: payflow.Succeeded, OrderNo: r.OrderNo, Amount: r.Amount, GatewayTradeNo: "T" + r.OrderNo}, nil
}
func (instant) Query(ctx context.Context, r payflow.OrderRef) (payflow.Outcome, error) {
	return payflow.Outcome{Kind: payflow.Succeeded}, nil
}
func (instant) Cancel(ctx context.Context, r payflow.OrderRef) (payflow.Outcome, error) {
	return payflow.Outcome{Kind: payflow.Succeeded}, nil
}
func (instant) Refund(ctx context.Context, r payflow.RefundRequest) (payflow.Outcome, error) {
	return payflow.Outcome{Kind: payflow.Succeeded}, nil
}

// BenchmarkPaymentsSlowDisk is payments through the engine and the
// journal on a disk whose fsyncs take 8 ms (each commit 16 ms), from 1 and
// from 16 cash registers at once: with the group commit, and the engine's
// lock released while a step is written, concurrent payments share
// commits. It reports payments a second (until the last is paid) and
// commits per payment, with and without the receipts printing beside them
// (to files; receipts a second counts until the last is printed).
func BenchmarkPaymentsSlowDisk(b *testing.B) {
	for _, tc := range []struct {
		clients  int
		receipts bool
	}{{1, false}, {16, false}, {1, true}, {16, true}} {
		clients := tc.clients
		b.Run(fmt.Sprintf("clients=%d/receipts=%v", clients, tc.receipts), func(b *testing.B) {
			st, err := store.Open(filepath.Join(b.TempDir(), "posd.db"))
			require.NoError(b, err)
			defer st.Close()
			st.SlowSyncs(8 * time.Millisecond)
			eng := payflow.NewEngine(payflow.Config{TillID: "t1", PollInterval: time.Second, PayTimeout: 10 * time.Second,
				CancelRetryInterval: time.Second, CancelAttempts: 3, ScanTimeout: time.Minute}, st, payflow.One("instant", instant{}), payflow.Options{})
			require.NoError(b, eng.Start(context.Background()))
			defer eng.Close()
			if tc.receipts {
				paper, _ := printer.PaperFor(58)
				cs, _ := printer.LookupCharset("gbk")
				q := &printer.Queue{Jobs: st, Transport: printer.FileTransport{Dir: b.TempDir()}, Layout: printer.Layout{Paper: paper, Charset: cs, TillID: "t1"}}
				st.SetJobsDue(q.DueReceipts)
				events, stop := eng.Bus().Subscribe(4096)
				defer stop()
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan struct{})
				go func() { q.Run(ctx, events, nil); close(done) }()
				defer func() { cancel(); <-done }()
			}
			var n atomic.Int64
			start, syncs, t0 := st.Commits(), st.Syncs(), time.Now()
			b.ResetTimer()
			var wg sync.WaitGroup
			for range clients {
				wg.Go(func() {
					for {
						i := n.Add(1)
						if i > int64(b.N) {
							return
						}
						p, _, err := eng.CreatePayment(payflow.NewPayment{OrderID: fmt.Sprintf("S%d", i), Amount: 100, AuthCode: "134567890123456789"})
						if err != nil {
							b.Error(err)
							return
						}
						ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
						p, err = eng.Wait(ctx, p.ID)
						cancel()
						if err != nil || p.State != payflow.StatePaid {
							b.Errorf("payment %s: %v %v", p.ID, p.State, err)
							return
						}
					}
				})
			}
			wg.Wait()
			paid := time.Since(t0)
			commits, synced := st.Commits()-start, st.Syncs()-syncs
			for tc.receipts {
				// A receipt file's "done" waits for the next write: the
				// checkpoint writes the last ones.
				require.NoError(b, st.Checkpoint())
				if j, _, err := st.NextJob(); err != nil || j == nil {
					break // every receipt printed
				}
				time.Sleep(time.Millisecond)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/paid.Seconds(), "payments/s")
			if tc.receipts {
				b.ReportMetric(float64(b.N)/time.Since(t0).Seconds(), "receipts/s")
			}
			b.ReportMetric(float64(commits)/float64(b.N), "commits/payment")
			b.ReportMetric(float64(synced)/float64(b.N), "syncs/payment")
		})
	}
}
