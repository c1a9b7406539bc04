package payflow_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillworks/posd/paycode"
	"github.com/tillworks/posd/payflow"
	"github.com/tillworks/posd/store"
)

// TestForeignAnswers: an answer whose order number, gateway order or
// amount differs from what was asked is not an outcome. Each row is a
// gateway that once made posd mark an unpaid sale paid, or cancel and
// refund another customer's order.
func TestForeignAnswers(t *testing.T) {
	// Every answer echoes the request's own number unless a row says not.
	own := func(o payflow.Outcome, r payflow.PayRequest) payflow.Outcome {
		o.OrderNo, o.Amount = r.OrderNo, r.Amount
		return o
	}
	inProgress := func(r payflow.PayRequest) (payflow.Outcome, error) {
		return own(payflow.Outcome{Kind: payflow.InProgress, GatewayTradeNo: "SN-OURS"}, r), nil
	}
	tests := []struct {
		name    string
		gw      *fakeGateway
		want    payflow.State
		errCode string
		calls   map[string]int
		check   func(t *testing.T, p *payflow.Payment)
	}{
		{
			name: "PAY_SUCCESS naming another order, then the truth: unpaid, cancelled",
			gw: &fakeGateway{
				pay: func(r payflow.PayRequest) (payflow.Outcome, error) {
					return payflow.Outcome{Kind: payflow.Succeeded, OrderNo: "26112100000000000099", GatewayTradeNo: "SN-FOREIGN", Amount: r.Amount}, nil
				},
				query: answer(payflow.NotFound), cancel: answer(payflow.NotFound),
			},
			want: payflow.StateCancelled,
			check: func(t *testing.T, p *payflow.Payment) {
				assert.Empty(t, p.GatewayTradeNo, "the foreign sn is never stored")
				assert.Equal(t, 1, p.Mismatches)
			},
		},
		{
			name: "PAY_SUCCESS for 1 fen instead of 2001: in doubt, then the query settles it",
			gw: &fakeGateway{
				pay: func(r payflow.PayRequest) (payflow.Outcome, error) {
					return payflow.Outcome{Kind: payflow.Succeeded, OrderNo: r.OrderNo, Amount: 1}, nil
				},
				query: func(int) (payflow.Outcome, error) {
					return payflow.Outcome{Kind: payflow.Succeeded, Amount: 2001, GatewayTradeNo: "SN-OURS"}, nil
				},
			},
			want: payflow.StatePaid,
			check: func(t *testing.T, p *payflow.Payment) {
				assert.Equal(t, "SN-OURS", p.GatewayTradeNo)
				assert.Contains(t, p.History[2].Note, "1 fen, not 2001")
			},
		},
		{
			name: "PAID for another sn, every time: needs attention after three",
			gw: &fakeGateway{pay: inProgress, query: func(int) (payflow.Outcome, error) {
				return payflow.Outcome{Kind: payflow.Succeeded, GatewayTradeNo: "SN-FOREIGN"}, nil
			}},
			want: payflow.StateNeedsAttention, errCode: "gateway_mismatch", calls: map[string]int{"query": 3, "cancel": 0},
			check: func(t *testing.T, p *payflow.Payment) {
				assert.Equal(t, "SN-OURS", p.GatewayTradeNo)
				assert.Equal(t, 3, p.Mismatches)
				assert.Contains(t, p.Error.Message, "SN-FOREIGN")
			},
		},
		{
			name: "CANCEL_SUCCESS for another order is not a cancel",
			gw: &fakeGateway{pay: inProgress, query: answer(payflow.InProgress), cancel: func(int) (payflow.Outcome, error) {
				return payflow.Outcome{Kind: payflow.Succeeded, OrderNo: "someone-else"}, nil
			}},
			want: payflow.StateNeedsAttention, errCode: "cancel_failed", calls: map[string]int{"cancel": 3},
		},
		{
			name: "CLIENT_SN_CONFLICT: the number is someone else's; never adopted",
			gw: &fakeGateway{pay: func(r payflow.PayRequest) (payflow.Outcome, error) {
				return payflow.Outcome{Kind: payflow.Conflict, Code: "CLIENT_SN_CONFLICT", Message: "client_sn重复"}, nil
			}, query: answer(payflow.Succeeded)},
			want: payflow.StateNeedsAttention, errCode: "order_number_conflict", calls: map[string]int{"query": 0, "cancel": 0},
			check: func(t *testing.T, p *payflow.Payment) {
				assert.Contains(t, p.Error.Message, p.GatewayOrderNo)
				assert.Contains(t, p.Error.Message, "client_sn重复")
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.gw)
			p := h.pay("order-1", 2001, wechat)
			p = h.until(p.ID, func(p *payflow.Payment) bool { return p.State.Terminal() })
			assert.Equal(t, tc.want, p.State, "history %+v", p.History)
			if tc.errCode != "" {
				require.NotNil(t, p.Error)
				assert.Equal(t, tc.errCode, p.Error.Code)
			}
			for op, n := range tc.calls {
				assert.Equal(t, n, tc.gw.count(op), "%s calls", op)
			}
			if tc.check != nil {
				tc.check(t, p)
			}
		})
	}
}

// TestForeignRefundAnswers: a refund answer about another order is not a
// refund, a conflicting refund number needs a person, and "already done"
// answered to a re-sent refund is done.
func TestForeignRefundAnswers(t *testing.T) {
	run := func(t *testing.T, gw *fakeGateway) (*harness, *payflow.Refund) {
		h := newHarness(t, gw)
		h.cfg.RefundAttempts = 4
		h.restart()
		p := h.pay("o1", 1000, wechat)
		h.untilState(p.ID, payflow.StatePaid)
		_, _, _, err := h.eng.Refund(p.ID, payflow.NewRefund{RefundID: "r1", Amount: 400})
		require.NoError(t, err)
		p = h.until(p.ID, func(p *payflow.Payment) bool { return p.Refund("r1").State.Terminal() })
		return h, p.Refund("r1")
	}
	t.Run("REFUND_SUCCESS about another order, always: needs attention", func(t *testing.T) {
		gw := &fakeGateway{refund: func(r payflow.RefundRequest, n int) (payflow.Outcome, error) {
			return payflow.Outcome{Kind: payflow.Succeeded, OrderNo: "other-order"}, nil
		}}
		_, r := run(t, gw)
		assert.Equal(t, payflow.RefundNeedsAttention, r.State)
		assert.Equal(t, "gateway_mismatch", r.Error.Code)
		assert.Equal(t, 3, gw.count("refund"))
	})
	t.Run("a wrong amount once, then ours: refunded", func(t *testing.T) {
		gw := &fakeGateway{refund: func(r payflow.RefundRequest, n int) (payflow.Outcome, error) {
			if n == 1 {
				return payflow.Outcome{Kind: payflow.Succeeded, OrderNo: r.OrderNo, Amount: 999}, nil
			}
			return payflow.Outcome{Kind: payflow.Succeeded, OrderNo: r.OrderNo, Amount: 1000}, nil
		}}
		h, r := run(t, gw)
		assert.Equal(t, payflow.RefundRefunded, r.State)
		assert.Equal(t, []string{r.RequestNo, r.RequestNo}, gw.refundNos(), "re-sent with the same number")
		p, _ := h.st.Get(h.mustOnly())
		assert.Equal(t, int64(400), p.RefundedAmount)
	})
	t.Run("REFUND_REQUEST_CONFLICT needs a person", func(t *testing.T) {
		gw := &fakeGateway{refund: func(r payflow.RefundRequest, n int) (payflow.Outcome, error) {
			return payflow.Outcome{Kind: payflow.Conflict, Code: "REFUND_REQUEST_CONFLICT"}, nil
		}}
		_, r := run(t, gw)
		assert.Equal(t, payflow.RefundNeedsAttention, r.State)
		assert.Equal(t, "refund_number_conflict", r.Error.Code)
	})
	t.Run("a retry refused as invalid order state is in doubt, not failed", func(t *testing.T) {
		gw := &fakeGateway{refund: func(r payflow.RefundRequest, n int) (payflow.Outcome, error) {
			if n == 1 {
				return payflow.Outcome{}, errLost // it refunded; the answer was lost
			}
			return payflow.Outcome{Kind: payflow.Failed, Code: "UPAY_ORDER_STATE_INVALID", Message: "当前的订单状态是3201"}, nil
		}}
		_, r := run(t, gw)
		assert.Equal(t, payflow.RefundNeedsAttention, r.State, "never failed: the money may have gone back")
		assert.Equal(t, "refund_unresolved", r.Error.Code)
		assert.Equal(t, 4, gw.count("refund"), "bounded by refund_attempts")
	})
	t.Run("in doubt for ever: bounded, then needs attention", func(t *testing.T) {
		gw := &fakeGateway{refund: func(payflow.RefundRequest, int) (payflow.Outcome, error) { return payflow.Outcome{}, errLost }}
		_, r := run(t, gw)
		assert.Equal(t, payflow.RefundNeedsAttention, r.State)
		assert.Equal(t, 4, r.Attempts)
	})
	t.Run("a gateway with refund look-ups is asked before re-sending", func(t *testing.T) {
		gw := &fakeGateway{
			refund: func(payflow.RefundRequest, int) (payflow.Outcome, error) { return payflow.Outcome{}, errLost },
			queryRefund: func(r payflow.RefundRequest, n int) (payflow.Outcome, error) {
				return payflow.Outcome{Kind: payflow.Succeeded, OrderNo: r.OrderNo, GatewayTradeNo: "RF1"}, nil
			},
		}
		_, r := run(t, gw)
		assert.Equal(t, payflow.RefundRefunded, r.State)
		assert.Equal(t, "RF1", r.GatewayRefundNo)
		assert.Equal(t, 1, gw.count("refund"), "found refunded: not sent again")
		assert.Equal(t, 1, gw.count("query_refund"))
	})
	t.Run("look-up says no such refund: sent again", func(t *testing.T) {
		gw := &fakeGateway{
			refund: func(_ payflow.RefundRequest, n int) (payflow.Outcome, error) {
				if n == 1 {
					return payflow.Outcome{}, errLost
				}
				return payflow.Outcome{Kind: payflow.Succeeded}, nil
			},
			queryRefund: func(payflow.RefundRequest, int) (payflow.Outcome, error) {
				return payflow.Outcome{Kind: payflow.NotFound}, nil
			},
		}
		_, r := run(t, gw)
		assert.Equal(t, payflow.RefundRefunded, r.State)
		assert.Equal(t, 2, gw.count("refund"))
	})
	t.Run("look-up says no such refund, then declined: failed, not in doubt", func(t *testing.T) {
		gw := &fakeGateway{
			refund: func(_ payflow.RefundRequest, n int) (payflow.Outcome, error) {
				if n == 1 {
					return payflow.Outcome{}, errLost
				}
				return payflow.Outcome{Kind: payflow.Failed, Code: "REFUND_DECLINED"}, nil
			},
			queryRefund: func(payflow.RefundRequest, int) (payflow.Outcome, error) {
				return payflow.Outcome{Kind: payflow.NotFound}, nil
			},
		}
		_, r := run(t, gw)
		assert.Equal(t, payflow.RefundFailed, r.State)
		assert.Equal(t, "REFUND_DECLINED", r.Error.Code)
		assert.Equal(t, 2, gw.count("refund"))
	})
}

// mustOnly returns the id of the harness's only payment today.
func (h *harness) mustOnly() string {
	h.t.Helper()
	ps, err := h.st.Day(h.clock.Now().Format(time.DateOnly))
	require.NoError(h.t, err)
	require.Len(h.t, ps, 1)
	return ps[0].ID
}

// TestAbortBeforeSend: once the cashier's abort is journaled, the pay never
// leaves. It used to: the abort answered {"state":"paying",
// "abort_requested":true} and the driver sent the pay a moment later.
func TestAbortBeforeSend(t *testing.T) {
	t.Run("abort in the window before the send: cancelled, nothing sent", func(t *testing.T) {
		gw := &fakeGateway{}
		h := newHarness(t, gw)
		reached, release := make(chan struct{}), make(chan struct{})
		h.hook = func(e *payflow.Engine) {
			var once sync.Once
			payflow.SetBeforePay(e, func() { once.Do(func() { close(reached); <-release }) })
		}
		h.restart()
		p := h.pay("o1", 100, wechat)
		<-reached
		a, err := h.eng.Abort(p.ID)
		require.NoError(t, err)
		assert.Equal(t, payflow.StateCancelled, a.State)
		close(release)
		p = h.untilState(p.ID, payflow.StateCancelled)
		time.Sleep(20 * time.Millisecond)
		assert.Zero(t, gw.count("pay"), "the pay left after its abort was journaled")
		assert.Equal(t, "aborted", p.Error.Code)
	})
	t.Run("abort while the pay is in flight: cancelled at the gateway after its answer", func(t *testing.T) {
		inPay, unblock := make(chan struct{}), make(chan struct{})
		gw := &fakeGateway{
			pay: func(payflow.PayRequest) (payflow.Outcome, error) {
				close(inPay)
				<-unblock
				return payflow.Outcome{Kind: payflow.InProgress}, nil
			},
			query: answer(payflow.InProgress),
		}
		h := newHarness(t, gw)
		p := h.pay("o1", 100, wechat)
		<-inPay
		a, err := h.eng.Abort(p.ID)
		require.NoError(t, err)
		assert.Equal(t, payflow.StatePaying, a.State)
		assert.True(t, a.AbortRequested)
		close(unblock)
		p = h.untilState(p.ID, payflow.StateCancelled)
		assert.Equal(t, 1, gw.count("cancel"))
		assert.Equal(t, []payflow.State{"awaiting_scan", "paying", "in_doubt", "cancelling", "cancelled"}, states(p))
	})
	t.Run("races: an abort answered cancelled never lets the pay leave", func(t *testing.T) {
		for i := range 40 {
			gw := &fakeGateway{pay: func(payflow.PayRequest) (payflow.Outcome, error) {
				return payflow.Outcome{Kind: payflow.InProgress}, nil
			}, query: answer(payflow.InProgress)}
			h := newHarness(t, gw)
			if i%2 == 0 {
				h.hook = func(e *payflow.Engine) {
					payflow.SetBeforePay(e, func() { time.Sleep(time.Duration(i%5) * time.Millisecond) })
				}
				h.restart()
			}
			p := h.pay("o1", 100, wechat)
			a, err := h.eng.Abort(p.ID)
			require.NoError(t, err)
			p = h.until(p.ID, func(p *payflow.Payment) bool { return p.State.Terminal() })
			switch {
			case a.State == payflow.StateCancelled:
				assert.Zero(t, gw.count("pay"), "round %d", i)
			case a.State == payflow.StatePaying:
				assert.True(t, a.AbortRequested, "round %d: the pay was on its way", i)
			default:
				assert.Equal(t, payflow.StateCancelling, a.State, "round %d: the pay had been answered", i)
			}
			assert.Equal(t, payflow.StateCancelled, p.State, "round %d", i)
			h.stop()
		}
	})
}

// TestCancelNotFoundInsideThePayWindow: the cashier aborts a pay whose
// answer was lost; the cancel finds no order because the pay has not
// reached the gateway yet. That is not "nothing to cancel" while the pay
// may still land: the cancel is sent again when the window ends. (The
// soak test caught posd saying cancelled while the delayed pay charged.)
func TestCancelNotFoundInsideThePayWindow(t *testing.T) {
	gw := &fakeGateway{
		pay:   func(payflow.PayRequest) (payflow.Outcome, error) { return payflow.Outcome{}, errLost },
		query: answer(payflow.InProgress),
		cancel: func(n int) (payflow.Outcome, error) {
			if n == 1 {
				return payflow.Outcome{Kind: payflow.NotFound}, nil
			}
			return payflow.Outcome{Kind: payflow.Succeeded}, nil // the pay had landed: reversed
		},
	}
	h := newHarness(t, gw)
	p := h.pay("o1", 100, wechat)
	h.untilState(p.ID, payflow.StateInDoubt)
	_, err := h.eng.Abort(p.ID)
	require.NoError(t, err)
	p = h.untilState(p.ID, payflow.StateCancelled)
	assert.Equal(t, 2, gw.count("cancel"))
	assert.Equal(t, 1, p.CancelAttempts, "waiting out the window is not a failed attempt")
	assert.False(t, p.UpdatedAt.Before(p.PayStartedAt.Add(testCfg.PayTimeout)), "settled only once the pay window ended")
}

// TestNumbersNotReusedAfterRestore: a journal restored from a backup
// reissues its sequence numbers; the order and refund numbers it then
// makes must still differ from every number already sent. (Reproduced: a
// new ¥99.01 sale got an earlier ¥20.01 order's number, was shown paid
// without charging anyone, and its refund returned the other customer's
// money.)
func TestNumbersNotReusedAfterRestore(t *testing.T) {
	h := newHarness(t, &fakeGateway{})
	first := h.pay("o0", 100, wechat)
	h.untilState(first.ID, payflow.StatePaid)
	h.stop()
	backup := filepath.Join(h.dir, "backup.db")
	copyFile(t, filepath.Join(h.dir, "posd.db"), backup)
	h.start()

	used := map[string]bool{}
	for i := range 5 {
		p := h.pay("a"+string(rune('0'+i)), 2001, wechat)
		h.untilState(p.ID, payflow.StatePaid)
		_, r, _, err := h.eng.Refund(p.ID, payflow.NewRefund{RefundID: "r", Amount: 1})
		require.NoError(t, err)
		used[p.GatewayOrderNo], used[r.RequestNo] = true, true
	}
	h.stop()
	copyFile(t, backup, filepath.Join(h.dir, "posd.db")) // the restore
	h.start()
	for i := range 5 {
		p := h.pay("b"+string(rune('0'+i)), 9901, wechat)
		assert.False(t, used[p.GatewayOrderNo], "order number %s reused", p.GatewayOrderNo)
		h.untilState(p.ID, payflow.StatePaid)
		_, r, _, err := h.eng.Refund(p.ID, payflow.NewRefund{RefundID: "r", Amount: 1})
		require.NoError(t, err)
		assert.False(t, used[r.RequestNo], "refund number %s reused", r.RequestNo)
		assert.Len(t, r.RequestNo, 20)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	require.NoError(t, err)
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	require.NoError(t, err)
	_, err = io.Copy(out, in)
	require.NoError(t, err)
	require.NoError(t, out.Close())
}

// TestEchoedCodeNotLogged: a gateway that echoes the payment code in its
// code, its words or an error puts it in no log line either.
func TestEchoedCodeNotLogged(t *testing.T) {
	var logs syncBuffer
	st, err := store.Open(filepath.Join(t.TempDir(), "posd.db"))
	require.NoError(t, err)
	defer st.Close()
	gw := &fakeGateway{
		pay: func(payflow.PayRequest) (payflow.Outcome, error) {
			return payflow.Outcome{}, fmt.Errorf("gateway answered HTTP 502: 付款码 %s 无效", wechat)
		},
		query: func(n int) (payflow.Outcome, error) {
			if n == 1 {
				return payflow.Outcome{}, fmt.Errorf("query: 付款码 %s 处理中", wechat)
			}
			return payflow.Outcome{Kind: payflow.Failed, Code: "BAD_" + wechat, Message: "付款码 " + wechat + " 无效"}, nil
		},
	}
	clock := newFakeClock()
	eng := payflow.NewEngine(testCfg, st, payflow.One("fake", gw), payflow.Options{Clock: clock, Classify: paycode.Classifier,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	require.NoError(t, eng.Start(context.Background()))
	defer eng.Close()
	p, _, err := eng.CreatePayment(payflow.NewPayment{OrderID: "o1", Amount: 100, AuthCode: wechat})
	require.NoError(t, err)
	h := &harness{t: t, st: st, clock: clock, gw: gw}
	p = h.untilState(p.ID, payflow.StateFailed)
	assert.NotContains(t, logs.String(), wechat)
	assert.Contains(t, logs.String(), "1345**********6789", "the masked code is what shows")
	b, _ := json.Marshal(p)
	assert.NotContains(t, string(b), wechat)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
