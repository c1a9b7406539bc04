package main

import (
	"fmt"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillworks/posd/localapi"
	"github.com/tillworks/posd/payflow"
	"github.com/tillworks/posd/providers/demo"
	"github.com/tillworks/posd/providers/fufu/fufutest"
)

// TestTwoGateways runs the daemon with two gateways, demo and FuFu:
// payments are routed by wallet and each journals its gateway; then the
// configuration loses FuFu, and its payments are never sent to the other:
// an open one needs attention naming it, a refund of a paid one is a 409.
func TestTwoGateways(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon")
	}
	ga, _ := demo.NewGateway("", 0)
	gb := fufutest.New("581010199011345", "0123456789abcdef0123456789abcdef")
	gb.SetPlan("284567890123450003", fufutest.Plan{Pay: "in_progress", Hold: true})
	sa, sb := httptest.NewServer(ga), httptest.NewServer(gb)
	t.Cleanup(sa.Close)
	t.Cleanup(sb.Close)
	both := fmt.Sprintf("[gateways.a]\ntype = \"demo\"\ngateway_url = %q\n[gateways.b]\ntype = \"fufu\"\nbase_url = %q\nbusi_id = \"581010199011345\"\nkey = \"0123456789abcdef0123456789abcdef\"\n[routing]\ndefault = \"a\"\nalipay = \"b\"\n",
		sa.URL, sb.URL+"/gateway/pay")
	e := newCrashEnvWith(t, both)
	e.gateway = ga
	d := e.start("")

	pay := func(order, code string) *payflow.Payment {
		var p payflow.Payment
		require.Equal(t, 201, d.request("POST", "/v1/payments", map[string]any{"order_id": order, "amount": 1000, "auth_code": code}, &p))
		return &p
	}
	w := pay("W1", "134567890123456789")
	a := pay("A1", "284567890123456789")
	assert.Equal(t, "a", w.Gateway)
	assert.Equal(t, "b", a.Gateway)
	assert.Equal(t, payflow.StatePaid, d.settled("W1").State)
	assert.Equal(t, payflow.StatePaid, d.settled("A1").State)
	open := pay("A2", "284567890123450003") // "in progress" at b, and b goes before it settles
	_, inA := ga.Order(w.GatewayOrderNo)
	_, inB := gb.Order(a.GatewayOrderNo)
	assert.True(t, inA && inB, "each payment at its own gateway")
	var h localapi.Health
	d.request("GET", "/v1/health", nil, &h)
	require.Len(t, h.Gateways, 2)
	assert.False(t, h.Gateways[1].LastSuccess.IsZero(), "gateway b answered")
	d.kill()

	// b is removed; a is the only gateway.
	cfg, err := os.ReadFile(e.config)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(e.config, []byte(strings.Replace(string(cfg), both, fmt.Sprintf("[gateways.a]\ntype = \"demo\"\ngateway_url = %q\n", sa.URL), 1)), 0o600))
	before := len(gb.Ops())
	d = e.start("")
	p := d.settled("A2")
	assert.Equal(t, payflow.StateNeedsAttention, p.State)
	assert.Equal(t, "gateway_not_configured", p.Error.Code)
	assert.Contains(t, p.Error.Message, `"b"`)
	var refused struct {
		Error payflow.Error `json:"error"`
	}
	assert.Equal(t, 409, d.request("POST", "/v1/payments/"+a.ID+"/refunds", map[string]any{"refund_id": "R1", "amount": 100}, &refused))
	assert.Equal(t, "gateway_not_configured", refused.Error.Code)
	assert.Equal(t, 201, d.request("POST", "/v1/payments/"+w.ID+"/refunds", map[string]any{"refund_id": "R1", "amount": 100}, nil), "a's payments refund as before")
	assert.Equal(t, int64(100), d.settled("W1").RefundedAmount)
	_, atA := ga.Order(open.GatewayOrderNo)
	assert.False(t, atA, "never asked of the other gateway")
	assert.Equal(t, before, len(gb.Ops()), "nothing more sent to b")
}

// TestConfigCheckGateways: config check names the gateways, suggests the
// new form for an old file, and refuses an unknown type naming its key.
func TestConfigCheckGateways(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := dir + "/" + name
		require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
		return p
	}
	code, out, errs := cli("config", "check", "--config", write("old.toml", "[provider]\nname = \"demo\"\n"))
	assert.Equal(t, 0, code, errs)
	assert.Contains(t, out, "gateways demo (demo)")
	assert.Contains(t, out, "note: [provider] is the old form")
	assert.Contains(t, out, "[gateways.demo]")

	code, out, _ = cli("config", "check", "--config", write("new.toml", "till_id = \"t3\"\n[gateways.x]\ntype = \"demo\"\n[gateways.s]\ntype = \"shouqianba\"\nterminal_sn = \"1\"\nterminal_key = \"secret-key-1\"\n[routing]\ndefault = \"x\"\nwechat = \"s\"\n"))
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "gateways s (shouqianba), x (demo), new payments to x")
	assert.NotContains(t, out, "note:")
	code, out, _ = cli("config", "show", "--config", dir+"/new.toml")
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "[gateways.s]")
	assert.NotContains(t, out, "secret-key-1")
	assert.Contains(t, out, "wechat = \"s\"")

	code, _, errs = cli("config", "check", "--config", write("bad.toml", "till_id = \"t\"\n[provider]\nname = \"paypal\"\n"))
	assert.Equal(t, 2, code)
	assert.Contains(t, errs, "provider.name")
	assert.Contains(t, errs, "demo, fufu, shouqianba")
	code, _, errs = cli("config", "check", "--config", write("bad2.toml", "till_id = \"t\"\n[gateways.p]\ntype = \"paypal\"\n"))
	assert.Equal(t, 2, code)
	assert.Contains(t, errs, "gateways.p.type")
	code, _, errs = cli("config", "check", "--config", write("bad3.toml", "[gateways.p]\ntype = \"demo\"\ndelai = \"1s\"\n"))
	assert.Equal(t, 2, code)
	assert.Contains(t, errs, "gateways.p.delai: unknown key")
}
