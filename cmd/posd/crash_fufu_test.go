package main

import (
	"fmt"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillworks/posd/internal/failpoint"
	"github.com/tillworks/posd/payflow"
	"github.com/tillworks/posd/providers/fufu/fufutest"
)

// TestCrashRecoveryFuFu kills the daemon at each failpoint of a payment or
// refund through FuFu, restarts it (once with the configuration changed
// meanwhile: another gateway added and made the default) and checks that
// posd and the fake FuFu agree, with the pay sent once.
func TestCrashRecoveryFuFu(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon")
	}
	const busi, key = "581010199011345", "0123456789abcdef0123456789abcdef"
	const code = "134567890123456789"
	tests := []struct {
		name      string
		failpoint string
		plan      fufutest.Plan
		refund    int64
		abort     bool // the cashier aborts: FuFu's cancel window makes the cancel wait 15 s
		reconfig  bool
		want      payflow.State
	}{
		{"after the pay is journaled, before it is sent", failpoint.PayJournaled, fufutest.Plan{}, 0, false, false, payflow.StateCancelled},
		{"after the gateway charged, before the answer is journaled", failpoint.PayAnswered, fufutest.Plan{}, 0, false, false, payflow.StatePaid},
		{"after the gateway charged; restarted with another default gateway", failpoint.PayAnswered, fufutest.Plan{}, 0, false, true, payflow.StatePaid},
		{"while in doubt, paid meanwhile", failpoint.InDoubt, fufutest.Plan{Pay: "in_progress", PaidAfterQueries: 1}, 0, false, false, payflow.StatePaid},
		{"while refunding, after the gateway refunded", failpoint.RefundAnswered, fufutest.Plan{}, 600, false, false, payflow.StatePaid},
		{"aborted, while cancelling, before the cancel is sent", failpoint.CancelJournaled, fufutest.Plan{Pay: "in_progress", Hold: true}, 0, true, false, payflow.StateCancelled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake := fufutest.New(busi, key)
			srv := httptest.NewServer(fake)
			t.Cleanup(srv.Close)
			fake.SetPlan(code, tc.plan)
			// Real time here: the gateway's zone is one where it is midday
			// now, so that FuFu's night without cancels is not in the way,
			// and it holds pays 3 s instead of 80.
			zone := fmt.Sprintf("%+03d:00", 12-time.Now().UTC().Hour())
			fake.Zone, fake.Hold = time.FixedZone(zone, (12-time.Now().UTC().Hour())*3600), 3*time.Second
			section := fmt.Sprintf("[gateways.ff]\ntype = \"fufu\"\nbase_url = %q\nbusi_id = %q\nkey = %q\ntime_zone = %q\npay_hold = \"3s\"\n",
				srv.URL+"/gateway/pay", busi, key, zone)
			e := newCrashEnvWith(t, section)
			order := "ff-" + tc.failpoint
			if tc.abort {
				d := e.start(tc.failpoint)
				var p payflow.Payment
				require.Equal(t, 201, d.request("POST", "/v1/payments", map[string]any{"order_id": order, "amount": 1000, "auth_code": code}, &p))
				// Once the pay is out: an abort before it leaves cancels at
				// once, with nothing to send (the race this test lost under load).
				waitState(t, d, p.ID, payflow.StateInDoubt)
				require.Equal(t, 200, d.request("POST", "/v1/payments/"+p.ID+"/cancel", nil, nil))
				d.waitFailpoint(tc.failpoint)
				d.kill()
			} else {
				e.crashAt(tc.failpoint, order, code, tc.refund)
			}
			if tc.reconfig {
				// A second gateway, made the default; the payment's stays ff.
				cfg, err := os.ReadFile(e.config)
				require.NoError(t, err)
				cfg = append(cfg, "[gateways.demo]\ntype = \"demo\"\n[routing]\ndefault = \"demo\"\n"...)
				require.NoError(t, os.WriteFile(e.config, cfg, 0o600))
			}
			d := e.start("")
			p := d.settled(order)
			assert.Equal(t, tc.want, p.State, "history: %+v\n%s", p.History, d.output())
			assert.Equal(t, "ff", p.Gateway)
			o, exists := fake.Order(p.GatewayOrderNo)
			switch p.State {
			case payflow.StatePaid:
				require.True(t, exists)
				assert.Contains(t, []int{fufutest.Paid, fufutest.Partial}, o.State)
				assert.Equal(t, tc.refund, o.Refunded, "refunded once")
				assert.Equal(t, tc.refund, p.RefundedAmount)
			case payflow.StateCancelled:
				if exists {
					assert.NotContains(t, []int{fufutest.Paid, fufutest.Partial}, o.State, "cancelled in posd, charged at the gateway")
					for _, at := range o.CancelTimes {
						assert.False(t, at.Before(o.Created.Add(15e9)), "a cancel inside FuFu's 15 s")
					}
				}
			}
			if exists {
				assert.Equal(t, 1, o.PayCalls, "the pay was sent once")
			}
			assert.Zero(t, fake.Bad(), "every request correctly signed")
		})
	}
}
