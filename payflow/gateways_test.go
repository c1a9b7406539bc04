package payflow_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillworks/posd/payflow"
)

const alipay = "284567890123456789"

// TestRouting: new payments go to the gateway the rules choose for their
// wallet; each journals its gateway, and its later calls go there.
func TestRouting(t *testing.T) {
	ali := &fakeGateway{}
	h := newHarness(t, &fakeGateway{})
	h.extra = map[string]payflow.Provider{"ali": ali}
	h.route = func(g *payflow.Gateways) { g.ByChannel = map[string]string{"alipay": "ali"} }
	h.restart()

	w := h.pay("o1", 100, wechat)
	a := h.pay("o2", 100, alipay)
	assert.Equal(t, "fake", w.Gateway)
	assert.Equal(t, "ali", a.Gateway)
	h.untilState(w.ID, payflow.StatePaid)
	h.untilState(a.ID, payflow.StatePaid)
	assert.Equal(t, 1, h.gw.count("pay"))
	assert.Equal(t, 1, ali.count("pay"))

	// A payment waiting for its scan is routed when the code arrives.
	waiting := h.pay("o3", 100, "")
	assert.Empty(t, waiting.Gateway)
	p, err := h.eng.Scan(alipay, "test")
	require.NoError(t, err)
	assert.Equal(t, "ali", p.Gateway)
	h.untilState(p.ID, payflow.StatePaid)

	st := h.eng.GatewayStatus()
	require.Len(t, st, 2)
	assert.Equal(t, "ali", st[0].Name)
	assert.False(t, st[0].LastSuccess.IsZero())
	assert.True(t, st[1].Default)
}

// TestGatewayChangedOrRemoved: after the configuration changes, a refund of
// an old payment goes to the gateway that took it, not to the new
// default; an open payment whose gateway was removed is never sent to
// another: it needs attention, naming the gateway.
func TestGatewayChangedOrRemoved(t *testing.T) {
	old := &fakeGateway{pay: func(payflow.PayRequest) (payflow.Outcome, error) { return payflow.Outcome{}, errLost }, query: answer(payflow.InProgress)}
	h := newHarness(t, &fakeGateway{})
	paid := h.pay("paid", 1000, wechat)
	h.untilState(paid.ID, payflow.StatePaid)
	h.extra = map[string]payflow.Provider{"old": old}
	h.route = func(g *payflow.Gateways) { g.Default = "old" }
	h.restart()
	open := h.pay("open", 500, wechat)
	assert.Equal(t, "old", open.Gateway)
	h.untilState(open.ID, payflow.StateInDoubt)

	// The default is now "old": the earlier payment's refund still goes to "fake".
	_, _, _, err := h.eng.Refund(paid.ID, payflow.NewRefund{RefundID: "r1", Amount: 100})
	require.NoError(t, err)
	h.until(paid.ID, func(p *payflow.Payment) bool { return p.Refund("r1").State == payflow.RefundRefunded })
	assert.Equal(t, 1, h.gw.count("refund"))
	assert.Zero(t, old.count("refund"))

	// "old" is removed from the configuration, and so is "fake" as default.
	queries := old.count("query")
	h.extra, h.route = nil, nil
	h.gw = &fakeGateway{}
	h.restart()
	p := h.untilState(open.ID, payflow.StateNeedsAttention)
	assert.Equal(t, "gateway_not_configured", p.Error.Code)
	assert.Contains(t, p.Error.Message, `"old"`)
	assert.Equal(t, queries, old.count("query"), "not asked again")
	assert.Zero(t, h.gw.count("query")+h.gw.count("cancel"), "never asked of another gateway")
}

// TestRefundOfRemovedGateway: refunding a paid payment whose gateway is no
// longer configured is refused, naming the gateway; a refund in flight
// when it was removed needs attention.
func TestRefundOfRemovedGateway(t *testing.T) {
	other := &fakeGateway{refund: func(payflow.RefundRequest, int) (payflow.Outcome, error) { return payflow.Outcome{}, errLost }}
	h := newHarness(t, &fakeGateway{})
	h.extra = map[string]payflow.Provider{"other": other}
	h.route = func(g *payflow.Gateways) { g.Default = "other" }
	h.restart()
	p := h.pay("o1", 1000, wechat)
	h.untilState(p.ID, payflow.StatePaid)
	_, _, _, err := h.eng.Refund(p.ID, payflow.NewRefund{RefundID: "r1", Amount: 100})
	require.NoError(t, err)
	h.until(p.ID, func(p *payflow.Payment) bool { return p.Refund("r1").State == payflow.RefundInDoubt })

	h.extra, h.route = nil, nil
	h.restart()
	got := h.until(p.ID, func(p *payflow.Payment) bool { return p.Refund("r1").State.Terminal() })
	assert.Equal(t, payflow.RefundNeedsAttention, got.Refund("r1").State)
	assert.Equal(t, "gateway_not_configured", got.Refund("r1").Error.Code)
	_, _, _, err = h.eng.Refund(p.ID, payflow.NewRefund{RefundID: "r2", Amount: 100})
	require.ErrorIs(t, err, payflow.ErrGatewayGone)
	assert.Contains(t, err.Error(), `"other"`)
	assert.Zero(t, h.gw.count("refund"), "never sent to another gateway")
}

// TestFallback: the fallback takes a pay only when the chosen gateway's
// pay certainly did not leave (a connect error); a pay that may have
// reached the gateway (an answer lost) is never sent elsewhere.
func TestFallback(t *testing.T) {
	for _, tc := range []struct {
		name     string
		err      error
		want     payflow.State
		gateway  string
		backPays int
	}{
		{"not sent: paid through the fallback", errNotSent, payflow.StatePaid, "backup", 1},
		{"maybe sent: never elsewhere", errLost, payflow.StateCancelled, "fake", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			backup := &fakeGateway{}
			h := newHarness(t, &fakeGateway{
				pay:    func(payflow.PayRequest) (payflow.Outcome, error) { return payflow.Outcome{}, tc.err },
				query:  answer(payflow.NotFound),
				cancel: answer(payflow.NotFound),
			})
			h.extra = map[string]payflow.Provider{"backup": backup}
			h.route = func(g *payflow.Gateways) { g.Fallback = "backup" }
			h.restart()
			p := h.pay("o1", 100, wechat)
			p = h.until(p.ID, func(p *payflow.Payment) bool { return p.State.Terminal() })
			assert.Equal(t, tc.want, p.State)
			assert.Equal(t, tc.gateway, p.Gateway)
			assert.Equal(t, tc.backPays, backup.count("pay"))
			assert.Equal(t, 1, h.gw.count("pay"))
			if tc.backPays > 0 {
				assert.Contains(t, states(p), payflow.StatePaying)
				assert.Equal(t, "reroute", p.History[2].Trigger, "the switch is journaled before the pay goes there")
			}
		})
	}
	t.Run("the fallback not reachable either: failed, tried once each", func(t *testing.T) {
		notSent := func(payflow.PayRequest) (payflow.Outcome, error) { return payflow.Outcome{}, errNotSent }
		backup := &fakeGateway{pay: notSent}
		h := newHarness(t, &fakeGateway{pay: notSent})
		h.extra = map[string]payflow.Provider{"backup": backup}
		h.route = func(g *payflow.Gateways) { g.Fallback = "backup" }
		h.restart()
		p := h.pay("o1", 100, wechat)
		p = h.untilState(p.ID, payflow.StateFailed)
		assert.Equal(t, "network_unavailable", p.Error.Code)
		assert.Equal(t, 1, backup.count("pay"))
		assert.Equal(t, 1, h.gw.count("pay"))
	})
}

// TestJournalFromBeforeGateways opens a journal written by posd before
// payments recorded their gateway (testdata, made by that version): its
// payments are assigned, once and journaled, to the default gateway, and
// the open ones recover through it.
func TestJournalFromBeforeGateways(t *testing.T) {
	h := newHarness(t, &fakeGateway{})
	h.stop()
	b, err := os.ReadFile(filepath.Join("..", "store", "testdata", "journal-before-gateways.db"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(h.dir, "posd.db"), b, 0o600))
	h.gw = &fakeGateway{query: answer(payflow.Succeeded)}
	h.clock.Advance(24 * 60 * 60 * 1e9)
	h.start()

	for _, id := range []string{"pay_old1", "pay_old2", "pay_old3", "pay_old4", "pay_old5"} {
		p, err := h.st.Get(id)
		require.NoError(t, err)
		assert.Equal(t, "fake", p.Gateway, id)
		assert.Equal(t, "assigned", p.History[len(p.History)-1].Trigger, id)
	}
	h.untilState("pay_old1", payflow.StatePaid) // paying: queried, paid
	h.untilState("pay_old2", payflow.StatePaid) // in doubt: queried, paid
	p := h.until("pay_old4", func(p *payflow.Payment) bool { return p.Refund("R1").State.Terminal() })
	assert.Equal(t, payflow.RefundRefunded, p.Refund("R1").State, "the refund in doubt is re-sent through the assigned gateway")
	assert.Equal(t, []string{"26112000000100000001"}, h.gw.refundNos())

	// Once: a restart assigns nothing again.
	h.restart()
	p, err = h.st.Get("pay_old3")
	require.NoError(t, err)
	n := 0
	for _, e := range p.History {
		if e.Trigger == "assigned" {
			n++
		}
	}
	assert.Equal(t, 1, n)
	_, _, _, err = h.eng.Refund("pay_old3", payflow.NewRefund{RefundID: "r", Amount: 1})
	assert.NoError(t, err, "an old paid payment can be refunded through its assigned gateway")
}

// windowed is a fake gateway with a cancel window and a long pay hold.
type windowed struct {
	*fakeGateway
	notBefore func(created, now time.Time) time.Time
	hold      time.Duration
}

func (w windowed) CancelNotBefore(created, now time.Time) time.Time { return w.notBefore(created, now) }
func (w windowed) PayHold() time.Duration                           { return w.hold }

// TestCancelWindowAndPayHold: a gateway that refuses cancels until some
// time gets its cancel then, not before, with queries meanwhile and no
// attempt spent; one that holds pays longer than pay_timeout is not
// cancelled while it holds the order.
func TestCancelWindowAndPayHold(t *testing.T) {
	run := func(t *testing.T, query func(int) (payflow.Outcome, error), notBefore time.Duration, hold time.Duration) (*harness, *fakeGateway, *payflow.Payment, *time.Time) {
		var cancelAt time.Time
		var h *harness
		gw := &fakeGateway{
			pay: func(payflow.PayRequest) (payflow.Outcome, error) {
				return payflow.Outcome{Kind: payflow.InProgress}, nil
			},
			query: query,
		}
		gw.cancel = func(int) (payflow.Outcome, error) {
			cancelAt = h.clock.Now()
			return payflow.Outcome{Kind: payflow.Succeeded}, nil
		}
		h = newHarness(t, &fakeGateway{})
		h.extra = map[string]payflow.Provider{"w": windowed{fakeGateway: gw, hold: hold, notBefore: func(created, now time.Time) time.Time {
			if at := created.Add(notBefore); at.After(now) {
				return at
			}
			return now
		}}}
		h.route = func(g *payflow.Gateways) { g.Default = "w" }
		h.restart()
		p := h.pay("o1", 100, wechat)
		p = h.until(p.ID, func(p *payflow.Payment) bool { return p.State.Terminal() })
		return h, gw, p, &cancelAt
	}
	t.Run("cancel refused until 60 s: sent then, queried meanwhile", func(t *testing.T) {
		_, gw, p, cancelAt := run(t, answer(payflow.InProgress), 60*time.Second, 0)
		assert.Equal(t, payflow.StateCancelled, p.State)
		assert.Equal(t, 1, gw.count("cancel"))
		assert.False(t, cancelAt.Before(p.PayStartedAt.Add(60*time.Second)), "cancelled at %v", cancelAt.Sub(p.PayStartedAt))
		assert.Equal(t, 1, p.CancelAttempts, "the wait is not an attempt")
		assert.Contains(t, func() []string {
			var tr []string
			for _, e := range p.History {
				tr = append(tr, e.Trigger)
			}
			return tr
		}(), "cancel_wait", "the wait is in the history")
		assert.Greater(t, gw.count("query"), 9, "queried while waiting (45 s of polling, then 15 s more)")
	})
	t.Run("paid while waiting to cancel: paid, never cancelled", func(t *testing.T) {
		_, gw, p, _ := run(t, func(n int) (payflow.Outcome, error) {
			if n > 13 {
				return payflow.Outcome{Kind: payflow.Succeeded}, nil
			}
			return payflow.Outcome{Kind: payflow.InProgress}, nil
		}, 120*time.Second, 0)
		assert.Equal(t, payflow.StatePaid, p.State)
		assert.Zero(t, gw.count("cancel"))
		assert.Equal(t, []payflow.State{"awaiting_scan", "paying", "in_doubt", "cancelling", "paid"}, states(p), "paid while waiting to cancel")
	})
	t.Run("a gateway that holds the pay 80 s is not cancelled before", func(t *testing.T) {
		_, _, p, cancelAt := run(t, answer(payflow.InProgress), 0, 80*time.Second)
		assert.Equal(t, payflow.StateCancelled, p.State)
		assert.False(t, cancelAt.Before(p.PayStartedAt.Add(80*time.Second)), "cancelled at %v", cancelAt.Sub(p.PayStartedAt))
	})
}

// TestAbortDuringReroute: an abort journaled while a pay that never left
// is being rerouted keeps it from leaving for the fallback too.
func TestAbortDuringReroute(t *testing.T) {
	backup := &fakeGateway{}
	var h *harness
	aborted := make(chan struct{})
	h = newHarness(t, &fakeGateway{pay: func(payflow.PayRequest) (payflow.Outcome, error) {
		// The cashier aborts while this pay fails to connect.
		p, err := h.st.ByOrder("o1")
		require.NoError(t, err)
		go func() { h.eng.Abort(p.ID); close(aborted) }()
		<-aborted
		return payflow.Outcome{}, errNotSent
	}})
	h.extra = map[string]payflow.Provider{"backup": backup}
	h.route = func(g *payflow.Gateways) { g.Fallback = "backup" }
	h.restart()
	p := h.pay("o1", 100, wechat)
	p = h.until(p.ID, func(p *payflow.Payment) bool { return p.State.Terminal() })
	assert.Zero(t, backup.count("pay"), "the abort was journaled: nothing leaves")
	assert.Contains(t, []payflow.State{payflow.StateCancelled, payflow.StateFailed}, p.State, "%+v", p.History)
}
