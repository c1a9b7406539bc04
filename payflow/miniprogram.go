package payflow

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// MiniProgramOrderer is implemented by providers whose gateway creates an
// order that the customer pays inside a WeChat mini program
// (wx.requestPayment): Yima's unified order. The answer's Outcome carries
// the parameters for wx.requestPayment in Prepay when the order was
// placed (Kind InProgress: placed, the customer has yet to pay); the
// order is then followed with Query, and cancelled when its time runs
// out, like a pay.
type MiniProgramOrderer interface {
	MiniProgramOrder(ctx context.Context, r PayRequest, m MiniProgram) (Outcome, error)
}

// MiniProgram is what a mini-program order carries besides the payment's
// own fields, as journaled before it is sent.
type MiniProgram struct {
	BuyerID   string          `json:"buyer_id"` // the customer's openid under the mini program's appid
	DeviceIP  string          `json:"device_ip,omitempty"`
	Memo      string          `json:"memo,omitempty"`
	NotifyURL string          `json:"notify_url,omitempty"`
	Goods     []Goods         `json:"goods_detail,omitempty"`
	Split     *Split          `json:"extend_params,omitempty"`
	ExpiresAt time.Time       `json:"expires_at"` // posd cancels the order if it is unpaid then
	Pay       *RequestPayment `json:"request_payment,omitempty"`
}

// Goods is one line of a mini-program order's goods_detail.
type Goods struct {
	GoodsID        string `json:"goods_id"`
	PaymentGoodsID string `json:"payment_goods_id,omitempty"`
	Name           string `json:"goods_name"`
	Quantity       int64  `json:"quantity"`
	Price          int64  `json:"price"` // fen, one unit
	Category       string `json:"goods_category,omitempty"`
	Body           string `json:"body,omitempty"`
	ShowURL        string `json:"show_url,omitempty"`
}

// Split is a mini-program order's profit sharing (分账): extend_params.
type Split struct {
	Flag     string     `json:"split_flag,omitempty"`      // N none, R at once, D later; empty: the gateway's console setting
	PlanDate string     `json:"plan_split_date,omitempty"` // yyyymmdd, with D only
	Info     *SplitInfo `json:"split_info,omitempty"`      // with R only
}

// SplitInfo shares an order among merchants: by amounts (fen), or with
// Clean ("净值分账") by percentages in hundredths of a percent.
type SplitInfo struct {
	Clean      bool            `json:"is_clean_split,omitempty"`
	KeepAmt    int64           `json:"keep_amt"`
	KeepBasis  int64           `json:"keep_percentage_bp,omitempty"` // 5026 is 50.26 %
	SplitsList []SplitReceiver `json:"split_list"`
}

// SplitReceiver is one merchant's share.
type SplitReceiver struct {
	MerchantID string `json:"merchant_id"`
	DivAmt     int64  `json:"div_amt,omitempty"`           // fen
	DivBasis   int64  `json:"div_percentage_bp,omitempty"` // hundredths of a percent
}

// RequestPayment is what the mini program passes to wx.requestPayment,
// named as WeChat names them.
type RequestPayment struct {
	TimeStamp string `json:"timeStamp"`
	NonceStr  string `json:"nonceStr"`
	Package   string `json:"package"` // prepay_id=…
	SignType  string `json:"signType"`
	PaySign   string `json:"paySign"`
}

// Mini-program order bounds.
const (
	MinMiniProgramWindow     = 30 * time.Second
	MaxMiniProgramWindow     = 2 * time.Hour // WeChat's prepay_id lives two hours
	DefaultMiniProgramWindow = 5 * time.Minute
)

// Validate checks a mini-program order against the payment's amount: the
// goods lines, and the split rules of the unified-order document (R: the
// kept amount and the shares add up to the whole order; N and D: no
// split_info; a plan date only with D).
func (m *MiniProgram) Validate(amount int64) error {
	bad := func(f string, a ...any) error { return fmt.Errorf("%w: "+f, append([]any{ErrInvalid}, a...)...) }
	m.BuyerID = strings.TrimSpace(m.BuyerID)
	switch {
	case m.BuyerID == "" || len(m.BuyerID) > 128:
		return bad("buyer_id is required: the customer's openid under the mini program's appid (at most 128 bytes)")
	case len(m.DeviceIP) > 15:
		return bad("device_ip must be an IPv4 address (the store's public one), got %q", m.DeviceIP)
	case len(m.Memo) > 128:
		return bad("memo is longer than 128 bytes")
	case len(m.NotifyURL) > 256:
		return bad("notify_url is longer than 256 bytes")
	case len(m.Goods) > maxItems:
		return bad("%d goods_detail lines; at most %d", len(m.Goods), maxItems)
	}
	if m.NotifyURL != "" {
		if u, err := url.Parse(m.NotifyURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return bad("notify_url must be an http:// or https:// URL, got %q", m.NotifyURL)
		}
	}
	for i, g := range m.Goods {
		switch {
		case g.GoodsID == "" || len(g.GoodsID) > 32:
			return bad("goods_detail[%d].goods_id must be 1 to 32 bytes", i)
		case strings.TrimSpace(g.Name) == "" || len(g.Name) > 256:
			return bad("goods_detail[%d].goods_name must be 1 to 256 bytes", i)
		case g.Quantity < 1 || g.Quantity > 999999999:
			return bad("goods_detail[%d].quantity must be from 1 to 999999999, got %d", i, g.Quantity)
		case g.Price < 0 || g.Price > 99999999:
			return bad("goods_detail[%d].price must be fen from 0 to 99999999, got %d", i, g.Price)
		case len(g.PaymentGoodsID) > 32 || len(g.Category) > 24 || len(g.Body) > 1000 || len(g.ShowURL) > 400:
			return bad("goods_detail[%d]: payment_goods_id ≤ 32, goods_category ≤ 24, body ≤ 1000, show_url ≤ 400 bytes", i)
		}
	}
	if m.Split != nil {
		if err := m.Split.validate(amount); err != nil {
			return err
		}
	}
	return nil
}

func (s *Split) validate(amount int64) error {
	bad := func(f string, a ...any) error {
		return fmt.Errorf("%w: extend_params."+f, append([]any{ErrInvalid}, a...)...)
	}
	switch s.Flag {
	case "", "N", "D":
		if s.Info != nil {
			return bad("split_info is allowed only with split_flag R (split_flag %q)", s.Flag)
		}
		if s.PlanDate != "" && s.Flag != "D" {
			return bad("plan_split_date is allowed only with split_flag D")
		}
		if s.PlanDate != "" {
			if _, err := time.Parse("20060102", s.PlanDate); err != nil {
				return bad("plan_split_date must be a date as yyyymmdd, got %q", s.PlanDate)
			}
		}
		return nil
	case "R":
	default:
		return bad("split_flag must be N, R or D, got %q", s.Flag)
	}
	in := s.Info
	switch {
	case s.PlanDate != "":
		return bad("plan_split_date is allowed only with split_flag D")
	case in == nil:
		return bad("split_info is required with split_flag R")
	case len(in.SplitsList) == 0 || len(in.SplitsList) > 50:
		return bad("split_info.split_list needs 1 to 50 receivers")
	}
	var sum int64
	for i, d := range in.SplitsList {
		if d.MerchantID == "" || len(d.MerchantID) > 32 {
			return bad("split_info.split_list[%d].merchant_id must be 1 to 32 bytes", i)
		}
		v := d.DivAmt
		if in.Clean {
			v = d.DivBasis
		}
		if v < 1 || v > MaxAmount {
			what := "div_amt must be fen greater than 0"
			if in.Clean {
				what = "div_percentage_bp must be hundredths of a percent greater than 0"
			}
			return bad("split_info.split_list[%d].%s, got %d", i, what, v)
		}
		sum += v
	}
	if in.Clean {
		if in.KeepBasis < 0 || in.KeepBasis+sum != 10000 {
			return bad("split_info: keep_percentage_bp (%d) and the div_percentage_bp (%d) must add up to 10000 (100 %%), with is_clean_split", in.KeepBasis, sum)
		}
		return nil
	}
	if in.KeepAmt < 0 || in.KeepAmt+sum != amount {
		return bad("split_info: keep_amt (%d) and the div_amt (%d) must add up to the amount (%d fen): split_flag R shares the whole order", in.KeepAmt, sum, amount)
	}
	return nil
}

// orderToken stands in the engine's token map for a mini-program order not
// yet sent, as the payment code does for a pay: whoever takes it sends
// the order, and an abort that comes first removes it.
const orderToken = "\x00order"

// ErrUnsupported is returned (wrapped) for a request the chosen gateway
// cannot carry out: a mini-program order on a gateway without one.
var ErrUnsupported = errors.New("not supported by the gateway")

// CreateMiniProgramOrder journals a payment that the customer pays inside
// a WeChat mini program, then sends it to the gateway the routing rules
// choose for WeChat. The gateway's wx.requestPayment parameters appear on
// the payment (MiniProgram.Pay) once it answers; the order is queried
// until paid, and cancelled if still unpaid after window. created is false
// when the order id already had this payment.
func (e *Engine) CreateMiniProgramOrder(n NewPayment, m MiniProgram, window time.Duration) (p *Payment, created bool, err error) {
	if n.AuthCode != "" {
		return nil, false, fmt.Errorf("%w: a mini-program order has no auth_code", ErrInvalid)
	}
	if err := n.Validate(); err != nil {
		return nil, false, err
	}
	if window == 0 {
		window = DefaultMiniProgramWindow
	}
	if window < MinMiniProgramWindow || window > MaxMiniProgramWindow {
		return nil, false, fmt.Errorf("%w: expires_in must be from %d to %d seconds, got %d", ErrInvalid,
			int(MinMiniProgramWindow.Seconds()), int(MaxMiniProgramWindow.Seconds()), int(window.Seconds()))
	}
	if err := m.Validate(n.Amount); err != nil {
		return nil, false, err
	}
	m.Pay = nil
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed || e.ctx == nil {
		return nil, false, ErrClosed
	}
	if old, err := e.j.ByOrder(n.OrderID); err == nil {
		if old.Amount != n.Amount || old.Currency != n.Currency || old.Method != methodMiniProgram {
			return old, false, fmt.Errorf("%w: order %s already has a %s payment of %d fen", ErrOrderConflict, n.OrderID, methodName(old.Method), old.Amount)
		}
		return old, false, nil
	} else if !errors.Is(err, ErrNotFound) {
		return nil, false, err
	}
	name := e.gws.route("wechat")
	if _, ok := e.gws.ByName[name].(MiniProgramOrderer); !ok {
		return nil, false, fmt.Errorf("%w: gateway %q (the one routed for WeChat) cannot place mini-program orders; route wechat to a gateway that can (yima) in [routing]", ErrUnsupported, name)
	}
	orderNo, err := e.newNumber(false)
	if err != nil {
		return nil, false, err
	}
	now := e.clock.Now()
	m.ExpiresAt = now.Add(window)
	p = &Payment{
		ID: newID(), OrderID: n.OrderID, Amount: n.Amount, Currency: n.Currency,
		Subject: n.Subject, Operator: n.Operator, TillID: e.cfg.TillID, Items: n.Items,
		State: StateAwaitingScan, Channel: "wechat", GatewayOrderNo: orderNo,
		Method: methodMiniProgram, MiniProgram: &m,
		CreatedAt: now, UpdatedAt: now,
		History: []HistoryEntry{{At: now, State: StateAwaitingScan, Trigger: "create"}},
	}
	if err := Step(p, TrigOrder, Input{At: now, Channel: "wechat", Gateway: name, Account: account(e.gws.ByName[name]),
		Note: "mini-program order journaled; sending it to " + name}); err != nil {
		return nil, false, err
	}
	if _, err := e.j.Create(p); err != nil {
		return nil, false, fmt.Errorf("payflow: journaling mini-program order %s: %w", n.OrderID, err)
	}
	e.log.Info("mini-program order created", "payment", p.ID, "order", p.OrderID, "amount", p.Amount, "gateway", name, "expires_at", m.ExpiresAt)
	e.codes[p.ID] = orderToken
	e.startDriverLocked(p.ID, false)
	e.publish(p)
	return p.Clone(), true, nil
}

// methodMiniProgram is Payment.Method for a mini-program order.
const methodMiniProgram = "miniprogram"

func methodName(m string) string {
	if m == "" {
		return "scanned-code"
	}
	return m
}

// AwaitOrder waits until mini-program order id has been answered by its
// gateway (it has left paying) or ctx ends, and returns it either way.
func (e *Engine) AwaitOrder(ctx context.Context, id string) (*Payment, error) {
	ch, stop := e.bus.Subscribe(64)
	defer stop()
	for {
		p, err := e.j.Get(id)
		if err != nil || p.State != StatePaying || (p.MiniProgram != nil && p.MiniProgram.Pay != nil) {
			return p, err
		}
		select {
		case <-ctx.Done():
			return p, nil
		case <-ch:
		case <-e.clock.After(time.Second):
		}
	}
}
