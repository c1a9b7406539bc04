package payflow

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var allStates = []State{StateAwaitingScan, StatePaying, StateInDoubt, StateAwaitingCustomer, StateCancelling,
	StatePaid, StateFailed, StateCancelled, StateNeedsAttention}

var allTriggers = []Trigger{TrigScan, TrigAbort, TrigExpire, TrigSucceeded, TrigFailed, TrigNotSent,
	TrigNotFound, TrigUncertain, TrigBroken, TrigDeadline, TrigCancelled, TrigCancelRetry, TrigGiveUp, TrigRetry,
	TrigAbortRequest, TrigMismatch, TrigSuspect, TrigConflict, TrigGatewayGone, TrigReroute, TrigCancelWait, TrigOrder, TrigShown, TrigSwitch, TrigSwitched}

// TestPaymentEdges walks every edge of the payment machine and checks what
// each transition records.
func TestPaymentEdges(t *testing.T) {
	at := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	ids := Outcome{GatewayTradeNo: "G1", ChannelTradeNo: "C1", Channel: "alipay", Code: "X", Message: "words", Raw: []byte(`{"code":"134567890123456789"}`), QRCode: "https://qr.example/G1"}
	tests := []struct {
		from  State
		on    Trigger
		to    State
		check func(t *testing.T, p *Payment)
	}{
		{StateAwaitingScan, TrigScan, StatePaying, func(t *testing.T, p *Payment) {
			assert.Equal(t, "backup", p.Gateway, "the gateway routed to is recorded with the scan")
			assert.Equal(t, "134567890123456789", p.AuthCode)
			assert.Equal(t, "1345**********6789", p.AuthCodeMasked)
			assert.Equal(t, "wechat", p.Channel)
			assert.Equal(t, at, p.PayStartedAt)
		}},
		{StateAwaitingScan, TrigOrder, StatePaying, func(t *testing.T, p *Payment) {
			assert.Equal(t, "backup", p.Gateway, "the gateway routed to is recorded with the order")
			assert.Equal(t, "wechat", p.Channel)
			assert.Equal(t, at, p.PayStartedAt)
			assert.Empty(t, p.AuthCodeMasked, "an order has no payment code")
		}},
		{StateAwaitingScan, TrigAbort, StateCancelled, errCode("aborted")},
		{StateAwaitingScan, TrigExpire, StateCancelled, errCode("expired")},
		{StatePaying, TrigSucceeded, StatePaid, func(t *testing.T, p *Payment) {
			assert.Equal(t, "G1", p.GatewayTradeNo)
			assert.Equal(t, "C1", p.ChannelTradeNo)
			assert.Equal(t, "alipay", p.Channel)
			assert.Equal(t, at, p.PaidAt)
			assert.Nil(t, p.Error)
		}},
		{StatePaying, TrigFailed, StateFailed, errCode("X")},
		{StatePaying, TrigNotSent, StateFailed, errCode("network_unavailable")},
		{StatePaying, TrigNotFound, StateInDoubt, func(t *testing.T, p *Payment) {
			assert.Nil(t, p.Error, "not found is not final while the pay may still land")
		}},
		{StatePaying, TrigAbort, StateCancelled, errCode("aborted")},
		{StatePaying, TrigAbortRequest, StatePaying, func(t *testing.T, p *Payment) { assert.True(t, p.AbortRequested) }},
		{StatePaying, TrigMismatch, StateInDoubt, func(t *testing.T, p *Payment) {
			assert.Equal(t, 1, p.Mismatches)
			assert.Empty(t, p.GatewayTradeNo, "a foreign answer's ids are never kept")
		}},
		{StatePaying, TrigReroute, StatePaying, func(t *testing.T, p *Payment) {
			assert.Equal(t, "backup", p.Gateway)
			assert.Equal(t, "acct-2", p.GatewayAccount)
		}},
		{StatePaying, TrigGatewayGone, StateNeedsAttention, errCode("gateway_not_configured")},
		{StateInDoubt, TrigGatewayGone, StateNeedsAttention, errCode("gateway_not_configured")},
		{StateCancelling, TrigGatewayGone, StateNeedsAttention, errCode("gateway_not_configured")},
		{StateCancelling, TrigCancelWait, StateCancelling, func(t *testing.T, p *Payment) {
			assert.Equal(t, at.Add(time.Hour), p.CancelNotBefore)
			assert.Equal(t, 1, p.CancelAttempts, "waiting is not an attempt")
		}},
		{StateCancelling, TrigSucceeded, StatePaid, func(t *testing.T, p *Payment) { assert.Equal(t, at, p.PaidAt) }},
		{StateCancelling, TrigFailed, StateCancelled, nil},
		{StatePaying, TrigConflict, StateNeedsAttention, func(t *testing.T, p *Payment) {
			assert.True(t, p.NeedsAttention)
			errCode("order_number_conflict")(t, p)
			assert.Empty(t, p.GatewayTradeNo)
		}},
		{StatePaying, TrigUncertain, StateInDoubt, func(t *testing.T, p *Payment) { assert.Equal(t, "G1", p.GatewayTradeNo) }},
		{StatePaying, TrigBroken, StateNeedsAttention, func(t *testing.T, p *Payment) {
			assert.True(t, p.NeedsAttention)
			errCode("X")(t, p)
		}},
		{StateInDoubt, TrigSucceeded, StatePaid, nil},
		{StateInDoubt, TrigFailed, StateFailed, errCode("X")},
		{StateInDoubt, TrigMismatch, StateInDoubt, func(t *testing.T, p *Payment) { assert.Equal(t, 1, p.Mismatches) }},
		{StateInDoubt, TrigSuspect, StateNeedsAttention, func(t *testing.T, p *Payment) {
			assert.True(t, p.NeedsAttention)
			errCode("gateway_mismatch")(t, p)
			assert.Empty(t, p.GatewayTradeNo)
		}},
		{StateInDoubt, TrigBroken, StateNeedsAttention, errCode("X")},
		{StateInDoubt, TrigDeadline, StateCancelling, attempts(1)},
		{StateInDoubt, TrigAbort, StateCancelling, attempts(1)},
		{StateCancelling, TrigCancelled, StateCancelled, nil},
		{StateCancelling, TrigCancelRetry, StateCancelling, attempts(2)},
		{StateCancelling, TrigGiveUp, StateNeedsAttention, func(t *testing.T, p *Payment) {
			assert.True(t, p.NeedsAttention)
			errCode("cancel_failed")(t, p)
			assert.Contains(t, p.Error.Message, "words")
		}},
		{StatePaying, TrigShown, StateAwaitingCustomer, func(t *testing.T, p *Payment) {
			assert.Equal(t, "https://qr.example/G1", p.QR.Code, "the code to show is kept")
			assert.Equal(t, "G1", p.GatewayTradeNo)
		}},
		{StateAwaitingCustomer, TrigSucceeded, StatePaid, func(t *testing.T, p *Payment) { assert.Equal(t, at, p.PaidAt) }},
		{StateAwaitingCustomer, TrigFailed, StateFailed, errCode("X")},
		{StateAwaitingCustomer, TrigBroken, StateNeedsAttention, errCode("X")},
		{StateAwaitingCustomer, TrigDeadline, StateCancelling, attempts(1)},
		{StateAwaitingCustomer, TrigAbort, StateCancelling, attempts(1)},
		{StateAwaitingCustomer, TrigSwitch, StateCancelling, func(t *testing.T, p *Payment) {
			assert.True(t, p.SwitchRequested)
			assert.Equal(t, 1, p.CancelAttempts, "the close comes first")
			assert.Empty(t, p.AuthCodeMasked, "the code is not taken before the QR order is closed")
		}},
		{StateInDoubt, TrigSwitch, StateCancelling, func(t *testing.T, p *Payment) { assert.True(t, p.SwitchRequested) }},
		{StateAwaitingCustomer, TrigMismatch, StateAwaitingCustomer, func(t *testing.T, p *Payment) { assert.Equal(t, 1, p.Mismatches) }},
		{StateAwaitingCustomer, TrigSuspect, StateNeedsAttention, errCode("gateway_mismatch")},
		{StateAwaitingCustomer, TrigGatewayGone, StateNeedsAttention, errCode("gateway_not_configured")},
		{StateCancelling, TrigSwitched, StatePaying, func(t *testing.T, p *Payment) {
			assert.Equal(t, "N2", p.GatewayOrderNo, "a new order number: the QR order's is closed")
			assert.Empty(t, p.Method, "paid with the scanned code now")
			assert.Equal(t, "1345**********6789", p.AuthCodeMasked)
			assert.Equal(t, "wechat", p.Channel)
			assert.Equal(t, "backup", p.Gateway)
			assert.Equal(t, at, p.PayStartedAt, "the pay window starts now")
			assert.Zero(t, p.CancelAttempts)
			assert.False(t, p.SwitchRequested)
			assert.Empty(t, p.QR.Code, "the closed order's code is not shown again")
			assert.Empty(t, p.GatewayTradeNo)
			assert.Nil(t, p.Error)
		}},
		{StateNeedsAttention, TrigRetry, StateCancelling, func(t *testing.T, p *Payment) {
			assert.False(t, p.NeedsAttention)
			assert.Equal(t, 1, p.CancelAttempts)
		}},
	}
	seen := map[[2]string]bool{}
	for _, tc := range tests {
		t.Run(string(tc.from)+"/"+string(tc.on), func(t *testing.T) {
			p := &Payment{State: tc.from, CancelAttempts: 1, AuthCode: "134567890123456789", QR: &QR{}, Method: MethodQR, GatewayOrderNo: "N1"}
			if tc.from == StateInDoubt || tc.from == StateAwaitingCustomer {
				p.CancelAttempts = 0
			}
			require.NoError(t, Step(p, tc.on, Input{At: at, Outcome: ids, Code: "134567890123456789", Channel: "wechat", Gateway: "backup", Account: "acct-2", Until: at.Add(time.Hour), OrderNo: "N2"}))
			assert.Equal(t, tc.to, p.State)
			assert.Equal(t, at, p.UpdatedAt)
			require.Len(t, p.History, 1)
			h := p.History[0]
			assert.Equal(t, tc.to, h.State)
			assert.Equal(t, string(tc.on), h.Trigger)
			assert.Equal(t, "X", h.GatewayCode)
			assert.NotContains(t, h.Raw, "134567890123456789", "a code echoed by the gateway is masked in the journal")
			if tc.check != nil {
				tc.check(t, p)
			}
		})
		seen[[2]string{string(tc.from), string(tc.on)}] = true
	}
	// Every edge of the table is in the test, and nothing else is allowed.
	for _, s := range allStates {
		for _, tr := range allTriggers {
			_, inTable := payTransitions[s][tr]
			assert.Equal(t, inTable, seen[[2]string{string(s), string(tr)}], "edge %s/%s", s, tr)
			if !inTable {
				p := &Payment{State: s}
				err := Step(p, tr, Input{At: at})
				var te *TransitionError
				require.True(t, errors.As(err, &te), "%s/%s must be refused", s, tr)
				assert.Equal(t, s, p.State)
				assert.Empty(t, p.History)
			}
		}
	}
}

func errCode(code string) func(*testing.T, *Payment) {
	return func(t *testing.T, p *Payment) {
		t.Helper()
		require.NotNil(t, p.Error)
		assert.Equal(t, code, p.Error.Code)
		assert.NotEmpty(t, p.Error.Message)
	}
}

func attempts(n int) func(*testing.T, *Payment) {
	return func(t *testing.T, p *Payment) { t.Helper(); assert.Equal(t, n, p.CancelAttempts) }
}

// TestRefundEdges walks every edge of the refund machine.
func TestRefundEdges(t *testing.T) {
	at := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		from        RefundState
		on          Trigger
		to          RefundState
		refunded    int64
		errCode     string
		attemptsNow int
	}{
		{RefundRefunding, TrigSucceeded, RefundRefunded, 300, "", 1},
		{RefundRefunding, TrigFailed, RefundFailed, 0, "X", 1},
		{RefundRefunding, TrigBroken, RefundNeedsAttention, 0, "X", 1},
		{RefundRefunding, TrigNotSent, RefundFailed, 0, "network_unavailable", 1},
		{RefundRefunding, TrigUncertain, RefundInDoubt, 0, "", 1},
		{RefundRefunding, TrigMismatch, RefundInDoubt, 0, "", 1},
		{RefundRefunding, TrigSuspect, RefundNeedsAttention, 0, "gateway_mismatch", 1},
		{RefundRefunding, TrigConflict, RefundNeedsAttention, 0, "refund_number_conflict", 1},
		{RefundInDoubt, TrigRetry, RefundRefunding, 0, "", 2},
		{RefundInDoubt, TrigSucceeded, RefundRefunded, 300, "", 1},
		{RefundInDoubt, TrigFailed, RefundFailed, 0, "X", 1},
		{RefundInDoubt, TrigGiveUp, RefundNeedsAttention, 0, "refund_unresolved", 1},
		{RefundInDoubt, TrigSuspect, RefundNeedsAttention, 0, "gateway_mismatch", 1},
		{RefundRefunding, TrigGatewayGone, RefundNeedsAttention, 0, "gateway_not_configured", 1},
		{RefundInDoubt, TrigGatewayGone, RefundNeedsAttention, 0, "gateway_not_configured", 1},
	}
	seen := map[[2]string]bool{}
	for _, tc := range tests {
		t.Run(string(tc.from)+"/"+string(tc.on), func(t *testing.T) {
			r := &Refund{ID: "r1", Amount: 300, State: tc.from, Attempts: 1}
			p := &Payment{State: StatePaid, Amount: 1000, Refunds: []*Refund{r}}
			require.NoError(t, StepRefund(p, r, tc.on, Input{At: at, Outcome: Outcome{Code: "X", Message: "m"}}))
			assert.Equal(t, tc.to, r.State)
			assert.Equal(t, tc.refunded, p.RefundedAmount)
			assert.Equal(t, tc.attemptsNow, r.Attempts)
			if tc.errCode != "" {
				require.NotNil(t, r.Error)
				assert.Equal(t, tc.errCode, r.Error.Code)
			}
			require.Len(t, r.History, 1)
			assert.Equal(t, State(tc.to), r.History[0].State)
		})
		seen[[2]string{string(tc.from), string(tc.on)}] = true
	}
	for _, s := range []RefundState{RefundRefunding, RefundInDoubt, RefundRefunded, RefundFailed, RefundNeedsAttention} {
		for _, tr := range allTriggers {
			_, inTable := refundTransitions[s][tr]
			assert.Equal(t, inTable, seen[[2]string{string(s), string(tr)}], "edge %s/%s", s, tr)
			if !inTable {
				r := &Refund{State: s}
				assert.Error(t, StepRefund(&Payment{}, r, tr, Input{At: at}))
				assert.Equal(t, s, r.State)
			}
		}
	}
}

func TestRefundable(t *testing.T) {
	p := &Payment{State: StatePaid, Amount: 1000, Refunds: []*Refund{
		{Amount: 300, State: RefundRefunded},
		{Amount: 200, State: RefundInDoubt},
		{Amount: 400, State: RefundFailed},
	}}
	assert.Equal(t, int64(500), p.Refundable())
	p.State = StateCancelled
	assert.Zero(t, p.Refundable())
}

// TestScrub: a gateway that echoes the payment code in its words puts it
// nowhere: not in the error, the history note, the code or the raw answer,
// whether posd still holds the code or only its masked form.
func TestScrub(t *testing.T) {
	const code = "134567890123456789"
	at := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	echo := Outcome{Code: "INVALID_" + code, Message: "付款码 " + code + " 无效", Raw: []byte(`{"msg":"付款码 ` + code + ` 无效"}`)}
	for _, held := range []bool{true, false} {
		p := &Payment{State: StatePaying, AuthCodeMasked: MaskCode(code)}
		if held {
			p.AuthCode = code
		}
		require.NoError(t, Step(p, TrigFailed, Input{At: at, Outcome: echo, Note: "error: " + code}))
		r := &Refund{ID: "r", State: RefundRefunding, Attempts: 1}
		p.State, p.Refunds = StatePaid, []*Refund{r}
		require.NoError(t, StepRefund(p, r, TrigFailed, Input{At: at, Outcome: echo}))
		b, err := json.Marshal(p)
		require.NoError(t, err)
		assert.NotContains(t, string(b), code, "held=%v", held)
		assert.Contains(t, p.Error.Message, "1345**********6789")
	}
	// Other long numbers (order numbers, amounts) are left alone.
	p := &Payment{AuthCodeMasked: MaskCode(code)}
	assert.Equal(t, "order 26112110000001234567 of 134567890123456780", p.Scrub("order 26112110000001234567 of 134567890123456780"))
}

func TestMaskCode(t *testing.T) {
	for code, want := range map[string]string{
		"134567890123456789": "1345**********6789",
		"12345678":           "********",
		"":                   "",
		"123456789":          "1234*6789",
	} {
		assert.Equal(t, want, MaskCode(code), code)
	}
}

// TestCallRules walks the per-call outcome rules.
func TestCallRules(t *testing.T) {
	for _, tc := range []struct {
		in          Trigger
		first, next Trigger
	}{
		{TrigNotFound, TrigFailed, TrigUncertain},
		{TrigFailed, TrigFailed, TrigUncertain},
		{TrigNotSent, TrigNotSent, TrigUncertain},
		{TrigSucceeded, TrigSucceeded, TrigSucceeded},
		{TrigUncertain, TrigUncertain, TrigUncertain},
		{TrigBroken, TrigBroken, TrigBroken},
		{TrigConflict, TrigConflict, TrigConflict},
		{TrigMismatch, TrigMismatch, TrigMismatch},
	} {
		assert.Equal(t, tc.first, refundAnswer(tc.in, false), "first try, %s", tc.in)
		assert.Equal(t, tc.next, refundAnswer(tc.in, true), "retry, %s", tc.in)
	}
	for k := Unknown; k <= Conflict; k++ {
		assert.Equal(t, k == Succeeded || k == NotFound, cancelSettles[k], "cancel answered %s", k)
	}
}
