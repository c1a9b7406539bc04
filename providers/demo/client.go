package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/tillworks/posd/payflow"
	"github.com/tillworks/posd/providers"
)

// Client is the payflow.Provider that speaks to a demo Gateway over HTTP.
type Client struct {
	base        string
	http        *http.Client
	callTimeout time.Duration
}

// NewClient returns a client for the gateway at baseURL (http://host:port).
// Calls other than Pay time out after callTimeout; Pay is bounded by the
// engine's pay deadline.
func NewClient(baseURL string, callTimeout time.Duration) *Client {
	if callTimeout <= 0 {
		callTimeout = defaultCallTimeout
	}
	return &Client{
		base:        strings.TrimRight(baseURL, "/"),
		callTimeout: callTimeout,
		http:        providers.NewHTTPClient(),
	}
}

func (c *Client) call(ctx context.Context, path string, req any, timeout time.Duration) (response, []byte, error) {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	body, err := json.Marshal(req)
	if err != nil {
		return response{}, nil, fmt.Errorf("%w: encoding request: %w", payflow.ErrNotSent, err)
	}
	var resp response
	status, raw, err := providers.PostJSON(ctx, c.http, "demo gateway "+path, c.base+path, http.Header{"Content-Type": {"application/json"}}, body, &resp)
	if err != nil {
		return response{}, raw, err
	}
	if resp.Result == "" {
		return response{}, raw, &providers.GatewayError{Gateway: "demo", Status: status, Code: "BAD_RESPONSE", Message: fmt.Sprintf("an answer to %s without result (HTTP %d)", path, status)}
	}
	if status != http.StatusOK {
		return resp, raw, &providers.GatewayError{Gateway: "demo", Status: status, Code: resp.Code, Message: resp.Message}
	}
	return resp, raw, nil
}

// defaultCallTimeout bounds a call other than Pay when NewClient is given none.
const defaultCallTimeout = 10 * time.Second

func outcome(resp response, raw []byte) payflow.Outcome {
	o := payflow.Outcome{Code: resp.Code, Message: resp.Message, Raw: raw}
	if resp.Order != nil {
		o.GatewayTradeNo = resp.Order.TradeNo
		o.ChannelTradeNo = resp.Order.ChannelTradeNo
		o.Channel = resp.Order.Channel
		o.OrderNo, o.Amount = resp.Order.OrderNo, resp.Order.Amount
	}
	return o
}

// Pay charges the scanned code.
func (c *Client) Pay(ctx context.Context, r payflow.PayRequest) (payflow.Outcome, error) {
	resp, raw, err := c.call(ctx, "/v1/pay", payRequest{
		OrderNo: r.OrderNo, MerchantOrder: r.OrderID, Amount: r.Amount,
		AuthCode: r.AuthCode, Subject: r.Subject, Terminal: r.TillID,
	}, 0)
	o := outcome(resp, raw)
	if err != nil {
		return o, err
	}
	o.Kind = placed(resp)
	return o, nil
}

// placed is the kind of an answer to a request that places an order (a
// pay, a precreate).
func placed(resp response) payflow.Kind {
	switch resp.Result {
	case "SUCCESS":
		return payflow.Succeeded
	case "FAIL":
		if resp.Code == "ORDER_NO_CONFLICT" {
			// The number is taken, and posd places an order once: not ours.
			return payflow.Conflict
		}
		return payflow.Failed
	case "IN_PROGRESS":
		return payflow.InProgress
	case "ERROR":
		return payflow.Broken
	}
	return payflow.Unknown
}

// Precreate places an order the customer pays by scanning the returned QR
// code (C scans B); it is then followed with Query.
func (c *Client) Precreate(ctx context.Context, r payflow.PayRequest) (string, payflow.Outcome, error) {
	resp, raw, err := c.call(ctx, "/v1/precreate", precreateRequest{
		OrderNo: r.OrderNo, MerchantOrder: r.OrderID, Amount: r.Amount, Channel: r.Channel, Subject: r.Subject,
	}, c.callTimeout)
	o := outcome(resp, raw)
	if err != nil {
		return "", o, err
	}
	o.Kind = placed(resp)
	if resp.Order == nil {
		return "", o, nil
	}
	return resp.Order.QRCode, o, nil
}

// Query asks for an order's state.
func (c *Client) Query(ctx context.Context, r payflow.OrderRef) (payflow.Outcome, error) {
	resp, raw, err := c.call(ctx, "/v1/query", orderRequest{OrderNo: r.OrderNo}, c.callTimeout)
	o := outcome(resp, raw)
	if err != nil {
		return o, err
	}
	if resp.Result == "FAIL" && resp.Code == "ORDER_NOT_EXIST" {
		o.Kind = payflow.NotFound
		return o, nil
	}
	if resp.Result != "SUCCESS" || resp.Order == nil {
		return o, &providers.GatewayError{Gateway: "demo", Code: resp.Code, Message: resp.Message}
	}
	o.Code = resp.Order.Status
	switch resp.Order.Status {
	case StatusPaid:
		o.Kind = payflow.Succeeded
	case StatusCreated:
		o.Kind = payflow.InProgress
	case StatusFailed, StatusCancelled:
		o.Kind = payflow.Failed
		o.Message = "the order was closed unpaid"
	case StatusError:
		o.Kind = payflow.Broken
		o.Message = "the order is in an error state at the gateway"
	}
	return o, nil
}

// Cancel cancels (or reverses) an order.
func (c *Client) Cancel(ctx context.Context, r payflow.OrderRef) (payflow.Outcome, error) {
	resp, raw, err := c.call(ctx, "/v1/cancel", orderRequest{OrderNo: r.OrderNo}, c.callTimeout)
	o := outcome(resp, raw)
	if err != nil {
		return o, err
	}
	switch {
	case resp.Result == "SUCCESS":
		o.Kind = payflow.Succeeded
	case resp.Code == "ORDER_NOT_EXIST":
		o.Kind = payflow.NotFound
	default:
		o.Kind = payflow.Failed
	}
	return o, nil
}

// Refund refunds part or all of a paid order, idempotent on RequestNo.
func (c *Client) Refund(ctx context.Context, r payflow.RefundRequest) (payflow.Outcome, error) {
	resp, raw, err := c.call(ctx, "/v1/refund", refundRequest{OrderNo: r.OrderNo, RefundNo: r.RequestNo, Amount: r.Amount}, c.callTimeout)
	o := outcome(resp, raw)
	o.GatewayTradeNo = ""
	if err != nil {
		return o, err
	}
	switch resp.Result {
	case "SUCCESS":
		o.Kind = payflow.Succeeded
		o.GatewayTradeNo = "R" + r.RequestNo
	case "FAIL":
		o.Kind = payflow.Failed
		if resp.Code == "REFUND_NO_CONFLICT" {
			o.Kind = payflow.Conflict // the number was refunded with another amount
		}
	case "IN_PROGRESS":
		o.Kind = payflow.InProgress
	}
	return o, nil
}

// QueryRefund asks what became of one refund number (a
// payflow.RefundQuerier).
func (c *Client) QueryRefund(ctx context.Context, r payflow.RefundRequest) (payflow.Outcome, error) {
	resp, raw, err := c.call(ctx, "/v1/refund_query", refundRequest{OrderNo: r.OrderNo, RefundNo: r.RequestNo, Amount: r.Amount}, c.callTimeout)
	o := outcome(resp, raw)
	o.GatewayTradeNo = ""
	if err != nil {
		return o, err
	}
	switch {
	case resp.Result == "SUCCESS":
		o.Kind = payflow.Succeeded
		o.GatewayTradeNo = "R" + r.RequestNo
	case resp.Code == "REFUND_NOT_EXIST":
		o.Kind = payflow.NotFound
	}
	return o, nil
}

// Serve runs g on a loopback listener until ctx ends and returns its base
// URL. The daemon uses it when no external demo gateway is configured;
// the server runs through run (the daemon's goroutines, which it waits
// for at shutdown) and is shut down, its connections too, when ctx ends.
func Serve(ctx context.Context, g *Gateway, log *slog.Logger, run func(func())) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("demo gateway: %w", err)
	}
	srv := &http.Server{Handler: g, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan struct{})
	run(func() {
		defer close(served)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("demo gateway stopped", "err", err)
		}
	})
	run(func() {
		select {
		case <-ctx.Done():
		case <-served:
		}
		// Its connections end before this returns (the caller waits).
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if srv.Shutdown(sctx) != nil {
			srv.Close()
		}
	})
	return "http://" + ln.Addr().String(), nil
}
