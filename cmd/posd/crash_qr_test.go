package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillworks/posd/internal/failpoint"
	"github.com/tillworks/posd/payflow"
	"github.com/tillworks/posd/providers/demo"
)

// qrAmount ends in demo.QRNeverScanned: the simulated customer leaves the
// code alone, and the test scans it (CustomerScan) when it means to.
const qrAmount = 1000 + demo.QRNeverScanned

// showQR creates a QR payment and returns it as answered: with the code.
func (d *posdProc) showQR(order string, expiresIn int) *payflow.Payment {
	d.t.Helper()
	var p payflow.Payment
	status := d.request("POST", "/v1/payments", map[string]any{"order_id": order, "amount": qrAmount, "method": "qr", "expires_in": expiresIn}, &p)
	require.Equal(d.t, 201, status, "%+v\n%s", p, d.output())
	return &p
}

// TestQRPayments drives QR payments (C scans B) through the real daemon
// against the demo gateway over loopback, including kills at each
// failpoint a QR payment passes.
func TestQRPayments(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon")
	}
	t.Run("paid while shown; the code as an image; a receipt", func(t *testing.T) {
		t.Parallel()
		e := newCrashEnv(t)
		d := e.start("")
		p := d.showQR("Q-paid", 60)
		assert.Equal(t, payflow.StateAwaitingCustomer, p.State)
		require.NotNil(t, p.QR)
		assert.Equal(t, "https://demo.posd.invalid/qr/"+p.GatewayOrderNo, p.QR.Code)
		resp, err := http.Get(d.api + "/v1/payments/" + p.ID + "/qr.png?size=4&access_token=" + crashToken)
		require.NoError(t, err)
		png, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, 200, resp.StatusCode)
		assert.Equal(t, "image/png", resp.Header.Get("Content-Type"))
		assert.Equal(t, "\x89PNG", string(png[:4]))

		require.NoError(t, e.gateway.CustomerScan(p.GatewayOrderNo))
		p = d.settled("Q-paid")
		assert.Equal(t, payflow.StatePaid, p.State)
		assert.Equal(t, payflow.MethodQR, p.Method)
		assert.Eventually(t, func() bool { return receiptFile(e.dir, "payment_"+p.ID+".bin") != "" }, 10*time.Second, 10*time.Millisecond)
		assert.Equal(t, 404, d.request("GET", "/v1/payments/"+p.ID+"/qr.png", nil, nil), "no code to show once paid")
	})
	t.Run("expired: closed at the gateway, a late scan refused", func(t *testing.T) {
		t.Parallel()
		e := newCrashEnv(t)
		d := e.start("")
		shown := d.showQR("Q-expired", int(payflow.MinQRWindow.Seconds()))
		p := d.settled("Q-expired")
		assert.Equal(t, shown.ID, p.ID)
		assert.Equal(t, payflow.StateCancelled, p.State)
		assert.False(t, p.UpdatedAt.Before(p.QR.ExpiresAt), "not closed before it expired")
		o, _ := e.gateway.Order(p.GatewayOrderNo)
		assert.Equal(t, demo.StatusCancelled, o.Status)
		assert.Error(t, e.gateway.CustomerScan(p.GatewayOrderNo), "the customer scans a second late: refused")
	})
	t.Run("aborted by the cashier", func(t *testing.T) {
		t.Parallel()
		e := newCrashEnv(t)
		d := e.start("")
		p := d.showQR("Q-abort", 120)
		require.Equal(t, 200, d.request("POST", "/v1/payments/"+p.ID+"/cancel", nil, nil))
		p = d.settled("Q-abort")
		assert.Equal(t, payflow.StateCancelled, p.State)
		assert.Error(t, e.gateway.CustomerScan(p.GatewayOrderNo))
	})
	t.Run("switched to a scanned code: one charge", func(t *testing.T) {
		t.Parallel()
		e := newCrashEnv(t)
		d := e.start("")
		q := d.showQR("Q-switch", 120)
		var p payflow.Payment
		require.Equal(t, 200, d.request("POST", "/v1/payments", map[string]any{"order_id": "Q-switch", "amount": qrAmount, "auth_code": "134567890123456789"}, &p))
		assert.Equal(t, q.ID, p.ID, "the same payment")
		got := d.settled("Q-switch")
		assert.Equal(t, payflow.StatePaid, got.State)
		assert.NotEqual(t, q.GatewayOrderNo, got.GatewayOrderNo)
		qo, _ := e.gateway.Order(q.GatewayOrderNo)
		assert.Equal(t, demo.StatusCancelled, qo.Status, "the QR order was closed first")
		assert.Error(t, e.gateway.CustomerScan(q.GatewayOrderNo), "and cannot be paid any more")
		charged := 0
		for _, o := range e.gateway.Orders() {
			if o.MerchantOrder == "Q-switch" && o.Status == demo.StatusPaid {
				charged++
			}
		}
		assert.Equal(t, 1, charged, "one charge for the order")
	})
	for _, tc := range []struct {
		name, failpoint string
		scan            bool // the customer pays after the restart
		abort           bool
		want            payflow.State
	}{
		{"killed with the order journaled, not sent", failpoint.PayJournaled, false, false, payflow.StateCancelled},
		{"killed after the gateway placed it, unanswered", failpoint.PayAnswered, true, false, payflow.StatePaid},
		{"killed while shown, then paid", failpoint.InDoubt, true, false, payflow.StatePaid},
		{"killed while closing an aborted one", failpoint.CancelJournaled, false, true, payflow.StateCancelled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newCrashEnv(t)
			order := "Q-" + tc.failpoint
			d := e.start(tc.failpoint)
			if tc.abort {
				var p payflow.Payment
				require.Equal(t, 201, d.request("POST", "/v1/payments", map[string]any{"order_id": order, "amount": qrAmount, "method": "qr", "expires_in": 30}, &p))
				require.Equal(t, 200, d.request("POST", "/v1/payments/"+p.ID+"/cancel", nil, nil))
			} else {
				// Answered only once the order is placed: the daemon dies first.
				go func() {
					req, _ := http.NewRequest("POST", d.api+"/v1/payments", strings.NewReader(`{"order_id":"`+order+`","amount":1003,"method":"qr","expires_in":30}`))
					req.Header.Set("Authorization", "Bearer "+crashToken)
					if resp, err := http.DefaultClient.Do(req); err == nil {
						resp.Body.Close()
					}
				}()
			}
			d.waitFailpoint(tc.failpoint)
			d.kill()
			d = e.start("")
			if tc.scan {
				require.Eventually(t, func() bool {
					for _, o := range e.gateway.Orders() {
						if o.MerchantOrder == order {
							return e.gateway.CustomerScan(o.OrderNo) == nil
						}
					}
					return false
				}, 10*time.Second, 20*time.Millisecond)
			}
			p := d.settled(order)
			assert.Equal(t, tc.want, p.State, "history: %+v", p.History)
			for _, o := range e.gateway.Orders() {
				if o.MerchantOrder == order && p.State != payflow.StatePaid {
					assert.NotEqual(t, demo.StatusPaid, o.Status, "posd says %s, the gateway charged", p.State)
					assert.Error(t, e.gateway.CustomerScan(o.OrderNo), "a late scan is refused")
				}
			}
		})
	}
}
