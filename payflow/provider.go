package payflow

import (
	"context"
	"errors"
)

// Provider is a payment gateway as the engine sees it. Each call answers a
// normalized Outcome; an error means the answer is unknown, and the engine
// treats it as in doubt unless it wraps ErrNotSent.
type Provider interface {
	Pay(ctx context.Context, r PayRequest) (Outcome, error)
	Query(ctx context.Context, r OrderRef) (Outcome, error)
	Cancel(ctx context.Context, r OrderRef) (Outcome, error)
	Refund(ctx context.Context, r RefundRequest) (Outcome, error)
}

// ErrNotSent marks a provider error raised before any byte of the request
// could have reached the gateway (DNS or connect failure): nothing happened
// there, so the payment failed and a new one is safe.
var ErrNotSent = errors.New("request not sent")

// Kind is the normalized result of a gateway call.
type Kind int

// The outcome kinds. Succeeded, Failed, InProgress and Unknown are the
// common four; NotFound and Broken refine Failed where the engine must act
// differently.
const (
	Unknown    Kind = iota // the answer could not be understood: in doubt
	Succeeded              // paid / cancelled / refunded as asked
	Failed                 // declined or closed; nothing was charged (for Pay/Query) or refunded
	InProgress             // accepted, not final yet (customer entering a password)
	NotFound               // the gateway has no such order (yet: it may record a pay late)
	Broken                 // the order is in an error state only a person can resolve
	// Conflict: the gateway says our order (or refund) number is already
	// taken by another request. posd never sends a pay twice, so the
	// number belongs to an order posd may not know: a person must look.
	Conflict
)

func (k Kind) String() string {
	switch k {
	case Succeeded:
		return "succeeded"
	case Failed:
		return "failed"
	case InProgress:
		return "in_progress"
	case NotFound:
		return "not_found"
	case Broken:
		return "broken"
	case Conflict:
		return "conflict"
	}
	return "unknown"
}

// Outcome is a gateway's answer in posd's terms, with the gateway's own ids
// and raw response kept for the journal.
type Outcome struct {
	Kind           Kind
	Code           string // the gateway's result or error code
	Message        string // the gateway's words
	GatewayTradeNo string // the gateway's own order (or refund) number
	ChannelTradeNo string // the wallet's trade number
	Channel        string // wallet: alipay, wechat, unionpay, ecny
	Raw            []byte

	// What the answer says it is about, for the engine to hold against
	// what it asked: posd's order number as the gateway echoed it
	// (client_sn, out_trade_no, pos_seq) and the order's total in fen.
	// Empty or zero where the answer does not say; a provider fills in
	// whatever its gateway states.
	OrderNo string
	Amount  int64
}

// PayRequest is a B-scans-C charge.
type PayRequest struct {
	OrderNo  string // posd's gateway order number, unique, journaled first
	OrderID  string // the cash register's order id
	Amount   int64  // fen
	Currency string
	AuthCode string
	Subject  string
	Operator string
	TillID   string
}

// OrderRef names an order at the gateway for Query and Cancel.
type OrderRef struct {
	OrderNo        string
	GatewayTradeNo string // empty when the gateway never answered
	TillID         string
}

// RefundRequest refunds part or all of a paid order. RequestNo is stable
// across retries so the gateway refunds at most once.
type RefundRequest struct {
	OrderNo        string
	GatewayTradeNo string
	RequestNo      string
	Amount         int64 // fen, this refund
	PaymentAmount  int64 // fen, the original charge
	Reason         string
	Operator       string
	TillID         string
}

// RefundQuerier is implemented by providers whose gateway can tell what
// became of one refund request. The engine asks before re-sending a refund
// whose earlier attempt may have landed. Succeeded: refunded; Failed: the
// gateway refused it; NotFound: no such refund, so sending it again is
// safe; anything else: still unknown.
type RefundQuerier interface {
	QueryRefund(ctx context.Context, r RefundRequest) (Outcome, error)
}
