package payflow

import (
	"fmt"
	"time"
)

// State is where a payment stands in the pay→poll→cancel machine.
type State string

// The payment states. Terminal states are never left except needs_attention,
// which an operator may send back to cancelling.
const (
	StateAwaitingScan State = "awaiting_scan" // created, waiting for the customer's code
	StatePaying       State = "paying"        // pay request journaled and (maybe) sent
	StateInDoubt      State = "in_doubt"      // the gateway's answer is unknown: poll it
	// StateAwaitingCustomer: a QR payment's order is placed and its code
	// shown; the customer has yet to scan it and pay. Polled like in_doubt,
	// closed at the gateway when the code expires.
	StateAwaitingCustomer State = "awaiting_customer"
	StateCancelling       State = "cancelling"      // a cancel is journaled and (maybe) sent
	StatePaid             State = "paid"            // the gateway confirmed the charge
	StateFailed           State = "failed"          // nothing was charged
	StateCancelled        State = "cancelled"       // aborted, expired, or reversed at the gateway
	StateNeedsAttention   State = "needs_attention" // a person must reconcile with the gateway
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
	case StateAwaitingScan, StatePaying, StateInDoubt, StateAwaitingCustomer, StateCancelling,
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
	TrigNotFound    Trigger = "not_found"    // gateway: no such order (yet)
	TrigUncertain   Trigger = "uncertain"    // gateway answer unknown or still in progress
	TrigBroken      Trigger = "broken"       // gateway: the order is in an error state
	TrigDeadline    Trigger = "deadline"     // pay_timeout ran out while unresolved
	TrigCancelled   Trigger = "cancelled"    // gateway: cancel succeeded, or nothing to cancel
	TrigCancelRetry Trigger = "cancel_retry" // another cancel attempt is about to be sent
	TrigGiveUp      Trigger = "give_up"      // cancel_attempts exhausted
	TrigRetry       Trigger = "retry"        // an operator asks to try cancelling again
	// TrigAbortRequest: the cashier aborted while the pay request may be on
	// its way; the payment is cancelled once its answer is known.
	TrigAbortRequest Trigger = "abort_requested"
	TrigMismatch     Trigger = "mismatch" // gateway: an answer about another order or amount
	TrigSuspect      Trigger = "suspect"  // gateway: maxMismatches answers about other orders
	TrigConflict     Trigger = "conflict" // gateway: our number is taken by another order
	// TrigGatewayGone: the payment's gateway is no longer configured; it is
	// never asked of another.
	TrigGatewayGone Trigger = "gateway_gone"
	// TrigReroute: the pay certainly did not leave (ErrNotSent); it goes to
	// the fallback gateway instead, journaled before it is sent there.
	TrigReroute Trigger = "reroute"
	// TrigCancelWait: the gateway refuses cancels until a time
	// (CancelWindower); the engine waits for it, querying meanwhile.
	TrigCancelWait Trigger = "cancel_wait"
	// TrigOrder: a mini-program order is journaled, to be sent to the
	// gateway the routing chose for WeChat (MiniProgramOrderer).
	TrigOrder Trigger = "order"
	// TrigShown: the gateway placed a QR payment's order and answered the
	// code the till shows (Precreator).
	TrigShown Trigger = "shown"
	// TrigSwitch: the cashier pays a QR payment's order with a scanned code
	// instead; the QR order is closed (or cancelled) at the gateway first.
	TrigSwitch Trigger = "switch"
	// TrigSwitched: the QR order is certainly unpaid (closed or cancelled
	// at the gateway); the pay with the scanned code is journaled, under a
	// new order number, before it is sent.
	TrigSwitched Trigger = "switched"
)

// maxMismatches is how many answers about another order (or amount) a
// payment or refund takes before a person must look: one could be a
// gateway's slip, three are a gateway that cannot be trusted with it.
const maxMismatches = 3

// Input carries the facts a transition records: the time, the gateway's
// outcome if any, and a note for the history.
type Input struct {
	At      time.Time
	Outcome Outcome
	Code    string    // payment code, for TrigScan
	Channel string    // wallet hint from the code, for TrigScan
	Gateway string    // the gateway chosen, for TrigScan and TrigReroute
	Account string    // the account used there
	Until   time.Time // for TrigCancelWait: when the gateway accepts a cancel
	OrderNo string    // for TrigSwitched: the new gateway order number
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
		TrigOrder:  {StatePaying, onOrder},
		TrigAbort:  {StateCancelled, noteError("aborted", "the cashier aborted before a code was scanned")},
		TrigExpire: {StateCancelled, noteError("expired", "no code was scanned in time")},
	},
	StatePaying: {
		TrigSucceeded: {StatePaid, onPaid},
		TrigFailed:    {StateFailed, onGatewayError},
		TrigNotSent:   {StateFailed, onNotSent},
		// Not found is not final while the pay may still land: gateways
		// record an order late. Poll, then cancel at the deadline.
		TrigNotFound:  {StateInDoubt, nil},
		TrigUncertain: {StateInDoubt, onGatewayIDs},
		TrigBroken:    {StateNeedsAttention, onGatewayError},
		TrigMismatch:  {StateInDoubt, onMismatch},
		TrigConflict:  {StateNeedsAttention, onConflict},
		// The cashier aborted and the pay had not been handed to the
		// gateway client: it never will be.
		TrigAbort:        {StateCancelled, noteError("aborted", "the cashier aborted before the pay request was sent; nothing was charged")},
		TrigAbortRequest: {StatePaying, onAbortRequest},
		TrigReroute:      {StatePaying, onGateway},
		TrigGatewayGone:  {StateNeedsAttention, onGatewayGone},
		TrigShown:        {StateAwaitingCustomer, onGatewayIDs},
	},
	StateAwaitingCustomer: {
		TrigSucceeded:   {StatePaid, onPaid},
		TrigFailed:      {StateFailed, onGatewayError},
		TrigBroken:      {StateNeedsAttention, onGatewayError},
		TrigDeadline:    {StateCancelling, onCancelAttempt},
		TrigAbort:       {StateCancelling, onCancelAttempt},
		TrigSwitch:      {StateCancelling, onSwitch},
		TrigMismatch:    {StateAwaitingCustomer, onMismatch},
		TrigSuspect:     {StateNeedsAttention, onSuspect},
		TrigGatewayGone: {StateNeedsAttention, onGatewayGone},
	},
	StateInDoubt: {
		TrigSucceeded:   {StatePaid, onPaid},
		TrigFailed:      {StateFailed, onGatewayError},
		TrigBroken:      {StateNeedsAttention, onGatewayError},
		TrigDeadline:    {StateCancelling, onCancelAttempt},
		TrigAbort:       {StateCancelling, onCancelAttempt},
		TrigMismatch:    {StateInDoubt, onMismatch},
		TrigSuspect:     {StateNeedsAttention, onSuspect},
		TrigGatewayGone: {StateNeedsAttention, onGatewayGone},
		// A QR payment whose placing went unanswered: the code was never
		// shown, but the cashier may still switch to a scanned one.
		TrigSwitch: {StateCancelling, onSwitch},
	},
	StateCancelling: {
		TrigCancelled:   {StateCancelled, onGatewayIDs},
		TrigCancelRetry: {StateCancelling, onCancelAttempt},
		TrigGiveUp:      {StateNeedsAttention, onGiveUp},
		TrigGatewayGone: {StateNeedsAttention, onGatewayGone},
		TrigCancelWait:  {StateCancelling, func(p *Payment, in Input) { p.CancelNotBefore = in.Until }},
		// What the queries while waiting to cancel may find.
		TrigSucceeded: {StatePaid, onPaid},
		TrigFailed:    {StateCancelled, onGatewayIDs},
		TrigSwitched:  {StatePaying, onSwitched},
	},
	StateNeedsAttention: {
		TrigRetry: {StateCancelling, onRetry},
	},
}

// TransitionError is returned (wrapped) when a trigger does not apply to the
// payment's current state.
type TransitionError struct {
	From    State
	Trigger Trigger
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("payflow: %s is not allowed in state %s", e.Trigger, e.From)
}

// Step applies trigger t to p in memory: it checks the transition table,
// records the facts and appends a history entry. It does no I/O; the engine
// journals the result before acting on it.
func Step(p *Payment, t Trigger, in Input) error {
	tr, ok := payTransitions[p.State][t]
	if !ok {
		return &TransitionError{From: p.State, Trigger: t}
	}
	in = scrubInput(p, in)
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
		Raw:         clip(in.Outcome.Raw),
	})
	return nil
}

// scrubInput masks the payment code in everything of in that a gateway
// (or an error carrying its words) wrote, before any of it is recorded.
func scrubInput(p *Payment, in Input) Input {
	in.Note = p.Scrub(in.Note)
	in.Outcome.Code = p.Scrub(in.Outcome.Code)
	in.Outcome.Message = p.Scrub(in.Outcome.Message)
	if len(in.Outcome.Raw) > 0 {
		in.Outcome.Raw = []byte(p.Scrub(string(in.Outcome.Raw)))
	}
	return in
}

func historyNote(in Input) string {
	if in.Note != "" {
		return in.Note
	}
	return in.Outcome.Message
}

func onScan(p *Payment, in Input) {
	onGateway(p, in)
	p.AuthCode = in.Code
	p.AuthCodeMasked = MaskCode(in.Code)
	if in.Channel != "" {
		p.Channel = in.Channel
	}
	p.PayStartedAt = in.At
}

func onOrder(p *Payment, in Input) {
	onGateway(p, in)
	if in.Channel != "" {
		p.Channel = in.Channel
	}
	p.PayStartedAt = in.At
}

// onGateway records the gateway a pay goes to.
func onGateway(p *Payment, in Input) {
	p.Gateway, p.GatewayAccount = in.Gateway, in.Account
}

func onGatewayGone(p *Payment, in Input) {
	p.Error = gatewayGone(p.Gateway)
}

func gatewayGone(name string) *Error {
	return &Error{Code: "gateway_not_configured",
		Message: fmt.Sprintf("gateway %q, which took this payment, is no longer in the configuration; posd never asks another gateway about it: add [gateways.%s] back, or settle it in that gateway's merchant console", name, name)}
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
	if o.Funding != "" {
		p.Funding = o.Funding
	}
	if len(o.Discounts) > 0 {
		p.Discounts = append([]Discount(nil), o.Discounts...)
	}
	if o.CustomerPaid > 0 && o.CustomerPaid <= p.Amount {
		p.CustomerPaid = o.CustomerPaid
	}
	if o.Prepay != nil && p.MiniProgram != nil {
		pay := *o.Prepay
		p.MiniProgram.Pay = &pay
	}
	if o.QRCode != "" && p.QR != nil {
		p.QR.Code = o.QRCode
	}
}

// onSwitch journals the cashier's switch of a QR payment to a scanned code:
// a cancel attempt (a close, where the gateway has one) comes first.
func onSwitch(p *Payment, in Input) {
	p.CancelAttempts++
	p.SwitchRequested = true
}

// onSwitched turns a QR payment whose order is certainly unpaid into a
// pay with the scanned code: a new order number (the QR order's is
// closed), the code's wallet and gateway, and the pay window from now.
func onSwitched(p *Payment, in Input) {
	onScan(p, in)
	p.Method, p.GatewayOrderNo = "", in.OrderNo
	p.GatewayTradeNo, p.ChannelTradeNo = "", ""
	p.CancelAttempts, p.Mismatches, p.CancelNotBefore = 0, 0, time.Time{}
	p.SwitchRequested, p.AbortRequested = false, false
	p.Error = nil
	if p.QR != nil {
		p.QR.Code = ""
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

func onAbortRequest(p *Payment, in Input) {
	p.AbortRequested = true
}

func onMismatch(p *Payment, in Input) {
	p.Mismatches++
}

func onSuspect(p *Payment, in Input) {
	p.Mismatches++
	p.Error = &Error{Code: "gateway_mismatch",
		Message: fmt.Sprintf("the gateway answered %d times about another order or amount (%s); posd cannot tell whether this payment was charged: check order %s in the gateway's merchant console",
			p.Mismatches, orUnknown(in.Note), p.GatewayOrderNo)}
}

func onConflict(p *Payment, in Input) {
	p.Error = &Error{Code: "order_number_conflict",
		Message: fmt.Sprintf("the gateway says order number %s is already used by another order (%s); posd did not charge with it and will not touch that order: check the number in the gateway's merchant console and start a new payment if nothing was charged",
			p.GatewayOrderNo, orUnknown(in.Outcome.Message))}
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
		TrigSucceeded:   {RefundRefunded, onRefundIDs},
		TrigFailed:      {RefundFailed, onRefundError},
		TrigBroken:      {RefundNeedsAttention, onRefundError},
		TrigNotSent:     {RefundFailed, onRefundNotSent},
		TrigUncertain:   {RefundInDoubt, onRefundIDs},
		TrigMismatch:    {RefundInDoubt, func(r *Refund, in Input) { r.Mismatches++ }},
		TrigSuspect:     {RefundNeedsAttention, onRefundSuspect},
		TrigConflict:    {RefundNeedsAttention, onRefundConflict},
		TrigGatewayGone: {RefundNeedsAttention, func(r *Refund, in Input) { r.Error = gatewayGone(in.Gateway) }},
	},
	RefundInDoubt: {
		TrigRetry: {RefundRefunding, func(r *Refund, in Input) { r.Attempts++ }},
		// What the gateway's refund query says, where it has one.
		TrigSucceeded:   {RefundRefunded, onRefundIDs},
		TrigFailed:      {RefundFailed, onRefundError},
		TrigGiveUp:      {RefundNeedsAttention, onRefundGiveUp},
		TrigSuspect:     {RefundNeedsAttention, onRefundSuspect},
		TrigGatewayGone: {RefundNeedsAttention, func(r *Refund, in Input) { r.Error = gatewayGone(in.Gateway) }},
	},
}

// Per-call rules: what one gateway call's answer means beyond the
// trigger outcomeTrigger maps it to. They live here, beside the machines
// they feed, so that every rule about outcomes is in this file.

// cancelSettles lists the cancel answers that settle a payment as
// cancelled: done, or no such order (nothing to cancel; the engine takes
// that one only once the pay window has ended: a pay may still land).
var cancelSettles = map[Kind]bool{Succeeded: true, NotFound: true}

// refundRules turns a refund answer's trigger into the one the refund
// machine takes, on a first try and on a retry (any attempt after one that
// may have reached the gateway): a first try that never left, or that the
// gateway refused, or whose order it does not know, failed; on a retry
// the same answers are in doubt, since the earlier attempt may have
// refunded (and is why the order is now "in an invalid state").
var refundRules = map[Trigger][2]Trigger{ // [first try, retry]
	TrigNotFound: {TrigFailed, TrigUncertain},
	TrigFailed:   {TrigFailed, TrigUncertain},
	TrigNotSent:  {TrigNotSent, TrigUncertain},
}

// refundAnswer applies refundRules to trigger t.
func refundAnswer(t Trigger, retry bool) Trigger {
	r, ok := refundRules[t]
	if !ok {
		return t
	}
	if retry {
		return r[1]
	}
	return r[0]
}

// StepRefund applies trigger t to refund r of payment p, keeping p's
// refunded amount in step. Like Step it does no I/O.
func StepRefund(p *Payment, r *Refund, t Trigger, in Input) error {
	tr, ok := refundTransitions[r.State][t]
	if !ok {
		return &TransitionError{From: State("refund:" + string(r.State)), Trigger: t}
	}
	in = scrubInput(p, in)
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
		GatewayCode: in.Outcome.Code, Note: historyNote(in), Raw: clip(in.Outcome.Raw),
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

func onRefundSuspect(r *Refund, in Input) {
	r.Mismatches++
	r.Error = &Error{Code: "gateway_mismatch",
		Message: fmt.Sprintf("the gateway answered %d times about another order or refund (%s); whether refund %s went back is unknown: check it in the gateway's merchant console",
			r.Mismatches, orUnknown(in.Note), r.RequestNo)}
}

func onRefundConflict(r *Refund, in Input) {
	r.Error = &Error{Code: "refund_number_conflict",
		Message: fmt.Sprintf("the gateway says refund number %s is already used with other details (%s); check it in the gateway's merchant console",
			r.RequestNo, orUnknown(in.Outcome.Message))}
}

func onRefundGiveUp(r *Refund, in Input) {
	r.Error = &Error{Code: "refund_unresolved",
		Message: fmt.Sprintf("the refund's outcome is still unknown after %d attempts (%s); check refund %s in the gateway's merchant console before refunding again",
			r.Attempts, orUnknown(in.Note), r.RequestNo)}
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
