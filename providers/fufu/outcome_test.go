package fufu

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillworks/posd/payflow"
	"github.com/tillworks/posd/providers"
)

// TestOutcomeTable feeds answers shaped as the document shows them to
// classify, one case for every row of the table (checked at the end),
// with the expected kind written out here rather than read from the table.
func TestOutcomeTable(t *testing.T) {
	covered := map[providers.Row]bool{}
	for _, tc := range rowCases() {
		for _, call := range tc.calls() {
			t.Run(call+"/"+tc.field+"/"+tc.value, func(t *testing.T) {
				var env envelope
				require.NoError(t, json.Unmarshal([]byte(tc.body), &env))
				assert.Equal(t, tc.want, classify(call, &env))
			})
		}
		covered[providers.Row{Call: tc.call, Field: tc.field, Value: tc.value, Kind: tc.want}] = true
	}
	for _, r := range outcomes {
		assert.True(t, covered[r], "row %+v has no test", r)
	}
	assert.Len(t, covered, len(outcomes))

	// Anything unknown is in doubt, never failed.
	for _, body := range []string{`{"result":{"return_code":"SUCCESS"}}`, `{"result":{"return_code":"SUCCESS"},"data":{"return_code":"SUCCESS","state":99}}`, `{"result":{"return_code":"MAYBE"}}`, `{"result":{"return_code":"SUCCESS"},"data":{"return_code":"WHATEVER"}}`} {
		var env envelope
		require.NoError(t, json.Unmarshal([]byte(body), &env))
		assert.Equal(t, payflow.Unknown, classify(callPay, &env), body)
	}
}

// rowCase is one row of the table with an answer shaped as the document
// shows it, and the kind expected, written out here rather than read from
// the table.
type rowCase struct {
	call, field, value string
	body               string
	want               payflow.Kind
}

// calls are the calls a case is tried with: its own, or a few for "*".
func (tc rowCase) calls() []string {
	if tc.call != "*" {
		return []string{tc.call}
	}
	if tc.field == "state" {
		return []string{callPay, callQuery}
	}
	return []string{callPay, callCancel, callRefund}
}

func rowCases() []rowCase {
	refused := func(msg string) string {
		return fmt.Sprintf(`{"result":{"return_code":"FAIL","return_msg":%q}}`, msg)
	}
	failed := func(msg string) string {
		return fmt.Sprintf(`{"result":{"return_code":"SUCCESS","return_msg":"OK"},"data":{"return_code":"FAIL","return_msg":%q}}`, msg)
	}
	data := func(code string) string {
		return fmt.Sprintf(`{"result":{"return_code":"SUCCESS","return_msg":"OK"},"data":{"return_code":%q}}`, code)
	}
	state := func(s string) string {
		return fmt.Sprintf(`{"result":{"return_code":"SUCCESS","return_msg":"OK"},"data":{"return_code":"SUCCESS","out_trade_no":"1","total_fee":250,"state":%s}}`, s)
	}
	refund := func(st string) string {
		return fmt.Sprintf(`{"result":{"return_code":"SUCCESS","return_msg":"OK"},"data":{"return_code":"SUCCESS","trade_status":%q}}`, st)
	}
	tests := []rowCase{
		{"*", "refused", "ILLEGAL_PARAMETER", refused("ILLEGAL_PARAMETER"), payflow.Failed},
		{"*", "refused", "INVALID_SIGN", refused("INVALID_SIGN"), payflow.Failed},
		{"*", "refused", "AMT_ERROR", refused("AMT_ERROR"), payflow.Failed},
		{"*", "refused", "INVALID_CONTRACT", refused("INVALID_CONTRACT"), payflow.Failed},
		{"*", "refused", "UNREGISTERED_BUSI", refused("UNREGISTERED_BUSI"), payflow.Failed},
		{callQuery, "refused", "ILLEGAL_PARAMETER", refused("ILLEGAL_PARAMETER"), payflow.Unknown},
		{callQuery, "refused", "INVALID_SIGN", refused("INVALID_SIGN"), payflow.Unknown},
		{callRefundQuery, "refused", "INVALID_SIGN", refused("INVALID_SIGN"), payflow.Unknown},
		{"*", "refused", "EXCEPTION", refused("EXCEPTION"), payflow.Unknown},
		{"*", "refused", "SERVICE_UNAVAILABLE", refused("SERVICE_UNAVAILABLE"), payflow.Unknown},
		{"*", "refused", "DATABASE_ERROR", refused("DATABASE_ERROR"), payflow.Unknown},
		{"*", "refused", "HTTP_EXCEPTION", refused("HTTP_EXCEPTION"), payflow.Unknown},
		{"*", "refused", "IO_EXCEPTION", refused("IO_EXCEPTION"), payflow.Unknown},
		{"*", "refused", "CREATE_SECURITY_CONNECTION_ERROR", refused("CREATE_SECURITY_CONNECTION_ERROR"), payflow.Unknown},

		{"*", "msg", "CHARGE_NONEXISTENT", failed("CHARGE_NONEXISTENT"), payflow.NotFound},
		{callPay, "msg", "SERIAL_REPEAT", failed("SERIAL_REPEAT"), payflow.Conflict},
		{callPreOrder, "msg", "SERIAL_REPEAT", failed("SERIAL_REPEAT"), payflow.Conflict},
		{callRefund, "msg", "SERIAL_REPEAT", failed("SERIAL_REPEAT"), payflow.Unknown},
		{callCancel, "msg", "AREADY_REVOKED", failed("AREADY_REVOKED"), payflow.Succeeded},
		{"*", "msg", "EXCEPTION", failed("EXCEPTION"), payflow.Unknown},
		{"*", "msg", "SERVICE_UNAVAILABLE", failed("SERVICE_UNAVAILABLE"), payflow.Unknown},
		{"*", "msg", "DATABASE_ERROR", failed("DATABASE_ERROR"), payflow.Unknown},
		{"*", "msg", "HTTP_EXCEPTION", failed("HTTP_EXCEPTION"), payflow.Unknown},
		{"*", "msg", "IO_EXCEPTION", failed("IO_EXCEPTION"), payflow.Unknown},

		{callPay, "data", "FAIL", failed("USER_PAY_FAIL"), payflow.Failed},
		{callCancel, "data", "FAIL", failed("FAIL"), payflow.Failed},
		{callClose, "data", "FAIL", failed("FAIL"), payflow.Failed},
		{callRefund, "data", "FAIL", failed("FAIL"), payflow.Failed},
		{callPreOrder, "data", "FAIL", failed("FAIL"), payflow.Failed},
		{callQuery, "data", "FAIL", failed("FAIL"), payflow.Unknown},
		{callRefundQuery, "data", "FAIL", failed("FAIL"), payflow.Unknown},
		{callCancel, "data", "SUCCESS", data("SUCCESS"), payflow.Succeeded},
		{callCancel, "data", "SUCESS", data("SUCESS"), payflow.Succeeded},
		{callClose, "data", "SUCCESS", data("SUCCESS"), payflow.Succeeded},
		{callClose, "data", "SUCESS", data("SUCESS"), payflow.Succeeded},
		{callRefund, "data", "SUCCESS", data("SUCCESS"), payflow.Succeeded},
		{callRefund, "data", "SUCESS", data("SUCESS"), payflow.Succeeded},
		{callPreOrder, "data", "SUCCESS", data("SUCCESS"), payflow.Succeeded},
		{callPreOrder, "data", "SUCESS", data("SUCESS"), payflow.Succeeded},

		{"*", "state", "0", state("0"), payflow.InProgress},
		{"*", "state", "1", state(`"1"`), payflow.Succeeded}, // numbers as strings too
		{"*", "state", "2", state("2"), payflow.Failed},
		{"*", "state", "3", state("3"), payflow.InProgress},
		{"*", "state", "4", state("4"), payflow.Succeeded},
		{"*", "state", "5", state("5"), payflow.Succeeded},
		{"*", "state", "6", state("6"), payflow.Failed},
		{"*", "state", "7", state("7"), payflow.Unknown},
		{"*", "state", "8", state("8"), payflow.Succeeded},
		{"*", "state", "9", state("9"), payflow.Succeeded},
		{"*", "state", "10", state("10"), payflow.Succeeded},
		{"*", "state", "11", state("11"), payflow.Succeeded},
		{"*", "state", "12", state("12"), payflow.Succeeded},
		{"*", "state", "13", state("13"), payflow.Succeeded},
		{"*", "state", "14", state("14"), payflow.Failed},

		{callRefundQuery, "refund", "succ", refund("succ"), payflow.Succeeded},
		{callRefundQuery, "refund", "fail", refund("fail"), payflow.Failed},
		{callRefundQuery, "refund", "refunding", refund("refunding"), payflow.InProgress},
	}
	return tests
}

// FuzzOutcome: any answer body either fails to decode or maps to an
// outcome without panicking, and a paid outcome always rests on an answer
// that says SUCCESS at both levels and a paid or refund state.
func FuzzOutcome(f *testing.F) {
	for _, tc := range rowCases() {
		f.Add([]byte(tc.body))
	}
	f.Add([]byte(`{"result":{"return_code":"SUCCESS"},"data":{"return_code":"SUCCESS","state":1,"total_fee":"x"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var env envelope
		if json.Unmarshal(b, &env) != nil {
			return
		}
		for _, call := range []string{callPay, callQuery, callCancel, callClose, callRefund, callRefundQuery, callPreOrder} {
			o := outcome(call, &env, b)
			if o.Kind == payflow.Succeeded && (call == callPay || call == callQuery) {
				require.NotNil(t, env.Data)
				require.Contains(t, []string{"SUCCESS", "SUCESS"}, string(env.Result.ReturnCode))
				require.Contains(t, []string{"SUCCESS", "SUCESS"}, string(env.Data.ReturnCode))
				require.Contains(t, []string{"1", "4", "5", "8", "9", "10", "11", "12", "13"}, string(env.Data.State))
			}
		}
	})
}
