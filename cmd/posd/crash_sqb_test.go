package main

import (
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillworks/posd/internal/failpoint"
	"github.com/tillworks/posd/payflow"
	"github.com/tillworks/posd/providers/shouqianba/sqbtest"
)

// TestCrashRecoveryShouqianba is the crash test against the fake
// Shouqianba gateway, plus a crash between receiving a check-in's new key
// and saving it.
func TestCrashRecoveryShouqianba(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon")
	}
	const sn, key = "100000330002383829", "68d499beda5f72116592f5c527465656"
	const code = "134567890123456789"
	tests := []struct {
		name      string
		failpoint string
		plan      sqbtest.Plan
		refund    int64
		want      payflow.State
	}{
		{"after the pay is journaled, before it is sent", failpoint.PayJournaled, sqbtest.Plan{}, 0, payflow.StateCancelled},
		{"after the gateway charged, before the answer is journaled", failpoint.PayAnswered, sqbtest.Plan{}, 0, payflow.StatePaid},
		{"while in doubt, paid meanwhile", failpoint.InDoubt, sqbtest.Plan{Pay: "in_progress", PaidAfterQueries: 1}, 0, payflow.StatePaid},
		{"while cancelling", failpoint.CancelJournaled, sqbtest.Plan{Pay: "in_progress"}, 0, payflow.StateCancelled},
		{"while refunding, after the gateway refunded", failpoint.RefundAnswered, sqbtest.Plan{}, 600, payflow.StatePaid},
		// The check-in runs beside the pay, which may or may not have been
		// sent when the daemon dies: either outcome, agreeing with the gateway.
		{"between the check-in's answer and saving the key", failpoint.CheckinAnswered, sqbtest.Plan{}, 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake := sqbtest.New(sn, key)
			srv := httptest.NewServer(fake)
			t.Cleanup(srv.Close)
			fake.SetPlan(code, tc.plan)
			e := newCrashEnvWith(t, fmt.Sprintf("[provider]\nname = \"shouqianba\"\n[provider.shouqianba]\nbase_url = %q\nterminal_sn = %q\nterminal_key = %q\npay_request_timeout = \"2s\"\n", srv.URL, sn, key))
			order := "sqb-" + tc.failpoint
			// The daemon that pays before a refund's crash is stopped only
			// once its check-in is saved: killing it inside the check-in too
			// would make two rotations the till never saw, after which no key
			// it has signs (the case the checkin-answered row tests alone).
			e.quiesce = func(d *posdProc) { d.waitOutput("checked in: terminal key rotated") }
			e.crashAt(tc.failpoint, order, code, tc.refund)
			d := e.start("")
			p := d.settled(order)
			if tc.want == "" {
				assert.Contains(t, []payflow.State{payflow.StatePaid, payflow.StateCancelled}, p.State, "history: %+v\n%s", p.History, d.output())
			} else {
				assert.Equal(t, tc.want, p.State, "history: %+v\n%s", p.History, d.output())
			}
			o, exists := fake.Order(p.GatewayOrderNo)
			switch p.State {
			case payflow.StatePaid:
				require.True(t, exists)
				assert.Equal(t, tc.refund, o.Refunded, "refunded once")
				assert.Equal(t, tc.refund, p.RefundedAmount)
			case payflow.StateFailed:
				assert.False(t, exists, "failed: the gateway has no charge")
			case payflow.StateCancelled:
				if exists { // else the pay never landed and the cancel found nothing
					assert.Equal(t, sqbtest.Canceled, o.Status)
				}
			}
			if exists {
				assert.Equal(t, 1, o.PayCalls, "the pay was sent once")
			}

			// The till still signs, and pays.
			require.Equal(t, 201, d.request("POST", "/v1/payments", map[string]any{"order_id": order + "-after", "amount": 100, "auth_code": "134567890123456780"}, nil))
			assert.Equal(t, payflow.StatePaid, d.settled(order+"-after").State)
			// The day's check-in runs beside the payments, so a kill may
			// interrupt it after the gateway rotated the key. Restarted with
			// the key before, posd signs with it while checking in again; a
			// request that meets the second rotation is refused (the gateway
			// checks signatures before acting) and sent again with the new key.
			assert.LessOrEqual(t, fake.BadSignatures, 2)
		})
	}
}
