// Package providers holds what posd's gateway clients share: an HTTP call
// that tells "never sent" from "sent, answer lost", and the typed error for
// a gateway's own error answers. Each gateway lives in a sub-package.
package providers

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync/atomic"
	"time"

	"github.com/tillworks/posd/payflow"
)

// GatewayError is a gateway's answer that carries an error code: an HTTP
// error status or a protocol-level error. Callers branch on Code.
type GatewayError struct {
	Gateway string
	Status  int    // HTTP status, 0 if the HTTP exchange itself succeeded
	Code    string // the gateway's error code
	Message string // the gateway's words
}

func (e *GatewayError) Error() string {
	s := e.Gateway + " gateway"
	if e.Status != 0 {
		s += fmt.Sprintf(" answered HTTP %d", e.Status)
	}
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// maxResponse bounds what posd reads of a gateway's answer.
const maxResponse = 1 << 20

// NewHTTPClient is the HTTP client a gateway client uses unless it is given
// one: the environment's proxy, bounded dials and TLS handshakes, a few
// idle connections kept, at most MaxConnsPerHost open.
func NewHTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout: 10 * time.Second,
		MaxIdleConnsPerHost: 4,
		MaxConnsPerHost:     MaxConnsPerHost,
		IdleConnTimeout:     90 * time.Second,
	}}
}

// Operator is the operator id a gateway is sent: the cashier, else the
// till, clipped to the gateway's 32 characters.
func Operator(op, tillID string) string {
	if op == "" {
		op = tillID
	}
	return Clip(op, 32)
}

// MaxConnsPerHost caps the connections a gateway client opens to its
// gateway. The engine already bounds the calls of work resumed at start
// (payflow's lanes); this is the last guard against flooding a gateway,
// set above what the engine sends so that no call waits here for long.
const MaxConnsPerHost = 32

// Post sends body to url and returns the HTTP status and the response body.
// When the request failed before its headers were written to a connection
// (DNS, connect, TLS handshake), the error wraps payflow.ErrNotSent: the
// gateway cannot have acted on it. Any later failure is in doubt.
func Post(ctx context.Context, c *http.Client, url string, header http.Header, body []byte) (int, []byte, error) {
	var sent atomic.Bool
	trace := &httptrace.ClientTrace{WroteHeaders: func() { sent.Store(true) }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, fmt.Errorf("%w: building request to %s: %w", payflow.ErrNotSent, url, err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		if !sent.Load() {
			return 0, nil, fmt.Errorf("%w: %w", payflow.ErrNotSent, err)
		}
		return 0, nil, fmt.Errorf("request sent, answer lost: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return resp.StatusCode, b, fmt.Errorf("request sent, answer cut short: %w", err)
	}
	return resp.StatusCode, b, nil
}
