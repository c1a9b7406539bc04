package payflow_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillworks/posd/payflow"
)

var errOverloaded = errors.New("post https://gateway/query: context deadline exceeded (the gateway is overloaded)")

// TestRecoveryBounded: a restart finds hundreds of charged payments in
// doubt, long past their pay window, and a gateway that fails every call
// beyond eight at a time (as an overloaded one times out). They are asked
// about at most eight at a time and all end paid: none is reversed by
// posd because its own flood made the gateway fail.
func TestRecoveryBounded(t *testing.T) {
	const n, limit = 300, 8
	var peak atomic.Int32
	gw := &fakeGateway{}
	gw.query = func(int) (payflow.Outcome, error) {
		in := gw.inflight.Load()
		for p := peak.Load(); in > p && !peak.CompareAndSwap(p, in); p = peak.Load() {
		}
		time.Sleep(200 * time.Microsecond) // the gateway takes its time
		if in > limit {
			return payflow.Outcome{}, errOverloaded
		}
		return payflow.Outcome{Kind: payflow.Succeeded}, nil
	}
	gw.cancel = answer(payflow.Succeeded)
	h := newHarness(t, gw)
	h.stop()
	h.cfg.GatewayConcurrency, h.cfg.GatewayRate = limit, 1e10
	st := h.openStore()
	start := h.clock.Now().Add(-time.Hour)
	for i := range n {
		p := &payflow.Payment{ID: fmt.Sprintf("pay_%04d", i), OrderID: fmt.Sprintf("R%04d", i), Amount: 100, Currency: "CNY",
			State: payflow.StateInDoubt, Channel: "wechat", Gateway: "fake", GatewayOrderNo: fmt.Sprintf("2611210000%016d", i),
			CreatedAt: start.Add(time.Duration(n-i) * time.Second), UpdatedAt: start, PayStartedAt: start}
		_, err := st.Create(p)
		require.NoError(t, err)
	}
	require.NoError(t, st.Close())
	h.start()
	for i := range n {
		p := h.until(fmt.Sprintf("pay_%04d", i), func(p *payflow.Payment) bool { return !p.Live() })
		assert.Equal(t, payflow.StatePaid, p.State, "%s: %+v", p.ID, p.History)
	}
	assert.Zero(t, gw.count("cancel"), "no charged sale reversed")
	assert.LessOrEqual(t, int(peak.Load()), limit, "never more than the limit at the gateway")
	assert.Equal(t, n, gw.count("query"), "each asked about once")
}

// TestUnansweredNotCancelled: past its window, a payment whose queries go
// unanswered (a network down, time-outs) is asked about again, backing
// off, and not cancelled: only the gateway's answer settles it.
func TestUnansweredNotCancelled(t *testing.T) {
	gw := &fakeGateway{pay: func(payflow.PayRequest) (payflow.Outcome, error) {
		return payflow.Outcome{}, errors.New("read tcp: i/o timeout") // sent, answer lost
	}, query: func(n int) (payflow.Outcome, error) {
		if n <= 12 {
			return payflow.Outcome{}, errors.New("dial tcp: connect: network is unreachable")
		}
		return payflow.Outcome{Kind: payflow.Succeeded}, nil
	}, cancel: answer(payflow.Succeeded)}
	h := newHarness(t, gw)
	p := h.pay("U1", 100, wechat)
	p = h.until(p.ID, func(p *payflow.Payment) bool { return !p.Live() })
	assert.Equal(t, payflow.StatePaid, p.State, "%+v", p.History)
	assert.Zero(t, gw.count("cancel"))
	assert.True(t, h.clock.Now().After(p.PayStartedAt.Add(testCfg.PayTimeout)), "asked past the deadline")
}

// TestResumedUnansweredNotCancelled: found in paying (or in doubt) after a
// restart, long past its window, a payment whose queries fail for a while
// is not cancelled: the gateway's first answer (paid) settles it.
func TestResumedUnansweredNotCancelled(t *testing.T) {
	for _, state := range []payflow.State{payflow.StatePaying, payflow.StateInDoubt} {
		t.Run(string(state), func(t *testing.T) {
			gw := &fakeGateway{query: func(n int) (payflow.Outcome, error) {
				if n <= 3 {
					return payflow.Outcome{}, errors.New("dial tcp: connect: network is unreachable")
				}
				return payflow.Outcome{Kind: payflow.Succeeded}, nil
			}, cancel: answer(payflow.Succeeded)}
			h := newHarness(t, gw)
			h.stop()
			st := h.openStore()
			start := h.clock.Now().Add(-time.Hour)
			_, err := st.Create(&payflow.Payment{ID: "pay_r1", OrderID: "R1", Amount: 100, Currency: "CNY", State: state, Channel: "wechat",
				Gateway: "fake", GatewayOrderNo: "26112100000000000000000001", CreatedAt: start, UpdatedAt: start, PayStartedAt: start})
			require.NoError(t, err)
			require.NoError(t, st.Close())
			h.start()
			p := h.until("pay_r1", func(p *payflow.Payment) bool { return !p.Live() })
			assert.Equal(t, payflow.StatePaid, p.State, "%+v", p.History)
			assert.Zero(t, gw.count("cancel"))
		})
	}
}

// holdingGateway holds every pay until its context ends (the pay window),
// as a gateway whose answer never comes.
type holdingGateway struct {
	*fakeGateway
	holding chan struct{}
}

func (g holdingGateway) Pay(ctx context.Context, r payflow.PayRequest) (payflow.Outcome, error) {
	g.record("pay")
	close(g.holding)
	<-ctx.Done()
	return payflow.Outcome{}, fmt.Errorf("read tcp: %w", ctx.Err())
}

// TestAskedBeforeCancelled: a pay whose answer never came within the
// window is not cancelled blind: the gateway is asked first, and a paid
// order stays paid.
func TestAskedBeforeCancelled(t *testing.T) {
	gw := &fakeGateway{query: answer(payflow.Succeeded), cancel: answer(payflow.Succeeded)}
	hg := holdingGateway{fakeGateway: gw, holding: make(chan struct{})}
	h := newHarness(t, gw)
	h.extra = map[string]payflow.Provider{"holding": hg}
	h.route = func(g *payflow.Gateways) { g.Default = "holding" }
	h.restart()
	p := h.pay("H1", 100, wechat)
	<-hg.holding
	h.clock.Advance(testCfg.PayTimeout + time.Second)
	p = h.until(p.ID, func(p *payflow.Payment) bool { return !p.Live() })
	assert.Equal(t, payflow.StatePaid, p.State, "%+v", p.History)
	assert.Zero(t, gw.count("cancel"), "the sale is kept, not reversed")
	assert.Equal(t, 1, gw.count("query"))
}
