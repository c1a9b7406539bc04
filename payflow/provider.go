package payflow

import (
	"context"
	"errors"
	"time"
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
	Funding        string // how the customer paid, where the gateway says: credit, pcredit, debit, balance
	Raw            []byte

	// What the answer says it is about, for the engine to hold against
	// what it asked: posd's order number as the gateway echoed it
	// (client_sn, out_trade_no, pos_seq) and the order's total in fen.
	// Empty or zero where the answer does not say; a provider fills in
	// whatever its gateway states.
	OrderNo string
	Amount  int64

	// Discounts the gateway reports on a paid order (coupons, merchant
	// and platform offers), and what the customer paid once they are
	// taken off: 0 where the answer does not say.
	Discounts    []Discount
	CustomerPaid int64
	// Prepay is, for a mini-program order placed (MiniProgramOrderer),
	// what the mini program passes to wx.requestPayment.
	Prepay *RequestPayment
	// QRCode is, for a QR payment placed (Precreator), the text the till
	// shows as a QR code for the customer to scan (usually a URL).
	QRCode string
}

// Discount is part of an order's amount the customer did not pay, as the
// gateway names it (Name, its field) and as the receipt prints it (Label).
type Discount struct {
	Name   string `json:"name"`
	Label  string `json:"label"`
	Amount int64  `json:"amount"` // fen
}

// PayRequest is a B-scans-C charge.
type PayRequest struct {
	OrderNo  string // posd's gateway order number, unique, journaled first
	OrderID  string // the cash register's order id
	Amount   int64  // fen
	Currency string
	AuthCode string
	Channel  string // the wallet the code's shape tells (wechat, alipay, ...), or "unknown"
	Subject  string
	Operator string
	TillID   string
}

// OrderRef names an order at the gateway for Query and Cancel.
type OrderRef struct {
	OrderNo        string
	GatewayTradeNo string // empty when the gateway never answered
	TillID         string
	Created        time.Time // when the pay was sent: gateways with cancel windows count from it
	Amount         int64     // fen, the order's total
}

// ref names payment p's order at its gateway.
func (p *Payment) ref() OrderRef {
	return OrderRef{OrderNo: p.GatewayOrderNo, GatewayTradeNo: p.GatewayTradeNo, TillID: p.TillID, Created: p.PayStartedAt, Amount: p.Amount}
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

// CancelWindower is implemented by providers whose gateway accepts a
// cancel only at some times (FuFu: not within 15 s of the order's
// creation, and only from 01:00 to 23:00 its local time). CancelNotBefore
// returns the earliest instant, at or after now, at which a cancel of an
// order created at created is accepted. The engine waits for it on its own
// clock, queries meanwhile (the gateway may settle or revoke the order
// itself), records the wait in the payment's history, and does not count
// it as a cancel attempt.
type CancelWindower interface {
	CancelNotBefore(created, now time.Time) time.Time
}

// PayHolder is implemented by providers whose gateway holds a pay request
// open for longer than posd's pay_timeout (FuFu: up to 80 s, then it
// revokes the order itself). PayHold is that time: a payment's pay window
// is then at least that long, so the engine never cancels an order the
// gateway still holds.
type PayHolder interface {
	PayHold() time.Duration
}

// Closer is implemented by providers that can close an order nobody paid
// (a precreated one the customer never scanned): Succeeded when closed,
// NotFound when there is no such order, Failed when it was paid or failed
// meanwhile and cannot be closed.
type Closer interface {
	Close(ctx context.Context, r OrderRef) (Outcome, error)
}

// Precreator is implemented by providers whose gateway creates an order
// that the customer pays by scanning a QR code (C scans B). qrCode is the
// content to show; the order is then followed with Query like a pay.
type Precreator interface {
	Precreate(ctx context.Context, r PayRequest) (qrCode string, o Outcome, err error)
}
