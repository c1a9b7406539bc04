package payflow_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillworks/posd/payflow"
)

func shown(r payflow.PayRequest) (string, payflow.Outcome, error) {
	return "https://qr.example/" + r.OrderNo, payflow.Outcome{Kind: payflow.Succeeded, Code: "PRECREATE_SUCCESS", OrderNo: r.OrderNo, Amount: r.Amount}, nil
}

func (h *harness) qr(order string, window time.Duration) *payflow.Payment {
	h.t.Helper()
	p, created, err := h.eng.CreateQRPayment(payflow.NewPayment{OrderID: order, Amount: 1000}, "", window)
	require.NoError(h.t, err)
	require.True(h.t, created)
	return p
}

func triggers(p *payflow.Payment) string {
	var t []string
	for _, e := range p.History {
		t = append(t, e.Trigger)
	}
	return strings.Join(t, " ")
}

// TestQRPayment walks a QR payment (C scans B) through what a customer
// and a cashier can do with it, against a scripted gateway.
func TestQRPayment(t *testing.T) {
	t.Run("shown, then paid", func(t *testing.T) {
		gw := &fakeGateway{precreate: shown, query: func(n int) (payflow.Outcome, error) {
			if n < 4 {
				return payflow.Outcome{Kind: payflow.InProgress}, nil
			}
			return payflow.Outcome{Kind: payflow.Succeeded, GatewayTradeNo: "T1", Channel: "alipay"}, nil
		}}
		h := newHarness(t, gw)
		p := h.qr("Q1", time.Minute)
		assert.Equal(t, payflow.MethodQR, p.Method)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		got, err := h.eng.AwaitOrder(ctx, p.ID)
		require.NoError(t, err)
		assert.Equal(t, payflow.StateAwaitingCustomer, got.State)
		assert.Equal(t, "https://qr.example/"+p.GatewayOrderNo, got.QR.Code)
		p = h.untilState(p.ID, payflow.StatePaid)
		assert.Equal(t, "alipay", p.Channel, "the wallet the customer paid with")
		assert.Equal(t, 1, gw.count("precreate"))
		assert.Zero(t, gw.count("pay"), "a QR payment sends no pay")
		assert.Zero(t, gw.count("cancel")+gw.count("close"))
		assert.Equal(t, "create order shown succeeded", triggers(p), "a precreate's success is a code shown, never a payment")
	})
	t.Run("expired: closed at the gateway when the code expires, not before", func(t *testing.T) {
		gw := &fakeGateway{precreate: shown, query: answer(payflow.InProgress), close: answer(payflow.Succeeded)}
		h := newHarness(t, gw)
		p := h.qr("Q1", 2*time.Minute)
		p = h.until(p.ID, func(p *payflow.Payment) bool { return !p.Live() })
		assert.Equal(t, payflow.StateCancelled, p.State)
		assert.Equal(t, 1, gw.count("close"), "an unpaid QR order is closed")
		assert.Zero(t, gw.count("cancel"))
		closing := entered(p, payflow.StateCancelling)
		assert.False(t, closing.Before(p.QR.ExpiresAt), "closed at %v, expires %v", closing, p.QR.ExpiresAt)
		assert.Greater(t, gw.count("query"), 10, "queried while the customer may pay")
	})
	t.Run("a close refused (paid at the last instant) is followed by a cancel", func(t *testing.T) {
		gw := &fakeGateway{precreate: shown, query: answer(payflow.InProgress), close: answer(payflow.Failed), cancel: answer(payflow.Succeeded)}
		h := newHarness(t, gw)
		p := h.qr("Q1", time.Minute)
		p = h.until(p.ID, func(p *payflow.Payment) bool { return !p.Live() })
		assert.Equal(t, payflow.StateCancelled, p.State)
		assert.Equal(t, 1, gw.count("close"))
		assert.Equal(t, 1, gw.count("cancel"))
	})
	t.Run("aborted by the cashier while shown", func(t *testing.T) {
		gw := &fakeGateway{precreate: shown, query: answer(payflow.InProgress), cancel: answer(payflow.Succeeded)}
		h := newHarness(t, gw)
		p := h.untilState(h.qr("Q1", 5*time.Minute).ID, payflow.StateAwaitingCustomer)
		p, err := h.eng.Abort(p.ID)
		require.NoError(t, err)
		assert.Equal(t, payflow.StateCancelling, p.State)
		p = h.until(p.ID, func(p *payflow.Payment) bool { return !p.Live() })
		assert.Equal(t, payflow.StateCancelled, p.State)
		assert.Equal(t, 1, gw.count("cancel"), "a gateway without close cancels")
	})
	t.Run("refused by the gateway", func(t *testing.T) {
		gw := &fakeGateway{precreate: func(payflow.PayRequest) (string, payflow.Outcome, error) {
			return "", payflow.Outcome{Kind: payflow.Failed, Code: "PRECREATE_FAIL", Message: "商户未开通"}, nil
		}}
		h := newHarness(t, gw)
		p := h.untilState(h.qr("Q1", time.Minute).ID, payflow.StateFailed)
		assert.Equal(t, "商户未开通", p.Error.Message)
	})
	t.Run("journaled, not sent, restarted: asked about, never sent", func(t *testing.T) {
		gw := &fakeGateway{precreate: shown, query: answer(payflow.NotFound), close: answer(payflow.NotFound)}
		h := newHarness(t, gw)
		reached, release := make(chan struct{}), make(chan struct{})
		h.hook = func(e *payflow.Engine) {
			payflow.SetBeforePay(e, func() {
				select {
				case <-reached:
				default:
					close(reached)
					<-release
				}
			})
		}
		h.restart()
		p := h.qr("Q1", time.Minute)
		<-reached
		go func() { time.Sleep(50 * time.Millisecond); close(release) }()
		h.stop()
		h.hook = nil
		h.start()
		p = h.until(p.ID, func(p *payflow.Payment) bool { return !p.Live() })
		assert.Equal(t, payflow.StateCancelled, p.State)
		assert.Zero(t, gw.count("precreate"), "never sent after the restart")
	})
	t.Run("shown, restarted: followed again, paid", func(t *testing.T) {
		paid := false
		gw := &fakeGateway{precreate: shown, query: func(int) (payflow.Outcome, error) {
			if paid {
				return payflow.Outcome{Kind: payflow.Succeeded}, nil
			}
			return payflow.Outcome{Kind: payflow.InProgress}, nil
		}}
		h := newHarness(t, gw)
		p := h.untilState(h.qr("Q1", 5*time.Minute).ID, payflow.StateAwaitingCustomer)
		h.stop()
		gw.mu.Lock()
		paid = true
		gw.mu.Unlock()
		h.start()
		p = h.untilState(p.ID, payflow.StatePaid)
		assert.Equal(t, payflow.MethodQR, p.Method)
		assert.Equal(t, 1, gw.count("precreate"), "followed, never placed again")
	})
}

// TestQRSwitchToCode: a QR payment's order paid with a scanned code
// instead is one payment: the QR order is closed first, and the code is
// sent, under a new order number, only once the QR order is certainly
// unpaid.
func TestQRSwitchToCode(t *testing.T) {
	t.Run("closed, then paid with the code", func(t *testing.T) {
		gw := &fakeGateway{precreate: shown, query: answer(payflow.InProgress), close: answer(payflow.Succeeded)}
		h := newHarness(t, gw)
		q := h.untilState(h.qr("Q1", 5*time.Minute).ID, payflow.StateAwaitingCustomer)
		p, created, err := h.eng.CreatePayment(payflow.NewPayment{OrderID: "Q1", Amount: 1000, AuthCode: wechat})
		require.NoError(t, err)
		assert.False(t, created, "the same payment")
		assert.Equal(t, q.ID, p.ID)
		assert.Equal(t, payflow.StateCancelling, p.State)
		assert.True(t, p.SwitchRequested)
		p = h.untilState(p.ID, payflow.StatePaid)
		assert.Equal(t, 1, gw.count("close"))
		assert.Equal(t, 1, gw.count("pay"))
		assert.NotEqual(t, q.GatewayOrderNo, p.GatewayOrderNo, "the closed QR order's number is never paid again")
		gw.mu.Lock()
		assert.Equal(t, p.GatewayOrderNo, gw.lastPay.OrderNo)
		assert.Equal(t, wechat, gw.lastPay.AuthCode)
		gw.mu.Unlock()
		assert.Empty(t, p.Method)
		assert.Equal(t, "1345**********6789", p.AuthCodeMasked)
		assert.Equal(t, "create order shown switch switched succeeded", triggers(p))
	})
	t.Run("the customer paid the QR code first: paid, the code never sent", func(t *testing.T) {
		gw := &fakeGateway{precreate: shown, query: answer(payflow.Succeeded), close: answer(payflow.Failed)}
		h := newHarness(t, gw)
		// Paid before the cashier's switch arrives: the switch is refused.
		p := h.untilState(h.qr("Q1", 5*time.Minute).ID, payflow.StatePaid)
		_, _, err := h.eng.CreatePayment(payflow.NewPayment{OrderID: "Q1", Amount: 1000, AuthCode: wechat})
		assert.ErrorIs(t, err, payflow.ErrOrderConflict)
		assert.Zero(t, gw.count("pay"))
		assert.Equal(t, payflow.StatePaid, p.State)
	})
	t.Run("the close fails and the query finds it paid: paid, the code never sent", func(t *testing.T) {
		gw := &fakeGateway{precreate: shown, query: answer(payflow.InProgress), close: answer(payflow.Failed), cancel: answer(payflow.Failed)}
		h := newHarness(t, gw)
		q := h.untilState(h.qr("Q1", 5*time.Minute).ID, payflow.StateAwaitingCustomer)
		_, _, err := h.eng.CreatePayment(payflow.NewPayment{OrderID: "Q1", Amount: 1000, AuthCode: wechat})
		require.NoError(t, err)
		p := h.until(q.ID, func(p *payflow.Payment) bool { return !p.Live() || p.Attention() })
		assert.NotEqual(t, payflow.StatePaying, p.State)
		assert.Zero(t, gw.count("pay"), "no code is sent while the QR order may be paid")
	})
	t.Run("restarted before the close: the code is gone, nothing charged", func(t *testing.T) {
		gw := &fakeGateway{precreate: shown, query: answer(payflow.InProgress), close: func(int) (payflow.Outcome, error) {
			return payflow.Outcome{}, errNotSent
		}}
		h := newHarness(t, gw)
		q := h.untilState(h.qr("Q1", 5*time.Minute).ID, payflow.StateAwaitingCustomer)
		_, _, err := h.eng.CreatePayment(payflow.NewPayment{OrderID: "Q1", Amount: 1000, AuthCode: wechat})
		require.NoError(t, err)
		h.stop()
		gw.mu.Lock()
		gw.close = answer(payflow.Succeeded)
		gw.mu.Unlock()
		h.start()
		p := h.until(q.ID, func(p *payflow.Payment) bool { return !p.Live() })
		assert.Equal(t, payflow.StateCancelled, p.State)
		assert.Zero(t, gw.count("pay"))
		assert.Contains(t, p.History[len(p.History)-1].Note, "pay again under a new order id")
	})
	t.Run("the cashier takes the switch back: the QR order closed, the code never sent", func(t *testing.T) {
		gw := &fakeGateway{precreate: shown, query: answer(payflow.InProgress), close: func(n int) (payflow.Outcome, error) {
			if n == 1 {
				return payflow.Outcome{}, errNotSent // the first close does not get through
			}
			return payflow.Outcome{Kind: payflow.Succeeded}, nil
		}, cancel: answer(payflow.Succeeded)}
		h := newHarness(t, gw)
		q := h.untilState(h.qr("Q1", 5*time.Minute).ID, payflow.StateAwaitingCustomer)
		_, _, err := h.eng.CreatePayment(payflow.NewPayment{OrderID: "Q1", Amount: 1000, AuthCode: wechat})
		require.NoError(t, err)
		require.Eventually(t, func() bool { return gw.count("close") == 1 }, 5*time.Second, time.Millisecond)
		p, err := h.eng.Abort(q.ID)
		require.NoError(t, err)
		assert.Equal(t, payflow.StateCancelling, p.State)
		p = h.until(q.ID, func(p *payflow.Payment) bool { return !p.Live() })
		assert.Equal(t, payflow.StateCancelled, p.State)
		assert.Zero(t, gw.count("pay"), "the code is never sent")
		_, _, err = h.eng.CreatePayment(payflow.NewPayment{OrderID: "Q1", Amount: 1000, AuthCode: wechat})
		assert.ErrorIs(t, err, payflow.ErrOrderConflict, "a settled QR payment is not switched")
	})
	t.Run("a second switch while one is pending is refused", func(t *testing.T) {
		gw := &fakeGateway{precreate: shown, query: answer(payflow.InProgress), close: func(int) (payflow.Outcome, error) { return payflow.Outcome{}, errNotSent }}
		h := newHarness(t, gw)
		h.untilState(h.qr("Q1", 5*time.Minute).ID, payflow.StateAwaitingCustomer)
		_, _, err := h.eng.CreatePayment(payflow.NewPayment{OrderID: "Q1", Amount: 1000, AuthCode: wechat})
		require.NoError(t, err)
		_, _, err = h.eng.CreatePayment(payflow.NewPayment{OrderID: "Q1", Amount: 1000, AuthCode: "284567890123456789"})
		assert.ErrorIs(t, err, payflow.ErrOrderConflict)
		_, _, err = h.eng.CreatePayment(payflow.NewPayment{OrderID: "Q1", Amount: 999, AuthCode: wechat})
		assert.ErrorIs(t, err, payflow.ErrOrderConflict, "another amount")
	})
	t.Run("a code payment awaiting a scan becomes a QR payment", func(t *testing.T) {
		gw := &fakeGateway{precreate: shown, query: answer(payflow.Succeeded)}
		h := newHarness(t, gw)
		w, created, err := h.eng.CreatePayment(payflow.NewPayment{OrderID: "Q1", Amount: 1000})
		require.NoError(t, err)
		require.True(t, created)
		p, created, err := h.eng.CreateQRPayment(payflow.NewPayment{OrderID: "Q1", Amount: 1000}, "", time.Minute)
		require.NoError(t, err)
		assert.False(t, created)
		assert.Equal(t, w.ID, p.ID)
		p = h.untilState(p.ID, payflow.StatePaid)
		assert.Equal(t, payflow.MethodQR, p.Method)
		assert.Equal(t, "", h.eng.Waiting(), "the scanner is free again")
	})
}

type walletQR struct{ qrGateway }

func (walletQR) QRWallets() []string { return []string{"alipay", "wechat"} }

// TestQRRefused: what cannot be a QR payment is refused before anything is
// journaled, naming the gateway.
func TestQRRefused(t *testing.T) {
	h := newHarness(t, &fakeGateway{})
	_, _, err := h.eng.CreateQRPayment(payflow.NewPayment{OrderID: "Q1", Amount: 1000}, "", time.Minute)
	assert.ErrorIs(t, err, payflow.ErrUnsupported)
	assert.ErrorContains(t, err, `gateway "fake"`)
	for _, tc := range []struct {
		channel string
		window  time.Duration
		says    string
	}{
		{"", 10 * time.Second, "expires_in"},
		{"", time.Hour, "expires_in"},
		{"paypal", time.Minute, "channel"},
	} {
		_, _, err := h.eng.CreateQRPayment(payflow.NewPayment{OrderID: "Q1", Amount: 1000}, tc.channel, tc.window)
		assert.ErrorIs(t, err, payflow.ErrInvalid)
		assert.ErrorContains(t, err, tc.says)
	}
	_, _, err = h.eng.CreateQRPayment(payflow.NewPayment{OrderID: "Q1", Amount: 1000, AuthCode: wechat}, "", time.Minute)
	assert.ErrorIs(t, err, payflow.ErrInvalid)

	gw := &fakeGateway{precreate: shown}
	h = newHarness(t, gw)
	h.extra = map[string]payflow.Provider{"sqb": walletQR{qrGateway{gw}}}
	h.route = func(g *payflow.Gateways) { g.Default = "sqb" }
	h.restart()
	_, _, err = h.eng.CreateQRPayment(payflow.NewPayment{OrderID: "Q1", Amount: 1000}, "", time.Minute)
	assert.ErrorIs(t, err, payflow.ErrInvalid)
	assert.ErrorContains(t, err, "one QR code per wallet")
	_, _, err = h.eng.CreateQRPayment(payflow.NewPayment{OrderID: "Q1", Amount: 1000}, "alipay", time.Minute)
	assert.NoError(t, err)
	_, err = h.st.ByOrder("Q1")
	assert.NoError(t, err)
}

// TestQRScanSwitches: a code from the scanner while one QR code is on show
// pays that payment instead; with two on show it is dropped, as a scan
// with no payment waiting is, and the scan reads no list of open payments.
func TestQRScanSwitches(t *testing.T) {
	gw := &fakeGateway{precreate: shown, query: answer(payflow.InProgress), close: answer(payflow.Succeeded)}
	h := newHarness(t, gw)
	q := h.untilState(h.qr("Q1", 5*time.Minute).ID, payflow.StateAwaitingCustomer)
	r := h.untilState(h.qr("Q2", 5*time.Minute).ID, payflow.StateAwaitingCustomer)
	opens := h.j.opens.Load()
	_, err := h.eng.Scan(wechat, "scanner-1")
	assert.ErrorIs(t, err, payflow.ErrNoPaymentWaiting, "two codes on show: whose is it?")
	assert.Equal(t, opens, h.j.opens.Load(), "a scan does not read every open payment")
	_, err = h.eng.Abort(r.ID)
	require.NoError(t, err)
	h.until(r.ID, func(p *payflow.Payment) bool { return !p.Live() })
	p, err := h.eng.Scan(wechat, "scanner-1")
	require.NoError(t, err)
	assert.Equal(t, q.ID, p.ID)
	p = h.untilState(q.ID, payflow.StatePaid)
	assert.Equal(t, 1, gw.count("pay"))
	assert.Equal(t, "1345**********6789", p.AuthCodeMasked)
}

// TestQRDiskFull: with the journal refusing writes, a QR payment is
// refused and nothing reaches the gateway; a switch to a code is refused
// and the QR payment stays as it was.
func TestQRDiskFull(t *testing.T) {
	gw := &fakeGateway{precreate: shown, query: answer(payflow.InProgress), close: answer(payflow.Succeeded)}
	h := newHarness(t, gw)
	q := h.untilState(h.qr("Q1", 5*time.Minute).ID, payflow.StateAwaitingCustomer)
	h.j.failing.Store(true)
	_, _, err := h.eng.CreateQRPayment(payflow.NewPayment{OrderID: "Q2", Amount: 1000}, "", time.Minute)
	assert.ErrorIs(t, err, errDiskFull)
	_, _, err = h.eng.CreatePayment(payflow.NewPayment{OrderID: "Q1", Amount: 1000, AuthCode: wechat})
	assert.ErrorIs(t, err, errDiskFull)
	h.j.failing.Store(false)
	assert.Equal(t, 1, gw.count("precreate"), "the refused QR payment was never placed")
	assert.Zero(t, gw.count("close"), "the refused switch closed nothing")
	p, err := h.st.Get(q.ID)
	require.NoError(t, err)
	assert.Equal(t, payflow.StateAwaitingCustomer, p.State)
	assert.False(t, p.SwitchRequested)
	_, err = h.st.ByOrder("Q2")
	assert.ErrorIs(t, err, payflow.ErrNotFound)
	// The switch asked again once the disk has room goes through.
	_, _, err = h.eng.CreatePayment(payflow.NewPayment{OrderID: "Q1", Amount: 1000, AuthCode: wechat})
	require.NoError(t, err)
	p = h.untilState(q.ID, payflow.StatePaid)
	assert.Equal(t, 1, gw.count("pay"))
	assert.Contains(t, p.History[len(p.History)-2].Note, "QR order "+q.GatewayOrderNo+" is certainly unpaid", "the closed order's number stays in the history")
}
