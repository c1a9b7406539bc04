package localapi_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tillworks/posd/payflow"
	"github.com/tillworks/posd/providers/demo"
)

// BenchmarkPaymentThroughAPI is a whole payment as the cash register sees
// it: POST /v1/payments with a code, then GET ?wait until paid. Underneath:
// three journal commits (sequence, create+scan, paid) and one pay to the
// demo gateway over loopback with no simulated delay.
//
// It reports the journal's commits and fdatasyncs per payment, the
// receipt's included (each commit is one fdatasync of its record in the
// log, checkpoints two; the file printer adds one fsync).
func BenchmarkPaymentThroughAPI(b *testing.B) {
	e := newEnv(b)
	i := 0
	start, syncs := e.st.Commits(), e.st.Syncs()
	for b.Loop() {
		i++
		p, r := e.create(fmt.Sprintf(`{"order_id":"B%d","amount":100,"auth_code":"134567890123456789"}`, i))
		if r.status != 201 {
			b.Fatalf("create: %d %s", r.status, r.body)
		}
		for p.State != payflow.StatePaid {
			p = e.payment("/v1/payments/" + p.ID + "?wait=10")
			if p.State.Terminal() && p.State != payflow.StatePaid {
				b.Fatalf("payment ended %s", p.State)
			}
		}
	}
	commits, synced := e.st.Commits()-start, e.st.Syncs()-syncs
	e.drain(b)
	b.ReportMetric(float64(commits)/float64(i), "commits/payment")
	b.ReportMetric(float64(synced)/float64(i), "syncs/payment")
}

// drain waits until every receipt is printed and its "done" written (a
// receipt file's waits for the journal's next write: the last ones are
// written by a checkpoint, which the figures leave out).
func (e *env) drain(b *testing.B) {
	for {
		require.NoError(b, e.st.Checkpoint())
		if j, _, err := e.st.NextJob(); err != nil || j == nil {
			break
		}
		time.Sleep(time.Millisecond)
	}
}

// BenchmarkGatewayRoundTrip is the floor under the benchmark above: one
// bare pay request to the same demo gateway over loopback HTTP.
func BenchmarkGatewayRoundTrip(b *testing.B) {
	e := newEnv(b)
	c := demo.NewClient(e.gatewayURL, time.Second)
	i := 0
	for b.Loop() {
		i++
		o, err := c.Pay(context.Background(), payflow.PayRequest{OrderNo: fmt.Sprintf("B%019d", i), Amount: 100, AuthCode: "134567890123456789"})
		if err != nil || o.Kind != payflow.Succeeded {
			b.Fatalf("pay: %v %v", o.Kind, err)
		}
	}
}

// BenchmarkPaymentsConcurrent is sixteen cash registers paying at once
// through the API: the journal's group commit lets their writes share
// commits (fewer commits per payment than BenchmarkPaymentThroughAPI's).
func BenchmarkPaymentsConcurrent(b *testing.B) {
	e := newEnv(b)
	start, syncs := e.st.Commits(), e.st.Syncs()
	var n atomic.Int64
	b.SetParallelism(8) // 16 on 2 cores
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			p, r := e.create(fmt.Sprintf(`{"order_id":"C%d","amount":100,"auth_code":"134567890123456789"}`, i))
			if r.status != 201 {
				b.Errorf("create: %d %s", r.status, r.body)
				return
			}
			for p.State != payflow.StatePaid {
				p = e.payment("/v1/payments/" + p.ID + "?wait=10")
				if p.State.Terminal() && p.State != payflow.StatePaid {
					b.Errorf("payment ended %s", p.State)
					return
				}
			}
		}
	})
	commits, synced := e.st.Commits()-start, e.st.Syncs()-syncs
	e.drain(b)
	b.ReportMetric(float64(commits)/float64(n.Load()), "commits/payment")
	b.ReportMetric(float64(synced)/float64(n.Load()), "syncs/payment")
}
