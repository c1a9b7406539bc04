package localapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillworks/posd/localapi"
	"github.com/tillworks/posd/paycode"
	"github.com/tillworks/posd/payflow"
	"github.com/tillworks/posd/printer"
	"github.com/tillworks/posd/providers/demo"
	"github.com/tillworks/posd/store"
)

const token = "test-token-0123456789"

type env struct {
	server *localapi.Server
	t      testing.TB
	srv    *httptest.Server
	eng    *payflow.Engine
	gw     *demo.Gateway

	gatewayURL string
	st         *store.Store
	receipts   string
}

func newEnv(t testing.TB, mods ...func(*localapi.Options)) *env {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "posd.db"))
	require.NoError(t, err)
	gw, err := demo.NewGateway("", 0)
	require.NoError(t, err)
	gsrv := httptest.NewServer(gw)
	eng := payflow.NewEngine(payflow.Config{
		TillID: "till-01", PollInterval: 20 * time.Millisecond, PayTimeout: 2 * time.Second,
		CancelRetryInterval: 20 * time.Millisecond, CancelAttempts: 2, ScanTimeout: 5 * time.Second,
	}, st, payflow.One("demo", demo.NewClient(gsrv.URL, time.Second)), payflow.Options{Classify: paycode.Classifier})
	require.NoError(t, eng.Start(context.Background()))
	cs, _ := printer.LookupCharset("gb18030")
	receipts := filepath.Join(dir, "receipts")
	queue := &printer.Queue{Jobs: st, Transport: printer.FileTransport{Dir: receipts},
		Layout: printer.Layout{Paper: printer.Paper58, Charset: cs, StoreName: "测试店", TillID: "till-01"}}
	st.SetJobsDue(queue.DueReceipts) // as the daemon does
	qctx, qcancel := context.WithCancel(context.Background())
	qdone := make(chan struct{})
	events, stopEvents := eng.Bus().Subscribe(256)
	go func() { queue.Run(qctx, events, nil); close(qdone) }()
	opt := localapi.Options{
		Engine: eng, Token: token, AllowedOrigins: []string{"http://localhost:3000"},
		Version: "test", Provider: "demo", TillID: "till-01", JournalCheck: st.Check, Printer: queue,
		Backup: st.Backup,
	}
	for _, m := range mods {
		m(&opt)
	}
	api := localapi.New(opt)
	srv := httptest.NewServer(api)
	t.Cleanup(func() {
		srv.Close()
		qcancel()
		<-qdone
		stopEvents()
		eng.Close()
		gsrv.Close()
		st.Close()
	})
	return &env{server: api, t: t, srv: srv, eng: eng, gw: gw, gatewayURL: gsrv.URL, st: st, receipts: receipts}
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) json(t testing.TB, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal(r.body, v), string(r.body))
}

func (r reply) errCode(t *testing.T) string {
	t.Helper()
	var e struct {
		Error payflow.Error `json:"error"`
	}
	r.json(t, &e)
	assert.NotEmpty(t, e.Error.Message, "errors say what was wrong")
	return e.Error.Code
}

// call sends a request with the token; opts may change headers.
func (e *env) call(method, path, body string, opts ...func(*http.Request)) reply {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	require.NoError(e.t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	for _, o := range opts {
		o(req)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	return reply{resp.StatusCode, resp.Header, b}
}

func (e *env) payment(path string) *payflow.Payment {
	e.t.Helper()
	r := e.call("GET", path, "")
	require.Equal(e.t, 200, r.status, string(r.body))
	var p payflow.Payment
	r.json(e.t, &p)
	return &p
}

func (e *env) create(body string) (*payflow.Payment, reply) {
	e.t.Helper()
	r := e.call("POST", "/v1/payments", body)
	var p payflow.Payment
	if r.status < 300 {
		r.json(e.t, &p)
	}
	return &p, r
}

func (e *env) paid(order string, amount int) *payflow.Payment {
	e.t.Helper()
	p, r := e.create(`{"order_id":"` + order + `","amount":` + itoa(amount) + `,"auth_code":"134567890123456789"}`)
	require.Equal(e.t, 201, r.status, string(r.body))
	p = e.payment("/v1/payments/" + p.ID + "?wait=10")
	require.Equal(e.t, payflow.StatePaid, p.State)
	return p
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func withHeader(k, v string) func(*http.Request) { return func(r *http.Request) { r.Header.Set(k, v) } }

func TestGuards(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name   string
		method string
		path   string
		opts   []func(*http.Request)
		status int
		code   string
	}{
		{"health needs no token", "GET", "/v1/health", []func(*http.Request){withHeader("Authorization", "")}, 200, ""},
		{"the API's description needs no token", "GET", "/v1/openapi.json", []func(*http.Request){withHeader("Authorization", ""), withHeader("Origin", "http://evil.example")}, 200, ""},
		{"no token", "GET", "/v1/payments", []func(*http.Request){withHeader("Authorization", "")}, 401, "unauthorized"},
		{"wrong token", "GET", "/v1/payments", []func(*http.Request){withHeader("Authorization", "Bearer nope")}, 401, "unauthorized"},
		{"basic auth is not a token", "GET", "/v1/payments", []func(*http.Request){withHeader("Authorization", "Basic "+token)}, 401, "unauthorized"},
		{"rebinding host", "GET", "/v1/health", []func(*http.Request){func(r *http.Request) { r.Host = "evil.example:8421" }}, 403, "forbidden_host"},
		{"localhost host", "GET", "/v1/payments", []func(*http.Request){func(r *http.Request) { r.Host = "localhost:8421" }}, 200, ""},
		{"foreign origin", "GET", "/v1/payments", []func(*http.Request){withHeader("Origin", "http://evil.example")}, 403, "forbidden_origin"},
		{"allowed origin", "GET", "/v1/payments", []func(*http.Request){withHeader("Origin", "http://localhost:3000")}, 200, ""},
		{"unknown route", "GET", "/v1/nope", nil, 404, "not_found"},
		{"wrong method", "DELETE", "/v1/payments", nil, 405, "method_not_allowed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.call(tc.method, tc.path, "", tc.opts...)
			assert.Equal(t, tc.status, r.status, string(r.body))
			if tc.code != "" {
				assert.Equal(t, tc.code, r.errCode(t))
			}
		})
	}
	t.Run("CORS preflight", func(t *testing.T) {
		r := e.call("OPTIONS", "/v1/payments", "", withHeader("Origin", "http://localhost:3000"), withHeader("Authorization", ""))
		assert.Equal(t, 204, r.status)
		assert.Equal(t, "http://localhost:3000", r.header.Get("Access-Control-Allow-Origin"))
		assert.Contains(t, r.header.Get("Access-Control-Allow-Headers"), "Authorization")
	})
	t.Run("405 names the allowed methods", func(t *testing.T) {
		r := e.call("DELETE", "/v1/payments", "")
		assert.Equal(t, "GET, POST", r.header.Get("Allow"))
	})
}

func TestCreatePayment(t *testing.T) {
	e := newEnv(t)
	p, r := e.create(`{"order_id":"A1","amount":1250,"subject":"咖啡","operator":"op1","auth_code":"134567890123456789"}`)
	require.Equal(t, 201, r.status, string(r.body))
	assert.Equal(t, "/v1/payments/"+p.ID, r.header.Get("Location"))
	assert.Equal(t, "A1", p.OrderID)
	assert.Equal(t, int64(1250), p.Amount)
	assert.Equal(t, "CNY", p.Currency)
	assert.Equal(t, "1345**********6789", p.AuthCodeMasked)
	assert.NotContains(t, string(r.body), "134567890123456789", "the full code is never in API output")
	for _, field := range []string{"id", "order_id", "amount", "currency", "state", "channel", "auth_code_masked",
		"gateway_order_no", "channel_trade_no", "refunded_amount", "error", "created_at", "updated_at", "history"} {
		assert.Contains(t, string(r.body), `"`+field+`":`, field)
	}

	withItems, r := e.create(`{"order_id":"I1","amount":1100,"auth_code":"284567890123456789","items":[{"name":"拿铁","quantity":1,"amount":800},{"name":"Croissant","quantity":2,"amount":300},{"name":"Water","quantity":1,"amount":0}]}`)
	require.Equal(t, 201, r.status, string(r.body))
	assert.Equal(t, []payflow.Item{{Name: "拿铁", Quantity: 1, Amount: 800}, {Name: "Croissant", Quantity: 2, Amount: 300}, {Name: "Water", Quantity: 1, Amount: 0}}, withItems.Items)

	again, r := e.create(`{"order_id":"A1","amount":1250}`)
	assert.Equal(t, 200, r.status, "same order, same amount: the existing payment")
	assert.Equal(t, p.ID, again.ID)

	_, r = e.create(`{"order_id":"A1","amount":1300}`)
	assert.Equal(t, 409, r.status)
	assert.Equal(t, "order_conflict", r.errCode(t))

	waiting, r := e.create(`{"order_id":"B1","amount":100}`)
	require.Equal(t, 201, r.status)
	assert.Equal(t, payflow.StateAwaitingScan, waiting.State)
	_, r = e.create(`{"order_id":"B2","amount":100}`)
	assert.Equal(t, 409, r.status)
	assert.Equal(t, "scanner_busy", r.errCode(t))

	bad := []struct {
		body string
		code string
		says string
	}{
		{``, "invalid_request", "empty"},
		{`{`, "invalid_request", "JSON"},
		{`[1]`, "invalid_request", ""},
		{`{"order_id":"X","amount":12.5}`, "invalid_request", "integer number of fen"},
		{`{"order_id":"X","amount":"1250"}`, "invalid_request", "amount"},
		{`{"order_id":"X","amount":1e3}`, "invalid_request", "integer"},
		{`{"order_id":"X","amount":0}`, "invalid_request", "from 1"},
		{`{"order_id":"X","amount":-1}`, "invalid_request", "from 1"},
		{`{"order_id":"X","amount":10000000000}`, "invalid_request", "9999999999"},
		{`{"order_id":"X"}`, "invalid_request", "amount is required"},
		{`{"amount":5}`, "invalid_request", "order_id"},
		{`{"order_id":"X","amount":5,"ammount":5}`, "invalid_request", "ammount"},
		{`{"order_id":"X","amount":5,"currency":"USD"}`, "invalid_request", "CNY"},
		{`{"order_id":"X","amount":5} {}`, "invalid_request", "more than one"},
		{`{"order_id":"X","amount":5,"auth_code":"hello"}`, "invalid_auth_code", "digits"},
		{`{"order_id":"` + strings.Repeat("x", 70000) + `","amount":5}`, "invalid_request", ""},
		{`{"order_id":"X","amount":5,"items":[{"name":"咖啡","quantity":0,"amount":5}]}`, "invalid_request", "items[0].quantity"},
		{`{"order_id":"X","amount":5,"items":[{"name":"","quantity":1,"amount":5}]}`, "invalid_request", "items[0].name"},
		{`{"order_id":"X","amount":5,"items":[{"name":"a","quantity":1,"amount":2.5}]}`, "invalid_request", "items[0].amount"},
		{`{"order_id":"X","amount":5,"items":[{"name":"a","quantity":1,"amount":5,"sku":1}]}`, "invalid_request", "sku"},
		// Ambiguous bodies: encoding/json alone would take the last key, or
		// match a key in any case.
		{`{"order_id":"X","amount":5,"amount":500000}`, "invalid_request", `\"amount\" appears twice`},
		{`{"order_id":"X","amount":5,"AMOUNT":500000}`, "invalid_request", "differ only in case"},
		{`{"order_id":"X","Amount":5}`, "invalid_request", `must be spelled \"amount\"`},
		{`{"order_id":"X","amount":5,"items":[{"name":"a","quantity":1,"amount":5,"Amount":6}]}`, "invalid_request", "differ only in case"},
	}
	for _, b := range bad {
		_, r := e.create(b.body)
		assert.Equal(t, 400, r.status, b.body)
		assert.Equal(t, b.code, r.errCode(t), b.body)
		assert.Contains(t, string(r.body), b.says, b.body)
	}
}

func TestGetAndList(t *testing.T) {
	e := newEnv(t)
	p := e.paid("A1", 500)
	assert.Equal(t, p.ID, e.payment("/v1/payments/"+p.ID).ID)
	assert.Equal(t, p.ID, e.payment("/v1/payments?order_id=A1").ID)

	for _, path := range []string{"/v1/payments/pay_nope", "/v1/payments?order_id=nope"} {
		r := e.call("GET", path, "")
		assert.Equal(t, 404, r.status, path)
		assert.Equal(t, "not_found", r.errCode(t))
	}
	for _, path := range []string{"/v1/payments/" + p.ID + "?wait=61", "/v1/payments/" + p.ID + "?wait=x",
		"/v1/payments?date=21-11-2026", "/v1/payments?state=bogus"} {
		r := e.call("GET", path, "")
		assert.Equal(t, 400, r.status, path)
		assert.Equal(t, "invalid_request", r.errCode(t))
	}

	waiting, _ := e.create(`{"order_id":"B1","amount":100}`)
	var list localapi.PaymentList
	r := e.call("GET", "/v1/payments?date="+time.Now().Format(time.DateOnly), "")
	require.Equal(t, 200, r.status)
	r.json(t, &list)
	assert.Len(t, list.Payments, 2)
	r = e.call("GET", "/v1/payments?date="+time.Now().Format(time.DateOnly)+"&state=paid", "")
	r.json(t, &list)
	require.Len(t, list.Payments, 1)
	assert.Equal(t, p.ID, list.Payments[0].ID)
	r = e.call("GET", "/v1/payments?state=awaiting_scan", "")
	r.json(t, &list)
	require.Len(t, list.Payments, 1)
	assert.Equal(t, waiting.ID, list.Payments[0].ID)
	r = e.call("GET", "/v1/payments?date=2001-01-01", "")
	r.json(t, &list)
	assert.NotNil(t, list.Payments)
	assert.Empty(t, list.Payments)
}

// TestSlowBody: a client that sends headers and then stalls its body is
// answered (and its connection freed) after BodyTimeout; answers that
// take longer than that (long polls) are not cut by it.
func TestSlowBody(t *testing.T) {
	e := newEnv(t, func(o *localapi.Options) { o.BodyTimeout = 300 * time.Millisecond })
	c, err := net.Dial("tcp", strings.TrimPrefix(e.srv.URL, "http://"))
	require.NoError(t, err)
	defer c.Close()
	fmt.Fprintf(c, "POST /v1/payments HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"order_id\"", token)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	b, _ := io.ReadAll(c)
	assert.Less(t, time.Since(start), 4*time.Second, "the stalled body is not waited for")
	if len(b) > 0 {
		assert.Contains(t, string(b), "400 Bad Request")
	}

	p, _ := e.create(`{"order_id":"A1","amount":100}`)
	got := e.payment("/v1/payments/" + p.ID + "?wait=1")
	assert.Equal(t, payflow.StateAwaitingScan, got.State, "a long poll outlives the body timeout")
}

func TestLongPoll(t *testing.T) {
	e := newEnv(t)
	p, _ := e.create(`{"order_id":"A1","amount":100}`)
	start := time.Now()
	got := e.payment("/v1/payments/" + p.ID + "?wait=1")
	assert.Equal(t, payflow.StateAwaitingScan, got.State, "still waiting when the wait runs out")
	assert.GreaterOrEqual(t, time.Since(start), 900*time.Millisecond)

	go func() {
		time.Sleep(50 * time.Millisecond)
		e.call("POST", "/v1/scans", `{"code":"134567890123456789"}`)
	}()
	got = e.payment("/v1/payments?order_id=A1&wait=10")
	assert.Equal(t, payflow.StatePaid, got.State)
}

func TestCancel(t *testing.T) {
	e := newEnv(t)
	p, _ := e.create(`{"order_id":"A1","amount":100}`)
	r := e.call("POST", "/v1/payments/"+p.ID+"/cancel", "")
	require.Equal(t, 200, r.status, string(r.body))
	var got payflow.Payment
	r.json(t, &got)
	assert.Equal(t, payflow.StateCancelled, got.State)

	paid := e.paid("A2", 100)
	r = e.call("POST", "/v1/payments/"+paid.ID+"/cancel", "{}")
	assert.Equal(t, 409, r.status)
	assert.Equal(t, "not_cancellable", r.errCode(t))

	r = e.call("POST", "/v1/payments/pay_nope/cancel", "")
	assert.Equal(t, 404, r.status)
	assert.Equal(t, "not_found", r.errCode(t))

	r = e.call("POST", "/v1/payments/"+paid.ID+"/cancel", `{"why":1}`)
	assert.Equal(t, 400, r.status)
	assert.Equal(t, "invalid_request", r.errCode(t))

	// In doubt at the gateway (never paid): cancelled there.
	doubt, _ := e.create(`{"order_id":"A3","amount":100,"auth_code":"134567890123450003"}`)
	require.Eventually(t, func() bool { return e.payment("/v1/payments/"+doubt.ID).State == payflow.StateInDoubt }, 5*time.Second, 5*time.Millisecond)
	r = e.call("POST", "/v1/payments/"+doubt.ID+"/cancel", "")
	require.Equal(t, 200, r.status)
	got = *e.payment("/v1/payments/" + doubt.ID + "?wait=10")
	assert.Equal(t, payflow.StateCancelled, got.State)
}

func TestRefundRoute(t *testing.T) {
	e := newEnv(t)
	p := e.paid("A1", 1000)
	path := "/v1/payments/" + p.ID + "/refunds"
	r := e.call("POST", path, `{"refund_id":"R1","amount":300,"reason":"broken cup"}`)
	require.Equal(t, 201, r.status, string(r.body))
	var rr localapi.RefundResponse
	r.json(t, &rr)
	assert.Equal(t, "R1", rr.Refund.ID)
	assert.LessOrEqual(t, len(rr.Refund.RequestNo), 20)

	r = e.call("POST", path, `{"refund_id":"R1","amount":300}`)
	assert.Equal(t, 200, r.status, "idempotent on refund_id")

	got := e.payment("/v1/payments/" + p.ID + "?wait=10")
	assert.Equal(t, int64(300), got.RefundedAmount)

	for _, c := range []struct {
		path, body string
		status     int
		code       string
	}{
		{path, `{"refund_id":"R1","amount":301}`, 409, "refund_conflict"},
		{path, `{"refund_id":"R2","amount":701}`, 409, "refund_too_large"},
		{path, `{"amount":5}`, 400, "invalid_request"},
		{path, `{"refund_id":"R3","amount":1.5}`, 400, "invalid_request"},
		{path, `{"refund_id":"R3","amount":5,"extra":true}`, 400, "invalid_request"},
		{"/v1/payments/pay_nope/refunds", `{"refund_id":"R3","amount":5}`, 404, "not_found"},
	} {
		r := e.call("POST", c.path, c.body)
		assert.Equal(t, c.status, r.status, c.body)
		assert.Equal(t, c.code, r.errCode(t), c.body)
	}
	waiting, _ := e.create(`{"order_id":"B1","amount":100}`)
	r = e.call("POST", "/v1/payments/"+waiting.ID+"/refunds", `{"refund_id":"R1","amount":5}`)
	assert.Equal(t, 409, r.status)
	assert.Equal(t, "not_refundable", r.errCode(t))
}

func TestScanRoute(t *testing.T) {
	e := newEnv(t)
	r := e.call("POST", "/v1/scans", `{"code":"134567890123456789"}`)
	assert.Equal(t, 409, r.status)
	assert.Equal(t, "no_payment_waiting", r.errCode(t))

	p, _ := e.create(`{"order_id":"A1","amount":100}`)
	for _, body := range []string{`{"code":"12ab"}`, `{"code":""}`, `{"code":"1234567890123456789\u0007"}`} {
		r = e.call("POST", "/v1/scans", body)
		assert.Equal(t, 400, r.status, body)
		assert.Equal(t, "invalid_auth_code", r.errCode(t))
	}
	r = e.call("POST", "/v1/scans", `{"kode":"1"}`)
	assert.Equal(t, 400, r.status)
	assert.Equal(t, "invalid_request", r.errCode(t))

	r = e.call("POST", "/v1/scans", `{"code":"284567890123456789"}`)
	require.Equal(t, 200, r.status, string(r.body))
	var got payflow.Payment
	r.json(t, &got)
	assert.Equal(t, p.ID, got.ID)
	assert.Equal(t, "alipay", got.Channel)
	assert.Equal(t, payflow.StatePaid, e.payment("/v1/payments/"+p.ID+"?wait=10").State)
}

func TestEvents(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/v1/events?access_token="+token, nil)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))

	go e.create(`{"order_id":"A1","amount":100,"auth_code":"134567890123456789"}`)
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var seen []payflow.State
	var event string
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "event: "); ok {
			event = v
		}
		if v, ok := strings.CutPrefix(line, "data: "); ok && event == "payment" {
			assert.NotContains(t, v, "134567890123456789")
			var ev payflow.Event
			require.NoError(t, json.Unmarshal([]byte(v), &ev))
			seen = append(seen, ev.Payment.State)
			if ev.Payment.State == payflow.StatePaid {
				break
			}
		}
	}
	assert.Equal(t, []payflow.State{"paying", "paid"}, seen)

	r := e.call("GET", "/v1/events?access_token=wrong", "", withHeader("Authorization", ""))
	assert.Equal(t, 401, r.status)
}

func TestDailyReport(t *testing.T) {
	e := newEnv(t)
	p := e.paid("A1", 1000)
	e.paid("A2", 250)
	declined, _ := e.create(`{"order_id":"A3","amount":999,"auth_code":"134567890123450001"}`)
	assert.Equal(t, payflow.StateFailed, e.payment("/v1/payments/"+declined.ID+"?wait=10").State)
	r := e.call("POST", "/v1/payments/"+p.ID+"/refunds", `{"refund_id":"R1","amount":100}`)
	require.Equal(t, 201, r.status)
	e.payment("/v1/payments/" + p.ID + "?wait=10")

	r = e.call("GET", "/v1/reports/daily?date="+time.Now().Format(time.DateOnly), "")
	require.Equal(t, 200, r.status, string(r.body))
	var rep localapi.DailyReport
	r.json(t, &rep)
	assert.Equal(t, localapi.Totals{Count: 2, Amount: 1250}, rep.Paid)
	assert.Equal(t, localapi.Totals{Count: 1, Amount: 100}, rep.Refunded)
	assert.Equal(t, int64(1150), rep.Net)
	assert.Contains(t, rep.Rows, localapi.ReportRow{Channel: "wechat", Method: "code", State: "failed", Totals: localapi.Totals{Count: 1, Amount: 999}})
	assert.Contains(t, rep.Rows, localapi.ReportRow{Channel: "wechat", Method: "code", State: "paid", Totals: localapi.Totals{Count: 2, Amount: 1250}})

	r = e.call("GET", "/v1/reports/daily?date=yesterday", "")
	assert.Equal(t, 400, r.status)
	assert.Equal(t, "invalid_request", r.errCode(t))
}

func TestHealth(t *testing.T) {
	e := newEnv(t)
	var h localapi.Health
	r := e.call("GET", "/v1/health", "")
	r.json(t, &h)
	assert.Equal(t, "ok", h.Status)
	assert.Equal(t, "demo", h.Provider)
	assert.Equal(t, "ok", h.Journal)

	// A payment whose cancel fails every time ends needing attention, and
	// health says so loudly.
	p, _ := e.create(`{"order_id":"A1","amount":100,"auth_code":"134567890123450005"}`)
	got := e.payment("/v1/payments/" + p.ID + "?wait=10")
	require.Equal(t, payflow.StateNeedsAttention, got.State)
	assert.True(t, got.NeedsAttention)
	r = e.call("GET", "/v1/health", "")
	r.json(t, &h)
	assert.Equal(t, "attention", h.Status)
	assert.Equal(t, 1, h.NeedsAttention)
	assert.Contains(t, h.Message, "NEED ATTENTION")
	var list localapi.PaymentList
	e.call("GET", "/v1/payments?state=needs_attention", "").json(t, &list)
	require.Len(t, list.Payments, 1)
}

// TestJournalBackupRoute: GET /v1/journal/backup streams a consistent
// copy of the journal while payments go on: a journal that opens and
// holds them.
func TestJournalBackupRoute(t *testing.T) {
	e := newEnv(t)
	e.paid("A1", 100)
	e.paid("A2", 200)
	r := e.call("GET", "/v1/journal/backup", "")
	require.Equal(t, 200, r.status, string(r.body))
	assert.Equal(t, "application/octet-stream", r.header.Get("Content-Type"))
	path := filepath.Join(t.TempDir(), "backup.db")
	require.NoError(t, os.WriteFile(path, r.body, 0o600))
	rep, err := store.Verify(path, true)
	require.NoError(t, err)
	assert.Equal(t, 2, rep.Payments)
	r = e.call("GET", "/v1/journal/backup", "", withHeader("Authorization", "Bearer wrong"))
	assert.Equal(t, 401, r.status, "the journal is behind the token")
}

// TestJournalUnavailable: with the journal gone (a failed disk), payments
// are refused with 503 and health says the till cannot take payments.
func TestJournalUnavailable(t *testing.T) {
	e := newEnv(t)
	require.NoError(t, e.st.Close())
	_, r := e.create(`{"order_id":"A1","amount":100,"auth_code":"134567890123456789"}`)
	assert.Equal(t, 503, r.status)
	assert.Equal(t, "journal_unavailable", r.errCode(t))
	assert.Contains(t, string(r.body), "nothing was charged")
	assert.Empty(t, e.gw.Orders(), "nothing reached the gateway")

	r = e.call("GET", "/v1/health", "")
	assert.Equal(t, 503, r.status)
	var h localapi.Health
	r.json(t, &h)
	assert.Equal(t, "degraded", h.Status)
}

// TestShuttingDown: once the engine is closing, new payments get 503.
func TestShuttingDown(t *testing.T) {
	e := newEnv(t)
	e.eng.Close()
	_, r := e.create(`{"order_id":"A1","amount":100}`)
	assert.Equal(t, 503, r.status)
	assert.Equal(t, "shutting_down", r.errCode(t))
}

func TestDevicesRoute(t *testing.T) {
	e := newEnv(t)
	var l localapi.DeviceList
	r := e.call("GET", "/v1/devices", "")
	require.Equal(t, 200, r.status)
	r.json(t, &l)
	assert.NotNil(t, l.Devices)
	assert.Empty(t, l.Devices, "no devices configured")
	r = e.call("GET", "/v1/devices", "", withHeader("Authorization", ""))
	assert.Equal(t, 401, r.status)
}

func TestReceiptRoutes(t *testing.T) {
	e := newEnv(t)
	p := e.paid("A1", 1250)
	path := "/v1/payments/" + p.ID + "/receipt"

	// The paid payment's receipt is printed (spooled) by itself.
	require.Eventually(t, func() bool {
		_, err := os.Stat(filepath.Join(e.receipts, time.Now().Format(time.DateOnly), "payment_"+p.ID+".bin"))
		return err == nil
	}, 10*time.Second, 10*time.Millisecond)

	r := e.call("GET", path, "")
	require.Equal(t, 200, r.status, string(r.body))
	assert.Contains(t, string(r.body), "收款凭证")
	assert.Contains(t, string(r.body), "￥12.50")
	r = e.call("GET", path+"?format=escpos", "")
	require.Equal(t, 200, r.status)
	assert.Equal(t, []byte{0x1b, '@', 0x1c, '&'}, r.body[:4])
	if _, err := printer.LoadFont(); err == nil {
		r = e.call("GET", path+"?format=png", "")
		require.Equal(t, 200, r.status)
		assert.Equal(t, "image/png", r.header.Get("Content-Type"))
	}
	r = e.call("GET", path+"?format=pdf", "")
	assert.Equal(t, 400, r.status)

	r = e.call("POST", path, "")
	require.Equal(t, 202, r.status, string(r.body))
	var job localapi.JobResponse
	r.json(t, &job)
	assert.Contains(t, job.Job, "reprint/"+p.ID)

	r = e.call("POST", "/v1/printer/test", "")
	assert.Equal(t, 202, r.status)

	for _, c := range []struct {
		method, path, body string
		status             int
		code               string
	}{
		{"GET", "/v1/payments/pay_nope/receipt", "", 404, "not_found"},
		{"GET", path + "?refund_id=R9", "", 404, "not_found"},
		{"POST", path, `{"refund_id":"R9"}`, 404, "not_found"},
		{"POST", path, `{"bogus":1}`, 400, "invalid_request"},
	} {
		r := e.call(c.method, c.path, c.body)
		assert.Equal(t, c.status, r.status, c.path)
		assert.Equal(t, c.code, r.errCode(t), c.path)
	}
	waiting, _ := e.create(`{"order_id":"B1","amount":100}`)
	r = e.call("GET", "/v1/payments/"+waiting.ID+"/receipt", "")
	assert.Equal(t, 409, r.status)
	assert.Equal(t, "no_receipt", r.errCode(t))
}

// TestMiniProgramOrderRoute: the body is checked field by field (the split
// rules of the unified-order document among them) before anything is
// journaled, and a gateway that cannot place mini-program orders is named.
func TestMiniProgramOrderRoute(t *testing.T) {
	e := newEnv(t)
	const base = `"order_id":"M1","amount":1000,"buyer_id":"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"`
	for _, tc := range []struct{ body, code, says string }{
		{`{` + base + `}`, "not_supported", `gateway \"demo\" (the one routed for WeChat) cannot place mini-program orders`},
		{`{"order_id":"M1","amount":1000}`, "invalid_request", "buyer_id is required"},
		{`{` + base + `,"amount":10.5}`, "invalid_request", "amount"},
		{`{` + base + `,"expires_in":5}`, "invalid_request", "expires_in must be from 30 to 7200"},
		{`{` + base + `,"auth_code":"134567890123456789"}`, "invalid_request", "unknown field"},
		{`{` + base + `,"notify_url":"ftp://x"}`, "invalid_request", "notify_url"},
		{`{` + base + `,"goods_detail":[{"goods_id":"g1","goods_name":"苹果","quantity":0,"price":100}]}`, "invalid_request", "goods_detail[0].quantity"},
		{`{` + base + `,"goods_detail":[{"goods_id":"g1","goods_name":"苹果","quantity":1,"price":1.5}]}`, "invalid_request", "price"},
		{`{` + base + `,"extend_params":{"split_flag":"R","split_info":{"keep_amt":800,"split_list":[{"merchant_id":"m1","div_amt":150}]}}}`, "invalid_request", "must add up to the amount (1000 fen)"},
		{`{` + base + `,"extend_params":{"split_flag":"N","split_info":{"keep_amt":1000,"split_list":[{"merchant_id":"m1","div_amt":1}]}}}`, "invalid_request", "only with split_flag R"},
		{`{` + base + `,"extend_params":{"split_flag":"R"}}`, "invalid_request", "split_info is required"},
		{`{` + base + `,"extend_params":{"split_flag":"R","plan_split_date":"20230418","split_info":{"keep_amt":1000,"split_list":[{"merchant_id":"m1","div_amt":1}]}}}`, "invalid_request", "plan_split_date is allowed only with split_flag D"},
		{`{` + base + `,"extend_params":{"split_flag":"D","plan_split_date":"2023-04-18"}}`, "invalid_request", "yyyymmdd"},
		{`{` + base + `,"extend_params":{"split_flag":"X"}}`, "invalid_request", "N, R or D"},
		{`{` + base + `,"extend_params":{"split_flag":"R","split_info":{"is_clean_split":true,"keep_percentage_bp":5000,"split_list":[{"merchant_id":"m1","div_percentage_bp":4000}]}}}`, "invalid_request", "add up to 10000"},
	} {
		r := e.call("POST", "/v1/miniprogram-orders", tc.body)
		assert.Equal(t, 400, r.status, tc.body)
		assert.Equal(t, tc.code, r.errCode(t), tc.body)
		assert.Contains(t, string(r.body), tc.says, tc.body)
	}
	_, err := e.eng.ByOrder("M1")
	assert.ErrorIs(t, err, payflow.ErrNotFound, "nothing journaled for a refused request")
	r := e.call("GET", "/v1/miniprogram-orders", "")
	assert.Equal(t, 405, r.status)
}

// TestBrowserRefusals: a page that is refused can read why (the refusal
// carries CORS headers), health answers any origin, each kind of refusal
// is logged once per origin with what to change, and the allowed origins
// are normalized, take port wildcards and null, and can be replaced at
// runtime.
func TestBrowserRefusals(t *testing.T) {
	var logs strings.Builder
	var mu sync.Mutex
	e := newEnv(t, func(o *localapi.Options) {
		o.AllowedOrigins = []string{"HTTP://LOCALHOST:3000/", "http://127.0.0.1:*"}
		o.Logger = slog.New(slog.NewTextHandler(writerFunc(func(b []byte) (int, error) {
			mu.Lock()
			defer mu.Unlock()
			return logs.Write(b)
		}), nil))
	})
	origin := func(o string) func(*http.Request) { return withHeader("Origin", o) }
	for i := 0; i < 3; i++ {
		r := e.call("GET", "/v1/payments", "", origin("http://evil.example"))
		assert.Equal(t, 403, r.status)
		assert.Equal(t, "http://evil.example", r.header.Get("Access-Control-Allow-Origin"), "the page can read the refusal")
		assert.Contains(t, string(r.body), `add \"http://evil.example\" to [api] allowed_origins`)
	}
	mu.Lock()
	assert.Equal(t, 1, strings.Count(logs.String(), "code=forbidden_origin"), "logged once per origin: %s", logs.String())
	mu.Unlock()
	r := e.call("GET", "/v1/payments", "", origin("http://evil.example"), withHeader("Authorization", ""))
	assert.Equal(t, 403, r.status, "origin before token")

	r = e.call("GET", "/v1/health", "", origin("http://evil.example"), withHeader("Authorization", ""))
	assert.Equal(t, 200, r.status, "health answers any page: posd is up")
	assert.Equal(t, "http://evil.example", r.header.Get("Access-Control-Allow-Origin"))

	r = e.call("OPTIONS", "/v1/payments", "", origin("http://evil.example"), withHeader("Authorization", ""))
	assert.Equal(t, 204, r.status, "the preflight passes; the request it clears is refused with its reason")
	assert.Empty(t, r.header.Get("Access-Control-Allow-Private-Network"))
	r = e.call("OPTIONS", "/v1/payments", "", origin("https://pos.example.com"), withHeader("Access-Control-Request-Private-Network", "true"))
	assert.Equal(t, "true", r.header.Get("Access-Control-Allow-Private-Network"), "Chromium's local network preflight")

	r = e.call("GET", "/v1/payments", "", origin("http://localhost:3000"), withHeader("Authorization", ""))
	assert.Equal(t, 401, r.status)
	assert.Equal(t, "http://localhost:3000", r.header.Get("Access-Control-Allow-Origin"), "a 401 is readable too")
	assert.Equal(t, "unauthorized", r.errCode(t))

	for o, want := range map[string]int{
		"http://localhost:3000":  200, // normalized from HTTP://LOCALHOST:3000/
		"http://127.0.0.1:5173":  200, // port wildcard
		"http://127.0.0.1":       200,
		"http://localhost:3001":  403,
		"https://127.0.0.1:5173": 403,
		"null":                   403,
	} {
		assert.Equal(t, want, e.call("GET", "/v1/payments", "", origin(o)).status, o)
	}
	srv := e.server
	require.NoError(t, srv.SetAllowedOrigins([]string{"null", "app://posd-ui"}))
	assert.Equal(t, 200, e.call("GET", "/v1/payments", "", origin("null")).status, "reloaded: file:// pages allowed")
	assert.Equal(t, 200, e.call("GET", "/v1/payments", "", origin("app://posd-ui")).status)
	assert.Equal(t, 403, e.call("GET", "/v1/payments", "", origin("http://localhost:3000")).status)
	assert.Error(t, srv.SetAllowedOrigins([]string{"*"}))
	assert.Equal(t, 200, e.call("GET", "/v1/payments", "", origin("null")).status, "a refused reload changes nothing")
}

// TestQueryToken: ?access_token= is taken where a browser cannot set a
// header (the event stream, a receipt's image) and only to read.
func TestQueryToken(t *testing.T) {
	e := newEnv(t)
	p := e.paid("Q1", 100)
	noAuth := withHeader("Authorization", "")
	var r reply
	for i := 0; i < 50; i++ {
		if r = e.call("GET", "/v1/payments/"+p.ID+"/receipt?format=text&access_token="+token, "", noAuth); r.status == 200 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	assert.Equal(t, 200, r.status, "<img src> with the token works: %s", r.body)
	assert.Equal(t, 401, e.call("GET", "/v1/payments/"+p.ID+"/receipt?format=text&access_token=wrong", "", noAuth).status)
	assert.Equal(t, 401, e.call("POST", "/v1/payments/"+p.ID+"/receipt?access_token="+token, "{}", noAuth).status, "not to reprint")
	assert.Equal(t, 401, e.call("GET", "/v1/payments/"+p.ID+"?access_token="+token, "", noAuth).status, "not for the API at large")
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

// sseEvent is one parsed Server-Sent Event.
type sseEvent struct{ id, event, data string }

// sseStream reads events from the stream at path until stop says so.
func (e *env) sseStream(ctx context.Context, lastID string, stop func(sseEvent) bool) []sseEvent {
	e.t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/v1/events?access_token="+token, nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var out []sseEvent
	var cur sseEvent
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "id: "):
			cur.id = line[4:]
		case strings.HasPrefix(line, "event: "):
			cur.event = line[7:]
		case strings.HasPrefix(line, "data: "):
			cur.data = line[6:]
		case line == "" && cur.event != "":
			out = append(out, cur)
			if stop(cur) {
				return out
			}
			cur = sseEvent{}
		}
	}
	return out
}

// TestEventsReplay: a stream starts with a snapshot of the open payments;
// a client that reconnects with Last-Event-ID gets exactly the events it
// missed, and one whose id is from another run (or too old) is told to
// refetch and gets a fresh snapshot.
func TestEventsReplay(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	waiting, r := e.create(`{"order_id":"OPEN","amount":100}`)
	require.Equal(t, 201, r.status)

	first := e.sseStream(ctx, "", func(ev sseEvent) bool { return ev.event == "snapshot" })
	require.Len(t, first, 1)
	assert.Contains(t, first[0].data, waiting.ID, "the snapshot has the open payment")
	assert.NotEmpty(t, first[0].id)

	// Disconnected while a payment is made and settled.
	p := e.paid("MISSED", 100)
	got := e.sseStream(ctx, first[0].id, func(ev sseEvent) bool {
		return ev.event == "payment" && strings.Contains(ev.data, `"state":"paid"`) && strings.Contains(ev.data, p.ID)
	})
	var kinds []string
	for _, ev := range got {
		kinds = append(kinds, ev.event)
		assert.NotEmpty(t, ev.id)
	}
	assert.NotContains(t, kinds, "snapshot", "a replay, not a snapshot")
	assert.NotContains(t, kinds, "refetch")
	assert.Contains(t, got[0].data, p.ID, "the first missed event is the new payment's")

	// Replayed from the middle: only what came after.
	mid := got[0].id
	again := e.sseStream(ctx, mid, func(ev sseEvent) bool {
		return ev.event == "payment" && strings.Contains(ev.data, `"state":"paid"`)
	})
	assert.Equal(t, len(got)-1, len(again), "exactly the events after %s", mid)

	for _, stale := range []string{"oldrun.5", "garbage"} {
		evs := e.sseStream(ctx, stale, func(ev sseEvent) bool { return ev.event == "snapshot" })
		require.Len(t, evs, 2, stale)
		assert.Equal(t, "refetch", evs[0].event)
		assert.Contains(t, evs[0].data, "read the payments again")
		assert.Equal(t, "snapshot", evs[1].event)
	}
}

// TestPairing: a code opened with the token is traded once for the token,
// without one; five wrong tries or five minutes close it; a page from an
// origin posd does not allow cannot pair.
func TestPairing(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	e := newEnv(t, func(o *localapi.Options) {
		o.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	})
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	noAuth := withHeader("Authorization", "")
	open := func() string {
		r := e.call("POST", "/v1/pair/code", "")
		require.Equal(t, 201, r.status, string(r.body))
		var c localapi.PairCode
		r.json(t, &c)
		assert.Regexp(t, `^\d{6}$`, c.Code)
		return c.Code
	}
	assert.Equal(t, 401, e.call("POST", "/v1/pair/code", "", noAuth).status, "opening a code needs the token")
	r := e.call("POST", "/v1/pair", `{"code":"123456"}`, noAuth)
	assert.Equal(t, 403, r.status)
	assert.Equal(t, "pairing_closed", r.errCode(t))

	code := open()
	r = e.call("POST", "/v1/pair", `{"code":"`+code+`"}`, noAuth, withHeader("Origin", "http://evil.example"))
	assert.Equal(t, 403, r.status, "not from an origin posd refuses")
	assert.Equal(t, "forbidden_origin", r.errCode(t))
	r = e.call("POST", "/v1/pair", `{"code":"`+code+`"}`, noAuth, withHeader("Origin", "http://localhost:3000"))
	require.Equal(t, 200, r.status, string(r.body))
	var got localapi.PairResult
	r.json(t, &got)
	assert.Equal(t, token, got.Token)
	assert.Equal(t, "pairing_closed", e.call("POST", "/v1/pair", `{"code":"`+code+`"}`, noAuth).errCode(t), "once")

	code = open()
	wrong := "000000"
	if code == wrong {
		wrong = "000001"
	}
	for i := 1; i < 5; i++ {
		r = e.call("POST", "/v1/pair", `{"code":"`+wrong+`"}`, noAuth)
		assert.Equal(t, "wrong_code", r.errCode(t))
	}
	assert.Equal(t, "pairing_closed", e.call("POST", "/v1/pair", `{"code":"`+wrong+`"}`, noAuth).errCode(t), "the fifth wrong try closes it")
	assert.Equal(t, "pairing_closed", e.call("POST", "/v1/pair", `{"code":"`+code+`"}`, noAuth).errCode(t), "even for the right code")

	code = open()
	advance(5*time.Minute + time.Second)
	assert.Equal(t, "pairing_closed", e.call("POST", "/v1/pair", `{"code":"`+code+`"}`, noAuth).errCode(t), "five minutes")
}

// TestOwnOriginOnlyOnLoopback: the status page's own origin passes only on
// this machine's address; with allow_remote, a page that rebinds a name of
// its own to the till does not pass as posd's own.
func TestOwnOriginOnlyOnLoopback(t *testing.T) {
	e := newEnv(t, func(o *localapi.Options) { o.AllowRemote = true })
	r := e.call("GET", "/v1/payments", "", withHeader("Origin", "http://evil.example:8421"), func(r *http.Request) { r.Host = "evil.example:8421" })
	assert.Equal(t, 403, r.status)
	r = e.call("GET", "/v1/payments", "", withHeader("Origin", "http://127.0.0.1:8421"), func(r *http.Request) { r.Host = "127.0.0.1:8421" })
	assert.Equal(t, 200, r.status, "the status page, served by posd at its own address")
}

// TestQRAPI: method qr on POST /v1/payments answers with the code once the
// gateway placed the order, the code is served as a PNG while on show
// (with ?access_token= for <img>), and what cannot be a QR payment is
// refused before anything is journaled.
func TestQRAPI(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct{ body, says string }{
		{`{"order_id":"Q0","amount":1003,"method":"cash"}`, "method must be code or qr"},
		{`{"order_id":"Q0","amount":1003,"method":"qr","auth_code":"134567890123456789"}`, "takes no auth_code"},
		{`{"order_id":"Q0","amount":1003,"method":"qr","expires_in":5}`, "expires_in must be from 30 to 300"},
		{`{"order_id":"Q0","amount":1003,"method":"qr","channel":"paypal"}`, "channel must be"},
		{`{"order_id":"Q0","amount":1003,"channel":"wechat"}`, "go with method qr"},
		{`{"order_id":"Q0","amount":10.03,"method":"qr"}`, "amount"},
	} {
		r := e.call("POST", "/v1/payments", tc.body)
		assert.Equal(t, 400, r.status, tc.body)
		assert.Equal(t, "invalid_request", r.errCode(t), tc.body)
		assert.Contains(t, string(r.body), tc.says, tc.body)
	}
	_, err := e.eng.ByOrder("Q0")
	assert.ErrorIs(t, err, payflow.ErrNotFound, "nothing journaled for a refused request")

	r := e.call("POST", "/v1/payments", `{"order_id":"Q1","amount":1003,"method":"qr","channel":"wechat","expires_in":60}`)
	require.Equal(t, 201, r.status, string(r.body))
	var p payflow.Payment
	require.NoError(t, json.Unmarshal(r.body, &p))
	assert.Equal(t, payflow.StateAwaitingCustomer, p.State)
	require.NotNil(t, p.QR)
	assert.Equal(t, "https://demo.posd.invalid/qr/"+p.GatewayOrderNo, p.QR.Code)
	assert.WithinDuration(t, time.Now().Add(time.Minute), p.QR.ExpiresAt, 5*time.Second)

	again := e.call("POST", "/v1/payments", `{"order_id":"Q1","amount":1003,"method":"qr"}`)
	assert.Equal(t, 200, again.status, "the same QR payment")

	resp, err := http.Get(e.srv.URL + "/v1/payments/" + p.ID + "/qr.png?size=3&access_token=" + token)
	require.NoError(t, err)
	img, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode, string(img))
	assert.Equal(t, "image/png", resp.Header.Get("Content-Type"))
	assert.Equal(t, "\x89PNG", string(img[:4]))
	assert.Equal(t, 400, e.call("GET", "/v1/payments/"+p.ID+"/qr.png?size=99", "").status)
	resp, err = http.Post(e.srv.URL+"/v1/payments/"+p.ID+"/cancel?access_token="+token, "application/json", nil)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 401, resp.StatusCode, "the token in the query only reads")

	require.Equal(t, 200, e.call("POST", "/v1/payments/"+p.ID+"/cancel", "").status)
	require.Eventually(t, func() bool {
		got, err := e.eng.Get(p.ID)
		return err == nil && got.State == payflow.StateCancelled
	}, 10*time.Second, 10*time.Millisecond)
	o, _ := e.gw.Order(p.GatewayOrderNo)
	assert.Equal(t, demo.StatusCancelled, o.Status, "closed at the gateway")
	gone := e.call("GET", "/v1/payments/"+p.ID+"/qr.png", "")
	assert.Equal(t, 404, gone.status)
	assert.Equal(t, "no_qr_code", gone.errCode(t))

	c := e.call("POST", "/v1/payments", `{"order_id":"C1","amount":100,"auth_code":"134567890123456789"}`)
	require.Equal(t, 201, c.status)
	require.NoError(t, json.Unmarshal(c.body, &p))
	assert.Equal(t, "no_qr_code", e.call("GET", "/v1/payments/"+p.ID+"/qr.png", "").errCode(t), "a code payment has none")
}
