package payflow_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillworks/posd/payflow"
)

// TestPayFlows drives whole payments through the engine against scripted
// gateways: every branch of the pay→poll→cancel algorithm.
func TestPayFlows(t *testing.T) {
	inProgress := func(payflow.PayRequest) (payflow.Outcome, error) {
		return payflow.Outcome{Kind: payflow.InProgress, Code: "PAY_IN_PROGRESS"}, nil
	}
	tests := []struct {
		name    string
		gw      *fakeGateway
		want    payflow.State
		path    []payflow.State
		errCode string
		calls   map[string]int
	}{
		{
			name: "paid at once",
			gw:   &fakeGateway{},
			want: payflow.StatePaid, path: []payflow.State{"awaiting_scan", "paying", "paid"},
			calls: map[string]int{"pay": 1},
		},
		{
			name: "declined",
			gw: &fakeGateway{pay: func(payflow.PayRequest) (payflow.Outcome, error) {
				return payflow.Outcome{Kind: payflow.Failed, Code: "PAY_FAIL", Message: "余额不足"}, nil
			}},
			want: payflow.StateFailed, path: []payflow.State{"awaiting_scan", "paying", "failed"}, errCode: "PAY_FAIL",
			calls: map[string]int{"pay": 1},
		},
		{
			name: "connect error: nothing sent, failed, no query",
			gw:   &fakeGateway{pay: func(payflow.PayRequest) (payflow.Outcome, error) { return payflow.Outcome{}, errNotSent }},
			want: payflow.StateFailed, path: []payflow.State{"awaiting_scan", "paying", "failed"}, errCode: "network_unavailable",
			calls: map[string]int{"pay": 1},
		},
		{
			name: "answer lost after charging: query finds it paid",
			gw: &fakeGateway{
				pay:   func(payflow.PayRequest) (payflow.Outcome, error) { return payflow.Outcome{}, errLost },
				query: answer(payflow.Succeeded),
			},
			want: payflow.StatePaid, path: []payflow.State{"awaiting_scan", "paying", "in_doubt", "paid"},
			calls: map[string]int{"pay": 1, "query": 1},
		},
		{
			// Not found is not final while the pay may still land: polled
			// to the deadline, then cancelled (a cancel of nothing is done).
			name: "answer lost before landing: no such order until the deadline, then cancelled",
			gw: &fakeGateway{
				pay:    func(payflow.PayRequest) (payflow.Outcome, error) { return payflow.Outcome{}, errLost },
				query:  answer(payflow.NotFound),
				cancel: answer(payflow.NotFound),
			},
			want: payflow.StateCancelled, path: []payflow.State{"awaiting_scan", "paying", "in_doubt", "cancelling", "cancelled"},
			calls: map[string]int{"pay": 1, "cancel": 1},
		},
		{
			// The gateway records the order late: the first queries find
			// nothing, then the charge appears. Reproduced against real
			// gateways; posd once said "not charged" here.
			name: "order recorded late: not found twice, then paid",
			gw: &fakeGateway{
				pay: func(payflow.PayRequest) (payflow.Outcome, error) { return payflow.Outcome{}, errLost },
				query: func(n int) (payflow.Outcome, error) {
					if n <= 2 {
						return payflow.Outcome{Kind: payflow.NotFound, Code: "UPAY_ORDER_NOT_EXISTS"}, nil
					}
					return payflow.Outcome{Kind: payflow.Succeeded, Code: "PAID"}, nil
				},
			},
			want: payflow.StatePaid, path: []payflow.State{"awaiting_scan", "paying", "in_doubt", "paid"},
			calls: map[string]int{"pay": 1, "query": 3, "cancel": 0},
		},
		{
			name: "pay answered not found: polled like any doubt",
			gw: &fakeGateway{
				pay:   func(payflow.PayRequest) (payflow.Outcome, error) { return payflow.Outcome{Kind: payflow.NotFound}, nil },
				query: answer(payflow.Succeeded),
			},
			want: payflow.StatePaid, path: []payflow.State{"awaiting_scan", "paying", "in_doubt", "paid"},
		},
		{
			name: "in progress, then paid on the third query",
			gw: &fakeGateway{pay: inProgress, query: func(n int) (payflow.Outcome, error) {
				if n < 3 {
					return payflow.Outcome{Kind: payflow.InProgress}, nil
				}
				return payflow.Outcome{Kind: payflow.Succeeded, ChannelTradeNo: "4200"}, nil
			}},
			want: payflow.StatePaid, path: []payflow.State{"awaiting_scan", "paying", "in_doubt", "paid"},
			calls: map[string]int{"query": 3, "cancel": 0},
		},
		{
			name: "queries failing with errors, then paid",
			gw: &fakeGateway{pay: inProgress, query: func(n int) (payflow.Outcome, error) {
				if n < 3 {
					return payflow.Outcome{}, errors.New("HTTP 502")
				}
				return payflow.Outcome{Kind: payflow.Succeeded}, nil
			}},
			want: payflow.StatePaid, calls: map[string]int{"query": 3},
		},
		{
			name: "closed unpaid while polling",
			gw:   &fakeGateway{pay: inProgress, query: answer(payflow.Failed)},
			want: payflow.StateFailed, path: []payflow.State{"awaiting_scan", "paying", "in_doubt", "failed"},
		},
		{
			name: "in progress until pay_timeout, then cancelled",
			gw:   &fakeGateway{pay: inProgress, query: answer(payflow.InProgress), cancel: answer(payflow.Succeeded)},
			want: payflow.StateCancelled, path: []payflow.State{"awaiting_scan", "paying", "in_doubt", "cancelling", "cancelled"},
			calls: map[string]int{"cancel": 1},
		},
		{
			name: "cancel finds no order: nothing to cancel",
			gw:   &fakeGateway{pay: inProgress, query: answer(payflow.InProgress), cancel: answer(payflow.NotFound)},
			want: payflow.StateCancelled, calls: map[string]int{"cancel": 1},
		},
		{
			name: "cancel fails, succeeds on retry",
			gw: &fakeGateway{pay: inProgress, query: answer(payflow.InProgress), cancel: func(n int) (payflow.Outcome, error) {
				if n == 1 {
					return payflow.Outcome{Kind: payflow.Failed, Code: "CANCEL_ERROR"}, nil
				}
				return payflow.Outcome{Kind: payflow.Succeeded}, nil
			}},
			want: payflow.StateCancelled, calls: map[string]int{"cancel": 2},
		},
		{
			name: "cancel never succeeds: needs attention after cancel_attempts",
			gw: &fakeGateway{pay: inProgress, query: answer(payflow.InProgress), cancel: func(int) (payflow.Outcome, error) {
				return payflow.Outcome{}, errLost
			}},
			want: payflow.StateNeedsAttention, path: []payflow.State{"awaiting_scan", "paying", "in_doubt", "cancelling", "needs_attention"},
			errCode: "cancel_failed", calls: map[string]int{"cancel": 3},
		},
		{
			name: "gateway reports a broken order",
			gw: &fakeGateway{pay: func(payflow.PayRequest) (payflow.Outcome, error) {
				return payflow.Outcome{Kind: payflow.Broken, Code: "PAY_FAIL_ERROR", Message: "contact support"}, nil
			}},
			want: payflow.StateNeedsAttention, errCode: "PAY_FAIL_ERROR", calls: map[string]int{"pay": 1, "cancel": 0},
		},
		{
			name: "broken found while polling",
			gw:   &fakeGateway{pay: inProgress, query: answer(payflow.Broken)},
			want: payflow.StateNeedsAttention,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.gw)
			p := h.pay("order-1", 1250, wechat)
			p = h.until(p.ID, func(p *payflow.Payment) bool { return p.State.Terminal() })
			assert.Equal(t, tc.want, p.State)
			if tc.path != nil {
				assert.Equal(t, tc.path, states(p))
			}
			if tc.errCode != "" {
				require.NotNil(t, p.Error)
				assert.Equal(t, tc.errCode, p.Error.Code)
			}
			for op, n := range tc.calls {
				assert.Equal(t, n, tc.gw.count(op), "%s calls", op)
			}
			assert.Empty(t, p.AuthCode, "the full code is dropped once terminal")
			assert.Equal(t, p.State == payflow.StateNeedsAttention, p.NeedsAttention)
			if p.State == payflow.StateCancelled {
				assert.False(t, h.clock.Now().Before(p.PayStartedAt.Add(testCfg.PayTimeout)), "cancelled only after pay_timeout")
			}
		})
	}
}

func TestScanAndAbort(t *testing.T) {
	t.Run("a scan pays the waiting payment", func(t *testing.T) {
		h := newHarness(t, &fakeGateway{})
		p := h.pay("o1", 100, "")
		assert.Equal(t, payflow.StateAwaitingScan, p.State)
		assert.Equal(t, p.ID, h.eng.Waiting())

		_, _, err := h.eng.CreatePayment(payflow.NewPayment{OrderID: "o2", Amount: 100})
		assert.ErrorIs(t, err, payflow.ErrScannerBusy)

		got, err := h.eng.Scan(wechat, "test")
		require.NoError(t, err)
		assert.Equal(t, p.ID, got.ID)
		p = h.untilState(p.ID, payflow.StatePaid)
		assert.Equal(t, "wechat", p.Channel)
		assert.Equal(t, "1345**********6789", p.AuthCodeMasked)
		assert.Empty(t, h.eng.Waiting())

		_, err = h.eng.Scan(wechat, "test")
		assert.ErrorIs(t, err, payflow.ErrNoPaymentWaiting)
	})
	t.Run("garbage is refused and the payment keeps waiting", func(t *testing.T) {
		h := newHarness(t, &fakeGateway{})
		p := h.pay("o1", 100, "")
		for _, code := range []string{"", "abc", "12345", "1345678901234567\x00", "13456789012345678901234567890123456789"} {
			_, err := h.eng.Scan(code, "test")
			assert.ErrorIs(t, err, payflow.ErrInvalidCode, "%q", code)
		}
		p, err := h.st.Get(p.ID)
		require.NoError(t, err)
		assert.Equal(t, payflow.StateAwaitingScan, p.State)
		assert.Zero(t, h.gw.count("pay"))
	})
	t.Run("abort while awaiting scan", func(t *testing.T) {
		h := newHarness(t, &fakeGateway{})
		p := h.pay("o1", 100, "")
		p, err := h.eng.Abort(p.ID)
		require.NoError(t, err)
		assert.Equal(t, payflow.StateCancelled, p.State)
		assert.Equal(t, "aborted", p.Error.Code)
		assert.Empty(t, h.eng.Waiting())
		assert.Zero(t, h.gw.count("pay")+h.gw.count("cancel"))
		// Aborting again is harmless.
		p, err = h.eng.Abort(p.ID)
		require.NoError(t, err)
		assert.Equal(t, payflow.StateCancelled, p.State)
	})
	t.Run("nobody scans: expired", func(t *testing.T) {
		h := newHarness(t, &fakeGateway{})
		p := h.pay("o1", 100, "")
		p = h.untilState(p.ID, payflow.StateCancelled)
		assert.Equal(t, "expired", p.Error.Code)
		assert.False(t, h.clock.Now().Before(p.CreatedAt.Add(testCfg.ScanTimeout)))
	})
	t.Run("abort while in doubt cancels at the gateway", func(t *testing.T) {
		gw := &fakeGateway{
			pay: func(payflow.PayRequest) (payflow.Outcome, error) {
				return payflow.Outcome{Kind: payflow.InProgress}, nil
			},
			query: answer(payflow.InProgress),
		}
		h := newHarness(t, gw)
		p := h.pay("o1", 100, wechat)
		h.untilState(p.ID, payflow.StateInDoubt)
		p, err := h.eng.Abort(p.ID)
		require.NoError(t, err)
		assert.Equal(t, payflow.StateCancelling, p.State)
		p = h.untilState(p.ID, payflow.StateCancelled)
		assert.Equal(t, 1, gw.count("cancel"))
		assert.True(t, h.clock.Now().Before(p.PayStartedAt.Add(testCfg.PayTimeout)), "cancelled at once, not at the timeout")
	})
	t.Run("abort while the pay is in flight", func(t *testing.T) {
		release := make(chan struct{})
		gw := &fakeGateway{query: answer(payflow.InProgress)}
		gw.pay = func(payflow.PayRequest) (payflow.Outcome, error) {
			<-release
			return payflow.Outcome{}, errLost
		}
		h := newHarness(t, gw)
		p := h.pay("o1", 100, wechat)
		require.Eventually(t, func() bool { return gw.count("pay") == 1 }, 5*time.Second, time.Millisecond)
		p, err := h.eng.Abort(p.ID)
		require.NoError(t, err)
		assert.Equal(t, payflow.StatePaying, p.State)
		assert.True(t, p.AbortRequested)
		close(release)
		p = h.untilState(p.ID, payflow.StateCancelled)
		assert.Equal(t, []payflow.State{"awaiting_scan", "paying", "in_doubt", "cancelling", "cancelled"}, states(p))
	})
	t.Run("paid cannot be cancelled", func(t *testing.T) {
		h := newHarness(t, &fakeGateway{})
		p := h.pay("o1", 100, wechat)
		h.untilState(p.ID, payflow.StatePaid)
		_, err := h.eng.Abort(p.ID)
		assert.ErrorIs(t, err, payflow.ErrNotCancellable)
	})
	t.Run("needs attention: an operator retries the cancel", func(t *testing.T) {
		gw := &fakeGateway{
			pay: func(payflow.PayRequest) (payflow.Outcome, error) {
				return payflow.Outcome{Kind: payflow.InProgress}, nil
			},
			query: answer(payflow.InProgress),
		}
		var fixed atomic.Bool
		gw.cancel = func(int) (payflow.Outcome, error) {
			if fixed.Load() {
				return payflow.Outcome{Kind: payflow.Succeeded}, nil
			}
			return payflow.Outcome{Kind: payflow.Failed, Code: "CANCEL_ERROR"}, nil
		}
		h := newHarness(t, gw)
		p := h.pay("o1", 100, wechat)
		h.untilState(p.ID, payflow.StateNeedsAttention)
		fixed.Store(true)
		_, err := h.eng.Abort(p.ID)
		require.NoError(t, err)
		p = h.untilState(p.ID, payflow.StateCancelled)
		assert.False(t, p.NeedsAttention)
		assert.Equal(t, 4, gw.count("cancel"))
	})
	t.Run("unknown payment", func(t *testing.T) {
		h := newHarness(t, &fakeGateway{})
		_, err := h.eng.Abort("pay_nope")
		assert.ErrorIs(t, err, payflow.ErrNotFound)
	})
}

func TestCreatePaymentRules(t *testing.T) {
	h := newHarness(t, &fakeGateway{})
	p := h.pay("order-1", 1250, wechat)
	assert.Regexp(t, `^[0-9]{26}$`, p.GatewayOrderNo, "26 digits fit every gateway's 32")
	assert.Equal(t, "till-01", p.TillID)

	again, created, err := h.eng.CreatePayment(payflow.NewPayment{OrderID: "order-1", Amount: 1250, AuthCode: wechat})
	require.NoError(t, err)
	assert.False(t, created)
	assert.Equal(t, p.ID, again.ID)

	_, _, err = h.eng.CreatePayment(payflow.NewPayment{OrderID: "order-1", Amount: 1251})
	assert.ErrorIs(t, err, payflow.ErrOrderConflict)

	q := h.pay("order-2", 1, wechat)
	assert.NotEqual(t, p.GatewayOrderNo, q.GatewayOrderNo)

	for _, n := range []payflow.NewPayment{
		{OrderID: "", Amount: 1},
		{OrderID: "x", Amount: 0},
		{OrderID: "x", Amount: -5},
		{OrderID: "x", Amount: payflow.MaxAmount + 1},
		{OrderID: "x", Amount: 1, Currency: "USD"},
		{OrderID: string(make([]byte, 65)), Amount: 1},
	} {
		_, _, err := h.eng.CreatePayment(n)
		assert.ErrorIs(t, err, payflow.ErrInvalid, "%+v", n)
	}
	_, _, err = h.eng.CreatePayment(payflow.NewPayment{OrderID: "x", Amount: 1, AuthCode: "hello"})
	assert.ErrorIs(t, err, payflow.ErrInvalidCode)
}

func TestRefunds(t *testing.T) {
	paid := func(t *testing.T, gw *fakeGateway) (*harness, *payflow.Payment) {
		h := newHarness(t, gw)
		p := h.pay("o1", 1000, wechat)
		return h, h.untilState(p.ID, payflow.StatePaid)
	}
	refunded := func(id string) func(*payflow.Payment) bool {
		return func(p *payflow.Payment) bool { r := p.Refund(id); return r != nil && r.State.Terminal() }
	}
	t.Run("partial then full", func(t *testing.T) {
		gw := &fakeGateway{}
		h, p := paid(t, gw)
		_, r, created, err := h.eng.Refund(p.ID, payflow.NewRefund{RefundID: "r1", Amount: 300})
		require.NoError(t, err)
		assert.True(t, created)
		assert.Equal(t, payflow.RefundRefunding, r.State)
		assert.LessOrEqual(t, len(r.RequestNo), 20)
		p = h.until(p.ID, refunded("r1"))
		assert.Equal(t, payflow.RefundRefunded, p.Refund("r1").State)
		assert.Equal(t, int64(300), p.RefundedAmount)

		_, _, _, err = h.eng.Refund(p.ID, payflow.NewRefund{RefundID: "r2", Amount: 701})
		assert.ErrorIs(t, err, payflow.ErrRefundTooLarge)
		_, _, _, err = h.eng.Refund(p.ID, payflow.NewRefund{RefundID: "r2", Amount: 700})
		require.NoError(t, err)
		p = h.until(p.ID, refunded("r2"))
		assert.Equal(t, int64(1000), p.RefundedAmount)
		_, _, _, err = h.eng.Refund(p.ID, payflow.NewRefund{RefundID: "r3", Amount: 1})
		assert.ErrorIs(t, err, payflow.ErrRefundTooLarge)

		// Idempotent on refund_id; conflict on another amount.
		_, r, created, err = h.eng.Refund(p.ID, payflow.NewRefund{RefundID: "r1", Amount: 300})
		require.NoError(t, err)
		assert.False(t, created)
		assert.Equal(t, payflow.RefundRefunded, r.State)
		_, _, _, err = h.eng.Refund(p.ID, payflow.NewRefund{RefundID: "r1", Amount: 301})
		assert.ErrorIs(t, err, payflow.ErrRefundConflict)
		assert.Equal(t, 2, gw.count("refund"))
	})
	t.Run("in doubt, retried with the same number", func(t *testing.T) {
		gw := &fakeGateway{refund: func(_ payflow.RefundRequest, n int) (payflow.Outcome, error) {
			switch n {
			case 1:
				return payflow.Outcome{}, errLost
			case 2:
				return payflow.Outcome{}, errNotSent // a retry that never left is not a failure
			}
			return payflow.Outcome{Kind: payflow.Succeeded}, nil
		}}
		h, p := paid(t, gw)
		_, _, _, err := h.eng.Refund(p.ID, payflow.NewRefund{RefundID: "r1", Amount: 1000})
		require.NoError(t, err)
		p = h.until(p.ID, refunded("r1"))
		r := p.Refund("r1")
		assert.Equal(t, payflow.RefundRefunded, r.State)
		assert.Equal(t, 3, r.Attempts)
		assert.Equal(t, []string{r.RequestNo, r.RequestNo, r.RequestNo}, gw.refundNos())
		assert.Equal(t, int64(1000), p.RefundedAmount)
	})
	t.Run("declined", func(t *testing.T) {
		gw := &fakeGateway{refund: func(payflow.RefundRequest, int) (payflow.Outcome, error) {
			return payflow.Outcome{Kind: payflow.Failed, Code: "REFUND_FAIL", Message: "no"}, nil
		}}
		h, p := paid(t, gw)
		_, _, _, err := h.eng.Refund(p.ID, payflow.NewRefund{RefundID: "r1", Amount: 1000})
		require.NoError(t, err)
		p = h.until(p.ID, refunded("r1"))
		assert.Equal(t, payflow.RefundFailed, p.Refund("r1").State)
		assert.Equal(t, "REFUND_FAIL", p.Refund("r1").Error.Code)
		assert.Zero(t, p.RefundedAmount)
		assert.Equal(t, int64(1000), p.Refundable(), "a failed refund frees its amount")
	})
	t.Run("first attempt never sent: failed", func(t *testing.T) {
		gw := &fakeGateway{refund: func(payflow.RefundRequest, int) (payflow.Outcome, error) { return payflow.Outcome{}, errNotSent }}
		h, p := paid(t, gw)
		_, _, _, err := h.eng.Refund(p.ID, payflow.NewRefund{RefundID: "r1", Amount: 10})
		require.NoError(t, err)
		p = h.until(p.ID, refunded("r1"))
		assert.Equal(t, "network_unavailable", p.Refund("r1").Error.Code)
	})
	t.Run("only paid payments", func(t *testing.T) {
		h := newHarness(t, &fakeGateway{})
		p := h.pay("o1", 100, "")
		_, _, _, err := h.eng.Refund(p.ID, payflow.NewRefund{RefundID: "r1", Amount: 10})
		assert.ErrorIs(t, err, payflow.ErrNotRefundable)
		_, _, _, err = h.eng.Refund(p.ID, payflow.NewRefund{RefundID: "", Amount: 10})
		assert.ErrorIs(t, err, payflow.ErrInvalid)
		_, _, _, err = h.eng.Refund(p.ID, payflow.NewRefund{RefundID: "r", Amount: 0})
		assert.ErrorIs(t, err, payflow.ErrInvalid)
		_, _, _, err = h.eng.Refund("pay_nope", payflow.NewRefund{RefundID: "r", Amount: 1})
		assert.ErrorIs(t, err, payflow.ErrNotFound)
	})
}

// TestRecovery stops the engine with payments in each open state and
// checks that a new engine on the same journal resolves each one the way
// the rules say.
func TestRecovery(t *testing.T) {
	t.Run("paying: queried first, paid", func(t *testing.T) {
		block := make(chan struct{})
		gw := &fakeGateway{pay: func(payflow.PayRequest) (payflow.Outcome, error) { <-block; return payflow.Outcome{}, errLost }}
		h := newHarness(t, gw)
		p := h.pay("o1", 100, wechat)
		require.Eventually(t, func() bool { return gw.count("pay") == 1 }, 5*time.Second, time.Millisecond)
		go func() { time.Sleep(10 * time.Millisecond); close(block) }()
		h.stop()
		gw2 := &fakeGateway{query: answer(payflow.Succeeded)}
		h.gw = gw2
		h.start()
		h.untilState(p.ID, payflow.StatePaid)
		assert.Equal(t, 0, gw2.count("pay"), "a journaled pay is never sent again")
		assert.Equal(t, 1, gw2.count("query"))
	})
	t.Run("paying: no such order, polled to the deadline, then cancelled", func(t *testing.T) {
		h := newHarness(t, &fakeGateway{})
		p := journal(t, h, "o1", payflow.StatePaying)
		h.gw = &fakeGateway{query: answer(payflow.NotFound), cancel: answer(payflow.NotFound)}
		h.restart()
		h.untilState(p.ID, payflow.StateCancelled)
		assert.Zero(t, h.gw.count("pay"))
		assert.Equal(t, 1, h.gw.count("cancel"))
		assert.Greater(t, h.gw.count("query"), 1)
	})
	t.Run("in_doubt past the deadline: queried once before cancelling", func(t *testing.T) {
		h := newHarness(t, &fakeGateway{})
		p := journal(t, h, "o1", payflow.StateInDoubt)
		h.clock.Advance(time.Hour)
		h.gw = &fakeGateway{query: answer(payflow.Succeeded)}
		h.restart()
		h.untilState(p.ID, payflow.StatePaid)
		assert.Zero(t, h.gw.count("cancel"))
	})
	t.Run("in_doubt past the deadline, unpaid: cancelled", func(t *testing.T) {
		h := newHarness(t, &fakeGateway{})
		p := journal(t, h, "o1", payflow.StateInDoubt)
		h.clock.Advance(time.Hour)
		h.gw = &fakeGateway{query: answer(payflow.InProgress)}
		h.restart()
		h.untilState(p.ID, payflow.StateCancelled)
		assert.Equal(t, 1, h.gw.count("query"))
		assert.Equal(t, 1, h.gw.count("cancel"))
	})
	t.Run("cancelling: cancelled again", func(t *testing.T) {
		h := newHarness(t, &fakeGateway{})
		p := journal(t, h, "o1", payflow.StateCancelling)
		h.gw = &fakeGateway{}
		h.restart()
		h.untilState(p.ID, payflow.StateCancelled)
		assert.Equal(t, 1, h.gw.count("cancel"))
		assert.Zero(t, h.gw.count("query")+h.gw.count("pay"))
	})
	t.Run("awaiting_scan past scan_timeout: expired", func(t *testing.T) {
		h := newHarness(t, &fakeGateway{})
		p := h.pay("o1", 100, "")
		h.stop()
		h.clock.Advance(testCfg.ScanTimeout)
		h.start()
		got, err := h.st.Get(p.ID)
		require.NoError(t, err)
		assert.Equal(t, payflow.StateCancelled, got.State)
		assert.Equal(t, "expired", got.Error.Code)
	})
	t.Run("awaiting_scan still young: keeps waiting for the scan", func(t *testing.T) {
		h := newHarness(t, &fakeGateway{})
		p := h.pay("o1", 100, "")
		h.restart()
		assert.Equal(t, p.ID, h.eng.Waiting())
		_, err := h.eng.Scan(wechat, "test")
		require.NoError(t, err)
		h.untilState(p.ID, payflow.StatePaid)
	})
	t.Run("refunding and in_doubt refunds: re-sent with their number", func(t *testing.T) {
		h := newHarness(t, &fakeGateway{})
		p := h.pay("o1", 1000, wechat)
		h.untilState(p.ID, payflow.StatePaid)
		p, err := h.st.Get(p.ID)
		require.NoError(t, err)
		p.Refunds = append(p.Refunds,
			&payflow.Refund{ID: "r1", RequestNo: "11111111111111111111", Amount: 100, State: payflow.RefundRefunding, Attempts: 1},
			&payflow.Refund{ID: "r2", RequestNo: "22222222222222222222", Amount: 200, State: payflow.RefundInDoubt, Attempts: 1})
		require.NoError(t, h.st.Save(p))
		h.gw = &fakeGateway{refund: func(r payflow.RefundRequest, n int) (payflow.Outcome, error) {
			if r.RequestNo == "11111111111111111111" {
				return payflow.Outcome{}, errNotSent // after a crash this is not proof of failure
			}
			return payflow.Outcome{Kind: payflow.Succeeded}, nil
		}}
		h.restart()
		p = h.until(p.ID, func(p *payflow.Payment) bool { return p.Refund("r2").State == payflow.RefundRefunded })
		assert.Equal(t, int64(200), p.RefundedAmount)
		assert.NotEqual(t, payflow.RefundFailed, p.Refund("r1").State)
		assert.Contains(t, h.gw.refundNos(), "11111111111111111111")
	})
}

// journal writes a payment straight into the journal in state s, as if
// the process had died there.
func journal(t *testing.T, h *harness, order string, s payflow.State) *payflow.Payment {
	t.Helper()
	now := h.clock.Now()
	p := &payflow.Payment{
		ID: "pay_" + order, OrderID: order, Amount: 100, Currency: "CNY", State: s, Channel: "wechat",
		AuthCode: wechat, Gateway: "fake", GatewayOrderNo: "2611210000000000000" + order[len(order)-1:], CreatedAt: now, UpdatedAt: now,
		PayStartedAt: now, History: []payflow.HistoryEntry{{At: now, State: s}},
	}
	if s == payflow.StateCancelling {
		p.CancelAttempts = 1
	}
	_, err := h.st.Create(p)
	require.NoError(t, err)
	return p
}

func TestWaitAndEvents(t *testing.T) {
	h := newHarness(t, &fakeGateway{})
	ch, stop := h.eng.Bus().Subscribe(64)
	defer stop()
	p := h.pay("o1", 100, "")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	got, err := h.eng.Wait(ctx, p.ID)
	require.NoError(t, err)
	assert.Equal(t, payflow.StateAwaitingScan, got.State, "Wait returns the current state when ctx ends")

	_, err = h.eng.Scan(wechat, "api")
	require.NoError(t, err)
	got, err = h.eng.Wait(context.Background(), p.ID)
	require.NoError(t, err)
	assert.Equal(t, payflow.StatePaid, got.State)

	var types []string
	var scan *payflow.ScanEvent
	for len(types) < 4 {
		ev := <-ch
		types = append(types, ev.Type)
		if ev.Scan != nil {
			scan = ev.Scan
		}
	}
	assert.Equal(t, []string{"payment", "payment", "scan", "payment"}, types)
	require.NotNil(t, scan)
	assert.Equal(t, "1345**********6789", scan.CodeMasked)
	assert.True(t, scan.Accepted)
}

// TestCodeNeverJournaled checks the journal file itself while a pay is in
// flight: the full payment code is held in memory only.
func TestCodeNeverJournaled(t *testing.T) {
	release := make(chan struct{})
	gw := &fakeGateway{pay: func(r payflow.PayRequest) (payflow.Outcome, error) {
		<-release
		return payflow.Outcome{Kind: payflow.Succeeded, Raw: []byte(`{"echo":"` + r.AuthCode + `"}`)}, nil
	}}
	h := newHarness(t, gw)
	p := h.pay("o1", 100, wechat)
	require.Eventually(t, func() bool { return gw.count("pay") == 1 }, 5*time.Second, time.Millisecond)
	raw, err := os.ReadFile(filepath.Join(h.dir, "posd.db"))
	require.NoError(t, err)
	assert.NotContains(t, string(raw), wechat)
	close(release)
	p = h.untilState(p.ID, payflow.StatePaid)
	assert.Contains(t, p.History[len(p.History)-1].Raw, "1345**********6789", "an echoed code is masked")
	h.stop()
	raw, err = os.ReadFile(filepath.Join(h.dir, "posd.db"))
	require.NoError(t, err)
	assert.NotContains(t, string(raw), wechat)
}

// TestJournalFailure: a full disk refuses new payments with an error and,
// when it strikes after a pay was answered, the pay is not sent again: the
// payment is resolved by query once the journal works.
func TestJournalFailure(t *testing.T) {
	gw := &fakeGateway{query: answer(payflow.Succeeded)}
	h := newHarness(t, gw)
	gw.pay = func(payflow.PayRequest) (payflow.Outcome, error) {
		h.j.failing.Store(true)
		return payflow.Outcome{Kind: payflow.Succeeded}, nil
	}
	p := h.pay("o1", 100, wechat)
	require.Eventually(t, func() bool { return h.j.failed.Load() > 0 }, 5*time.Second, time.Millisecond)

	_, _, err := h.eng.CreatePayment(payflow.NewPayment{OrderID: "o2", Amount: 100, AuthCode: wechat})
	require.ErrorIs(t, err, errDiskFull)
	_, err = h.st.ByOrder("o2")
	assert.ErrorIs(t, err, payflow.ErrNotFound, "nothing journaled, nothing sent")

	h.j.failing.Store(false)
	h.untilState(p.ID, payflow.StatePaid)
	assert.Equal(t, 1, gw.count("pay"), "never sent twice")
	assert.GreaterOrEqual(t, gw.count("query"), 1)
}
