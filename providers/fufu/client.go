// Package fufu is posd's client for the FuFu (付付) open API v1.1.1:
// B-scans-C pay (order), query, cancel, close, refund, refund query and
// pre-order (C scans B), the signature, the mapping of its answers to
// posd's outcomes (outcome.go), and the check of its asynchronous
// notifications for an integrator's server.
//
// The vendor's document is shared/spec/fufu-open-api-v1.1.1.txt; where
// this package departs from it, docs/providers/fufu.md says why.
package fufu

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tillworks/posd/payflow"
	"github.com/tillworks/posd/providers"
)

// DefaultBaseURL is the production gateway the document names (plain HTTP).
const DefaultBaseURL = "http://www.jnfbg.cn/gateway/pay"

// cancelMargin is added to FuFu's 15 s before a cancel: see CancelNotBefore.
const cancelMargin = 5 * time.Second

// PayHold is how long FuFu holds a B-scans-C pay open before it revokes
// the order itself (document 2.1: 80 s).
const PayHold = 80 * time.Second

// Options configure a Client.
type Options struct {
	BaseURL  string // the path prefix is part of it: calls go to <BaseURL>/<op>
	BusiID   string // 商户编号
	Key      string // the merchant key; never logged
	StoreID  string
	FeeType  string // CNY
	TimeZone string // the gateway's local time: Asia/Shanghai (or +08:00)
	TillID   string // operator and terminal when a payment names none
	// Hold is how long the gateway holds a pay before revoking it itself;
	// zero: PayHold, the document's 80 s.
	Hold        time.Duration
	PayTimeout  time.Duration
	CallTimeout time.Duration
	HTTP        *http.Client
	Now         func() time.Time
	Logger      *slog.Logger
}

// Client is a payflow.Provider for FuFu; it also closes, looks refunds up,
// precreates, and declares FuFu's cancel window and pay hold.
type Client struct {
	opt Options
	loc *time.Location
}

// New returns a client.
func New(opt Options) (*Client, error) {
	if opt.BaseURL == "" {
		opt.BaseURL = DefaultBaseURL
	}
	opt.BaseURL = strings.TrimRight(opt.BaseURL, "/")
	if opt.FeeType == "" {
		opt.FeeType = "CNY"
	}
	if opt.TimeZone == "" {
		opt.TimeZone = "Asia/Shanghai"
	}
	if opt.Hold <= 0 {
		opt.Hold = PayHold
	}
	if opt.PayTimeout <= 0 {
		opt.PayTimeout = opt.Hold + 5*time.Second
	}
	if opt.CallTimeout <= 0 {
		opt.CallTimeout = 10 * time.Second
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.HTTP == nil {
		opt.HTTP = providers.NewHTTPClient()
	}
	loc, err := Location(opt.TimeZone)
	if err != nil {
		return nil, err
	}
	return &Client{opt: opt, loc: loc}, nil
}

// Location reads a time_zone as the document writes it: an IANA name
// (Asia/Shanghai) or an offset (+08:00). China's zone is known without
// the system's zone database.
func Location(tz string) (*time.Location, error) {
	if len(tz) == 6 && (tz[0] == '+' || tz[0] == '-') && tz[3] == ':' {
		h, err1 := strconv.Atoi(tz[1:3])
		m, err2 := strconv.Atoi(tz[4:])
		if err1 == nil && err2 == nil && h <= 14 && m < 60 {
			off := h*3600 + m*60
			if tz[0] == '-' {
				off = -off
			}
			return time.FixedZone(tz, off), nil
		}
	}
	if tz == "Asia/Shanghai" {
		if loc, err := time.LoadLocation(tz); err == nil {
			return loc, nil
		}
		return time.FixedZone("CST", 8*3600), nil // no zone database on this system: China has one offset
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, fmt.Errorf("fufu: time_zone %q is neither a zone name nor an offset like +08:00", tz)
	}
	return loc, nil
}

// Account names the merchant the client charges for.
func (c *Client) Account() string { return c.opt.BusiID }

// PayHold is FuFu's: a pay is held 80 s (or the configured pay_hold)
// before the gateway revokes it.
func (c *Client) PayHold() time.Duration { return c.opt.Hold }

// CancelNotBefore is FuFu's cancel window (document 2.6): not within 15 s
// of the order's creation, and only from 01:00 to 23:00 the gateway's
// local time. posd counts from when it sent the pay, which is before the
// gateway created the order, and its clock is not the gateway's: it waits
// cancelMargin more, since a cancel refused as too early costs an attempt.
func (c *Client) CancelNotBefore(created, now time.Time) time.Time {
	at := now
	if early := created.Add(15*time.Second + cancelMargin); early.After(at) {
		at = early
	}
	local := at.In(c.loc)
	day := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, c.loc)
	switch {
	case local.Hour() < 1:
		return day.Add(time.Hour)
	case local.Hour() >= 23:
		return day.AddDate(0, 0, 1).Add(time.Hour)
	}
	return at
}

// call signs body and sends it to op, returning the parsed answer.
func (c *Client) call(ctx context.Context, op string, body any, timeout time.Duration) (*envelope, []byte, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: encoding request: %w", payflow.ErrNotSent, err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ts := strconv.FormatInt(c.opt.Now().UnixMilli(), 10)
	url := c.opt.BaseURL + "/" + op + "?sign=" + Sign(ts, c.opt.Key, b) + ":" + ts
	var env envelope
	status, raw, err := providers.PostJSON(ctx, c.opt.HTTP, "fufu /"+op, url, http.Header{"Content-Type": {"application/json;charset=UTF-8"}}, b, &env)
	if err != nil {
		return nil, raw, err
	}
	if env.Result.ReturnCode == "" {
		return nil, raw, &providers.GatewayError{Gateway: "fufu", Status: status, Code: "BAD_RESPONSE", Message: fmt.Sprintf("an answer to /%s without result.return_code (HTTP %d)", op, status)}
	}
	return &env, raw, nil
}

// outcome builds the normalized outcome of an answer.
func outcome(call string, env *envelope, raw []byte) payflow.Outcome {
	o := payflow.Outcome{Kind: classify(call, env), Raw: raw}
	if r := env.Result; string(r.ReturnCode) != "SUCCESS" && string(r.ReturnCode) != "SUCESS" {
		o.Code, o.Message = "RESULT_"+string(r.ReturnCode), string(r.ReturnMsg)
		if r.ReturnMsg != "" {
			o.Code = string(r.ReturnMsg)
		}
		return o
	}
	d := env.Data
	if d == nil {
		o.Code, o.Message = "NO_DATA", "the gateway answered without data"
		return o
	}
	o.Code, o.Message = string(d.ReturnCode), string(d.ReturnMsg)
	if d.ReturnCode == "FAIL" && d.ReturnMsg != "" {
		o.Code = string(d.ReturnMsg)
	} else if d.State != "" {
		o.Code = "STATE_" + string(d.State)
	}
	o.GatewayTradeNo = string(d.TradeNo)
	o.ChannelTradeNo = string(d.ChannelTradeNo)
	o.Channel = channels[string(d.ChannelType)]
	o.Funding = string(d.Credit)
	o.OrderNo = string(d.OutTradeNo)
	if n, why, ok := providers.Amount("total_fee", d.TotalFee); ok {
		o.Amount = n
	} else {
		o.Kind, o.Message = payflow.Unknown, why
	}
	return o
}

func (c *Client) operator(op string) string { return providers.Operator(op, c.opt.TillID) }

// Pay charges the scanned code (/order, held up to 80 s by the gateway).
func (c *Client) Pay(ctx context.Context, r payflow.PayRequest) (payflow.Outcome, error) {
	env, raw, err := c.call(ctx, callPay, orderBody{
		BusiID: c.opt.BusiID, OperatorID: c.operator(r.Operator), TerminalID: providers.Clip(r.TillID, 32), StoreID: c.opt.StoreID,
		TotalFee: r.Amount, ChannelType: channelTypes[r.Channel], AuthCode: r.AuthCode, OutTradeNo: r.OrderNo,
		PaySubject: providers.Subject(r.Subject, r.OrderID, 100), FeeType: c.opt.FeeType, TimeZone: c.opt.TimeZone,
	}, c.opt.PayTimeout)
	if err != nil {
		return payflow.Outcome{Raw: raw}, err
	}
	return outcome(callPay, env, raw), nil
}

func (c *Client) ref(r payflow.OrderRef) refOrderBody {
	return refOrderBody{BusiID: c.opt.BusiID, OperatorID: c.operator(""), TerminalID: providers.Clip(r.TillID, 32),
		OutTradeNo: r.OrderNo, TradeNo: r.GatewayTradeNo, TimeZone: c.opt.TimeZone}
}

// Query asks for an order's state, by trade_no when known.
func (c *Client) Query(ctx context.Context, r payflow.OrderRef) (payflow.Outcome, error) {
	b := c.ref(r)
	b.OperatorID, b.TerminalID = "", ""
	return c.simple(ctx, callQuery, b)
}

// Cancel revokes an unpaid order (/cancel), within FuFu's cancel window.
func (c *Client) Cancel(ctx context.Context, r payflow.OrderRef) (payflow.Outcome, error) {
	return c.simple(ctx, callCancel, c.ref(r))
}

// Close closes an unpaid pre-order (/close).
func (c *Client) Close(ctx context.Context, r payflow.OrderRef) (payflow.Outcome, error) {
	b := c.ref(r)
	b.TradeNo = ""
	return c.simple(ctx, callClose, b)
}

func (c *Client) simple(ctx context.Context, call string, body any) (payflow.Outcome, error) {
	env, raw, err := c.call(ctx, call, body, c.opt.CallTimeout)
	if err != nil {
		return payflow.Outcome{Raw: raw}, err
	}
	return outcome(call, env, raw), nil
}

// Refund refunds part or all of a paid order; RequestNo is its stable
// out_refund_no.
func (c *Client) Refund(ctx context.Context, r payflow.RefundRequest) (payflow.Outcome, error) {
	env, raw, err := c.call(ctx, callRefund, refundBody{
		BusiID: c.opt.BusiID, OperatorID: c.operator(r.Operator), TerminalID: providers.Clip(r.TillID, 32), RefundFee: r.Amount,
		RefundSubject: providers.Clip(orDefault(r.Reason, "退款"), 100), OutTradeNo: r.OrderNo, TradeNo: r.GatewayTradeNo,
		OutRefundNo: r.RequestNo, FeeType: c.opt.FeeType, TimeZone: c.opt.TimeZone,
	}, c.opt.CallTimeout)
	if err != nil {
		return payflow.Outcome{Raw: raw}, err
	}
	o := outcome(callRefund, env, raw)
	o.GatewayTradeNo = ""
	if d := env.Data; d != nil {
		o.GatewayTradeNo = string(d.RefundNo)
		o.Kind, o.Message = sameRefund(o, d, r)
	}
	return o, nil
}

// sameRefund holds a refund answer against the refund asked about: an
// answer about another refund number, or a refund of another amount, is no
// outcome (in doubt).
func sameRefund(o payflow.Outcome, d *data, r payflow.RefundRequest) (payflow.Kind, string) {
	switch {
	case d.OutRefundNo != "" && string(d.OutRefundNo) != r.RequestNo:
		return payflow.Unknown, fmt.Sprintf("the answer is about refund %s, not %s", d.OutRefundNo, r.RequestNo)
	case o.Kind == payflow.Succeeded && d.RefundFee != "" && string(d.RefundFee) != strconv.FormatInt(r.Amount, 10):
		return payflow.Unknown, fmt.Sprintf("the refund was for %s fen, not %d", d.RefundFee, r.Amount)
	}
	return o.Kind, o.Message
}

// QueryRefund asks what became of refund r.RequestNo (/refundQuery, whose
// out_trade_no is the refund's number).
func (c *Client) QueryRefund(ctx context.Context, r payflow.RefundRequest) (payflow.Outcome, error) {
	b := refOrderBody{BusiID: c.opt.BusiID, OperatorID: c.operator(r.Operator), TerminalID: providers.Clip(r.TillID, 32), OutTradeNo: r.RequestNo, TimeZone: c.opt.TimeZone}
	env, raw, err := c.call(ctx, callRefundQuery, b, c.opt.CallTimeout)
	if err != nil {
		return payflow.Outcome{Raw: raw}, err
	}
	o := outcome(callRefundQuery, env, raw)
	o.OrderNo, o.GatewayTradeNo = "", "" // out_trade_no is the refund's number here
	if d := env.Data; d != nil {
		d.OutRefundNo = d.OutTradeNo // the refund query echoes the refund's number as out_trade_no
		o.Kind, o.Message = sameRefund(o, d, r)
	}
	return o, nil
}

// Precreate creates an order the customer pays by scanning the returned
// QR code (/preOrder, trade_type QRCODE); the gateway revokes it after
// five minutes unpaid.
func (c *Client) Precreate(ctx context.Context, r payflow.PayRequest) (string, payflow.Outcome, error) {
	env, raw, err := c.call(ctx, callPreOrder, preOrderBody{
		BusiID: c.opt.BusiID, OperatorID: c.operator(r.Operator), StoreID: c.opt.StoreID, TotalFee: r.Amount,
		OutTradeNo: r.OrderNo, PaySubject: providers.Subject(r.Subject, r.OrderID, 100), FeeType: c.opt.FeeType, TradeType: "QRCODE", TimeZone: c.opt.TimeZone,
	}, c.opt.CallTimeout)
	if err != nil {
		return "", payflow.Outcome{Raw: raw}, err
	}
	o := outcome(callPreOrder, env, raw)
	if o.Kind != payflow.Succeeded || env.Data == nil {
		return "", o, nil
	}
	return string(env.Data.QRCode), o, nil
}

// channelTypes are the channel_type posd sends for a code's wallet (3.2):
// Alipay 1, WeChat 2; anything else 0, the gateway telling it itself.
var channelTypes = map[string]int{"alipay": 1, "wechat": 2}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
