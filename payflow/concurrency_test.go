package payflow_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillworks/posd/payflow"
)

// slowJournal takes its time over every write, as a slow disk does: the
// engine writes with its lock released, so other payments go on meanwhile.
type slowJournal struct {
	payflow.Journal
}

func (s slowJournal) Save(p *payflow.Payment) error {
	time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
	return s.Journal.Save(p)
}

func (s slowJournal) Create(p *payflow.Payment) (*payflow.Payment, error) {
	time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
	return s.Journal.Create(p)
}

// ledger is a gateway that counts every pay and cancel by order number.
type ledger struct {
	mu      sync.Mutex
	pays    map[string]int
	cancels map[string]int
}

func (l *ledger) Pay(ctx context.Context, r payflow.PayRequest) (payflow.Outcome, error) {
	time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond)
	l.mu.Lock()
	l.pays[r.OrderNo]++
	l.mu.Unlock()
	return payflow.Outcome{Kind: payflow.Succeeded, OrderNo: r.OrderNo, Amount: r.Amount}, nil
}
func (l *ledger) Query(ctx context.Context, r payflow.OrderRef) (payflow.Outcome, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.pays[r.OrderNo] > 0 && l.cancels[r.OrderNo] == 0 {
		return payflow.Outcome{Kind: payflow.Succeeded}, nil
	}
	return payflow.Outcome{Kind: payflow.NotFound}, nil
}
func (l *ledger) Cancel(ctx context.Context, r payflow.OrderRef) (payflow.Outcome, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cancels[r.OrderNo]++
	return payflow.Outcome{Kind: payflow.Succeeded}, nil
}
func (l *ledger) Refund(ctx context.Context, r payflow.RefundRequest) (payflow.Outcome, error) {
	return payflow.Outcome{Kind: payflow.Succeeded}, nil
}

// TestConcurrentPayments: forty payments at once on a slow journal, half
// of them aborted by their cashier at a random instant, scans and creates
// interleaved. Every payment settles; its history is a walk of the table
// (no step lost or applied to a stale state); no order is paid twice; a
// payment that ends cancelled was either never sent or cancelled at the
// gateway; one that ends paid was paid there and not cancelled.
func TestConcurrentPayments(t *testing.T) {
	st := newHarness(t, &fakeGateway{}).openStoreStopped()
	l := &ledger{pays: map[string]int{}, cancels: map[string]int{}}
	eng := payflow.NewEngine(payflow.Config{TillID: "t1", PollInterval: 10 * time.Millisecond, PayTimeout: 2 * time.Second,
		CancelRetryInterval: 10 * time.Millisecond, CancelAttempts: 3, ScanTimeout: time.Minute}, slowJournal{st}, payflow.One("ledger", l), payflow.Options{})
	require.NoError(t, eng.Start(context.Background()))
	defer eng.Close()
	const n = 40
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			p, _, err := eng.CreatePayment(payflow.NewPayment{OrderID: fmt.Sprintf("C%02d", i), Amount: 100, AuthCode: "134567890123456789"})
			require.NoError(t, err)
			ids[i] = p.ID
			if i%2 == 0 {
				time.Sleep(time.Duration(rand.IntN(4000)) * time.Microsecond)
				_, err := eng.Abort(p.ID)
				if err != nil {
					assert.ErrorIs(t, err, payflow.ErrNotCancellable, "only a paid payment refuses the abort")
				}
			}
		})
	}
	wg.Wait()
	for i, id := range ids {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		p, err := eng.Wait(ctx, id)
		cancel()
		require.NoError(t, err)
		require.True(t, p.State.Terminal(), "payment %d: %s", i, p.State)
		state := payflow.StateAwaitingScan
		for _, h := range p.History[1:] {
			assert.True(t, payflow.Allowed(state, payflow.Trigger(h.Trigger), h.State), "payment %d: %s -%s-> %s is not an edge: %+v", i, state, h.Trigger, h.State, p.History)
			state = h.State
		}
		l.mu.Lock()
		pays, cancels := l.pays[p.GatewayOrderNo], l.cancels[p.GatewayOrderNo]
		l.mu.Unlock()
		assert.LessOrEqual(t, pays, 1, "payment %d paid %d times", i, pays)
		switch p.State {
		case payflow.StatePaid:
			assert.Equal(t, 1, pays)
			assert.Zero(t, cancels, "payment %d paid and cancelled", i)
		case payflow.StateCancelled:
			assert.True(t, pays == 0 || cancels > 0, "payment %d cancelled while the gateway has it paid", i)
		default:
			t.Errorf("payment %d ended %s", i, p.State)
		}
	}
}
