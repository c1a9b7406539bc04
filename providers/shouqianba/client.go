// Package shouqianba is posd's client for the Shouqianba (收钱吧) upay v2
// gateway: B-scans-C pay, query, cancel, refund, precreate and revoke, the
// terminal's activation and daily check-in, and the mapping of the
// vendor's result codes to posd's outcomes (outcome.go).
//
// The vendor's document is shared/spec/shouqianba-upay-v2.txt; where this
// package departs from its examples, docs/shouqianba.md says why.
package shouqianba

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/tillworks/posd/internal/failpoint"
	"github.com/tillworks/posd/payflow"
	"github.com/tillworks/posd/providers"
)

// DefaultBaseURL is the production gateway.
const DefaultBaseURL = "https://vsi-api.shouqianba.com"

// Options configure a Client.
type Options struct {
	BaseURL     string
	DeviceID    string
	TillID      string        // the operator when a payment names none
	PayTimeout  time.Duration // one pay request; the gateway may hold it ~45 s
	CallTimeout time.Duration // every other request
	Terminal    TerminalFile  // where the terminal's credentials live
	// Initial credentials from the configuration, used (and saved to
	// Terminal) when the file does not exist yet.
	Initial Terminal
	HTTP    *http.Client // nil: a client with the system's TLS roots
	Now     func() time.Time
	Logger  *slog.Logger
}

// Client is a payflow.Provider for Shouqianba.
type Client struct {
	opt  Options
	http *http.Client

	mu         sync.Mutex // guards term and checkingIn; never held over the network
	term       Terminal
	checkingIn chan struct{} // closed when the check-in in flight ends; nil when none is
}

// New loads the terminal's credentials and returns a client. It fails with
// ErrNotActivated when the till has none.
func New(opt Options) (*Client, error) {
	if opt.BaseURL == "" {
		opt.BaseURL = DefaultBaseURL
	}
	opt.BaseURL = strings.TrimRight(opt.BaseURL, "/")
	if opt.PayTimeout <= 0 {
		opt.PayTimeout = 50 * time.Second
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
	t, err := opt.Terminal.Load()
	if errors.Is(err, ErrNotActivated) && opt.Initial.SN != "" && opt.Initial.Key != "" {
		t = opt.Initial
		t.UpdatedAt = opt.Now()
		err = opt.Terminal.Save(t)
	}
	if err != nil {
		return nil, err
	}
	if t.DeviceID != "" && opt.DeviceID != "" && opt.DeviceID != t.DeviceID {
		opt.Logger.Warn("device_id in the configuration differs from the one the terminal was activated with; using the terminal's",
			"configured", opt.DeviceID, "terminal", t.DeviceID, "file", opt.Terminal.Path)
	}
	if opt.Initial.SN != "" && opt.Initial.SN != t.SN {
		opt.Logger.Warn("terminal_sn in the configuration differs from the saved terminal; using the saved one (move the terminal file away to use the configured one)",
			"configured", opt.Initial.SN, "saved", t.SN, "file", opt.Terminal.Path)
	}
	return &Client{opt: opt, http: opt.HTTP, term: t}, nil
}

// PayHold is how long one pay request may take (pay_request_timeout):
// the engine's pay window is at least that, so the request is not cut
// short by pay_timeout.
func (c *Client) PayHold() time.Duration { return c.opt.PayTimeout }

// deviceID is the device_id to send: the one the terminal was activated
// with, else the configured one, else the till's id (terminals activated
// before posd kept theirs were activated with it).
func (c *Client) deviceID() string {
	c.mu.Lock()
	d := c.term.DeviceID
	c.mu.Unlock()
	switch {
	case d != "":
		return d
	case c.opt.DeviceID != "":
		return c.opt.DeviceID
	}
	return c.opt.TillID
}

// Terminal returns the credentials in use (for status displays; the key
// must not be logged).
func (c *Client) Terminal() Terminal {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.term
}

// post signs the exact bytes it sends and returns the parsed answer with
// its raw bytes. An error wrapping payflow.ErrNotSent means nothing left.
func post(ctx context.Context, hc *http.Client, url, signer, key string, body any, timeout time.Duration) (*envelope, []byte, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: encoding request: %w", payflow.ErrNotSent, err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	header := http.Header{
		"Content-Type":  {"application/json"},
		"Authorization": {signer + " " + Sign(b, key)},
	}
	var env envelope
	status, raw, err := providers.PostJSON(ctx, hc, "shouqianba "+pathOf(url), url, header, b, &env)
	if err != nil {
		return nil, raw, err
	}
	if env.ResultCode == "" {
		return nil, raw, &providers.GatewayError{Gateway: "shouqianba", Status: status, Code: "BAD_RESPONSE",
			Message: fmt.Sprintf("an answer to %s without result_code (HTTP %d)", pathOf(url), status)}
	}
	return &env, raw, nil
}

func pathOf(url string) string {
	if i := strings.Index(url, "//"); i >= 0 {
		if j := strings.Index(url[i+2:], "/"); j >= 0 {
			return url[i+2+j:]
		}
	}
	return url
}

// call checks in if today's check-in is due, then sends body to path
// signed with the terminal's key and maps the answer.
func (c *Client) call(ctx context.Context, call, path string, body func(sn string) any, timeout time.Duration) (payflow.Outcome, *envelope, error) {
	c.ensureCheckedIn(ctx)
	c.mu.Lock()
	t := c.term
	c.mu.Unlock()
	env, raw, err := post(ctx, c.http, c.opt.BaseURL+path, t.SN, t.Key, body(t.SN), timeout)
	if err == nil && env.ErrorCode == "ILLEGAL_SIGN" {
		// A check-in may have made our key too old while this call was on
		// its way (two rotations after a lost check-in answer). The gateway
		// checks the signature before anything else, so nothing happened:
		// send it again once with the key the check-in saved.
		c.WaitCheckin()
		c.mu.Lock()
		now := c.term
		c.mu.Unlock()
		if now.Key != t.Key {
			env, raw, err = post(ctx, c.http, c.opt.BaseURL+path, now.SN, now.Key, body(now.SN), timeout)
		}
	}
	if err != nil {
		return payflow.Outcome{Raw: raw}, nil, err
	}
	return outcome(call, env, raw), env, nil
}

// outcome builds the normalized outcome of an answer.
func outcome(call string, env *envelope, raw []byte) payflow.Outcome {
	o := payflow.Outcome{Kind: classify(call, env), Raw: raw}
	if env.ResultCode != "200" {
		o.Code, o.Message = string(env.ErrorCode), string(env.ErrorMessage)
		if o.Code == "" {
			o.Code = "RESULT_" + string(env.ResultCode)
		}
		return o
	}
	b := env.BizResponse
	if b == nil {
		o.Code, o.Message = "NO_BIZ_RESPONSE", "the gateway answered without a business response"
		return o
	}
	o.Code, o.Message = string(b.ResultCode), string(b.ErrorMessage)
	if b.ErrorCode != "" {
		o.Code = string(b.ErrorCode)
	}
	if d := b.Data; d != nil {
		if call == callQuery && b.ResultCode == "SUCCESS" {
			o.Code = string(d.OrderStatus)
		}
		o.GatewayTradeNo = string(d.SN)
		o.ChannelTradeNo = string(d.TradeNo)
		o.Channel = Channel(string(d.Payway))
		// What the answer says it is about, for the engine to check.
		o.OrderNo = string(d.ClientSN)
		if n, why, ok := providers.Amount("total_amount", d.TotalAmount); ok {
			o.Amount = n
		} else {
			o.Kind, o.Message = payflow.Unknown, why
		}
	}
	return o
}

func (c *Client) operator(op string) string { return providers.Operator(op, c.opt.TillID) }

// Pay charges the customer's code (B scans C).
func (c *Client) Pay(ctx context.Context, r payflow.PayRequest) (payflow.Outcome, error) {
	o, _, err := c.call(ctx, callPay, "/upay/v2/pay", func(sn string) any {
		return payBody{TerminalSN: sn, ClientSN: r.OrderNo, TotalAmount: fen(r.Amount), DynamicID: r.AuthCode,
			Subject: providers.Subject(r.Subject, r.OrderID, 64), Operator: c.operator(r.Operator), DeviceID: providers.Clip(c.deviceID(), 32)}
	}, c.opt.PayTimeout)
	return o, err
}

// orderBody names the order by Shouqianba's sn when it is known, else by
// posd's client_sn; the gateway looks sn up first.
func orderRef(sn string, r payflow.OrderRef) orderBody {
	if r.GatewayTradeNo != "" {
		return orderBody{TerminalSN: sn, SN: r.GatewayTradeNo}
	}
	return orderBody{TerminalSN: sn, ClientSN: r.OrderNo}
}

// Query asks for an order's state.
func (c *Client) Query(ctx context.Context, r payflow.OrderRef) (payflow.Outcome, error) {
	o, _, err := c.call(ctx, callQuery, "/upay/v2/query", func(sn string) any { return orderRef(sn, r) }, c.opt.CallTimeout)
	return o, err
}

// Cancel cancels an order that is unpaid or in doubt (撤单); a paid order
// is reversed.
func (c *Client) Cancel(ctx context.Context, r payflow.OrderRef) (payflow.Outcome, error) {
	o, _, err := c.call(ctx, callCancel, "/upay/v2/cancel", func(sn string) any { return orderRef(sn, r) }, c.opt.CallTimeout)
	return o, err
}

// Revoke reverses a paid order in full on the day it was paid (撤销), the
// same as a cancel at the gateway but meant for finished orders.
func (c *Client) Revoke(ctx context.Context, r payflow.OrderRef) (payflow.Outcome, error) {
	o, _, err := c.call(ctx, callCancel, "/upay/v2/revoke", func(sn string) any { return orderRef(sn, r) }, c.opt.CallTimeout)
	return o, err
}

// Refund refunds part or all of a paid order. RequestNo (≤ 20 characters)
// is the gateway's de-duplication key, the same on every retry.
func (c *Client) Refund(ctx context.Context, r payflow.RefundRequest) (payflow.Outcome, error) {
	if len(r.RequestNo) > 20 {
		return payflow.Outcome{}, fmt.Errorf("%w: refund_request_no %q is longer than 20 characters", payflow.ErrNotSent, r.RequestNo)
	}
	o, _, err := c.call(ctx, callRefund, "/upay/v2/refund", func(sn string) any {
		return refundBody{TerminalSN: sn, SN: r.GatewayTradeNo, ClientSN: r.OrderNo, RefundRequestNo: r.RequestNo,
			Operator: c.operator(r.Operator), RefundAmount: fen(r.Amount)}
	}, c.opt.CallTimeout)
	return o, err
}

// precreatePayways are the payway a QR payment's wallet is precreated
// with: the gateway makes one code per wallet, so the wallet is required.
var precreatePayways = map[string]string{"alipay": "2", "wechat": "3", "unionpay": "17"}

// QRWallets are the channels a QR payment may name here
// (payflow.QRWalleter): one code per wallet.
func (c *Client) QRWallets() []string { return []string{"alipay", "unionpay", "wechat"} }

// Precreate creates an order paid by the customer scanning the returned
// QR code content (C scans B); its outcome is then followed with Query.
// r.Channel names the wallet (alipay, wechat, unionpay): the gateway
// makes one code per wallet.
func (c *Client) Precreate(ctx context.Context, r payflow.PayRequest) (qrCode string, o payflow.Outcome, err error) {
	payway, ok := precreatePayways[r.Channel]
	if !ok {
		return "", payflow.Outcome{}, fmt.Errorf("%w: shouqianba makes one QR code per wallet: name the channel (alipay, wechat or unionpay), not %q", payflow.ErrNotSent, r.Channel)
	}
	o, env, err := c.call(ctx, callPrecreate, "/upay/v2/precreate", func(sn string) any {
		return precreateBody{TerminalSN: sn, ClientSN: r.OrderNo, TotalAmount: fen(r.Amount), Payway: payway,
			Subject: providers.Subject(r.Subject, r.OrderID, 64), Operator: c.operator(r.Operator), DeviceID: providers.Clip(c.deviceID(), 32)}
	}, c.opt.CallTimeout)
	if err == nil && o.Kind == payflow.Succeeded && env.BizResponse != nil && env.BizResponse.Data != nil {
		qrCode = string(env.BizResponse.Data.QRCode)
	}
	return qrCode, o, err
}

// ensureCheckedIn starts the day's check-in on the first call of each
// local day: the gateway answers a new key, which is saved durably before
// it is used. A lost answer is retried, signed with the old key (still
// valid: after a check-in the gateway accepts the current and the previous
// key). If the check-in cannot be done, calls go on with the current key.
//
// The check-in runs beside the calls, one at a time, and no lock is held
// over the network: calls made meanwhile sign with the current key (valid
// until the new one is saved) instead of queueing behind a slow gateway.
func (c *Client) ensureCheckedIn(context.Context) {
	c.mu.Lock()
	defer c.mu.Unlock()
	today := c.opt.Now().Format(time.DateOnly)
	if c.term.CheckedIn == today || c.checkingIn != nil {
		return
	}
	done := make(chan struct{})
	c.checkingIn = done
	go func() {
		defer close(done)
		ctx, cancel := context.WithTimeout(context.Background(), 3*c.opt.CallTimeout)
		defer cancel()
		c.checkin(ctx, today)
	}()
}

// WaitCheckin waits for the check-in in flight, if any.
func (c *Client) WaitCheckin() {
	c.mu.Lock()
	done := c.checkingIn
	c.mu.Unlock()
	if done != nil {
		<-done
	}
}

// checkin runs one day's check-in and saves the new key.
func (c *Client) checkin(ctx context.Context, today string) {
	c.mu.Lock()
	term := c.term
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.checkingIn = nil
		c.mu.Unlock()
	}()
	log := c.opt.Logger.With("terminal_sn", term.SN)
	for attempt := 1; attempt <= 2; attempt++ {
		sn, key, err := checkin(ctx, c.http, c.opt.BaseURL, term, c.deviceID(), c.opt.CallTimeout)
		if err == nil {
			failpoint.Hit(failpoint.CheckinAnswered)
			next := term
			next.PreviousKey, next.Key, next.CheckedIn, next.UpdatedAt = next.Key, key, today, c.opt.Now()
			if sn != "" && sn != term.SN {
				// The gateway names the terminal anew with its key: both go
				// together from now on.
				log.Warn("check-in answered another terminal_sn; using it", "new_terminal_sn", sn)
				next.SN, next.PreviousKey = sn, ""
			}
			c.mu.Lock()
			defer c.mu.Unlock()
			if err := c.opt.Terminal.Save(next); err != nil {
				log.Error("check-in: the new key could not be saved; signing with the previous key, which the gateway still accepts", "err", err)
				return
			}
			c.term = next
			log.Info("checked in: terminal key rotated")
			return
		}
		if errors.Is(err, payflow.ErrNotSent) {
			log.Warn("check-in: gateway unreachable; signing with the current key", "err", err)
			return
		}
		var ge *providers.GatewayError
		if errors.As(err, &ge) && ge.Code == "ILLEGAL_SIGN" {
			log.Error("check-in: the gateway refused the terminal key (expired or unknown); payments will fail until the till is activated again with a new activation code", "err", err)
			return
		}
		log.Warn("check-in failed", "attempt", attempt, "err", err)
	}
}

// checkin asks for a new key, signed with t's current key. The answer
// may name the terminal too (sn, "" when it does not).
func checkin(ctx context.Context, hc *http.Client, base string, t Terminal, deviceID string, timeout time.Duration) (sn, key string, err error) {
	env, _, err := post(ctx, hc, base+"/terminal/checkin", t.SN, t.Key, checkinBody{TerminalSN: t.SN, DeviceID: providers.Clip(deviceID, 32)}, timeout)
	if err != nil {
		return "", "", err
	}
	key, err = credential(env, "check-in")
	if err != nil {
		return "", "", err
	}
	return string(env.BizResponse.TerminalSN), key, nil
}

// credential reads the terminal key out of an activate or check-in answer.
func credential(env *envelope, what string) (string, error) {
	if env.ResultCode != "200" {
		return "", &providers.GatewayError{Gateway: "shouqianba", Code: string(env.ErrorCode), Message: what + ": " + string(env.ErrorMessage)}
	}
	b := env.BizResponse
	if b == nil || b.TerminalKey == "" {
		code := ""
		if b != nil {
			code = string(b.ErrorCode)
		}
		return "", &providers.GatewayError{Gateway: "shouqianba", Code: code, Message: what + " answered no terminal key"}
	}
	return string(b.TerminalKey), nil
}

// Activation is what /terminal/activate needs.
type Activation struct {
	BaseURL   string
	VendorSN  string
	VendorKey string
	AppID     string
	Code      string // the activation code from the merchant's store
	DeviceID  string
}

// Activate exchanges an activation code for the terminal's serial number
// and key (signed with the vendor key) and saves them in f. It refuses to
// replace an existing terminal: activation codes are single-use.
func Activate(ctx context.Context, hc *http.Client, a Activation, f TerminalFile, now time.Time) (Terminal, error) {
	if old, err := f.Load(); err == nil {
		return old, fmt.Errorf("shouqianba: this till is already activated as terminal %s (%s); move that file away first to activate it again", old.SN, f.Path)
	}
	for k, v := range map[string]string{"vendor_sn": a.VendorSN, "vendor_key": a.VendorKey, "app_id": a.AppID, "activation_code": a.Code, "device_id": a.DeviceID} {
		if v == "" {
			return Terminal{}, fmt.Errorf("shouqianba: activation needs %s in the gateway's configuration", k)
		}
	}
	if hc == nil {
		hc = providers.NewHTTPClient()
	}
	base := strings.TrimRight(a.BaseURL, "/")
	if base == "" {
		base = DefaultBaseURL
	}
	env, _, err := post(ctx, hc, base+"/terminal/activate", a.VendorSN, a.VendorKey,
		activateBody{AppID: a.AppID, Code: a.Code, DeviceID: providers.Clip(a.DeviceID, 32)}, 30*time.Second)
	if err != nil {
		return Terminal{}, fmt.Errorf("shouqianba: activation: %w", err)
	}
	key, err := credential(env, "activation")
	if err != nil {
		return Terminal{}, err
	}
	t := Terminal{SN: string(env.BizResponse.TerminalSN), Key: key, DeviceID: a.DeviceID, UpdatedAt: now}
	if t.SN == "" {
		return Terminal{}, &providers.GatewayError{Gateway: "shouqianba", Code: "NO_TERMINAL_SN", Message: "activation answered no terminal_sn"}
	}
	if err := f.Save(t); err != nil {
		return Terminal{}, err
	}
	return t, nil
}
