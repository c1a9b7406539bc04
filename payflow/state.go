package payflow

import (
	"fmt"
	"strings"
	"time"
)

// State is where a payment stands in the pay→poll→cancel machine.
type State string

// The payment states. Terminal states are never left except needs_attention,
// which an operator may send back to cancelling.
const (
	StateAwaitingScan   State = "awaiting_scan"   // created, waiting for the customer's code
	StatePaying         State = "paying"          // pay request journaled and (maybe) sent
	StateInDoubt        State = "in_doubt"        // the gateway's answer is unknown: poll it
	StateCancelling     State = "cancelling"      // a cancel is journaled and (maybe) sent
	StatePaid           State = "paid"            // the gateway confirmed the charge
	StateFailed         State = "failed"          // nothing was charged
	StateCancelled      State = "cancelled"       // aborted, expired, or reversed at the gateway
	StateNeedsAttention State = "needs_attention" // a person must reconcile with the gateway
)

// Terminal reports whether no further automatic step follows s.
func (s State) Terminal() bool {
	switch s {
	case StatePaid, StateFailed, StateCancelled, StateNeedsAttention:
		return true
	}
	return false
}

// Valid reports whether s names a payment state.
func (s State) Valid() bool {
	switch s {
	case StateAwaitingScan, StatePaying, StateInDoubt, StateCancelling,
		StatePaid, StateFailed, StateCancelled, StateNeedsAttention:
		return true
	}
	return false
}

// Trigger is what happened to a payment: an input from the cashier, the
// scanner, the clock or the gateway.
type Trigger string

// The payment triggers.
const (
	TrigScan        Trigger = "scan"         // a code arrived for the waiting payment
	TrigAbort       Trigger = "abort"        // the cashier aborted
	TrigExpire      Trigger = "expire"       // nobody scanned within scan_timeout
	TrigSucceeded   Trigger = "succeeded"    // gateway: paid
	TrigFailed      Trigger = "failed"       // gateway: declined or closed unpaid
	TrigNotSent     Trigger = "not_sent"     // the pay request never left (connect error)
	TrigNotFound    Trigger = "not_found"    // gateway: no such order, the pay never landed
	TrigUncertain   Trigger = "uncertain"    // gateway answer unknown or still in progress
	TrigBroken      Trigger = "broken"       // gateway: the order is in an error state
	TrigDeadline    Trigger = "deadline"     // pay_timeout ran out while unresolved
	TrigCancelled   Trigger = "cancelled"    // gateway: cancel succeeded, or nothing to cancel
	TrigCancelRetry Trigger = "cancel_retry" // another cancel attempt is about to be sent
	TrigGiveUp      Trigger = "give_up"      // cancel_attempts exhausted
	TrigRetry       Trigger = "retry"        // an operator asks to try cancelling again
)

// Input carries the facts a transition records: the time, the gateway's
// outcome if any, and a note for the history.
type Input struct {
	At      time.Time
	Outcome Outcome
	Code    string // payment code, for TrigScan
	Channel string // wallet hint from the code, for TrigScan
	Note    string
}

type transition struct {
	to    State
	apply func(p *Payment, in Input)
}

// payTransitions is the payment state machine: every allowed edge and what
// it records. Anything not listed is refused.
var payTransitions = map[State]map[Trigger]transition{
	StateAwaitingScan: {
		TrigScan:   {StatePaying, onScan},
		TrigAbort:  {StateCancelled, noteError("aborted", "the cashier aborted before a code was scanned")},
		TrigExpire: {StateCancelled, noteError("expired", "no code was scanned in time")},
	},
	StatePaying: {
		TrigSucceeded: {StatePaid, onPaid},
		TrigFailed:    {StateFailed, onGatewayError},
		TrigNotSent:   {StateFailed, onNotSent},
		TrigNotFound:  {StateFailed, onNotFound},
		TrigUncertain: {StateInDoubt, onGatewayIDs},
		TrigBroken:    {StateNeedsAttention, onGatewayError},
	},
	StateInDoubt: {
		TrigSucceeded: {StatePaid, onPaid},
		TrigFailed:    {StateFailed, onGatewayError},
		TrigNotFound:  {StateFailed, onNotFound},
		TrigBroken:    {StateNeedsAttention, onGatewayError},
		TrigDeadline:  {StateCancelling, onCancelAttempt},
		TrigAbort:     {StateCancelling, onCancelAttempt},
	},
	StateCancelling: {
		TrigCancelled:   {StateCancelled, onGatewayIDs},
		TrigCancelRetry: {StateCancelling, onCancelAttempt},
		TrigGiveUp:      {StateNeedsAttention, onGiveUp},
	},
	StateNeedsAttention: {
		TrigRetry: {StateCancelling, onRetry},
	},
}

// ErrTransition is returned (wrapped) when a trigger does not apply to the
// payment's current state.
type ErrTransition struct {
	From    State
	Trigger Trigger
}

func (e *ErrTransition) Error() string {
	return fmt.Sprintf("payflow: %s is not allowed in state %s", e.Trigger, e.From)
}

// Step applies trigger t to p in memory: it checks the transition table,
// records the facts and appends a history entry. It does no I/O; the engine
// journals the result before acting on it.
func Step(p *Payment, t Trigger, in Input) error {
	tr, ok := payTransitions[p.State][t]
	if !ok {
		return &ErrTransition{From: p.State, Trigger: t}
	}
	if tr.apply != nil {
		tr.apply(p, in)
	}
	p.State = tr.to
	p.UpdatedAt = in.At
	if tr.to == StateNeedsAttention {
		p.NeedsAttention = true
	} else {
		p.NeedsAttention = false
	}
	p.History = append(p.History, HistoryEntry{
		At:          in.At,
		State:       tr.to,
		Trigger:     string(t),
		GatewayCode: in.Outcome.Code,
		Note:        historyNote(in),
		Raw:         scrub(p, in.Outcome.Raw),
	})
	return nil
}

// scrub clips a raw gateway response for the journal and masks the payment
// code should a gateway echo it back.
func scrub(p *Payment, raw []byte) string {
	s := clip(raw)
	if p.AuthCode != "" {
		s = strings.ReplaceAll(s, p.AuthCode, MaskCode(p.AuthCode))
	}
	return s
}

func historyNote(in Input) string {
	if in.Note != "" {
		return in.Note
	}
	return in.Outcome.Message
}

func onScan(p *Payment, in Input) {
	p.AuthCode = in.Code
	p.AuthCodeMasked = MaskCode(in.Code)
	if in.Channel != "" {
		p.Channel = in.Channel
	}
	p.PayStartedAt = in.At
}

func onPaid(p *Payment, in Input) {
	onGatewayIDs(p, in)
	p.Error = nil
	p.PaidAt = in.At
}

func onGatewayIDs(p *Payment, in Input) {
	o := in.Outcome
	if o.GatewayTradeNo != "" {
		p.GatewayTradeNo = o.GatewayTradeNo
	}
	if o.ChannelTradeNo != "" {
		p.ChannelTradeNo = o.ChannelTradeNo
	}
	if o.Channel != "" {
		p.Channel = o.Channel
	}
}

func onGatewayError(p *Payment, in Input) {
	onGatewayIDs(p, in)
	p.Error = outcomeError(in.Outcome, "gateway_failed", "the gateway reported a failure without details")
}

// outcomeError is the gateway's code and words, or the defaults where it
// gave none.
func outcomeError(o Outcome, code, msg string) *Error {
	if o.Code != "" {
		code = o.Code
	}
	if o.Message != "" {
		msg = o.Message
	}
	return &Error{Code: code, Message: msg}
}

func onNotSent(p *Payment, in Input) {
	p.Error = &Error{Code: "network_unavailable",
		Message: "the gateway could not be reached; nothing was charged, start a new payment to retry: " + in.Note}
}

func onNotFound(p *Payment, in Input) {
	p.Error = &Error{Code: "not_charged", Message: "the gateway has no such order: the payment never reached it and nothing was charged"}
}

func noteError(code, msg string) func(*Payment, Input) {
	return func(p *Payment, in Input) { p.Error = &Error{Code: code, Message: msg} }
}

func onCancelAttempt(p *Payment, in Input) {
	p.CancelAttempts++
}

func onGiveUp(p *Payment, in Input) {
	p.Error = &Error{Code: "cancel_failed",
		Message: fmt.Sprintf("the payment could not be cancelled after %d attempts (%s); check it in the gateway's merchant console and refund or close it by hand",
			p.CancelAttempts, orUnknown(in.Outcome.Message))}
}

func onRetry(p *Payment, in Input) {
	p.CancelAttempts = 1
}

func orUnknown(s string) string {
	if s == "" {
		return "no answer"
	}
	return s
}

// RefundState is where a refund stands in the refund machine.
type RefundState string

// The refund states.
const (
	RefundRefunding RefundState = "refunding" // journaled and (maybe) sent
	RefundInDoubt   RefundState = "in_doubt"  // answer unknown: retried with the same refund number
	RefundRefunded  RefundState = "refunded"
	RefundFailed    RefundState = "failed"
	// RefundNeedsAttention: the gateway reports the refund in an error
	// state (REFUND_ERROR): whether the money went back is unknown.
	RefundNeedsAttention RefundState = "needs_attention"
)

// Terminal reports whether the engine has nothing more to do for the refund.
func (s RefundState) Terminal() bool {
	return s == RefundRefunded || s == RefundFailed || s == RefundNeedsAttention
}

type refundTransition struct {
	to    RefundState
	apply func(r *Refund, in Input)
}

// refundTransitions is the refund state machine.
var refundTransitions = map[RefundState]map[Trigger]refundTransition{
	RefundRefunding: {
		TrigSucceeded: {RefundRefunded, onRefundIDs},
		TrigFailed:    {RefundFailed, onRefundError},
		TrigBroken:    {RefundNeedsAttention, onRefundError},
		TrigNotSent:   {RefundFailed, onRefundNotSent},
		TrigUncertain: {RefundInDoubt, onRefundIDs},
	},
	RefundInDoubt: {
		TrigRetry: {RefundRefunding, func(r *Refund, in Input) { r.Attempts++ }},
	},
}

// StepRefund applies trigger t to refund r of payment p, keeping p's
// refunded amount in step. Like Step it does no I/O.
func StepRefund(p *Payment, r *Refund, t Trigger, in Input) error {
	tr, ok := refundTransitions[r.State][t]
	if !ok {
		return &ErrTransition{From: State("refund:" + string(r.State)), Trigger: t}
	}
	if tr.apply != nil {
		tr.apply(r, in)
	}
	r.State = tr.to
	r.UpdatedAt = in.At
	if tr.to == RefundRefunded {
		p.RefundedAmount += r.Amount
	}
	p.UpdatedAt = in.At
	r.History = append(r.History, HistoryEntry{
		At: in.At, State: State(tr.to), Trigger: string(t),
		GatewayCode: in.Outcome.Code, Note: historyNote(in), Raw: scrub(p, in.Outcome.Raw),
	})
	return nil
}

func onRefundIDs(r *Refund, in Input) {
	if in.Outcome.GatewayTradeNo != "" {
		r.GatewayRefundNo = in.Outcome.GatewayTradeNo
	}
	if in.Kind() == Succeeded {
		r.Error = nil
	}
}

func onRefundError(r *Refund, in Input) {
	r.Error = outcomeError(in.Outcome, "refund_failed", "the gateway refused the refund without details")
}

func onRefundNotSent(r *Refund, in Input) {
	r.Error = &Error{Code: "network_unavailable",
		Message: "the gateway could not be reached; nothing was refunded, retry with a new refund_id: " + in.Note}
}

// Kind is a shorthand for the outcome's kind.
func (in Input) Kind() Kind { return in.Outcome.Kind }

const maxRaw = 4096

func clip(b []byte) string {
	if len(b) > maxRaw {
		return string(b[:maxRaw]) + "…"
	}
	return string(b)
}
