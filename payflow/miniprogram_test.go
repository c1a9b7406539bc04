package payflow_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillworks/posd/payflow"
)

var prepay = &payflow.RequestPayment{TimeStamp: "1571286856", NonceStr: "n", Package: "prepay_id=wx1", SignType: "MD5", PaySign: "s"}

func placed(r payflow.PayRequest, m payflow.MiniProgram) (payflow.Outcome, error) {
	return payflow.Outcome{Kind: payflow.InProgress, Code: "9998", OrderNo: r.OrderNo, Prepay: prepay}, nil
}

func (h *harness) order(id string, window time.Duration) *payflow.Payment {
	h.t.Helper()
	p, created, err := h.eng.CreateMiniProgramOrder(payflow.NewPayment{OrderID: id, Amount: 1000}, payflow.MiniProgram{BuyerID: "openid-1"}, window)
	require.NoError(h.t, err)
	require.True(h.t, created)
	return p
}

// TestMiniProgramOrder: an order is placed once, its wx.requestPayment
// parameters kept, queried until paid, and never cancelled before it
// expires; unpaid, it is cancelled when it does.
func TestMiniProgramOrder(t *testing.T) {
	t.Run("paid in the mini program", func(t *testing.T) {
		gw := &fakeGateway{miniOrder: placed, query: func(n int) (payflow.Outcome, error) {
			if n < 4 {
				return payflow.Outcome{Kind: payflow.InProgress}, nil
			}
			return payflow.Outcome{Kind: payflow.Succeeded, Discounts: []payflow.Discount{{Name: "buss", Label: "商家优惠", Amount: 100}}, CustomerPaid: 900}, nil
		}}
		h := newHarness(t, gw)
		p := h.order("M1", time.Minute)
		assert.Equal(t, payflow.StatePaying, p.State)
		assert.Equal(t, "miniprogram", p.Method)
		assert.Equal(t, "wechat", p.Channel)
		assert.Equal(t, "fake", p.Gateway)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		got, err := h.eng.AwaitOrder(ctx, p.ID)
		require.NoError(t, err)
		assert.Equal(t, prepay, got.MiniProgram.Pay)
		p = h.untilState(p.ID, payflow.StatePaid)
		assert.Equal(t, 1, gw.count("mini_order"))
		assert.Zero(t, gw.count("pay"), "a mini-program order is not a pay")
		assert.Equal(t, int64(900), p.CustomerPaid)
		assert.Equal(t, "商家优惠", p.Discounts[0].Label)
	})
	t.Run("unpaid: cancelled when it expires, not before", func(t *testing.T) {
		gw := &fakeGateway{miniOrder: placed, query: answer(payflow.InProgress)}
		h := newHarness(t, gw)
		p := h.order("M1", 2*time.Minute)
		p = h.until(p.ID, func(p *payflow.Payment) bool { return !p.Live() })
		assert.Equal(t, payflow.StateCancelled, p.State)
		cancelled := entered(p, payflow.StateCancelling)
		assert.False(t, cancelled.Before(p.MiniProgram.ExpiresAt), "cancel at %v, expires %v", cancelled, p.MiniProgram.ExpiresAt)
		assert.Greater(t, gw.count("query"), 10, "queried while the customer may pay")
	})
	t.Run("refused by the gateway", func(t *testing.T) {
		gw := &fakeGateway{miniOrder: func(payflow.PayRequest, payflow.MiniProgram) (payflow.Outcome, error) {
			return payflow.Outcome{Kind: payflow.Failed, Code: "0001", Message: "商户未开通小程序支付"}, nil
		}}
		h := newHarness(t, gw)
		p := h.untilState(h.order("M1", time.Minute).ID, payflow.StateFailed)
		assert.Equal(t, "商户未开通小程序支付", p.Error.Message)
		assert.Nil(t, p.MiniProgram.Pay)
	})
	t.Run("not sent: failed, never rerouted", func(t *testing.T) {
		gw := &fakeGateway{miniOrder: func(payflow.PayRequest, payflow.MiniProgram) (payflow.Outcome, error) {
			return payflow.Outcome{}, errNotSent
		}}
		h := newHarness(t, gw)
		h.extra = map[string]payflow.Provider{"backup": &fakeGateway{}}
		h.route = func(g *payflow.Gateways) { g.Fallback = "backup" }
		h.restart()
		p := h.untilState(h.order("M1", time.Minute).ID, payflow.StateFailed)
		assert.Equal(t, "fake", p.Gateway)
	})
	t.Run("journaled, not sent, restarted: asked about, never sent", func(t *testing.T) {
		gw := &fakeGateway{miniOrder: placed, query: answer(payflow.NotFound)}
		h := newHarness(t, gw)
		reached, release := make(chan struct{}), make(chan struct{})
		h.hook = func(e *payflow.Engine) {
			var once sync.Once
			payflow.SetBeforePay(e, func() { once.Do(func() { close(reached); <-release }) })
		}
		h.restart()
		p := h.order("M1", time.Minute)
		<-reached // the driver is about to send: the process dies here
		go func() { time.Sleep(50 * time.Millisecond); close(release) }()
		h.stop()
		h.hook = nil
		h.start()
		p = h.until(p.ID, func(p *payflow.Payment) bool { return !p.Live() })
		assert.Equal(t, payflow.StateCancelled, p.State)
		assert.Zero(t, gw.count("mini_order"), "never sent after the restart")
	})
	t.Run("aborted while the customer has it", func(t *testing.T) {
		gw := &fakeGateway{miniOrder: placed, query: answer(payflow.InProgress)}
		h := newHarness(t, gw)
		p := h.untilState(h.order("M1", time.Hour).ID, payflow.StateInDoubt)
		_, err := h.eng.Abort(p.ID)
		require.NoError(t, err)
		p = h.until(p.ID, func(p *payflow.Payment) bool { return !p.Live() })
		assert.Equal(t, payflow.StateCancelled, p.State)
		assert.Equal(t, 1, gw.count("cancel"))
	})
}

// TestMiniProgramOrderRefused: what cannot be a mini-program order is
// refused before anything is journaled.
func TestMiniProgramOrderRefused(t *testing.T) {
	h := newHarness(t, &fakeGateway{})
	_, _, err := h.eng.CreateMiniProgramOrder(payflow.NewPayment{OrderID: "M1", Amount: 1000}, payflow.MiniProgram{BuyerID: "o"}, time.Minute)
	assert.ErrorIs(t, err, payflow.ErrUnsupported, "the gateway cannot place them")
	assert.ErrorContains(t, err, `gateway "fake"`)

	h = newHarness(t, &fakeGateway{miniOrder: placed})
	for _, tc := range []struct {
		window time.Duration
		m      payflow.MiniProgram
		n      payflow.NewPayment
	}{
		{time.Minute, payflow.MiniProgram{}, payflow.NewPayment{OrderID: "M1", Amount: 1000}},
		{time.Second, payflow.MiniProgram{BuyerID: "o"}, payflow.NewPayment{OrderID: "M1", Amount: 1000}},
		{3 * time.Hour, payflow.MiniProgram{BuyerID: "o"}, payflow.NewPayment{OrderID: "M1", Amount: 1000}},
		{time.Minute, payflow.MiniProgram{BuyerID: "o"}, payflow.NewPayment{OrderID: "M1", Amount: 1000, AuthCode: "134567890123456789"}},
		{time.Minute, payflow.MiniProgram{BuyerID: "o", Split: &payflow.Split{Flag: "R", Info: &payflow.SplitInfo{KeepAmt: 999, SplitsList: []payflow.SplitReceiver{{MerchantID: "m", DivAmt: 2}}}}}, payflow.NewPayment{OrderID: "M1", Amount: 1000}},
	} {
		_, _, err := h.eng.CreateMiniProgramOrder(tc.n, tc.m, tc.window)
		assert.ErrorIs(t, err, payflow.ErrInvalid, "%+v", tc)
	}
	_, err = h.eng.ByOrder("M1")
	assert.ErrorIs(t, err, payflow.ErrNotFound)

	// One order, one payment: a code payment and a mini-program order
	// for the same order id refuse each other.
	h.pay("C1", 1000, "134567890123456789")
	_, _, err = h.eng.CreateMiniProgramOrder(payflow.NewPayment{OrderID: "C1", Amount: 1000}, payflow.MiniProgram{BuyerID: "o"}, time.Minute)
	assert.ErrorIs(t, err, payflow.ErrOrderConflict)
	h.order("M2", time.Minute)
	_, _, err = h.eng.CreatePayment(payflow.NewPayment{OrderID: "M2", Amount: 1000, AuthCode: "134567890123456789"})
	assert.ErrorIs(t, err, payflow.ErrOrderConflict)
	p, created, err := h.eng.CreateMiniProgramOrder(payflow.NewPayment{OrderID: "M2", Amount: 1000}, payflow.MiniProgram{BuyerID: "o"}, time.Minute)
	require.NoError(t, err, "the same order again is the same payment")
	assert.False(t, created)
	assert.Equal(t, "M2", p.OrderID)
}

// TestClosedEngineRefuses: after Close, every call that would start work
// is refused, a scan included (it used to be handed to the waiting
// payment's journal record after the engine stopped).
func TestClosedEngineRefuses(t *testing.T) {
	h := newHarness(t, &fakeGateway{})
	_, _, err := h.eng.CreatePayment(payflow.NewPayment{OrderID: "W1", Amount: 100})
	require.NoError(t, err)
	eng := h.eng
	eng.Close()
	_, err = eng.Scan("134567890123456789", "test")
	assert.ErrorIs(t, err, payflow.ErrClosed)
	_, _, err = eng.CreatePayment(payflow.NewPayment{OrderID: "W2", Amount: 100, AuthCode: "134567890123456789"})
	assert.ErrorIs(t, err, payflow.ErrClosed)
	_, _, err = eng.CreateMiniProgramOrder(payflow.NewPayment{OrderID: "W3", Amount: 100}, payflow.MiniProgram{BuyerID: "o"}, time.Minute)
	assert.ErrorIs(t, err, payflow.ErrClosed)
}

// TestPatientWait: poll_interval for the first five minutes after the
// order was sent, then a tenth of the time past them, up to 30 s, never
// less than poll_interval.
func TestPatientWait(t *testing.T) {
	for _, tc := range []struct{ interval, age, want time.Duration }{
		{5 * time.Second, 0, 5 * time.Second},
		{5 * time.Second, payflow.PatientAfter - time.Second, 5 * time.Second},
		{5 * time.Second, payflow.PatientAfter, 5 * time.Second},
		{5 * time.Second, payflow.PatientAfter + time.Minute, 11 * time.Second},
		{5 * time.Second, payflow.PatientAfter + 10*time.Minute, 30 * time.Second},
		{5 * time.Second, 2 * time.Hour, 30 * time.Second},
		{time.Minute, time.Hour, time.Minute},
		{100 * time.Millisecond, payflow.PatientAfter + time.Second, 200 * time.Millisecond},
	} {
		assert.Equal(t, tc.want, payflow.PatientWait(tc.interval, tc.age), "interval %v, age %v", tc.interval, tc.age)
	}
}

// TestMiniProgramPolling: a mini-program order its customer may pay for
// two hours is asked about every poll_interval for five minutes, then
// less often: abandoned, it costs the gateway some 300 queries (1 440 at
// every poll_interval); paid late, it is seen paid within 30 s.
func TestMiniProgramPolling(t *testing.T) {
	for _, tc := range []struct {
		name    string
		paidAt  time.Duration // after the order; 0: never
		queries int           // at most
	}{
		{"abandoned", 0, 310},
		{"paid after 90 minutes", 90 * time.Minute, 250},
		{"paid after 3 minutes", 3 * time.Minute, 40},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h *harness
			var start time.Time
			gw := &fakeGateway{miniOrder: placed, query: func(int) (payflow.Outcome, error) {
				if tc.paidAt > 0 && !h.clock.Now().Before(start.Add(tc.paidAt)) {
					return payflow.Outcome{Kind: payflow.Succeeded}, nil
				}
				return payflow.Outcome{Kind: payflow.InProgress}, nil
			}}
			h = newHarness(t, gw)
			h.watchSleeps()
			start = h.clock.Now()
			p := h.order("M1", payflow.MaxMiniProgramWindow)
			p = h.jumpUntil(p.ID, func(p *payflow.Payment) bool { return !p.Live() })
			t.Logf("%d queries", gw.count("query"))
			assert.LessOrEqual(t, gw.count("query"), tc.queries)
			if tc.paidAt == 0 {
				assert.Equal(t, payflow.StateCancelled, p.State)
				assert.Greater(t, gw.count("query"), 60, "every poll_interval for the first five minutes")
				return
			}
			require.Equal(t, payflow.StatePaid, p.State)
			seen := p.PaidAt.Sub(start.Add(tc.paidAt))
			assert.LessOrEqual(t, seen, 30*time.Second, "seen paid %v after the customer paid", seen)
			if tc.paidAt < payflow.PatientAfter {
				assert.LessOrEqual(t, seen, testCfg.PollInterval)
			}
		})
	}
}
