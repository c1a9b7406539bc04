// Package yimatest is a fake Yima (翼码) iPOS gateway for tests, written
// from the vendor's documents and posd's stated assumptions about what
// they leave out (providers/yima/assume.go), independently of the client:
// it reads each request in the format it came in (JSON with a sign, or
// XML that must be valid GBK), checks the configured sign scheme, answers
// in the same format (GBK bytes for XML, signed JSON), adds nodes no
// document describes, keeps orders by pos_seq (a second pay with one is
// refused), refunds by their pos_seq (a retry with the same one answers
// as before), and refuses a cancel more than 24 hours after the order.
package yimatest

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/text/encoding/simplifiedchinese"
)

// Order states.
const (
	Waiting   = "waiting" // 9998: the customer has yet to pay
	Paid      = "paid"
	Failed    = "failed"
	Cancelled = "cancelled"
)

// Plan scripts what the gateway does with one payment code.
type Plan struct {
	// Pay: "" paid at once; "wait" 9998, paid at query PaidAfterQueries
	// (never if 0); "fail" refused (0005 余额不足); "drop" charged, the
	// connection closed unanswered; "9999" the gateway's exception after
	// charging.
	Pay              string
	PaidAfterQueries int
	// Discounts on the paid order: buss_discount_amt and
	// platform_discount_amt; CashFee is wxpay_res_info.cash_fee.
	BussDiscount, PlatformDiscount, CashFee int64
}

// Order is the gateway's record of one pay or unified order.
type Order struct {
	PosSeq, Code, PayType, TradeNo string
	Amount, Refunded               int64
	State                          string
	Created                        time.Time
	Queries                        int
	MiniProgram                    bool
	BuyerID                        string
	Goods, Extend                  string // as received
}

// Server is the fake gateway; use it as an http.Handler.
type Server struct {
	Isspid, Key, Scheme string
	Now                 func() time.Time

	// Knobs for awkward answers.
	Unsigned     bool   // JSON answers carry no sign
	WrongSign    bool   // JSON answers carry a wrong sign
	EchoOther    bool   // answers name another pos_seq
	RefundsWait  int    // this many refund answers are 9998 before the refund is done
	CancelResult string // a result id every cancel gets, e.g. "1004"

	mu       sync.Mutex
	orders   map[string]*Order
	plans    map[string]Plan
	refunds  map[string]refund // by the refund's pos_seq
	seqs     map[string]string // every pos_seq used, and by which request
	ops      []string
	bad      int
	lastBody []byte
	lastType string
	byType   map[string][]byte // the last request of each request_type, as received
	seq      int
}

type refund struct {
	org    string
	amount int64
}

// New returns a fake gateway for one merchant and sign scheme.
func New(isspid, key, scheme string) *Server {
	return &Server{Isspid: isspid, Key: key, Scheme: scheme, Now: time.Now,
		orders: map[string]*Order{}, plans: map[string]Plan{}, refunds: map[string]refund{}, seqs: map[string]string{}}
}

// SetPlan scripts the gateway for one payment code.
func (s *Server) SetPlan(code string, p Plan) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.plans[code] = p
}

// Ops returns the request types asked, in order.
func (s *Server) Ops() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.ops...)
}

// Bad returns how many requests carried a wrong sign or broken encoding.
func (s *Server) Bad() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bad
}

// Request returns the last request of a request_type as received (nil if
// none): the engine's later queries do not hide the request a test looks at.
func (s *Server) Request(reqType string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.byType[reqType]...)
}

// LastRequest returns the last request's bytes as received, and its
// Content-Type.
func (s *Server) LastRequest() ([]byte, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.lastBody...), s.lastType
}

// Order returns a copy of the order with pos_seq.
func (s *Server) Order(posSeq string) (Order, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orders[posSeq]
	if !ok {
		return Order{}, false
	}
	return *o, true
}

// CustomerPays is the customer paying a mini-program order in WeChat; it
// fails if the order is no longer waiting (cancelled by the till).
func (s *Server) CustomerPays(posSeq string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orders[posSeq]
	if !ok {
		return fmt.Errorf("no order %s", posSeq)
	}
	if o.State != Waiting {
		return fmt.Errorf("order %s is %s: WeChat refuses the payment", posSeq, o.State)
	}
	o.State = Paid
	return nil
}

// msg is a request or answer: its top-level values, and its nested
// request object's.
type msg struct {
	top, inner map[string]string
}

// ServeHTTP answers a POST of one message.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil || r.Method != http.MethodPost {
		http.Error(w, "POST a message", http.StatusMethodNotAllowed)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastBody, s.lastType = body, r.Header.Get("Content-Type")
	isXML := bytes.HasPrefix(bytes.TrimSpace(body), []byte("<"))
	var m msg
	if isXML {
		m, err = readXML(body)
	} else {
		m, err = s.readJSON(body)
	}
	if err != nil {
		s.bad++
		s.answer(w, isXML, "", map[string]string{"response_type": "error_response"}, nil, "9001", "报文错误: "+err.Error())
		return
	}
	req := m.top["request_type"]
	s.ops = append(s.ops, req)
	if s.byType == nil {
		s.byType = map[string][]byte{}
	}
	s.byType[req] = body
	top := map[string]string{"response_type": strings.TrimSuffix(req, "_request") + "_response"}
	fail := func(id, comment string) { s.answer(w, isXML, req, top, nil, id, comment) }
	switch {
	case m.top["isspid"] != s.Isspid:
		fail("9002", "商户不存在")
		return
	case m.top["system_id"] == "" || m.top["store_id"] == "" || m.top["pos_id"] == "":
		fail("9003", "缺少必填字段")
		return
	}
	top["isspid"], top["pos_id"] = s.Isspid, m.top["pos_id"]
	top["sys_seq"] = fmt.Sprintf("%016x", s.seq)
	top["trans_time"] = s.Now().Format("20060102150405")
	top["pos_seq"] = m.top["pos_seq"]
	s.seq++
	seq := m.top["pos_seq"]
	if seq != "" && len(seq) <= 12 {
		fail("9004", "流水号须大于12位")
		return
	}
	// pos_seq is unique per merchant: only a refund re-sent after 9998 or a
	// time-out may repeat its own.
	if prev, used := s.seqs[seq]; seq != "" && used && !(prev == req && (req == "barcode_refundbycashfee_request" || req == "barcode_cancel_request")) {
		fail("9005", "流水号重复")
		return
	}
	if seq != "" {
		s.seqs[seq] = req
	}
	switch req {
	case "barcode_pay_request":
		s.pay(w, isXML, top, m)
	case "barcode_query_request":
		s.query(w, isXML, top, m)
	case "barcode_cancel_request":
		s.cancel(w, isXML, top, m)
	case "barcode_refundbycashfee_request":
		s.refund(w, isXML, top, m)
	case "unifiedorder_request":
		s.unifiedOrder(w, isXML, top, m)
	default:
		fail("9006", "不支持的交易类型")
	}
}

func (s *Server) pay(w http.ResponseWriter, isXML bool, top map[string]string, m msg) {
	amount, err := strconv.ParseInt(m.inner["tx_amt"], 10, 64)
	code := m.inner["auth_code"]
	if err != nil || amount < 1 || code == "" {
		s.answer(w, isXML, "", top, nil, "9003", "金额或付款码错误")
		return
	}
	payType := "503"
	if strings.HasPrefix(code, "2") {
		payType = "502"
	}
	o := &Order{PosSeq: m.top["pos_seq"], Code: code, PayType: payType, Amount: amount, State: Paid, Created: s.Now(),
		TradeNo: fmt.Sprintf("4200%020d", s.seq)}
	s.orders[o.PosSeq] = o
	plan := s.plans[code]
	switch plan.Pay {
	case "wait":
		o.State = Waiting
	case "fail":
		o.State = Failed
		top["pay_type"] = payType
		s.answer(w, isXML, "", top, s.info(o, true), "0005", "余额不足")
		return
	case "drop":
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				c.Close()
				return
			}
		}
	case "9999":
		s.answer(w, isXML, "", top, nil, "9999", "系统异常")
		return
	}
	s.orderAnswer(w, isXML, top, o)
}

// orderAnswer answers with an order's state: 0000 paid, 9998 waiting,
// 0005 failed, 1003 cancelled.
func (s *Server) orderAnswer(w http.ResponseWriter, isXML bool, top map[string]string, o *Order) {
	top["pay_type"] = o.PayType
	plan := s.plans[o.Code]
	switch o.State {
	case Paid:
		if plan.BussDiscount > 0 {
			top["buss_discount_amt"] = strconv.FormatInt(plan.BussDiscount, 10)
		}
		if plan.PlatformDiscount > 0 {
			top["platform_discount_amt"] = strconv.FormatInt(plan.PlatformDiscount, 10)
		}
		s.answer(w, isXML, "", top, s.info(o, false), "0000", "交易成功")
	case Waiting:
		s.answer(w, isXML, "", top, s.info(o, true), "9998", "交易处理中,请查询")
	case Failed:
		s.answer(w, isXML, "", top, s.info(o, true), "0005", "余额不足")
	default:
		info := s.info(o, true)
		info["detail_error_code"] = "ORDERREVERSED"
		s.answer(w, isXML, "", top, info, "1003", "订单已撤销")
	}
}

// info is an order's channel block.
func (s *Server) info(o *Order, unpaid bool) map[string]string {
	i := map[string]string{"out_trade_no": o.PosSeq, "detail_error_code": "", "detail_error_desc": ""}
	if o.PayType != "502" {
		i["app_id"], i["mch_id"] = "wx5acb63e448b4fc22", "1241109502"
	}
	if !unpaid {
		i["trade_no"] = o.TradeNo
		if o.PayType == "503" || o.PayType == "515" {
			i["total_fee"] = strconv.FormatInt(o.Amount, 10)
			if c := s.plans[o.Code].CashFee; c > 0 {
				i["cash_fee"] = strconv.FormatInt(c, 10)
			}
		}
	}
	return i
}

func (s *Server) query(w http.ResponseWriter, isXML bool, top map[string]string, m msg) {
	o, ok := s.orders[m.inner["org_pos_seq"]]
	if !ok {
		top["pay_type"] = "503"
		s.answer(w, isXML, "", top, map[string]string{"detail_error_code": "ORDERNOTEXIST", "detail_error_desc": "订单不存在"}, "1002", "原交易不存在")
		return
	}
	o.Queries++
	if p := s.plans[o.Code]; o.State == Waiting && p.Pay == "wait" && p.PaidAfterQueries > 0 && o.Queries >= p.PaidAfterQueries {
		o.State = Paid
	}
	s.orderAnswer(w, isXML, top, o)
}

func (s *Server) cancel(w http.ResponseWriter, isXML bool, top map[string]string, m msg) {
	o, ok := s.orders[m.inner["org_pos_seq"]]
	top["pay_type"] = m.inner["pay_type"]
	switch {
	case s.CancelResult != "":
		s.answer(w, isXML, "", top, nil, s.CancelResult, "撤销失败")
	case !ok:
		top["pay_type"] = "503"
		s.answer(w, isXML, "", top, map[string]string{"detail_error_code": "ORDERNOTEXIST"}, "1002", "原交易不存在")
	case s.Now().Sub(o.Created) > 24*time.Hour:
		s.answer(w, isXML, "", top, nil, "1004", "超过撤销期限,请退款")
	default:
		top["pay_type"] = o.PayType
		if o.State == Paid || o.State == Waiting {
			o.State = Cancelled
		}
		s.answer(w, isXML, "", top, s.info(o, true), "0000", "撤销成功")
	}
}

func (s *Server) refund(w http.ResponseWriter, isXML bool, top map[string]string, m msg) {
	seq, org := m.top["pos_seq"], m.inner["org_pos_seq"]
	amount, err := strconv.ParseInt(m.inner["tx_amt"], 10, 64)
	fail := func(id, comment string) { s.answer(w, isXML, "", top, nil, id, comment) }
	if prev, again := s.refunds[seq]; again {
		if prev.org != org || prev.amount != amount {
			fail("9005", "流水号重复")
			return
		}
	}
	o, ok := s.orders[org]
	switch {
	case err != nil || amount < 1:
		fail("9003", "退款金额错误")
		return
	case !ok:
		fail("1002", "原交易不存在")
		return
	case o.State != Paid:
		fail("1006", "原交易状态不允许退款")
		return
	}
	top["pay_type"] = o.PayType
	if _, again := s.refunds[seq]; !again {
		if amount > o.Amount-o.Refunded {
			fail("1007", "退款金额超过可退金额")
			return
		}
		o.Refunded += amount
		s.refunds[seq] = refund{org: org, amount: amount}
	}
	if s.RefundsWait > 0 {
		s.RefundsWait--
		s.answer(w, isXML, "", top, nil, "9998", "退款处理中")
		return
	}
	info := s.info(o, false)
	info["refund_fee"] = strconv.FormatInt(amount, 10)
	info["cash_refund_fee"] = strconv.FormatInt(amount, 10)
	s.answer(w, isXML, "", top, info, "0000", "退款成功")
}

func (s *Server) unifiedOrder(w http.ResponseWriter, isXML bool, top map[string]string, m msg) {
	amount, err := strconv.ParseInt(m.inner["tx_amt"], 10, 64)
	if err != nil || amount < 1 || m.inner["buyer_id"] == "" || m.inner["pay_type"] != "515" || m.inner["trade_type"] != "JSAPI" {
		s.answer(w, isXML, "", top, nil, "9003", "参数错误")
		return
	}
	if ext := m.inner["extend_params"]; ext != "" && !json.Valid([]byte(ext)) {
		s.answer(w, isXML, "", top, nil, "9003", "extend_params 不是 JSON")
		return
	}
	o := &Order{PosSeq: m.top["pos_seq"], PayType: "515", Amount: amount, State: Waiting, Created: s.Now(), MiniProgram: true,
		BuyerID: m.inner["buyer_id"], Goods: m.inner["goods_detail"], Extend: m.inner["extend_params"], TradeNo: fmt.Sprintf("4200%020d", s.seq)}
	s.orders[o.PosSeq] = o
	top["pay_type"] = "515"
	top["pay_id"] = fmt.Sprintf("wx%030d", s.seq)
	top["nonce_str"] = "lj1v8w5rqdiftm8zst5gwhjbvebcvyhl"
	top["time_stamp"] = strconv.FormatInt(s.Now().Unix(), 10)
	top["sign_type"] = "MD5"
	top["pay_sign"] = "9280696fced8329af66d7be472f9e7f6"
	s.answer(w, isXML, "", top, nil, "9998", "下单成功,等待用户支付")
}

// answer writes an answer: the envelope, the channel block named for its
// pay_type, unknown nodes, and the result; signed JSON or GBK XML.
func (s *Server) answer(w http.ResponseWriter, isXML bool, _ string, top map[string]string, info map[string]string, id, comment string) {
	if s.EchoOther && top["pos_seq"] != "" {
		top["pos_seq"] = "99999999999999"
	}
	block := map[string]string{"502": "alipay_res_info", "503": "wxpay_res_info", "515": "wxapp_res_info"}[top["pay_type"]]
	if isXML {
		var b strings.Builder
		b.WriteString(`<?xml version="1.0" encoding="GBK"?>` + "\n<business_trans>\n")
		for _, k := range sortedKeys(top) {
			fmt.Fprintf(&b, "<%s>%s</%s>\n", k, esc(top[k]), k)
		}
		b.WriteString("<extend><![CDATA[{\"说明\":\"扩展字段\"}]]></extend>\n<new_node_2026><inner>新增节点</inner></new_node_2026>\n")
		if info != nil && block != "" {
			b.WriteString("<" + block + ">")
			for _, k := range sortedKeys(info) {
				fmt.Fprintf(&b, "<%s>%s</%s>", k, esc(info[k]), k)
			}
			b.WriteString("</" + block + ">\n")
		}
		fmt.Fprintf(&b, "<result>\n<id>%s</id>\n<comment>%s</comment>\n</result>\n</business_trans>", id, esc(comment))
		out, err := simplifiedchinese.GBK.NewEncoder().String(b.String())
		if err != nil {
			panic(err) // the fake's own text is GBK
		}
		w.Header().Set("Content-Type", "text/xml; charset=GBK")
		io.WriteString(w, out)
		return
	}
	v := map[string]any{}
	for k, x := range top {
		v[k] = x
	}
	v["extend"] = "<![CDATA[]]>"
	v["new_node_2026"] = map[string]any{"inner": "新增节点", "list": []int{1, 2}}
	if info != nil && block != "" {
		v[block] = info
	}
	v["result"] = map[string]string{"id": id, "comment": comment}
	b, _ := json.Marshal(v)
	if !s.Unsigned {
		sign := s.sign(b)
		if s.WrongSign {
			sign = strings.Repeat("0", 32)
		}
		b = append(b[:len(b)-1], `,"sign":"`+sign+`"}`...)
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.Write(b)
}

func esc(s string) string {
	var b bytes.Buffer
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// sign computes the configured scheme over body (the message without its
// sign), as posd's documentation states the schemes.
func (s *Server) sign(body []byte) string {
	var in string
	switch s.Scheme {
	case "md5_key_body_key":
		in = s.Key + string(body) + s.Key
	case "md5_sorted":
		var v map[string]json.RawMessage
		json.Unmarshal(body, &v)
		var parts []string
		for k, raw := range v {
			var val string
			if json.Unmarshal(raw, &val) != nil {
				var c bytes.Buffer
				json.Compact(&c, raw)
				val = c.String()
			}
			if k != "sign" && val != "" {
				parts = append(parts, k+"="+val)
			}
		}
		sort.Strings(parts)
		in = strings.Join(parts, "&") + "&key=" + s.Key
		if len(parts) == 0 {
			in = "key=" + s.Key
		}
	default: // md5_body_key
		in = string(body) + s.Key
	}
	sum := md5.Sum([]byte(in))
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// readJSON reads a JSON request and checks its sign.
func (s *Server) readJSON(body []byte) (msg, error) {
	var v map[string]json.RawMessage
	if err := json.Unmarshal(body, &v); err != nil {
		return msg{}, err
	}
	var sign string
	json.Unmarshal(v["sign"], &sign)
	i := bytes.LastIndex(body, []byte(`,"sign":"`))
	if i < 0 || sign == "" || s.sign(append(append([]byte(nil), body[:i]...), '}')) != sign {
		return msg{}, fmt.Errorf("签名错误")
	}
	m := msg{top: map[string]string{}, inner: map[string]string{}}
	for k, raw := range v {
		var str string
		if json.Unmarshal(raw, &str) == nil {
			m.top[k] = str
		} else {
			m.top[k] = string(raw)
		}
	}
	var inner map[string]json.RawMessage
	json.Unmarshal(v[m.top["request_type"]], &inner)
	for k, raw := range inner {
		var str string
		if json.Unmarshal(raw, &str) == nil {
			m.inner[k] = str
		} else {
			m.inner[k] = string(raw)
		}
	}
	return m, nil
}

// readXML reads a GBK XML request: the declaration must say GBK and the
// bytes must decode as GBK.
func readXML(body []byte) (msg, error) {
	if !bytes.HasPrefix(body, []byte(`<?xml version="1.0" encoding="GBK"?>`)) {
		return msg{}, fmt.Errorf("the declaration must name GBK")
	}
	text, err := simplifiedchinese.GBK.NewDecoder().Bytes(body)
	if err != nil || bytes.ContainsRune(text, '\uFFFD') {
		return msg{}, fmt.Errorf("not GBK")
	}
	dec := xml.NewDecoder(bytes.NewReader(text))
	dec.CharsetReader = func(_ string, r io.Reader) (io.Reader, error) { return r, nil }
	m := msg{top: map[string]string{}, inner: map[string]string{}}
	var path []string
	var text2 strings.Builder
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return msg{}, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			path = append(path, t.Name.Local)
			text2.Reset()
		case xml.CharData:
			text2.Write(t)
		case xml.EndElement:
			switch len(path) {
			case 2:
				if _, set := m.top[path[1]]; !set {
					m.top[path[1]] = text2.String()
				}
			case 3:
				m.inner[path[2]] = text2.String()
			}
			path = path[:len(path)-1]
			text2.Reset()
		}
	}
	return m, nil
}
