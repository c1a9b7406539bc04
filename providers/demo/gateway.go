// Package demo is posd's built-in gateway: a simulator that speaks a small
// JSON protocol over HTTP (Gateway), and the client that uses it (Client).
// With no credentials the daemon runs the simulator in-process on a loopback
// port, so every part of posd is exercised for real; tests run the same
// simulator in their own process to play the gateway across daemon crashes.
//
// Codes whose last four digits are 0001–0099 pick the scenarios listed in
// docs/demo.md; every other plausible code is paid after Delay.
package demo

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/tillworks/posd/paycode"
)

// Scenarios picked by a code's last four digits.
const (
	ScenarioDeclined        = 1  // PAY FAIL: insufficient balance
	ScenarioPasswordPaid    = 2  // IN_PROGRESS, paid on the second query
	ScenarioNeverPaid       = 3  // IN_PROGRESS forever; the engine cancels
	ScenarioLostAfterCharge = 4  // charged, then the connection drops before the answer
	ScenarioCancelError     = 5  // never paid, and every cancel fails → needs_attention
	ScenarioLostBeforeOrder = 6  // connection drops before the order exists → query: not found
	ScenarioGatewayError    = 7  // ERROR: the order is broken at the gateway
	ScenarioCancelTwice     = 8  // never paid; cancel fails twice, then succeeds
	ScenarioRefundDeclined  = 9  // paid; every refund is declined
	ScenarioRefundLost      = 10 // paid; the first refund's answer is lost after refunding
	ScenarioServerError     = 11 // HTTP 500 on pay, no order created
)

// QR payments (precreate) have no code to pick a scenario: an amount whose
// last two digits (fen) are QRNeverScanned is never scanned by the
// simulated customer, so it expires and is closed; every other is paid
// Delay after the code is shown. CustomerScan (POST /v1/qr/scan) plays a
// customer scanning one by hand.
const QRNeverScanned = 3

// Order statuses at the demo gateway.
const (
	StatusCreated   = "CREATED"
	StatusPaid      = "PAID"
	StatusFailed    = "FAILED"
	StatusCancelled = "CANCELLED"
	StatusError     = "ERROR"
)

// Order is the gateway's record of one pay request.
type Order struct {
	OrderNo        string           `json:"order_no"`
	MerchantOrder  string           `json:"merchant_order_id"`
	Amount         int64            `json:"amount"`
	Status         string           `json:"status"`
	Channel        string           `json:"channel"`
	TradeNo        string           `json:"trade_no"`
	ChannelTradeNo string           `json:"channel_trade_no"`
	Refunded       int64            `json:"refunded"`
	Refunds        map[string]int64 `json:"refunds,omitempty"` // refund_no → amount
	Scenario       int              `json:"scenario,omitempty"`
	QRCode         string           `json:"qr_code,omitempty"` // a precreated order's code (C scans B)
	Queries        int              `json:"queries"`
	Cancels        int              `json:"cancels"`
	PayCalls       int              `json:"pay_calls"`
	refundCalls    map[string]int   // refund_no → calls, not persisted
}

// Gateway simulates a payment gateway. It is safe for concurrent use.
type Gateway struct {
	// Delay is how long a customer takes to confirm a payment.
	Delay time.Duration

	mu     sync.Mutex
	orders map[string]*Order
	path   string // where orders persist, "" for memory only
}

// NewGateway returns a simulator. With a non-empty path its orders persist
// in that file (0600), so that a restarted daemon finds the gateway as it
// left it, like a real one.
func NewGateway(path string, delay time.Duration) (*Gateway, error) {
	g := &Gateway{Delay: delay, orders: make(map[string]*Order), path: path}
	if path == "" {
		return g, nil
	}
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return g, nil
	}
	if err != nil {
		return nil, fmt.Errorf("demo gateway: reading %s: %w", path, err)
	}
	if err := json.Unmarshal(b, &g.orders); err != nil {
		return nil, fmt.Errorf("demo gateway: %s is corrupt (delete it to start the simulation afresh): %w", path, err)
	}
	return g, nil
}

// Orders returns a copy of every order, sorted by order number.
func (g *Gateway) Orders() []Order {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]Order, 0, len(g.orders))
	for _, o := range g.orders {
		out = append(out, o.copy())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].OrderNo < out[j].OrderNo })
	return out
}

// Order returns a copy of one order.
func (g *Gateway) Order(orderNo string) (Order, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	o, ok := g.orders[orderNo]
	if !ok {
		return Order{}, false
	}
	return o.copy(), true
}

// copy is o with its own refund map; callers hold g.mu.
func (o *Order) copy() Order {
	c := *o
	c.Refunds = make(map[string]int64, len(o.Refunds))
	for k, v := range o.Refunds {
		c.Refunds[k] = v
	}
	c.refundCalls = nil
	return c
}

// saveLocked persists the orders; callers hold g.mu.
func (g *Gateway) saveLocked() {
	if g.path == "" {
		return
	}
	b, err := json.Marshal(g.orders)
	if err == nil {
		tmp := g.path + ".tmp"
		if err = os.WriteFile(tmp, b, 0o600); err == nil {
			err = os.Rename(tmp, g.path)
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "demo gateway: saving %s: %v\n", g.path, err)
	}
}

// Wire messages.
type (
	payRequest struct {
		OrderNo       string `json:"order_no"`
		MerchantOrder string `json:"merchant_order_id"`
		Amount        int64  `json:"amount"`
		AuthCode      string `json:"auth_code"`
		Subject       string `json:"subject,omitempty"`
		Terminal      string `json:"terminal,omitempty"`
	}
	orderRequest struct {
		OrderNo string `json:"order_no"`
	}
	precreateRequest struct {
		OrderNo       string `json:"order_no"`
		MerchantOrder string `json:"merchant_order_id"`
		Amount        int64  `json:"amount"`
		Channel       string `json:"channel,omitempty"`
		Subject       string `json:"subject,omitempty"`
	}
	refundRequest struct {
		OrderNo  string `json:"order_no"`
		RefundNo string `json:"refund_no"`
		Amount   int64  `json:"amount"`
	}
	// response is every answer: result SUCCESS, FAIL, IN_PROGRESS or ERROR.
	response struct {
		Result  string `json:"result"`
		Code    string `json:"code,omitempty"`
		Message string `json:"message,omitempty"`
		Order   *Order `json:"order,omitempty"`
	}
)

// ServeHTTP routes the protocol: POST /v1/pay, /v1/query, /v1/cancel,
// /v1/refund, and GET /v1/orders for inspection.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/v1/orders":
		writeJSON(w, http.StatusOK, g.Orders())
	case r.Method == http.MethodPost && r.URL.Path == "/v1/pay":
		g.pay(w, r)
	case r.Method == http.MethodPost && r.URL.Path == "/v1/precreate":
		g.precreate(w, r)
	case r.Method == http.MethodPost && r.URL.Path == "/v1/qr/scan":
		var req orderRequest
		if decodeBody(w, r, &req) {
			if err := g.CustomerScan(req.OrderNo); err != nil {
				writeJSON(w, http.StatusConflict, response{Result: "FAIL", Code: "ORDER_CLOSED", Message: err.Error()})
				return
			}
			writeJSON(w, http.StatusOK, response{Result: "SUCCESS", Code: "PAY_SUCCESS"})
		}
	case r.Method == http.MethodPost && r.URL.Path == "/v1/query":
		g.orderCall(w, r, g.query)
	case r.Method == http.MethodPost && r.URL.Path == "/v1/cancel":
		g.orderCall(w, r, g.cancel)
	case r.Method == http.MethodPost && r.URL.Path == "/v1/refund":
		g.refund(w, r)
	case r.Method == http.MethodPost && r.URL.Path == "/v1/refund_query":
		g.refundQuery(w, r)
	default:
		writeJSON(w, http.StatusNotFound, response{Result: "FAIL", Code: "NOT_FOUND", Message: "no such endpoint"})
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// drop closes the connection without an answer: the client sent its
// request, the gateway may have acted, and the client cannot know.
func drop(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if c, _, err := hj.Hijack(); err == nil {
			c.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeJSON(w, http.StatusBadRequest, response{Result: "FAIL", Code: "INVALID_PARAMS", Message: err.Error()})
		return false
	}
	return true
}

// scenario reads the scenario number from a code's last four digits.
func scenario(code string) int {
	if len(code) < 4 {
		return 0
	}
	n, err := strconv.Atoi(code[len(code)-4:])
	if err != nil || n < 1 || n > 99 {
		return 0
	}
	return n
}

func digits(n int) string {
	v, _ := rand.Int(rand.Reader, big.NewInt(1e12))
	return fmt.Sprintf("%0*d", n, v)[:n]
}

func (g *Gateway) pay(w http.ResponseWriter, r *http.Request) {
	var req payRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if !validOrder(w, req.OrderNo, req.Amount) {
		return
	}
	wallet, err := paycode.Classify(req.AuthCode)
	switch {
	case err != nil:
		writeJSON(w, http.StatusOK, response{Result: "FAIL", Code: "INVALID_AUTH_CODE", Message: err.Error()})
		return
	}
	sc := scenario(req.AuthCode)
	g.mu.Lock()
	if o, ok := g.orders[req.OrderNo]; ok {
		o.PayCalls++
		g.saveLocked()
		g.mu.Unlock()
		writeJSON(w, http.StatusOK, response{Result: "FAIL", Code: "ORDER_NO_CONFLICT", Message: "order_no already used: query it instead of paying again"})
		return
	}
	if sc == ScenarioLostBeforeOrder || sc == ScenarioServerError {
		g.mu.Unlock()
		if sc == ScenarioServerError {
			writeJSON(w, http.StatusInternalServerError, response{Result: "ERROR", Code: "INTERNAL_ERROR", Message: "demo: the gateway failed before creating the order"})
		} else {
			drop(w)
		}
		return
	}
	o := &Order{
		OrderNo: req.OrderNo, MerchantOrder: req.MerchantOrder, Amount: req.Amount,
		Status: StatusCreated, Channel: string(wallet), Scenario: sc, PayCalls: 1,
		TradeNo: "D" + req.OrderNo, ChannelTradeNo: "42" + digits(26), Refunds: map[string]int64{},
	}
	g.orders[o.OrderNo] = o
	g.saveLocked()
	g.mu.Unlock()

	answer := response{Result: "IN_PROGRESS", Code: "PAY_IN_PROGRESS", Message: "the customer is confirming the payment"}
	switch sc {
	case ScenarioDeclined:
		answer = g.settle(o, StatusFailed, response{Result: "FAIL", Code: "INSUFFICIENT_BALANCE", Message: "余额不足 (demo: declined)"})
	case ScenarioPasswordPaid, ScenarioNeverPaid, ScenarioCancelError, ScenarioCancelTwice:
		// stays CREATED; answered in progress
	case ScenarioGatewayError:
		answer = g.settle(o, StatusError, response{Result: "ERROR", Code: "PAY_FAIL_ERROR", Message: "demo: the payment is in an error state, contact the gateway"})
	case 0, ScenarioLostAfterCharge, ScenarioRefundDeclined, ScenarioRefundLost:
		time.Sleep(g.Delay) // the customer enters a password; the charge goes on even if the till gives up
		answer = g.settle(o, StatusPaid, response{Result: "SUCCESS", Code: "PAY_SUCCESS"})
		if sc == ScenarioLostAfterCharge {
			drop(w)
			return
		}
	default:
		answer = g.settle(o, StatusFailed, response{Result: "FAIL", Code: "PAY_DECLINED", Message: fmt.Sprintf("demo: declined (scenario %04d)", sc)})
	}
	writeJSON(w, http.StatusOK, answer)
}

// settle moves o to status and returns answer carrying o's new state. An
// order cancelled meanwhile (the customer was still entering a password)
// stays cancelled: like a real gateway, a cancel closes the order for good.
func (g *Gateway) settle(o *Order, status string, answer response) response {
	g.mu.Lock()
	defer g.mu.Unlock()
	if o.Status == StatusCancelled {
		c := o.copy()
		return response{Result: "FAIL", Code: "ORDER_CLOSED", Message: "the order was cancelled before the customer confirmed", Order: &c}
	}
	o.Status = status
	g.saveLocked()
	c := o.copy() // its own refund map: the answer is written after the lock
	answer.Order = &c
	return answer
}

func (g *Gateway) orderCall(w http.ResponseWriter, r *http.Request, f func(*Order) response) {
	var req orderRequest
	if !decodeBody(w, r, &req) {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	o, ok := g.orders[req.OrderNo]
	if !ok {
		writeJSON(w, http.StatusOK, response{Result: "FAIL", Code: "ORDER_NOT_EXIST", Message: "no order with this order_no"})
		return
	}
	answer := f(o)
	g.saveLocked()
	c := o.copy() // its own refund map: the answer is written after the lock
	answer.Order = &c
	writeJSON(w, http.StatusOK, answer)
}

func (g *Gateway) query(o *Order) response {
	o.Queries++
	if o.Scenario == ScenarioPasswordPaid && o.Status == StatusCreated && o.Queries >= 2 {
		o.Status = StatusPaid
	}
	return response{Result: "SUCCESS"}
}

func (g *Gateway) cancel(o *Order) response {
	o.Cancels++
	switch {
	case o.Scenario == ScenarioCancelError,
		o.Scenario == ScenarioCancelTwice && o.Cancels <= 2:
		return response{Result: "FAIL", Code: "CANCEL_ERROR", Message: "demo: the cancel failed at the gateway"}
	case o.Status == StatusCreated, o.Status == StatusPaid:
		o.Status = StatusCancelled // a paid order is reversed: the money goes back
	}
	return response{Result: "SUCCESS", Code: "CANCEL_SUCCESS"}
}

func (g *Gateway) refund(w http.ResponseWriter, r *http.Request) {
	var req refundRequest
	if !decodeBody(w, r, &req) {
		return
	}
	g.mu.Lock()
	o, ok := g.orders[req.OrderNo]
	if !ok {
		g.mu.Unlock()
		writeJSON(w, http.StatusOK, response{Result: "FAIL", Code: "ORDER_NOT_EXIST", Message: "no order with this order_no"})
		return
	}
	if o.refundCalls == nil {
		o.refundCalls = map[string]int{}
	}
	o.refundCalls[req.RefundNo]++
	calls := o.refundCalls[req.RefundNo]
	answer := g.refundLocked(o, req)
	g.saveLocked()
	c := o.copy() // its own refund map: the answer is written after the lock
	answer.Order = &c
	g.mu.Unlock()
	if o.Scenario == ScenarioRefundLost && calls == 1 && answer.Result == "SUCCESS" {
		drop(w)
		return
	}
	writeJSON(w, http.StatusOK, answer)
}

// refundQuery answers whether a refund number was refunded, and for how much.
func (g *Gateway) refundQuery(w http.ResponseWriter, r *http.Request) {
	var req refundRequest
	if !decodeBody(w, r, &req) {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	o, ok := g.orders[req.OrderNo]
	if !ok {
		writeJSON(w, http.StatusOK, response{Result: "FAIL", Code: "ORDER_NOT_EXIST", Message: "no order with this order_no"})
		return
	}
	c := o.copy()
	done, ok := o.Refunds[req.RefundNo]
	switch {
	case !ok:
		writeJSON(w, http.StatusOK, response{Result: "FAIL", Code: "REFUND_NOT_EXIST", Message: "no refund with this refund_no", Order: &c})
	case done != req.Amount:
		writeJSON(w, http.StatusOK, response{Result: "FAIL", Code: "REFUND_NO_CONFLICT", Message: fmt.Sprintf("refund_no was refunded for %d fen", done), Order: &c})
	default:
		writeJSON(w, http.StatusOK, response{Result: "SUCCESS", Code: "REFUND_SUCCESS", Order: &c})
	}
}

func (g *Gateway) refundLocked(o *Order, req refundRequest) response {
	if done, ok := o.Refunds[req.RefundNo]; ok {
		if done != req.Amount {
			return response{Result: "FAIL", Code: "REFUND_NO_CONFLICT", Message: "refund_no already used with another amount"}
		}
		return response{Result: "SUCCESS", Code: "REFUND_SUCCESS", Message: "already refunded"}
	}
	switch {
	case req.RefundNo == "" || len(req.RefundNo) > 20:
		return response{Result: "FAIL", Code: "INVALID_PARAMS", Message: "refund_no is required, at most 20 characters"}
	case o.Status != StatusPaid:
		return response{Result: "FAIL", Code: "ORDER_NOT_PAID", Message: "only paid orders can be refunded"}
	case req.Amount < 1 || req.Amount > o.Amount-o.Refunded:
		return response{Result: "FAIL", Code: "REFUND_AMOUNT_EXCEEDED", Message: fmt.Sprintf("%d fen left to refund", o.Amount-o.Refunded)}
	case o.Scenario == ScenarioRefundDeclined:
		return response{Result: "FAIL", Code: "REFUND_DECLINED", Message: "demo: the refund was declined"}
	}
	o.Refunds[req.RefundNo] = req.Amount
	o.Refunded += req.Amount
	return response{Result: "SUCCESS", Code: "REFUND_SUCCESS"}
}

// precreate places an order the customer pays by scanning its QR code.
func (g *Gateway) precreate(w http.ResponseWriter, r *http.Request) {
	var req precreateRequest
	if !decodeBody(w, r, &req) || !validOrder(w, req.OrderNo, req.Amount) {
		return
	}
	g.mu.Lock()
	if _, ok := g.orders[req.OrderNo]; ok {
		g.mu.Unlock()
		writeJSON(w, http.StatusOK, response{Result: "FAIL", Code: "ORDER_NO_CONFLICT", Message: "order_no already used: query it instead"})
		return
	}
	channel := req.Channel
	if channel == "" {
		channel = "wechat"
	}
	o := &Order{
		OrderNo: req.OrderNo, MerchantOrder: req.MerchantOrder, Amount: req.Amount, Status: StatusCreated, Channel: channel,
		TradeNo: "D" + req.OrderNo, ChannelTradeNo: "42" + digits(26), Refunds: map[string]int64{},
		QRCode: "https://demo.posd.invalid/qr/" + req.OrderNo,
	}
	g.orders[o.OrderNo] = o
	g.saveLocked()
	c := o.copy()
	g.mu.Unlock()
	if req.Amount%100 != QRNeverScanned {
		time.AfterFunc(g.Delay, func() { g.CustomerScan(o.OrderNo) })
	}
	writeJSON(w, http.StatusOK, response{Result: "SUCCESS", Code: "PRECREATE_SUCCESS", Order: &c})
}

// CustomerScan plays the customer scanning precreated order orderNo's QR
// code and paying. Like a real gateway it refuses an order that was closed
// or cancelled: the till gave up on it.
func (g *Gateway) CustomerScan(orderNo string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	o, ok := g.orders[orderNo]
	switch {
	case !ok || o.QRCode == "":
		return fmt.Errorf("demo: no QR order %s", orderNo)
	case o.Status != StatusCreated:
		return fmt.Errorf("demo: order %s is %s and can no longer be paid", orderNo, o.Status)
	}
	o.Status = StatusPaid
	g.saveLocked()
	return nil
}

// validOrder answers INVALID_PARAMS for an order number or amount the
// gateway would refuse, and reports whether they are good.
func validOrder(w http.ResponseWriter, orderNo string, amount int64) bool {
	switch {
	case orderNo == "" || len(orderNo) > 32:
		writeJSON(w, http.StatusOK, response{Result: "FAIL", Code: "INVALID_PARAMS", Message: "order_no is required, at most 32 characters"})
		return false
	case amount < 1 || amount > 9999999999:
		writeJSON(w, http.StatusOK, response{Result: "FAIL", Code: "INVALID_PARAMS", Message: "amount must be 1..9999999999 fen"})
		return false
	}
	return true
}
