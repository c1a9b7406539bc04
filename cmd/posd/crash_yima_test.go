package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillworks/posd/internal/failpoint"
	"github.com/tillworks/posd/payflow"
	"github.com/tillworks/posd/providers/yima/yimatest"
)

// TestCrashRecoveryYima kills the daemon at each failpoint of a payment,
// a refund and a mini-program order through Yima, in both of its formats,
// restarts it and checks that posd and the fake Yima agree, with each pay
// and order sent once.
func TestCrashRecoveryYima(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon")
	}
	const isspid, key, code = "39493002", "yima-crash-key", "134567890123456789"
	tests := []struct {
		name      string
		failpoint string
		plan      yimatest.Plan
		refund    int64
		abort     bool
		mini      bool
		want      payflow.State
	}{
		{"after the pay is journaled, before it is sent", failpoint.PayJournaled, yimatest.Plan{}, 0, false, false, payflow.StateCancelled},
		{"after the gateway charged, before the answer is journaled", failpoint.PayAnswered, yimatest.Plan{}, 0, false, false, payflow.StatePaid},
		{"while in doubt (9998), paid meanwhile", failpoint.InDoubt, yimatest.Plan{Pay: "wait", PaidAfterQueries: 1}, 0, false, false, payflow.StatePaid},
		{"while refunding, after the gateway refunded", failpoint.RefundAnswered, yimatest.Plan{}, 600, false, false, payflow.StatePaid},
		{"aborted, while cancelling, before the cancel is sent", failpoint.CancelJournaled, yimatest.Plan{Pay: "wait"}, 0, true, false, payflow.StateCancelled},
		{"mini-program order placed, before the answer is journaled; the customer pays", failpoint.PayAnswered, yimatest.Plan{}, 0, false, true, payflow.StatePaid},
	}
	for _, format := range []struct{ format, scheme string }{{"json", "md5_sorted"}, {"xml", "md5_body_key"}} {
		t.Run(format.format, func(t *testing.T) {
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					fake := yimatest.New(isspid, key, format.scheme)
					srv := httptest.NewServer(fake)
					t.Cleanup(srv.Close)
					fake.SetPlan(code, tc.plan)
					section := fmt.Sprintf("[gateways.ym]\ntype = \"yima\"\nbase_url = %q\nisspid = %q\nsystem_id = \"8888\"\nstore_id = \"s1\"\nkey = %q\nformat = %q\nsign_scheme = %q\n",
						srv.URL+"/ipos", isspid, key, format.format, format.scheme)
					e := newCrashEnvWith(t, section)
					order := "ym-" + tc.failpoint
					switch {
					case tc.mini:
						d := e.start(tc.failpoint)
						// The API waits for the gateway's answer, which the
						// kill cuts off: the request is sent and left.
						go postIgnored(d.api+"/v1/miniprogram-orders", map[string]any{"order_id": order, "amount": 1000, "buyer_id": "openid-crash", "expires_in": 60})
						d.waitFailpoint(tc.failpoint)
						d.kill()
					case tc.abort:
						d := e.start(tc.failpoint)
						var p payflow.Payment
						require.Equal(t, 201, d.request("POST", "/v1/payments", map[string]any{"order_id": order, "amount": 1000, "auth_code": code}, &p))
						waitState(t, d, p.ID, payflow.StateInDoubt)
						require.Equal(t, 200, d.request("POST", "/v1/payments/"+p.ID+"/cancel", nil, nil))
						d.waitFailpoint(tc.failpoint)
						d.kill()
					default:
						e.crashAt(tc.failpoint, order, code, tc.refund)
					}
					d := e.start("")
					if tc.mini {
						var p payflow.Payment
						require.Equal(t, 200, d.request("GET", "/v1/payments?order_id="+order, nil, &p))
						require.NoError(t, fake.CustomerPays(p.GatewayOrderNo), "the order placed before the kill is still open")
					}
					p := d.settled(order)
					assert.Equal(t, tc.want, p.State, "history: %+v\n%s", p.History, d.output())
					assert.Equal(t, "ym", p.Gateway)
					o, exists := fake.Order(p.GatewayOrderNo)
					switch p.State {
					case payflow.StatePaid:
						require.True(t, exists)
						assert.Equal(t, yimatest.Paid, o.State)
						assert.Equal(t, tc.refund, o.Refunded, "refunded once")
						assert.Equal(t, tc.refund, p.RefundedAmount)
					case payflow.StateCancelled:
						if exists {
							assert.NotEqual(t, yimatest.Paid, o.State, "cancelled in posd, charged at the gateway")
						}
					}
					ops := strings.Join(fake.Ops(), " ")
					assert.LessOrEqual(t, strings.Count(ops, "barcode_pay_request")+strings.Count(ops, "unifiedorder_request"), 1, "sent once: %s", ops)
					assert.Zero(t, fake.Bad(), "every request correctly signed and encoded")
				})
			}
		})
	}
}

// postIgnored sends a request whose answer the test does not wait for.
func postIgnored(url string, body any) {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", url, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+crashToken)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
}

// waitState polls payment id until it is in state s.
func waitState(t *testing.T, d *posdProc, id string, s payflow.State) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		var p payflow.Payment
		require.Equal(t, 200, d.request("GET", "/v1/payments/"+id, nil, &p))
		if p.State == s {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("payment %s never reached %s:\n%s", id, s, d.output())
}

// TestYimaThroughTheAPI runs the daemon against the fake Yima (GBK XML) as
// a cash register would: a mini-program order answers with what
// wx.requestPayment needs and is paid in WeChat; a discounted payment
// shows its discounts and prints them on its receipt.
func TestYimaThroughTheAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon")
	}
	const isspid, code = "39493002", "134567890123456789"
	fake := yimatest.New(isspid, "", "md5_body_key")
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	e := newCrashEnvWith(t, fmt.Sprintf("[gateways.ym]\ntype = \"yima\"\nbase_url = %q\nisspid = %q\nsystem_id = \"8888\"\nstore_id = \"s1\"\nformat = \"xml\"\n", srv.URL, isspid))
	d := e.start("")

	var p payflow.Payment
	require.Equal(t, 201, d.request("POST", "/v1/miniprogram-orders", map[string]any{
		"order_id": "M1", "amount": 1000, "buyer_id": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", "memo": "会员充值",
		"goods_detail":  []map[string]any{{"goods_id": "g1", "goods_name": "会员卡", "quantity": 1, "price": 1000}},
		"extend_params": map[string]any{"split_flag": "R", "split_info": map[string]any{"keep_amt": 900, "split_list": []map[string]any{{"merchant_id": "m1", "div_amt": 100}}}},
	}, &p), d.output())
	require.NotNil(t, p.MiniProgram)
	require.NotNil(t, p.MiniProgram.Pay, "the answer carries wx.requestPayment's parameters: %+v", p.History)
	assert.Regexp(t, `^prepay_id=wx\d+$`, p.MiniProgram.Pay.Package)
	assert.NotEmpty(t, p.MiniProgram.Pay.PaySign)
	assert.Equal(t, "miniprogram", p.Method)
	var health struct{ InDoubt, AwaitingCustomer int }
	var raw map[string]any
	require.Equal(t, 200, d.request("GET", "/v1/health", nil, &raw))
	health.InDoubt, health.AwaitingCustomer = int(raw["in_doubt"].(float64)), int(raw["awaiting_customer"].(float64))
	assert.Equal(t, 1, health.AwaitingCustomer, "an order the customer may still pay is nothing to worry about")
	assert.Zero(t, health.InDoubt)
	var again payflow.Payment
	require.Equal(t, 200, d.request("POST", "/v1/miniprogram-orders", map[string]any{"order_id": "M1", "amount": 1000, "buyer_id": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}, &again), "the same order again is the same payment")
	assert.Equal(t, p.ID, again.ID)
	assert.Equal(t, 409, d.request("POST", "/v1/payments", map[string]any{"order_id": "M1", "amount": 1000, "auth_code": code}, nil), "one order, one payment, whatever the method")
	require.NoError(t, fake.CustomerPays(p.GatewayOrderNo))
	assert.Equal(t, payflow.StatePaid, d.settled("M1").State)

	fake.SetPlan(code, yimatest.Plan{BussDiscount: 100, PlatformDiscount: 50})
	require.Equal(t, 201, d.request("POST", "/v1/payments", map[string]any{"order_id": "D1", "amount": 1250, "auth_code": code}, nil))
	p = *d.settled("D1")
	require.Equal(t, payflow.StatePaid, p.State)
	assert.Equal(t, int64(1100), p.CustomerPaid)
	require.Len(t, p.Discounts, 2)
	deadline := time.Now().Add(10 * time.Second)
	var text string
	for time.Now().Before(deadline) {
		req, _ := http.NewRequest("GET", d.api+"/v1/payments/"+p.ID+"/receipt?format=text", nil)
		req.Header.Set("Authorization", "Bearer "+crashToken)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		resp.Body.Close()
		if text = b.String(); strings.Contains(text, "商家优惠") {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	assert.Contains(t, text, "商家优惠")
	assert.Contains(t, text, "顾客实付")
	assert.Zero(t, fake.Bad())
}
