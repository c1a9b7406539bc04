// Package sqbtest is a fake Shouqianba upay v2 gateway for tests, written
// from the vendor's document: it checks every request's signature against
// the terminal's current or previous key (the vendor key for activation),
// keeps orders by client_sn, refuses a second pay with the same client_sn,
// de-duplicates refunds by refund_request_no, and rotates keys on check-in.
// Per-code Plans script the awkward branches.
package sqbtest

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
)

// Order statuses (biz_response.data.order_status).
const (
	Created         = "CREATED"
	Paid            = "PAID"
	PayCanceled     = "PAY_CANCELED"
	PayError        = "PAY_ERROR"
	Refunded        = "REFUNDED"
	PartialRefunded = "PARTIAL_REFUNDED"
	Canceled        = "CANCELED"
)

// Plan scripts what the gateway does with one payment code.
type Plan struct {
	// Pay is the pay's answer: "" (success), "fail" (PAY_FAIL), "fail_error"
	// (PAY_FAIL_ERROR), "in_progress" (PAY_IN_PROGRESS), "drop_after_charge"
	// (charge, then close the connection unanswered), "http500" (HTTP 500,
	// no order), "client_error" (result_code 400, no order).
	Pay string
	// PaidAfterQueries: an in-progress order is paid on this query (0: never).
	PaidAfterQueries int
	// QueryErrors: this many queries answer HTTP 503 first.
	QueryErrors int
	// CancelErrors: this many cancels answer CANCEL_ERROR first (-1: all).
	CancelErrors int
	// RefundDrops: this many refunds are done, then their answer is lost.
	RefundDrops int
	// RefundError: every refund answers REFUND_ERROR (state unknown at the channel).
	RefundError bool
	// Payway is the wallet the order is paid with (default "3", WeChat).
	Payway string
	// HiddenQueries: the order is recorded late; this many queries (and
	// cancels) first answer UPAY_ORDER_NOT_EXISTS.
	HiddenQueries int
	// Misreport makes every answer about the order lie: "other_order"
	// (another client_sn and sn), "wrong_amount" (total_amount 1).
	Misreport string
	// EchoCode: a failed pay's error message repeats the payment code, as
	// some channels' messages do ("付款码 … 无效").
	EchoCode bool
}

// Order is the gateway's record of one client_sn.
type Order struct {
	SN, ClientSN, DynamicID string
	Amount, Refunded        int64
	Status                  string
	Payway                  string
	PayCalls, Queries       int
	Cancels                 int
	Refunds                 map[string]int64 // refund_request_no → amount
	RefundCalls             map[string]int
	hidden                  int // queries answered "no such order" so far
}

type terminal struct {
	key, prev string
	checkins  int
}

// Server is the fake gateway. Use it as an http.Handler.
type Server struct {
	VendorSN, VendorKey, AppID string

	mu             sync.Mutex
	terminals      map[string]*terminal
	codes          map[string]bool // unused activation codes
	orders         map[string]*Order
	plans          map[string]Plan
	seq            int
	BadSignatures  int
	DropCheckins   int // this many check-ins rotate the key, then lose the answer
	checkinsServed int
	Paths          []string // every request path, in order
	canned         map[string]string
	// CheckinGate, when set, holds every check-in until it is closed: a
	// slow gateway.
	CheckinGate chan struct{}
	devices     map[string]string // device_id → terminal_sn: unique within the app_id
	renames     map[string]string // terminal_sn → the one its next check-in answers
}

// RenameOnCheckin makes terminal sn's next check-in answer the terminal
// serial number to instead: from then on only to is known.
func (s *Server) RenameOnCheckin(sn, to string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.renames == nil {
		s.renames = map[string]string{}
	}
	s.renames[sn] = to
}

// Can makes the gateway answer body, verbatim, to every correctly signed
// request for path: for driving a client through answers the simulation
// does not produce by itself.
func (s *Server) Can(path, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.canned == nil {
		s.canned = map[string]string{}
	}
	s.canned[path] = body
}

// New returns a fake gateway with one activated terminal (sn, key) and
// vendor credentials for activation.
func New(sn, key string) *Server {
	s := &Server{
		VendorSN: "91800000", VendorKey: "vendor-key-0123456789", AppID: "2025000000000001",
		terminals: map[string]*terminal{}, codes: map[string]bool{}, orders: map[string]*Order{}, plans: map[string]Plan{},
	}
	if sn != "" {
		s.terminals[sn] = &terminal{key: key}
	}
	return s
}

// AddActivationCode makes code usable once.
func (s *Server) AddActivationCode(code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.codes[code] = true
}

// SetPlan scripts the gateway for one payment code.
func (s *Server) SetPlan(dynamicID string, p Plan) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.plans[dynamicID] = p
}

// Order returns a copy of the order with client_sn.
func (s *Server) Order(clientSN string) (Order, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orders[clientSN]
	if !ok {
		return Order{}, false
	}
	c := *o
	c.Refunds = map[string]int64{}
	for k, v := range o.Refunds {
		c.Refunds[k] = v
	}
	return c, true
}

// Orders returns copies of every order.
func (s *Server) Orders() []Order {
	s.mu.Lock()
	var ids []string
	for id := range s.orders {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	var out []Order
	for _, id := range ids {
		o, _ := s.Order(id)
		out = append(out, o)
	}
	return out
}

// Key returns a terminal's current and previous keys.
func (s *Server) Key(sn string) (current, previous string, checkins int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.terminals[sn]
	if t == nil {
		return "", "", 0
	}
	return t.key, t.prev, t.checkins
}

func md5hex(body []byte, key string) string {
	h := md5.Sum(append(append([]byte(nil), body...), key...))
	return hex.EncodeToString(h[:])
}

type answer map[string]any

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func commError(code, msg string) answer {
	return answer{"result_code": "400", "error_code": code, "error_message": msg}
}

func biz(result string, data answer) answer {
	b := answer{"result_code": result}
	if data != nil {
		b["data"] = data
	}
	return answer{"result_code": "200", "biz_response": b}
}

func bizFail(result, code, msg string) answer {
	return answer{"result_code": "200", "biz_response": answer{"result_code": result, "error_code": code, "error_message": msg}}
}

func drop(w http.ResponseWriter) {
	c, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		c.Close()
	}
}

// dataFor is o's data as the plan has the gateway tell it.
func (o *Order) dataFor(plan Plan) answer {
	d := o.data()
	switch plan.Misreport {
	case "other_order":
		d["client_sn"], d["sn"] = "99999999999999999999", "7894259299999999"
	case "wrong_amount":
		d["total_amount"] = "1"
	}
	return d
}

func (o *Order) data() answer {
	return answer{
		"sn": o.SN, "client_sn": o.ClientSN, "trade_no": "4200" + o.SN, "status": "SUCCESS",
		"order_status": o.Status, "payway": o.Payway, "sub_payway": "1",
		"total_amount": strconv.FormatInt(o.Amount, 10), "net_amount": strconv.FormatInt(o.Amount-o.Refunded, 10),
		"finish_time": "1449569460430", "channel_finish_time": "1449569460000", "operator": "op",
	}
}

// ServeHTTP answers the upay v2 and terminal endpoints.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return
	}
	s.mu.Lock()
	s.Paths = append(s.Paths, r.URL.Path)
	s.mu.Unlock()
	if r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		reply(w, http.StatusOK, commError("INVALID_PARAMS", "POST application/json only"))
		return
	}
	signer, sign, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	var req map[string]string
	if err := json.Unmarshal(body, &req); err != nil {
		reply(w, http.StatusOK, commError("INVALID_PARAMS", "参数错误: body is not a JSON object of strings: "+err.Error()))
		return
	}
	if r.URL.Path == "/terminal/activate" {
		s.activate(w, body, signer, sign, req)
		return
	}
	s.mu.Lock()
	t := s.terminals[signer]
	valid := t != nil && (strings.EqualFold(sign, md5hex(body, t.key)) || (t.prev != "" && strings.EqualFold(sign, md5hex(body, t.prev))))
	if !valid {
		s.BadSignatures++
	}
	s.mu.Unlock()
	switch {
	case t == nil:
		reply(w, http.StatusOK, commError("INVALID_TERMINAL", "终端错误"))
		return
	case !valid:
		reply(w, http.StatusOK, commError("ILLEGAL_SIGN", "签名错误"))
		return
	case req["terminal_sn"] != signer:
		reply(w, http.StatusOK, commError("INVALID_PARAMS", "terminal_sn does not match the signer"))
		return
	}
	s.mu.Lock()
	canned, ok := s.canned[r.URL.Path]
	s.mu.Unlock()
	if ok {
		w.Header().Set("Content-Type", "application/json;charset=utf-8")
		io.WriteString(w, canned)
		return
	}
	switch r.URL.Path {
	case "/terminal/checkin":
		s.checkin(w, signer)
	case "/upay/v2/pay":
		s.pay(w, req)
	case "/upay/v2/query":
		s.withOrder(w, req, s.query)
	case "/upay/v2/cancel", "/upay/v2/revoke":
		s.withOrder(w, req, s.cancel)
	case "/upay/v2/refund":
		s.refund(w, req)
	case "/upay/v2/precreate":
		s.precreate(w, req)
	default:
		reply(w, http.StatusNotFound, commError("INVALID_PARAMS", "no such endpoint"))
	}
}

func (s *Server) activate(w http.ResponseWriter, body []byte, signer, sign string, req map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case signer != s.VendorSN || !strings.EqualFold(sign, md5hex(body, s.VendorKey)):
		s.BadSignatures++
		reply(w, http.StatusOK, commError("ILLEGAL_SIGN", "签名错误"))
	case req["app_id"] != s.AppID:
		reply(w, http.StatusOK, commError("INVALID_PARAMS", "app_id 错误"))
	case req["device_id"] == "":
		reply(w, http.StatusOK, commError("INVALID_PARAMS", "device_id 不可以为空"))
	case !s.codes[req["code"]]:
		reply(w, http.StatusOK, bizFail("FAIL", "INVALID_ACTIVATION_CODE", "激活码无效"))
	case s.devices[req["device_id"]] != "":
		reply(w, http.StatusOK, bizFail("FAIL", "DEVICE_ID_ALREADY_BOUND", "设备号已被终端"+s.devices[req["device_id"]]+"使用"))
	default:
		delete(s.codes, req["code"])
		s.seq++
		sn := fmt.Sprintf("1009%08d", s.seq)
		key := fmt.Sprintf("%032x", md5.Sum([]byte(sn+"activate")))
		s.terminals[sn] = &terminal{key: key}
		if s.devices == nil {
			s.devices = map[string]string{}
		}
		s.devices[req["device_id"]] = sn
		reply(w, http.StatusOK, answer{"result_code": "200", "biz_response": answer{"terminal_sn": sn, "terminal_key": key}})
	}
}

func (s *Server) checkin(w http.ResponseWriter, sn string) {
	s.mu.Lock()
	gate := s.CheckinGate
	s.mu.Unlock()
	if gate != nil {
		<-gate
	}
	s.mu.Lock()
	t := s.terminals[sn]
	t.checkins++
	t.prev = t.key
	t.key = fmt.Sprintf("%032x", md5.Sum([]byte(fmt.Sprintf("%s-key-%d", sn, t.checkins))))
	key := t.key
	if to := s.renames[sn]; to != "" {
		delete(s.renames, sn)
		s.terminals[to] = t
		delete(s.terminals, sn)
		sn = to
	}
	s.checkinsServed++
	lose := s.checkinsServed <= s.DropCheckins
	s.mu.Unlock()
	if lose {
		drop(w)
		return
	}
	reply(w, http.StatusOK, answer{"result_code": "200", "biz_response": answer{"terminal_sn": sn, "terminal_key": key}})
}

func (s *Server) pay(w http.ResponseWriter, req map[string]string) {
	amount, err := strconv.ParseInt(req["total_amount"], 10, 64)
	switch {
	case req["client_sn"] == "" || len(req["client_sn"]) > 64:
		reply(w, http.StatusOK, commError("INVALID_PARAMS", "client_sn不可以为空"))
		return
	case err != nil || amount <= 0 || len(req["total_amount"]) > 10:
		reply(w, http.StatusOK, commError("INVALID_PARAMS", "total_amount金额为整数,长度不超过10位,以分为单位"))
		return
	case req["dynamic_id"] == "" || len(req["dynamic_id"]) > 32:
		reply(w, http.StatusOK, commError("INVALID_BARCODE", "支付条码错误"))
		return
	case req["subject"] == "" || req["operator"] == "":
		reply(w, http.StatusOK, commError("INVALID_PARAMS", "subject, operator 不可以为空"))
		return
	}
	s.mu.Lock()
	if o, ok := s.orders[req["client_sn"]]; ok {
		o.PayCalls++
		s.mu.Unlock()
		reply(w, http.StatusOK, bizFail("FAIL", "CLIENT_SN_CONFLICT", "client_sn在系统中已存在"))
		return
	}
	plan := s.plans[req["dynamic_id"]]
	switch plan.Pay {
	case "http500":
		s.mu.Unlock()
		reply(w, http.StatusInternalServerError, answer{"result_code": "500", "error_code": "UNKNOWN_SYSTEM_ERROR", "error_message": "未知的系统错误"})
		return
	case "client_error":
		s.mu.Unlock()
		reply(w, http.StatusOK, commError("INVALID_BARCODE", "支付条码错误"))
		return
	}
	s.seq++
	o := &Order{SN: fmt.Sprintf("78942592%08d", s.seq), ClientSN: req["client_sn"], DynamicID: req["dynamic_id"],
		Amount: amount, Status: Created, Payway: plan.Payway, PayCalls: 1, Refunds: map[string]int64{}, RefundCalls: map[string]int{}}
	if o.Payway == "" {
		o.Payway = "3"
	}
	s.orders[o.ClientSN] = o
	var a answer
	switch plan.Pay {
	case "fail":
		o.Status = PayCanceled
		msg := "过期的支付条码"
		if plan.EchoCode {
			msg = "付款码 " + o.DynamicID + " 无效"
		}
		a = bizFail("PAY_FAIL", "EXPIRED_BARCODE", msg)
		a["biz_response"].(answer)["data"] = o.dataFor(plan)
	case "fail_error":
		o.Status = PayError
		a = bizFail("PAY_FAIL_ERROR", "TRADE_FAILED", "交易失败")
		a["biz_response"].(answer)["data"] = o.dataFor(plan)
	case "in_progress":
		a = biz("PAY_IN_PROGRESS", o.dataFor(plan))
	default:
		o.Status = Paid
		a = biz("PAY_SUCCESS", o.dataFor(plan))
	}
	s.mu.Unlock()
	if plan.Pay == "drop_after_charge" {
		drop(w)
		return
	}
	reply(w, http.StatusOK, a)
}

// withOrder finds the order by sn first, then client_sn, as the vendor
// documents, and answers f's result under the lock.
func (s *Server) withOrder(w http.ResponseWriter, req map[string]string, f func(w http.ResponseWriter, o *Order, plan Plan)) {
	s.mu.Lock()
	var o *Order
	if sn := req["sn"]; sn != "" {
		for _, c := range s.orders {
			if c.SN == sn {
				o = c
			}
		}
	} else if req["client_sn"] != "" {
		o = s.orders[req["client_sn"]]
	} else {
		s.mu.Unlock()
		reply(w, http.StatusOK, commError("INVALID_PARAMS", "sn与client_sn不能同时为空"))
		return
	}
	var plan Plan
	if o != nil {
		plan = s.plans[o.DynamicID]
		if o.hidden < plan.HiddenQueries {
			o.hidden++
			o = nil // not recorded yet
		}
	}
	if o == nil {
		s.mu.Unlock()
		// The pseudo-code's spelling; the appendix says UPAY_ORDER_NOT_EXIST.
		reply(w, http.StatusOK, bizFail("FAIL", "UPAY_ORDER_NOT_EXISTS", "订单不存在"))
		return
	}
	defer s.mu.Unlock()
	f(w, o, plan)
}

func (s *Server) query(w http.ResponseWriter, o *Order, plan Plan) {
	o.Queries++
	if o.Queries <= plan.QueryErrors {
		reply(w, http.StatusServiceUnavailable, answer{"result_code": "500", "error_code": "MAINTENANCE_INPROGRESS", "error_message": "服务端正在升级维护,稍候5分钟"})
		return
	}
	if o.Status == Created && plan.PaidAfterQueries > 0 && o.Queries-plan.QueryErrors >= plan.PaidAfterQueries {
		o.Status = Paid
	}
	reply(w, http.StatusOK, biz("SUCCESS", o.dataFor(plan)))
}

func (s *Server) cancel(w http.ResponseWriter, o *Order, plan Plan) {
	o.Cancels++
	if plan.CancelErrors < 0 || o.Cancels <= plan.CancelErrors {
		reply(w, http.StatusOK, answer{"result_code": "200", "biz_response": answer{"result_code": "CANCEL_ERROR",
			"error_code": "UPAY_CANCEL_INVALID_ORDER_STATE", "error_message": "撤单失败", "data": o.data()}})
		return
	}
	if o.Status == Canceled {
		// A cancel re-sent after its answer was lost (vendor's result-code list).
		reply(w, http.StatusOK, bizFail("FAIL", "UPAY_CANCEL_ORDER_NOOP", "订单已经是撤单状态了"))
		return
	}
	if o.Status == Created || o.Status == Paid || o.Status == PayError {
		o.Status = Canceled
	}
	reply(w, http.StatusOK, biz("CANCEL_SUCCESS", o.dataFor(plan)))
}

func (s *Server) refund(w http.ResponseWriter, req map[string]string) {
	s.mu.Lock()
	o := s.orders[req["client_sn"]]
	if o == nil {
		s.mu.Unlock()
		reply(w, http.StatusOK, bizFail("FAIL", "UPAY_ORDER_NOT_EXIST", "订单不存在"))
		return
	}
	no := req["refund_request_no"]
	amount, err := strconv.ParseInt(req["refund_amount"], 10, 64)
	var a answer
	switch {
	case no == "" || len(no) > 20:
		a = commError("INVALID_PARAMS", "refund_request_no 不可以为空, 不超过20位")
	case err != nil || amount <= 0:
		a = commError("INVALID_PARAMS", "refund_amount 错误")
	case req["operator"] == "":
		a = commError("INVALID_PARAMS", "operator 不可以为空")
	default:
		if done, ok := o.Refunds[no]; ok {
			if done == amount {
				// A refund re-sent after its answer was lost (vendor's result-code list).
				a = bizFail("FAIL", "UPAY_REFUND_ORDER_NOOP", "本次退款已经完成了")
			} else {
				a = bizFail("FAIL", "REFUND_REQUEST_CONFLICT", "重复的退款请求")
			}
		} else if s.plans[o.DynamicID].RefundError {
			a = bizFail("REFUND_ERROR", "UNEXPECTED_PROVIDER_ERROR", "退款失败并且不确定第三方支付通道状态")
		} else if o.Status != Paid && o.Status != PartialRefunded {
			a = bizFail("FAIL", "UPAY_REFUND_INVALID_ORDER_STATE", "无法对错误的订单状态执行退款操作")
		} else if amount > o.Amount-o.Refunded {
			a = bizFail("REFUND_FAIL", "REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额无效")
		} else {
			o.Refunds[no] = amount
			o.Refunded += amount
			o.Status = PartialRefunded
			if o.Refunded == o.Amount {
				o.Status = Refunded
			}
			a = biz("REFUND_SUCCESS", o.dataFor(s.plans[o.DynamicID]))
		}
	}
	o.RefundCalls[no]++
	lose := o.Refunds[no] == amount && o.RefundCalls[no] <= s.plans[o.DynamicID].RefundDrops
	s.mu.Unlock()
	if lose {
		drop(w)
		return
	}
	reply(w, http.StatusOK, a)
}

func (s *Server) precreate(w http.ResponseWriter, req map[string]string) {
	amount, err := strconv.ParseInt(req["total_amount"], 10, 64)
	if err != nil || amount <= 0 || req["payway"] == "" || req["client_sn"] == "" {
		reply(w, http.StatusOK, commError("INVALID_PARAMS", "client_sn, total_amount, payway 不可以为空"))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.orders[req["client_sn"]]; ok {
		reply(w, http.StatusOK, bizFail("PRECREATE_FAIL", "CLIENT_SN_CONFLICT", "client_sn在系统中已存在"))
		return
	}
	s.seq++
	o := &Order{SN: fmt.Sprintf("78942592%08d", s.seq), ClientSN: req["client_sn"], Amount: amount, Status: Created,
		Payway: req["payway"], Refunds: map[string]int64{}, RefundCalls: map[string]int{}}
	s.orders[o.ClientSN] = o
	d := o.data()
	d["qr_code"] = "https://qr.shouqianba.com/" + o.SN
	reply(w, http.StatusOK, biz("PRECREATE_SUCCESS", d))
}

// CustomerScan plays the customer scanning precreated order clientSN's QR
// code and paying. Like the gateway it refuses an order that is no longer
// open: cancelled, or already paid.
func (s *Server) CustomerScan(clientSN string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orders[clientSN]
	switch {
	case !ok || o.PayCalls != 0:
		return fmt.Errorf("sqbtest: no precreated order %s", clientSN)
	case o.Status != Created:
		return fmt.Errorf("sqbtest: order %s is %s and cannot be paid", clientSN, o.Status)
	}
	o.Status = Paid
	return nil
}
