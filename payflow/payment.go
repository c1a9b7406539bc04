// Package payflow is posd's payment engine: the pay→poll→cancel and refund
// state machines, the rules that drive them against a gateway, and the
// recovery that resumes them after a crash. Every state change is written to
// the Journal before the request it leads to leaves the process.
package payflow

import (
	"regexp"
	"strings"
	"time"
)

// Payment is one attempt to charge a customer for an order, as journaled
// and as served to the cash register.
type Payment struct {
	ID             string `json:"id"`
	OrderID        string `json:"order_id"`
	Amount         int64  `json:"amount"` // fen
	Currency       string `json:"currency"`
	Subject        string `json:"subject,omitempty"`
	Items          []Item `json:"items,omitempty"`
	Operator       string `json:"operator,omitempty"`
	TillID         string `json:"till_id,omitempty"`
	State          State  `json:"state"`
	NeedsAttention bool   `json:"needs_attention"`
	Channel        string `json:"channel"`
	Funding        string `json:"funding,omitempty"` // credit, pcredit, debit, balance: where the gateway says
	AuthCode       string `json:"-"`                 // full payment code: in memory only, never journaled or shown
	AuthCodeMasked string `json:"auth_code_masked"`
	Gateway        string `json:"gateway"`                   // the configured gateway that took it; every later call goes there
	GatewayAccount string `json:"gateway_account,omitempty"` // the account used there (terminal sn, merchant id)
	GatewayOrderNo string `json:"gateway_order_no"`          // posd's order number at the gateway (client_sn, out_trade_no, pos_seq)
	GatewayTradeNo string `json:"gateway_trade_no"`
	ChannelTradeNo string `json:"channel_trade_no"`
	RefundedAmount int64  `json:"refunded_amount"`
	// Discounts the gateway reported, and what the customer paid after
	// them (0: the gateway did not say; the customer paid Amount).
	Discounts    []Discount `json:"discounts,omitempty"`
	CustomerPaid int64      `json:"customer_paid,omitempty"`
	// Method is how the customer pays: "" a scanned payment code,
	// "miniprogram" an order paid in a WeChat mini program, "qr" a QR
	// code the till shows and the customer scans.
	Method      string       `json:"method,omitempty"`
	MiniProgram *MiniProgram `json:"miniprogram,omitempty"`
	QR          *QR          `json:"qr,omitempty"`
	// SwitchRequested: the cashier switched this QR payment to a scanned
	// code; it is paid with the code once the QR order is closed.
	SwitchRequested bool   `json:"switch_requested,omitempty"`
	Error           *Error `json:"error"`
	CancelAttempts  int    `json:"cancel_attempts,omitempty"`
	Mismatches      int    `json:"mismatches,omitempty"` // answers that named another order or amount
	AbortRequested  bool   `json:"abort_requested,omitempty"`
	// CancelNotBefore: the gateway accepts this payment's cancel from then
	// (a cancel window); zero when it never said.
	CancelNotBefore time.Time      `json:"cancel_not_before,omitzero"`
	CreatedAt       time.Time      `json:"created_at"`
	UpdatedAt       time.Time      `json:"updated_at"`
	PayStartedAt    time.Time      `json:"pay_started_at,omitzero"`
	PaidAt          time.Time      `json:"paid_at,omitzero"`
	History         []HistoryEntry `json:"history"`
	Refunds         []*Refund      `json:"refunds"`
}

// Item is one line of what was sold, for the receipt.
type Item struct {
	Name     string `json:"name"`
	Quantity int    `json:"quantity"`
	Amount   int64  `json:"amount"` // fen, the line's total
}

// Refund is one refund of (part of) a paid payment.
type Refund struct {
	ID              string         `json:"refund_id"`         // the cash register's idempotency key
	RequestNo       string         `json:"refund_request_no"` // posd's stable number at the gateway, reused on every retry
	Amount          int64          `json:"amount"`
	Reason          string         `json:"reason,omitempty"`
	State           RefundState    `json:"state"`
	GatewayRefundNo string         `json:"gateway_refund_no,omitempty"`
	Attempts        int            `json:"attempts"`
	Mismatches      int            `json:"mismatches,omitempty"`
	Error           *Error         `json:"error,omitempty"`
	CreatedAt       time.Time      `json:"created_at"`
	UpdatedAt       time.Time      `json:"updated_at"`
	History         []HistoryEntry `json:"history"`
}

// HistoryEntry is one line of a payment's or refund's append-only history.
type HistoryEntry struct {
	At          time.Time `json:"at"`
	State       State     `json:"state"`
	Trigger     string    `json:"trigger,omitempty"`
	GatewayCode string    `json:"gateway_code,omitempty"`
	Note        string    `json:"note,omitempty"`
	Raw         string    `json:"raw,omitempty"` // the gateway's response, clipped
}

// Error says why a payment or refund did not succeed, in the gateway's code
// and in words a cashier can act on.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Live reports whether the engine still has work to do on p: the payment is
// not terminal, or one of its refunds is not.
func (p *Payment) Live() bool {
	if !p.State.Terminal() {
		return true
	}
	for _, r := range p.Refunds {
		if !r.State.Terminal() {
			return true
		}
	}
	return false
}

// Attention reports whether a person must look at p or one of its refunds.
func (p *Payment) Attention() bool {
	if p.NeedsAttention {
		return true
	}
	for _, r := range p.Refunds {
		if r.State == RefundNeedsAttention {
			return true
		}
	}
	return false
}

// Refund returns p's refund with the cash register's id, or nil.
func (p *Payment) Refund(id string) *Refund {
	for _, r := range p.Refunds {
		if r.ID == id {
			return r
		}
	}
	return nil
}

// Refundable is what can still be refunded: the paid amount less refunds
// done or under way.
func (p *Payment) Refundable() int64 {
	if p.State != StatePaid {
		return 0
	}
	left := p.Amount
	for _, r := range p.Refunds {
		if r.State != RefundFailed {
			left -= r.Amount
		}
	}
	return left
}

// Clone returns a deep copy of p, safe to hand to another goroutine.
func (p *Payment) Clone() *Payment {
	c := *p
	c.History = append([]HistoryEntry(nil), p.History...)
	c.Items = append([]Item(nil), p.Items...)
	c.Discounts = append([]Discount(nil), p.Discounts...)
	if p.MiniProgram != nil {
		m := *p.MiniProgram
		m.Goods = append([]Goods(nil), m.Goods...)
		if m.Pay != nil {
			pay := *m.Pay
			m.Pay = &pay
		}
		c.MiniProgram = &m
	}
	if p.QR != nil {
		q := *p.QR
		c.QR = &q
	}
	c.Refunds = make([]*Refund, len(p.Refunds)) // never nil: the API shows []
	for i, r := range p.Refunds {
		rc := *r
		rc.History = append([]HistoryEntry(nil), r.History...)
		c.Refunds[i] = &rc
	}
	if p.Error != nil {
		e := *p.Error
		c.Error = &e
	}
	return &c
}

// Scrub masks every copy of p's payment code in s: the full code when it
// is still in memory, else any run of digits that masks to the code's
// masked form. A gateway may echo the code in its words ("付款码 … 无效")
// long after posd forgot it.
func (p *Payment) Scrub(s string) string {
	if p.AuthCode != "" {
		s = strings.ReplaceAll(s, p.AuthCode, MaskCode(p.AuthCode))
	}
	m := p.AuthCodeMasked
	if len(m) < 9 || !strings.ContainsAny(s, "0123456789") {
		return s
	}
	return digitRuns.ReplaceAllStringFunc(s, func(run string) string {
		if len(run) == len(m) && MaskCode(run) == m {
			return m
		}
		return run
	})
}

var digitRuns = regexp.MustCompile(`[0-9]{9,}`)

// MaskCode hides the middle of a payment code so that logs and the API can
// show which code it was without letting anyone reuse it.
func MaskCode(code string) string {
	if len(code) <= 8 {
		return strings.Repeat("*", len(code))
	}
	return code[:4] + strings.Repeat("*", len(code)-8) + code[len(code)-4:]
}
