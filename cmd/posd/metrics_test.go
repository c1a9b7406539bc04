package main

import (
	"io"
	"net/http"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMetrics scrapes a running posd after a payment: the gateway calls and
// journal commits are timed, the day's payments counted by state, the
// devices and queue shown; without the token nothing is.
func TestMetrics(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon")
	}
	e := newCrashEnvWith(t, "[gateways.demo]\ntype = \"demo\"\ndelay = \"0.1s\"\n")
	d := e.start("")
	require.Equal(t, 201, d.request("POST", "/v1/payments", map[string]any{"order_id": "M1", "amount": 100, "auth_code": "134567890123456789"}, nil))
	d.settled("M1")
	scrape := func(token string) (int, string) {
		req, _ := http.NewRequest("GET", d.api+"/metrics", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	status, _ := scrape("")
	assert.Equal(t, 401, status, "behind the token")
	status, body := scrape(crashToken)
	require.Equal(t, 200, status)
	for _, re := range []string{
		`posd_gateway_call_seconds_count\{call="pay",gateway="demo",result="answered"\} 1`,
		`posd_gateway_call_seconds_bucket\{call="pay",gateway="demo",result="answered",le="\+Inf"\} 1`,
		`posd_payments\{gateway="demo",state="paid"\} 1`,
		`posd_payments_in_doubt 0`,
		`posd_payments_needs_attention 0`,
		`posd_journal_commit_seconds_count [1-9]\d*`,
		`posd_journal_ok 1`,
		`posd_device_up\{kind="printer",name="printer",state="ready"\} 1`,
		`posd_print_queue_depth 0`,
		`posd_build_info\{version="[^"]+"\} 1`,
	} {
		assert.Regexp(t, regexp.MustCompile(re), body)
	}
}
