package main

import (
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillworks/posd/payflow"
	"github.com/tillworks/posd/providers/fufu/fufutest"
	"github.com/tillworks/posd/providers/shouqianba/sqbtest"
)

// TestQRGateways drives QR payments through the daemon against the fake
// FuFu and Shouqianba gateways, which speak their wire protocols and check
// every signature: a code paid while shown, and one that expires, is closed
// (FuFu /close) or cancelled (Shouqianba) at the gateway, and then refuses
// the customer who scans it a second late.
func TestQRGateways(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon")
	}
	type gateway struct {
		section string
		channel string
		scan    func(orderNo string) error
		closed  func(orderNo string) bool
	}
	fufu := func(t *testing.T) gateway {
		const busi, key = "581010199011345", "0123456789abcdef0123456789abcdef"
		fake := fufutest.New(busi, key)
		srv := httptest.NewServer(fake)
		t.Cleanup(srv.Close)
		zone := fmt.Sprintf("%+03d:00", 12-time.Now().UTC().Hour())
		fake.Zone = time.FixedZone(zone, (12-time.Now().UTC().Hour())*3600)
		return gateway{
			section: fmt.Sprintf("[gateways.ff]\ntype = \"fufu\"\nbase_url = %q\nbusi_id = %q\nkey = %q\ntime_zone = %q\n", srv.URL+"/gateway/pay", busi, key, zone),
			scan:    fake.CustomerScan,
			closed:  func(no string) bool { o, ok := fake.Order(no); return ok && o.State == fufutest.Closed },
		}
	}
	sqb := func(t *testing.T) gateway {
		const sn, key = "100000330002383829", "68d499beda5f72116592f5c527465656"
		fake := sqbtest.New(sn, key)
		srv := httptest.NewServer(fake)
		t.Cleanup(srv.Close)
		return gateway{
			section: fmt.Sprintf("[gateways.sqb]\ntype = \"shouqianba\"\nbase_url = %q\nterminal_sn = %q\nterminal_key = %q\n", srv.URL, sn, key),
			channel: "alipay",
			scan:    fake.CustomerScan,
			closed:  func(no string) bool { o, ok := fake.Order(no); return ok && o.Status == sqbtest.Canceled },
		}
	}
	for name, mk := range map[string]func(*testing.T) gateway{"fufu": fufu, "shouqianba": sqb} {
		t.Run(name+"/paid while shown", func(t *testing.T) {
			t.Parallel()
			g := mk(t)
			d := newCrashEnvWith(t, g.section).start("")
			var p payflow.Payment
			require.Equal(t, 201, d.request("POST", "/v1/payments", map[string]any{"order_id": "Q1", "amount": 1250, "method": "qr", "channel": g.channel}, &p), "%s", d.output())
			require.Equal(t, payflow.StateAwaitingCustomer, p.State, "%+v", p.History)
			require.NotEmpty(t, p.QR.Code)
			require.NoError(t, g.scan(p.GatewayOrderNo))
			got := d.settled("Q1")
			assert.Equal(t, payflow.StatePaid, got.State, "%+v", got.History)
		})
		t.Run(name+"/expired, closed, a late scan refused", func(t *testing.T) {
			t.Parallel()
			g := mk(t)
			d := newCrashEnvWith(t, g.section).start("")
			var p payflow.Payment
			require.Equal(t, 201, d.request("POST", "/v1/payments", map[string]any{"order_id": "Q2", "amount": 1250, "method": "qr", "channel": g.channel, "expires_in": 30}, &p), "%s", d.output())
			require.Equal(t, payflow.StateAwaitingCustomer, p.State, "%+v", p.History)
			got := d.settled("Q2")
			assert.Equal(t, payflow.StateCancelled, got.State, "%+v", got.History)
			assert.True(t, g.closed(p.GatewayOrderNo), "closed at the gateway")
			assert.Error(t, g.scan(p.GatewayOrderNo), "the customer a second late is refused")
		})
	}
}
