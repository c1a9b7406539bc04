package demo_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillworks/posd/config"
	"github.com/tillworks/posd/payflow"
	"github.com/tillworks/posd/providers/demo"
)

func setup(t *testing.T) (*demo.Gateway, *demo.Client) {
	t.Helper()
	gw, err := demo.NewGateway(filepath.Join(t.TempDir(), "gw.json"), 0)
	require.NoError(t, err)
	srv := httptest.NewServer(gw)
	t.Cleanup(srv.Close)
	return gw, demo.NewClient(srv.URL, 5*time.Second)
}

// code makes a WeChat-shaped code ending in the scenario number.
func code(scenario int) string { return fmt.Sprintf("13456789012345%04d", scenario) }

// TestScenarios checks every documented demo branch through the client, as
// the engine sees it.
func TestScenarios(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		scenario  int
		pay       payflow.Kind
		payLost   bool // the pay's answer is lost (error, not "not sent")
		status    int  // HTTP error status on pay
		query     []payflow.Kind
		cancel    []payflow.Kind
		refund    []payflow.Kind
		refundErr bool
	}{
		{scenario: 0, pay: payflow.Succeeded, query: []payflow.Kind{payflow.Succeeded}, refund: []payflow.Kind{payflow.Succeeded}},
		{scenario: demo.ScenarioDeclined, pay: payflow.Failed, query: []payflow.Kind{payflow.Failed}},
		{scenario: demo.ScenarioPasswordPaid, pay: payflow.InProgress, query: []payflow.Kind{payflow.InProgress, payflow.Succeeded}},
		{scenario: demo.ScenarioNeverPaid, pay: payflow.InProgress, query: []payflow.Kind{payflow.InProgress, payflow.InProgress},
			cancel: []payflow.Kind{payflow.Succeeded, payflow.Succeeded}},
		{scenario: demo.ScenarioLostAfterCharge, payLost: true, query: []payflow.Kind{payflow.Succeeded}},
		{scenario: demo.ScenarioCancelError, pay: payflow.InProgress, cancel: []payflow.Kind{payflow.Failed, payflow.Failed, payflow.Failed}},
		{scenario: demo.ScenarioLostBeforeOrder, payLost: true, query: []payflow.Kind{payflow.NotFound}, cancel: []payflow.Kind{payflow.NotFound}},
		{scenario: demo.ScenarioGatewayError, pay: payflow.Broken, query: []payflow.Kind{payflow.Broken}},
		{scenario: demo.ScenarioCancelTwice, pay: payflow.InProgress, cancel: []payflow.Kind{payflow.Failed, payflow.Failed, payflow.Succeeded}},
		{scenario: demo.ScenarioRefundDeclined, pay: payflow.Succeeded, refund: []payflow.Kind{payflow.Failed}},
		{scenario: demo.ScenarioRefundLost, pay: payflow.Succeeded, refundErr: true, refund: []payflow.Kind{payflow.Succeeded}},
		{scenario: demo.ScenarioServerError, payLost: true, status: 500, query: []payflow.Kind{payflow.NotFound}},
		{scenario: 42, pay: payflow.Failed},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%04d", tc.scenario), func(t *testing.T) {
			gw, c := setup(t)
			orderNo := fmt.Sprintf("2611210000000000%04d", tc.scenario)
			o, err := c.Pay(ctx, payflow.PayRequest{OrderNo: orderNo, OrderID: "A1", Amount: 1000, AuthCode: code(tc.scenario)})
			if tc.payLost {
				require.Error(t, err)
				assert.NotErrorIs(t, err, payflow.ErrNotSent, "the request was sent: in doubt")
			} else {
				require.NoError(t, err)
				assert.Equal(t, tc.pay, o.Kind, "pay: %s %s", o.Code, o.Message)
			}
			ref := payflow.OrderRef{OrderNo: orderNo}
			for i, want := range tc.query {
				o, err := c.Query(ctx, ref)
				require.NoError(t, err)
				assert.Equal(t, want, o.Kind, "query %d", i+1)
			}
			for i, want := range tc.cancel {
				o, err := c.Cancel(ctx, ref)
				require.NoError(t, err)
				assert.Equal(t, want, o.Kind, "cancel %d", i+1)
			}
			if tc.refundErr {
				_, err := c.Refund(ctx, payflow.RefundRequest{OrderNo: orderNo, RequestNo: "R1", Amount: 400})
				require.Error(t, err, "the first refund's answer is lost")
			}
			for i, want := range tc.refund {
				o, err := c.Refund(ctx, payflow.RefundRequest{OrderNo: orderNo, RequestNo: "R1", Amount: 400})
				require.NoError(t, err)
				assert.Equal(t, want, o.Kind, "refund %d: %s", i+1, o.Code)
			}
			if tc.refund != nil && tc.refund[0] == payflow.Succeeded {
				got, ok := gw.Order(orderNo)
				require.True(t, ok)
				assert.Equal(t, int64(400), got.Refunded, "refunded once, however often it was sent")
			}
		})
	}
}

func TestGatewayRules(t *testing.T) {
	ctx := context.Background()
	gw, c := setup(t)
	pay := payflow.PayRequest{OrderNo: "26112100000000000001", Amount: 1000, AuthCode: "284567890123456789"}
	o, err := c.Pay(ctx, pay)
	require.NoError(t, err)
	assert.Equal(t, payflow.Succeeded, o.Kind)
	assert.Equal(t, "alipay", o.Channel)
	assert.NotEmpty(t, o.ChannelTradeNo)

	// The same order number again is never a second charge.
	o, err = c.Pay(ctx, pay)
	require.NoError(t, err)
	assert.Equal(t, payflow.Conflict, o.Kind, "the number is taken: never adopted")
	got, _ := gw.Order(pay.OrderNo)
	assert.Equal(t, 2, got.PayCalls)
	assert.Equal(t, demo.StatusPaid, got.Status)

	ref := func(no string, amt int64) payflow.RefundRequest {
		return payflow.RefundRequest{OrderNo: pay.OrderNo, RequestNo: no, Amount: amt}
	}
	o, _ = c.Refund(ctx, ref("R1", 600))
	assert.Equal(t, payflow.Succeeded, o.Kind)
	o, _ = c.Refund(ctx, ref("R2", 401))
	assert.Equal(t, payflow.Failed, o.Kind)
	assert.Equal(t, "REFUND_AMOUNT_EXCEEDED", o.Code)
	o, _ = c.Refund(ctx, ref("R1", 500))
	assert.Equal(t, "REFUND_NO_CONFLICT", o.Code)
	assert.Equal(t, payflow.Conflict, o.Kind)
	o, _ = c.Refund(ctx, ref("R2", 400))
	assert.Equal(t, payflow.Succeeded, o.Kind)
	assert.Equal(t, pay.OrderNo, o.OrderNo, "answers say which order they are about")
	assert.Equal(t, pay.Amount, o.Amount)

	// Refund look-ups.
	o, _ = c.QueryRefund(ctx, ref("R1", 600))
	assert.Equal(t, payflow.Succeeded, o.Kind)
	o, _ = c.QueryRefund(ctx, ref("R9", 1))
	assert.Equal(t, payflow.NotFound, o.Kind)
	o, _ = c.QueryRefund(ctx, ref("R1", 1))
	assert.Equal(t, payflow.Unknown, o.Kind)

	// Cancelling a paid order reverses it.
	o, _ = c.Cancel(ctx, payflow.OrderRef{OrderNo: "nope"})
	assert.Equal(t, payflow.NotFound, o.Kind)

	_, err = c.Pay(ctx, payflow.PayRequest{OrderNo: "x", Amount: 0, AuthCode: "284567890123456789"})
	require.NoError(t, err)
}

func TestGatewayPersists(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gw.json")
	gw, err := demo.NewGateway(path, 0)
	require.NoError(t, err)
	srv := httptest.NewServer(gw)
	c := demo.NewClient(srv.URL, time.Second)
	_, err = c.Pay(context.Background(), payflow.PayRequest{OrderNo: "26112100000000000001", Amount: 5, AuthCode: "134567890123456789"})
	require.NoError(t, err)
	srv.Close()

	gw2, err := demo.NewGateway(path, 0)
	require.NoError(t, err)
	o, ok := gw2.Order("26112100000000000001")
	require.True(t, ok)
	assert.Equal(t, demo.StatusPaid, o.Status)
}

func TestUnreachableGatewayIsNotSent(t *testing.T) {
	c := demo.NewClient("http://127.0.0.1:1", time.Second)
	_, err := c.Pay(context.Background(), payflow.PayRequest{OrderNo: "1", Amount: 1, AuthCode: "134567890123456789"})
	assert.ErrorIs(t, err, payflow.ErrNotSent)
}

// TestCancelWhileConfirming: a cancel that lands while the customer is
// still confirming closes the order; the confirmation then charges
// nothing. (The simulator used to charge the cancelled order, which the
// soak test caught as "cancelled in posd, charged at the gateway".)
func TestCancelWhileConfirming(t *testing.T) {
	gw, err := demo.NewGateway("", 300*time.Millisecond)
	require.NoError(t, err)
	srv := httptest.NewServer(gw)
	defer srv.Close()
	c := demo.NewClient(srv.URL, time.Second)
	ctx := context.Background()
	pay := payflow.PayRequest{OrderNo: "26112100000000000001000000", Amount: 100, AuthCode: "134567890123456789"}
	done := make(chan payflow.Outcome)
	go func() { o, _ := c.Pay(ctx, pay); done <- o }()
	require.Eventually(t, func() bool { _, ok := gw.Order(pay.OrderNo); return ok }, time.Second, time.Millisecond)
	o, err := c.Cancel(ctx, payflow.OrderRef{OrderNo: pay.OrderNo})
	require.NoError(t, err)
	assert.Equal(t, payflow.Succeeded, o.Kind)
	paid := <-done
	assert.Equal(t, payflow.Failed, paid.Kind)
	got, _ := gw.Order(pay.OrderNo)
	assert.Equal(t, demo.StatusCancelled, got.Status)
}

// TestConfigCheck: the demo gateway checks its own table.
func TestConfigCheck(t *testing.T) {
	for _, tc := range []struct{ toml, key string }{
		{"[gateways.d]\ntype = \"demo\"\ngateway_url = \"ftp://x\"", "gateways.d.gateway_url"},
		{"[provider.demo]\ngateway_url = \"ftp://x\"", "provider.demo.gateway_url"},
		{"[gateways.d]\ntype = \"demo\"\ndelay = \"-1s\"", "gateways.d.delay"},
		{"[gateways.d]\ntype = \"demo\"\ndelai = \"1s\"", "gateways.d.delai"},
	} {
		c, err := config.Parse("posd.toml", []byte(tc.toml))
		require.NoError(t, err, tc.toml)
		secs, _ := c.Gateways()
		err = demo.Type.Check(secs[0])
		var ce *config.Error
		require.ErrorAs(t, err, &ce, tc.toml)
		assert.Equal(t, tc.key, ce.Key)
	}
	assert.Equal(t, "/d/demo-gateway.json", demo.StatePath("/d", "demo"))
	assert.Equal(t, "/d/demo-b-gateway.json", demo.StatePath("/d", "b"))
}

// TestCallTimeout: the client's callTimeout bounds its calls (it was
// ignored: a 100 ms timeout waited ten seconds).
func TestCallTimeout(t *testing.T) {
	hang := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-hang }))
	defer func() { close(hang); srv.Close() }()
	c := demo.NewClient(srv.URL, 100*time.Millisecond)
	start := time.Now()
	_, err := c.Query(context.Background(), payflow.OrderRef{OrderNo: "x"})
	require.Error(t, err)
	assert.Less(t, time.Since(start), 3*time.Second)
	assert.NotErrorIs(t, err, payflow.ErrNotSent, "sent, then no answer: in doubt")
}
