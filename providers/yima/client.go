// Package yima is posd's client for Yima's (翼码) iPOS interface: barcode
// pay, query, cancel, refund by cash fee, and the unified order that a
// WeChat mini program pays, in either of its formats (JSON with a sign, or
// XML in GBK), with the mapping of its answers to posd's outcomes
// (outcome.go).
//
// The vendor's documents are shared/spec/yima-*.txt. They leave out the
// signature rule, the pay request and the query request: what posd
// assumes for those is in assume.go and docs/providers/yima.md.
package yima

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tillworks/posd/payflow"
	"github.com/tillworks/posd/providers"
)

// Formats.
const (
	FormatJSON = "json"
	FormatXML  = "xml"
)

// Options configure a Client.
type Options struct {
	BaseURL  string // every request is a POST of the message to it
	Isspid   string // 商户号, 8 characters
	SystemID string // 系统平台号, 4
	StoreID  string // 门店号
	PosID    string // 终端号
	PosSN    string // an IoT terminal's serial, sent when set
	UserID   string // 操作员 when a payment names none
	Key      string // signs JSON messages; never logged
	Format   string // json or xml
	Scheme   string // sign scheme (assume.go)
	// VerifyAnswers requires a JSON answer that confirms anything to carry
	// a sign that verifies; an unsigned one can only refuse.
	VerifyAnswers bool
	// InDoubtIDs are result ids taken as "may have been done" (default 9999).
	InDoubtIDs  []string
	PayTimeout  time.Duration
	CallTimeout time.Duration
	HTTP        *http.Client
	Logger      *slog.Logger
}

// Client is a payflow.Provider for Yima; it also places mini-program
// orders.
type Client struct {
	opt     Options
	inDoubt map[string]bool

	mu      sync.Mutex
	cancels map[string]string // pos_seq of a cancel whose answer is unknown, by order: re-sent with the same one
}

// New returns a client.
func New(opt Options) (*Client, error) {
	if opt.Format == "" {
		opt.Format = FormatJSON
	}
	if opt.Format != FormatJSON && opt.Format != FormatXML {
		return nil, fmt.Errorf("yima: format must be json or xml, got %q", opt.Format)
	}
	if opt.Scheme == "" {
		opt.Scheme = DefaultScheme
	}
	if !ValidScheme(opt.Scheme) {
		return nil, fmt.Errorf("yima: unknown sign scheme %q; one of %s", opt.Scheme, strings.Join(Schemes, ", "))
	}
	if opt.InDoubtIDs == nil {
		opt.InDoubtIDs = defaultInDoubtIDs
	}
	if opt.PayTimeout <= 0 {
		opt.PayTimeout = 60 * time.Second
	}
	if opt.CallTimeout <= 0 {
		opt.CallTimeout = 10 * time.Second
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.HTTP == nil {
		opt.HTTP = providers.NewHTTPClient()
	}
	c := &Client{opt: opt, inDoubt: map[string]bool{}, cancels: map[string]string{}}
	for _, id := range opt.InDoubtIDs {
		c.inDoubt[id] = true
	}
	return c, nil
}

// Account names the merchant and terminal the client charges for.
func (c *Client) Account() string { return c.opt.Isspid + "/" + c.opt.PosID }

// answer is a parsed answer with the fields posd reads.
type answer struct {
	tree   *node
	info   *node // the channel's *_res_info block, or nil
	signed bool  // a JSON answer whose sign verified
	xml    bool
}

func (a *answer) get(path ...string) string { return a.tree.get(path...) }

// call sends request req (its own fields in body) with pos_seq seq and
// returns the parsed answer; top are extra top-level fields.
func (c *Client) call(ctx context.Context, req, seq, operator string, top, body []field, timeout time.Duration) (*answer, []byte, error) {
	fields := []field{str("request_type", req), str("isspid", c.opt.Isspid), str("pos_id", c.opt.PosID)}
	if c.opt.PosSN != "" {
		fields = append(fields, str("pos_sn", c.opt.PosSN))
	}
	if seq != "" && len(seq) < posSeqMin {
		return nil, nil, fmt.Errorf("%w: yima %s: pos_seq %q is not longer than 12 characters, as the gateway requires", payflow.ErrNotSent, req, seq)
	}
	fields = append(fields, str("store_id", c.opt.StoreID))
	if seq != "" {
		fields = append(fields, str("pos_seq", seq))
	}
	if operator = providers.Clip(orDefault(operator, c.opt.UserID), 20); operator != "" {
		fields = append(fields, str("user_id", operator))
	}
	fields = append(fields, str("system_id", c.opt.SystemID))
	fields = append(fields, top...)
	fields = append(fields, field{name: req, kids: body})

	var msg []byte
	header := http.Header{}
	if c.opt.Format == FormatXML {
		b, err := encodeXML(fields)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %w", payflow.ErrNotSent, err)
		}
		msg = b
		header.Set("Content-Type", "text/xml; charset=GBK")
	} else {
		b := encodeJSON(fields)
		sign, err := Sign(c.opt.Scheme, c.opt.Key, b)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %w", payflow.ErrNotSent, err)
		}
		msg = append(append(b[:len(b)-1:len(b)-1], `,"sign":"`...), sign+`"}`...)
		header.Set("Content-Type", "application/json; charset=UTF-8")
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	status, raw, err := providers.Post(ctx, c.opt.HTTP, c.opt.BaseURL, header, msg)
	if err != nil {
		return nil, raw, fmt.Errorf("yima %s: %w", req, err)
	}
	bad := func(code, f string, a ...any) error {
		return &providers.GatewayError{Gateway: "yima", Status: status, Code: code, Message: fmt.Sprintf(f, a...)}
	}
	if status != http.StatusOK {
		return nil, raw, bad("HTTP_STATUS", "an answer to %s with HTTP status %d", req, status)
	}
	a := &answer{}
	if t := strings.TrimLeft(string(raw[:min(len(raw), 64)]), " \t\r\n\xef\xbb\xbf"); strings.HasPrefix(t, "<") {
		a.tree, err = parseXML(raw)
		a.xml = true
	} else {
		a.tree, err = parseJSON(raw)
		if err == nil && c.opt.VerifyAnswers {
			switch verr := Verify(c.opt.Scheme, c.opt.Key, raw); {
			case verr == nil:
				a.signed = true
			case errors.Is(verr, ErrUnsigned):
			default:
				c.opt.Logger.Warn("yima answer's sign does not verify: check sign_scheme and key", "request", req, "scheme", c.opt.Scheme)
				return nil, raw, bad("BAD_SIGN", "the answer to %s is not signed with the configured key (sign_scheme %s): %v", req, c.opt.Scheme, verr)
			}
		}
	}
	if err != nil {
		return nil, raw, bad("BAD_RESPONSE", "%v", err)
	}
	if a.xml {
		raw, _ = xmlText(raw) // kept in the journal as the text it is, not GBK bytes (parseXML checked them)
	}
	if (a.xml && c.opt.Format == FormatXML) || !c.opt.VerifyAnswers {
		// Nothing to verify: XML carries no sign. An XML answer to a JSON
		// request stays unsigned: it can refuse, not confirm.
		a.signed = true
	}
	want := responseType(req)
	switch rt := a.get("response_type"); {
	case rt == want:
	case rt == "" && a.get("result", "id") != "" && !confirming(a.get("result", "id")):
		// A refusal without the envelope (an error page of the gateway's
		// own): read as the refusal it is.
	default:
		return nil, raw, bad("BAD_RESPONSE", "an answer of type %q to %s", rt, req)
	}
	if id := a.get("isspid"); id != "" && id != c.opt.Isspid {
		return nil, raw, bad("WRONG_MERCHANT", "an answer for merchant %s, not %s", id, c.opt.Isspid)
	}
	if a.get("result", "id") == "" {
		return nil, raw, bad("BAD_RESPONSE", "an answer to %s without result.id", req)
	}
	a.info = channelInfo(a.tree, a.get("pay_type"))
	return a, raw, nil
}

// confirming reports whether a result id says a request was accepted.
func confirming(id string) bool { return id == "0000" || id == "9998" }

// channelInfo finds the answer's per-channel block (assume.go).
func channelInfo(tree *node, payType string) *node {
	if name, ok := resInfo[payType]; ok {
		if n := tree.child(name); n != nil {
			return n
		}
	}
	var found *node
	for name, n := range tree.kids {
		if !strings.HasSuffix(name, "_res_info") || n.kids == nil || !hasValue(n) {
			continue
		}
		if found != nil {
			return nil // several: none is known to be this channel's
		}
		found = n
	}
	return found
}

func hasValue(n *node) bool {
	for _, c := range n.kids {
		if c.text != "" {
			return true
		}
	}
	return false
}

// outcome builds the normalized outcome of an answer to call.
func (c *Client) outcome(call string, a *answer, raw []byte) payflow.Outcome {
	id, comment := a.get("result", "id"), a.get("result", "comment")
	detail := a.info.get("detail_error_code")
	o := payflow.Outcome{Kind: classify(call, id, detail, c.inDoubt), Raw: raw, Code: id, Message: comment}
	if detail != "" && detail != "SUCCESS" {
		o.Code = id + "/" + detail
		if d := a.info.get("detail_error_desc"); d != "" && d != comment {
			o.Message = strings.TrimSpace(comment + " (" + d + ")")
		}
	}
	if !a.signed && o.Kind != payflow.Failed {
		// An unsigned answer can refuse, never confirm.
		o.Kind, o.Message = payflow.Unknown, "the answer is not signed, so it cannot confirm anything ("+comment+")"
	}
	if pt := a.get("pay_type"); pt != "" {
		o.Channel = payTypes[pt]
		if o.Channel == "" {
			o.Channel = "other"
		}
	}
	o.ChannelTradeNo = a.info.get("trade_no")
	if total, why, ok := providers.Amount("total_fee", providers.Str(a.info.get("total_fee"))); !ok {
		o.Kind, o.Message = payflow.Unknown, why
	} else if call == callPay || call == callQuery {
		o.Amount = total
	}
	return o
}

// discounts reads the discount fields of a paid order's answer, and what
// the customer paid: the channel's cash_fee where given, else the amount
// less the discounts (assume.go).
func discounts(a *answer, amount int64) ([]payflow.Discount, int64, string) {
	var ds []payflow.Discount
	var total, parts int64
	for _, f := range discountFields {
		v := a.get(f.name)
		if v == "" || v == "0" {
			continue
		}
		n, why, ok := providers.Amount(f.name, providers.Str(v))
		if !ok || n > amount {
			if ok {
				why = fmt.Sprintf("%s %d is more than the order's %d fen", f.name, n, amount)
			}
			return nil, 0, why
		}
		ds = append(ds, payflow.Discount{Name: f.name, Label: f.label, Amount: n})
		if f.name == "discount_amt" {
			total = n
		} else {
			parts += n
		}
	}
	if cash := a.info.get("cash_fee"); cash != "" {
		if n, err := strconv.ParseInt(cash, 10, 64); err == nil && n > 0 && n <= amount {
			return ds, n, ""
		}
	}
	if total == 0 {
		total = parts
	}
	if total == 0 || total >= amount {
		return ds, 0, ""
	}
	return ds, amount - total, ""
}

// discountFields are the discount nodes of the family's answers, with
// what the receipt calls them.
var discountFields = []struct{ name, label string }{
	{"buss_discount_amt", "商家优惠"},
	{"platform_discount_amt", "平台优惠"},
	{"mdiscount_amt", "商户优惠"},
	{"discount_amt", "优惠合计"},
}

// Pay charges the scanned code (barcode_pay_request; pos_seq is posd's
// order number).
func (c *Client) Pay(ctx context.Context, r payflow.PayRequest) (payflow.Outcome, error) {
	body := []field{num("tx_amt", r.Amount), str(codeField, r.AuthCode)}
	a, raw, err := c.call(ctx, reqPay, r.OrderNo, r.Operator, nil, body, c.opt.PayTimeout)
	if err != nil {
		return payflow.Outcome{Raw: raw}, err
	}
	return c.paid(callPay, a, raw, r.Amount), nil
}

// paid is the outcome of a pay or query answer: the order's number as
// echoed, its discounts.
func (c *Client) paid(call string, a *answer, raw []byte, amount int64) payflow.Outcome {
	o := c.outcome(call, a, raw)
	if call == callPay {
		o.OrderNo = a.get("pos_seq")
	} else if org := a.get("org_pos_seq"); org != "" {
		o.OrderNo = org
	}
	if o.Kind == payflow.Succeeded {
		ds, paid, why := discounts(a, amount)
		if why != "" {
			o.Kind, o.Message = payflow.Unknown, why
		}
		o.Discounts, o.CustomerPaid = ds, paid
	}
	return o
}

// Query asks about an order by its pos_seq (barcode_query_request,
// org_pos_seq), with a pos_seq of its own that the answer must echo.
func (c *Client) Query(ctx context.Context, r payflow.OrderRef) (payflow.Outcome, error) {
	seq := ownSeq(r.OrderNo)
	a, raw, err := c.call(ctx, reqQuery, seq, "", nil, []field{str("org_pos_seq", r.OrderNo)}, c.opt.CallTimeout)
	if err != nil {
		return payflow.Outcome{Raw: raw}, err
	}
	if o, bad := echoed(a, seq, raw); bad {
		return o, nil
	}
	return c.paid(callQuery, a, raw, r.Amount), nil
}

// echoed checks that an answer repeats the pos_seq sent: one that does not
// is about another request, and no outcome.
func echoed(a *answer, seq string, raw []byte) (payflow.Outcome, bool) {
	if got := a.get("pos_seq"); got != "" && got != seq {
		return payflow.Outcome{Raw: raw, Code: a.get("result", "id"), Message: fmt.Sprintf("the answer is about request %s, not %s", got, seq)}, true
	}
	return payflow.Outcome{}, false
}

// Cancel revokes an order (barcode_cancel_request) within 24 hours of it.
// A cancel whose answer was unknown is sent again with the same pos_seq,
// as the documents ask after 9998 or a time-out.
func (c *Client) Cancel(ctx context.Context, r payflow.OrderRef) (payflow.Outcome, error) {
	c.mu.Lock()
	seq, again := c.cancels[r.OrderNo]
	if !again {
		seq = ownSeq(r.OrderNo)
		c.cancels[r.OrderNo] = seq
	}
	c.mu.Unlock()
	a, raw, err := c.call(ctx, reqCancel, seq, "", nil, []field{str("org_pos_seq", r.OrderNo)}, c.opt.CallTimeout)
	o := payflow.Outcome{Raw: raw}
	if err == nil {
		if bad, mismatch := echoed(a, seq, raw); mismatch {
			o = bad
		} else {
			o = c.outcome(callCancel, a, raw)
		}
	}
	if err == nil && o.Kind != payflow.Unknown && o.Kind != payflow.InProgress {
		c.mu.Lock()
		delete(c.cancels, r.OrderNo)
		c.mu.Unlock()
	}
	return o, err
}

// Refund refunds part or all of a paid order through
// barcode_refundbycashfee_request, which the gateway turns into a cancel
// (within 24 hours) or a refund. Its pos_seq is the refund's RequestNo,
// the same on every retry, as the document requires after 9998 or a
// time-out.
func (c *Client) Refund(ctx context.Context, r payflow.RefundRequest) (payflow.Outcome, error) {
	body := []field{num("tx_amt", r.Amount), str("org_pos_seq", r.OrderNo)}
	a, raw, err := c.call(ctx, reqRefund, r.RequestNo, r.Operator, nil, body, c.opt.CallTimeout)
	if err != nil {
		return payflow.Outcome{Raw: raw}, err
	}
	if o, bad := echoed(a, r.RequestNo, raw); bad {
		return o, nil
	}
	o := c.outcome(callRefund, a, raw)
	o.Discounts, o.CustomerPaid = nil, 0
	return o, nil
}

// MiniProgramOrder places a unified order for a WeChat mini program
// (unifiedorder_request, pay_type 515, trade_type JSAPI). Placed, it
// answers 9998 with the wx.requestPayment parameters in Prepay.
func (c *Client) MiniProgramOrder(ctx context.Context, r payflow.PayRequest, m payflow.MiniProgram) (payflow.Outcome, error) {
	var top []field
	if m.DeviceIP != "" {
		top = append(top, str("device_ip", m.DeviceIP))
	}
	if memo := orDefault(m.Memo, r.Subject); memo != "" {
		top = append(top, str("memo", providers.Clip(memo, 128)))
	}
	body := []field{str("pay_type", "515"), str("trade_type", "JSAPI"), num("tx_amt", r.Amount), str("buyer_id", m.BuyerID)}
	if len(m.Goods) > 0 {
		g, err := json.Marshal(m.Goods)
		if err != nil {
			return payflow.Outcome{}, fmt.Errorf("%w: goods_detail: %w", payflow.ErrNotSent, err)
		}
		body = append(body, field{name: "goods_detail", json: g})
	}
	if m.NotifyURL != "" {
		body = append(body, field{name: "notify_url", text: m.NotifyURL, cdata: true})
	}
	if m.Split != nil {
		body = append(body, field{name: "extend_params", json: extendParams(m.Split)})
	}
	a, raw, err := c.call(ctx, reqUnifiedOrder, r.OrderNo, r.Operator, top, body, c.opt.CallTimeout)
	if err != nil {
		return payflow.Outcome{Raw: raw}, err
	}
	o := c.outcome(callUnifiedOrder, a, raw)
	o.OrderNo, o.Amount = a.get("pos_seq"), 0
	if o.Kind == payflow.InProgress {
		p := &payflow.RequestPayment{TimeStamp: a.get("time_stamp"), NonceStr: a.get("nonce_str"),
			SignType: a.get("sign_type"), PaySign: a.get("pay_sign")}
		if id := a.get("pay_id"); id != "" {
			p.Package = "prepay_id=" + id
		}
		if p.TimeStamp == "" || p.NonceStr == "" || p.Package == "" || p.PaySign == "" {
			// Placed, the gateway says, but without what the customer
			// needs to pay it: the order is followed and cancelled.
			o.Message = "the order was placed without the parameters for wx.requestPayment (" + o.Message + ")"
		} else {
			o.Prepay = p
		}
	}
	return o, nil
}

// extendParams is the split's extend_params object, with amounts as the
// document's strings and percentages as decimals.
func extendParams(s *payflow.Split) []byte {
	type recv struct {
		MerchantID string `json:"merchant_id"`
		DivAmt     string `json:"div_amt,omitempty"`
		DivPct     string `json:"div_percentage,omitempty"`
	}
	type info struct {
		Clean   string `json:"is_clean_split,omitempty"`
		KeepAmt string `json:"keep_amt,omitempty"`
		KeepPct string `json:"keep_percentage,omitempty"`
		List    []recv `json:"split_list"`
	}
	out := struct {
		Flag     string `json:"split_flag,omitempty"`
		PlanDate string `json:"plan_split_date,omitempty"`
		Info     *info  `json:"split_info,omitempty"`
	}{Flag: s.Flag, PlanDate: s.PlanDate}
	if in := s.Info; in != nil {
		i := &info{}
		if in.Clean {
			i.Clean, i.KeepPct = "Y", percent(in.KeepBasis)
		} else {
			i.KeepAmt = strconv.FormatInt(in.KeepAmt, 10)
		}
		for _, d := range in.SplitsList {
			r := recv{MerchantID: d.MerchantID}
			if in.Clean {
				r.DivPct = percent(d.DivBasis)
			} else {
				r.DivAmt = strconv.FormatInt(d.DivAmt, 10)
			}
			i.List = append(i.List, r)
		}
		out.Info = i
	}
	b, _ := json.Marshal(out)
	return b
}

// percent writes hundredths of a percent as the document's decimal: 5026
// is "50.26".
func percent(bp int64) string {
	return fmt.Sprintf("%d.%02d", bp/100, bp%100)
}

// ownSeq is a pos_seq for a query or cancel of order no: its number and
// six random digits, unique per merchant as the documents require.
func ownSeq(orderNo string) string {
	var b [8]byte
	rand.Read(b[:])
	return providers.Clip(orderNo, 26) + fmt.Sprintf("%06d", binary.BigEndian.Uint64(b[:])%1000000)
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
