// Package fufutest is a fake FuFu (付付) open API v1.1.1 gateway for
// tests, written from the vendor's document: it recomputes every
// request's signature from the raw body and refuses wrong ones, keeps
// orders by out_trade_no (a second pay with one is SERIAL_REPEAT), keeps
// refunds by out_refund_no, revokes a pay it held 80 s, and refuses a
// cancel within 15 s of the order's creation or outside 01:00–23:00
// Beijing time. Per-code Plans script the awkward branches.
package fufutest

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Order states (document 3.4) the fake uses.
const (
	Unpaid    = 0
	Paid      = 1
	Revoked   = 2
	Partial   = 4
	Refunded  = 5
	Closed    = 6
	RevokedOK = 14
)

// Plan scripts what the gateway does with one payment code.
type Plan struct {
	// Pay: "" (paid at once), "in_progress" (state 0, paid on query
	// PaidAfterQueries, never if 0), "fail" (declined), "drop_after_charge"
	// (paid, the connection closed unanswered).
	Pay              string
	PaidAfterQueries int
	// Credit is what the gateway says the customer paid with.
	Credit string
	// NumbersAsStrings makes the answers quote total_fee and state, as
	// the document's request examples do.
	NumbersAsStrings bool
	// Hold keeps an unpaid pay open past 80 s instead of revoking it.
	Hold bool
	// RefundDrops: this many refunds are done, then their answer is lost.
	RefundDrops int
}

// Order is the gateway's record of one out_trade_no.
type Order struct {
	OutTradeNo, TradeNo, AuthCode string
	Amount, Refunded              int64
	State                         int
	Created                       time.Time
	PayCalls, Queries             int
	CancelTimes                   []time.Time // when each cancel was accepted or refused, by the gateway's clock
	Refunds                       map[string]int64
	QRCode                        string
	ChannelType                   string // as the pay sent it
}

// Server is the fake gateway. Use it as an http.Handler.
type Server struct {
	BusiID, Key string
	// Now is the gateway's clock (default time.Now): the cancel window
	// and the 80 s hold are counted on it.
	Now func() time.Time
	// Zone is the gateway's local time for the cancel window (default
	// Beijing time).
	Zone *time.Location
	// Hold is how long a pay is held before the gateway revokes it
	// (default 80 s, the document's).
	Hold time.Duration

	mu            sync.Mutex
	orders        map[string]*Order
	plans         map[string]Plan
	seq           int
	BadSignatures int
	ops           []string // every operation, in order

	refundsDropped int
	canned         map[string]string
}

// Can makes the gateway answer body, verbatim, to every correctly signed
// request for op: for driving a client through answers the simulation
// does not produce by itself.
func (s *Server) Can(op, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.canned == nil {
		s.canned = map[string]string{}
	}
	s.canned[op] = body
}

// New returns a fake gateway for one merchant.
func New(busiID, key string) *Server {
	return &Server{BusiID: busiID, Key: key, Now: time.Now, Zone: time.FixedZone("CST", 8*3600), Hold: 80 * time.Second,
		orders: map[string]*Order{}, plans: map[string]Plan{}}
}

// Ops returns every operation asked of the gateway, in order.
func (s *Server) Ops() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.ops...)
}

// Bad returns how many requests carried a wrong signature.
func (s *Server) Bad() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.BadSignatures
}

// SetPlan scripts the gateway for one payment code.
func (s *Server) SetPlan(authCode string, p Plan) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.plans[authCode] = p
}

// Order returns a copy of the order with out_trade_no.
func (s *Server) Order(outTradeNo string) (Order, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orders[outTradeNo]
	if !ok {
		return Order{}, false
	}
	c := *o
	c.CancelTimes = append([]time.Time(nil), o.CancelTimes...)
	c.Refunds = map[string]int64{}
	for k, v := range o.Refunds {
		c.Refunds[k] = v
	}
	return c, true
}

type m = map[string]any

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	json.NewEncoder(w).Encode(v)
}

func refused(msg string) m { return m{"result": m{"return_code": "FAIL", "return_msg": msg}} }
func ok(data m) m          { return m{"result": m{"return_code": "SUCCESS", "return_msg": "OK"}, "data": data} }
func fail(msg string) m    { return ok(m{"return_code": "FAIL", "return_msg": msg}) }

func sign(ts, key string, body []byte) string {
	var b []byte
	for _, c := range body {
		if c != ' ' && c != '\n' && c != '\r' {
			b = append(b, c)
		}
	}
	sum := md5.Sum([]byte(ts + key + string(b)))
	return hex.EncodeToString(sum[:])
}

// ServeHTTP answers POST <base>/<op>?sign=<md5>:<timestamp>.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return
	}
	op := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
	s.mu.Lock()
	s.ops = append(s.ops, op)
	s.mu.Unlock()
	sum, ts, _ := strings.Cut(r.URL.Query().Get("sign"), ":")
	if r.Method != http.MethodPost || ts == "" || sum != sign(ts, s.Key, body) {
		s.mu.Lock()
		s.BadSignatures++
		s.mu.Unlock()
		reply(w, refused("INVALID_SIGN"))
		return
	}
	var req map[string]json.RawMessage
	if err := json.Unmarshal(body, &req); err != nil {
		reply(w, refused("ILLEGAL_PARAMETER"))
		return
	}
	get := func(k string) string {
		var v any
		json.Unmarshal(req[k], &v)
		switch x := v.(type) {
		case string:
			return x
		case float64:
			return strconv.FormatInt(int64(x), 10)
		}
		return ""
	}
	if get("busi_id") != s.BusiID {
		reply(w, refused("UNREGISTERED_BUSI"))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if body, ok := s.canned[op]; ok {
		w.Header().Set("Content-Type", "application/json;charset=UTF-8")
		io.WriteString(w, body)
		return
	}
	switch op {
	case "order":
		s.order(w, get)
	case "query":
		s.withOrder(w, get("out_trade_no"), get("trade_no"), s.query)
	case "cancel":
		s.withOrder(w, get("out_trade_no"), get("trade_no"), s.cancel)
	case "close":
		s.withOrder(w, get("out_trade_no"), "", s.close)
	case "refund":
		s.refund(w, get)
	case "refundQuery":
		s.refundQuery(w, get("out_trade_no"))
	case "preOrder":
		s.preOrder(w, get)
	default:
		http.Error(w, "no such operation", http.StatusNotFound)
	}
}

// data is an order's answer fields.
func (s *Server) data(o *Order) m {
	plan := s.plans[o.AuthCode]
	d := m{"return_code": "SUCCESS", "out_trade_no": o.OutTradeNo, "trade_no": o.TradeNo, "channel_type": "2",
		"channel_trade_no": "4200" + o.TradeNo, "total_fee": o.Amount, "fee_type": "CNY", "state": o.State,
		"begin_time": o.Created.Format("20060102150405")}
	if plan.NumbersAsStrings {
		d["total_fee"], d["state"] = strconv.FormatInt(o.Amount, 10), strconv.Itoa(o.State)
	}
	if plan.Credit != "" && o.State == Paid {
		d["credit"] = plan.Credit
	}
	return d
}

// revokeHeld revokes a pay the gateway held past 80 s (document 2.1).
func (s *Server) revokeHeld(o *Order) {
	if o.State == Unpaid && o.AuthCode != "" && !s.plans[o.AuthCode].Hold && s.Now().Sub(o.Created) >= s.Hold {
		o.State = Revoked
	}
}

func (s *Server) order(w http.ResponseWriter, get func(string) string) {
	amount, err := strconv.ParseInt(get("total_fee"), 10, 64)
	no := get("out_trade_no")
	switch {
	case no == "" || len(no) > 32 || get("auth_code") == "" || get("pay_subject") == "":
		reply(w, refused("ILLEGAL_PARAMETER"))
		return
	case err != nil || amount < 1:
		reply(w, refused("AMT_ERROR"))
		return
	case get("channel_type") != "0" && get("channel_type") != "1" && get("channel_type") != "2":
		reply(w, refused("ILLEGAL_PARAMETER"))
		return
	}
	if o, dup := s.orders[no]; dup {
		o.PayCalls++
		reply(w, fail("SERIAL_REPEAT"))
		return
	}
	s.seq++
	o := &Order{OutTradeNo: no, TradeNo: fmt.Sprintf("2026112110%010d", s.seq), AuthCode: get("auth_code"), Amount: amount,
		Created: s.Now(), PayCalls: 1, Refunds: map[string]int64{}, ChannelType: get("channel_type")}
	s.orders[no] = o
	plan := s.plans[o.AuthCode]
	switch plan.Pay {
	case "fail":
		o.State = Closed
		reply(w, fail("USER_PAY_FAIL"))
		return
	case "in_progress":
		o.State = Unpaid
	default:
		o.State = Paid
	}
	if plan.Pay == "drop_after_charge" {
		if c, _, err := w.(http.Hijacker).Hijack(); err == nil {
			c.Close()
		}
		return
	}
	reply(w, ok(s.data(o)))
}

func (s *Server) withOrder(w http.ResponseWriter, outTradeNo, tradeNo string, f func(http.ResponseWriter, *Order)) {
	var o *Order
	if tradeNo != "" {
		for _, c := range s.orders {
			if c.TradeNo == tradeNo {
				o = c
			}
		}
	} else {
		o = s.orders[outTradeNo]
	}
	if o == nil {
		reply(w, fail("CHARGE_NONEXISTENT"))
		return
	}
	s.revokeHeld(o)
	f(w, o)
}

func (s *Server) query(w http.ResponseWriter, o *Order) {
	o.Queries++
	if plan := s.plans[o.AuthCode]; o.State == Unpaid && plan.PaidAfterQueries > 0 && o.Queries >= plan.PaidAfterQueries {
		o.State = Paid
	}
	reply(w, ok(s.data(o)))
}

// cancel revokes an unpaid order, no earlier than 15 s after its creation
// and only from 01:00 to 23:00 Beijing time (document 2.6).
func (s *Server) cancel(w http.ResponseWriter, o *Order) {
	now := s.Now()
	o.CancelTimes = append(o.CancelTimes, now)
	local := now.In(s.Zone)
	switch {
	case now.Sub(o.Created) < 15*time.Second:
		reply(w, fail("ILLEGAL_PARAMETER")) // too early: the document names no code of its own
	case local.Hour() < 1 || local.Hour() >= 23:
		reply(w, fail("ILLEGAL_PARAMETER")) // outside 01:00–23:00
	case o.State == Revoked || o.State == RevokedOK:
		reply(w, fail("AREADY_REVOKED"))
	case o.State != Unpaid:
		reply(w, fail("FAIL")) // paid or failed: cannot be revoked
	default:
		o.State = RevokedOK
		reply(w, ok(m{"return_code": "SUCCESS"}))
	}
}

func (s *Server) close(w http.ResponseWriter, o *Order) {
	if o.State != Unpaid {
		reply(w, fail("FAIL"))
		return
	}
	o.State = Closed
	reply(w, ok(m{"return_code": "SUCCESS", "out_trade_no": o.OutTradeNo, "trade_no": o.TradeNo}))
}

func (s *Server) refund(w http.ResponseWriter, get func(string) string) {
	no, out := get("out_refund_no"), get("out_trade_no")
	amount, err := strconv.ParseInt(get("refund_fee"), 10, 64)
	if no == "" || get("refund_subject") == "" || get("operator_id") == "" || get("terminal_id") == "" {
		reply(w, refused("ILLEGAL_PARAMETER"))
		return
	}
	var o *Order
	for _, c := range s.orders {
		if c.OutTradeNo == out || (get("trade_no") != "" && c.TradeNo == get("trade_no")) {
			o = c
		}
	}
	if o == nil {
		reply(w, fail("CHARGE_NONEXISTENT"))
		return
	}
	for _, c := range s.orders {
		if _, used := c.Refunds[no]; used {
			reply(w, fail("SERIAL_REPEAT"))
			return
		}
	}
	switch {
	case o.State != Paid && o.State != Partial:
		reply(w, fail("FAIL"))
	case err != nil || amount < 1 || amount > o.Amount-o.Refunded:
		reply(w, fail("AMT_ERROR"))
	default:
		o.Refunds[no] = amount
		o.Refunded += amount
		o.State = Partial
		if o.Refunded == o.Amount {
			o.State = Refunded
		}
		s.seq++
		if plan := s.plans[o.AuthCode]; s.refundsDropped < plan.RefundDrops {
			s.refundsDropped++
			if c, _, err := w.(http.Hijacker).Hijack(); err == nil {
				c.Close()
			}
			return
		}
		reply(w, ok(m{"return_code": "SUCCESS", "out_trade_no": o.OutTradeNo, "trade_no": o.TradeNo, "out_refund_no": no,
			"refund_no": fmt.Sprintf("2026112120%010d", s.seq), "refund_fee": amount, "fee_type": "CNY"}))
	}
}

func (s *Server) refundQuery(w http.ResponseWriter, refundNo string) {
	for _, o := range s.orders {
		if amt, done := o.Refunds[refundNo]; done {
			reply(w, ok(m{"return_code": "SUCCESS", "out_trade_no": refundNo, "trade_no": o.TradeNo, "trade_status": "succ", "refund_fee": amt}))
			return
		}
	}
	reply(w, fail("CHARGE_NONEXISTENT"))
}

func (s *Server) preOrder(w http.ResponseWriter, get func(string) string) {
	no := get("out_trade_no")
	amount, err := strconv.ParseInt(get("total_fee"), 10, 64)
	if no == "" || err != nil || amount < 1 || get("trade_type") != "QRCODE" {
		reply(w, refused("ILLEGAL_PARAMETER"))
		return
	}
	if _, dup := s.orders[no]; dup {
		reply(w, fail("SERIAL_REPEAT"))
		return
	}
	s.seq++
	o := &Order{OutTradeNo: no, TradeNo: fmt.Sprintf("2026112130%010d", s.seq), Amount: amount, Created: s.Now(), State: Unpaid, Refunds: map[string]int64{}}
	o.QRCode = "http://www.jnfbg.cn/online/pay/?tradeNo=" + o.TradeNo
	s.orders[no] = o
	reply(w, ok(m{"return_code": "SUCCESS", "out_trade_no": no, "trade_no": o.TradeNo, "qr_code": o.QRCode}))
}

// CustomerScan plays the customer scanning pre-order outTradeNo's QR code
// and paying. Like the gateway it refuses an order that is no longer
// unpaid: closed, revoked or already paid.
func (s *Server) CustomerScan(outTradeNo string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orders[outTradeNo]
	switch {
	case !ok || o.QRCode == "":
		return fmt.Errorf("fufutest: no pre-order %s", outTradeNo)
	case o.State != Unpaid:
		return fmt.Errorf("fufutest: order %s is in state %d and cannot be paid", outTradeNo, o.State)
	}
	o.State = Paid
	return nil
}
