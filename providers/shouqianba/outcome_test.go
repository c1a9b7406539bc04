package shouqianba

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillworks/posd/payflow"
	"github.com/tillworks/posd/providers/shouqianba/sqbtest"
)

// TestOutcomeTable feeds answers shaped as the vendor documents them to
// classify, one case for every row of the outcome table (checked below),
// with the expected kind written out here rather than read from the table.
func TestOutcomeTable(t *testing.T) {
	comm := func(code, err string) string {
		return fmt.Sprintf(`{"result_code":%q,"error_code":%q,"error_message":"x"}`, code, err)
	}
	bizAnswer := func(result, errCode string) string {
		return fmt.Sprintf(`{"result_code":"200","biz_response":{"result_code":%q,"error_code":%q,"error_message":"m","data":{"sn":"7894259244067349","client_sn":"1","payway":"3","order_status":"CREATED"}}}`, result, errCode)
	}
	order := func(status string) string {
		return fmt.Sprintf(`{"result_code":"200","biz_response":{"result_code":"SUCCESS","data":{"sn":"7894259244096963","client_sn":"1","order_status":%q,"payway":"3"}}}`, status)
	}
	tests := []struct {
		call, field, value string // the table row the case exercises
		body               string
		want               payflow.Kind
	}{
		{callPay, "http", "400", comm("400", "INVALID_PARAMS"), payflow.Failed},
		{callPay, "http", "500", comm("500", "UNKNOWN_SYSTEM_ERROR"), payflow.Unknown},
		{callQuery, "http", "400", comm("400", "ILLEGAL_SIGN"), payflow.Unknown},
		{callQuery, "http", "500", comm("500", "MAINTENANCE_INPROGRESS"), payflow.Unknown},
		{callCancel, "http", "400", comm("400", "INVALID_TERMINAL"), payflow.Failed},
		{callCancel, "http", "500", comm("500", "UNKNOWN_SYSTEM_ERROR"), payflow.Unknown},
		{callRefund, "http", "400", comm("400", "INVALID_PARAMS"), payflow.Failed},
		{callRefund, "http", "500", comm("500", "UNEXPECTED_PROVIDER_ERROR"), payflow.Unknown},
		{callPrecreate, "http", "400", comm("400", "INVALID_PARAMS"), payflow.Failed},
		{callPrecreate, "http", "500", comm("500", "UNKNOWN_SYSTEM_ERROR"), payflow.Unknown},

		{"*", "error", "UPAY_ORDER_NOT_EXISTS", bizAnswer("FAIL", "UPAY_ORDER_NOT_EXISTS"), payflow.NotFound},
		{"*", "error", "UPAY_ORDER_NOT_EXIST", bizAnswer("FAIL", "UPAY_ORDER_NOT_EXIST"), payflow.NotFound},
		{callPay, "error", "CLIENT_SN_CONFLICT", bizAnswer("FAIL", "CLIENT_SN_CONFLICT"), payflow.Conflict},
		{callPrecreate, "error", "CLIENT_SN_CONFLICT", bizAnswer("PRECREATE_FAIL", "CLIENT_SN_CONFLICT"), payflow.Conflict},
		{callRefund, "error", "UPAY_REFUND_ORDER_NOOP", bizAnswer("FAIL", "UPAY_REFUND_ORDER_NOOP"), payflow.Succeeded},
		{callCancel, "error", "UPAY_CANCEL_ORDER_NOOP", bizAnswer("FAIL", "UPAY_CANCEL_ORDER_NOOP"), payflow.Succeeded},
		{callRefund, "error", "REFUND_REQUEST_CONFLICT", bizAnswer("FAIL", "REFUND_REQUEST_CONFLICT"), payflow.Conflict},

		{callPay, "biz", "PAY_SUCCESS", bizAnswer("PAY_SUCCESS", ""), payflow.Succeeded},
		{callPay, "biz", "PAY_FAIL", bizAnswer("PAY_FAIL", "EXPIRED_BARCODE"), payflow.Failed},
		{callPay, "biz", "PAY_IN_PROGRESS", bizAnswer("PAY_IN_PROGRESS", ""), payflow.InProgress},
		{callPay, "biz", "PAY_FAIL_ERROR", bizAnswer("PAY_FAIL_ERROR", "TRADE_FAILED"), payflow.Broken},
		{callPay, "biz", "PAY_FAIL_IN_PROGRESS", bizAnswer("PAY_FAIL_IN_PROGRESS", ""), payflow.Broken},
		{callPay, "biz", "FAIL", bizAnswer("FAIL", "INVALID_BARCODE"), payflow.Failed},
		{callCancel, "biz", "CANCEL_SUCCESS", bizAnswer("CANCEL_SUCCESS", ""), payflow.Succeeded},
		{callCancel, "biz", "CANCEL_ABORT_SUCCESS", bizAnswer("CANCEL_ABORT_SUCCESS", ""), payflow.Succeeded},
		{callCancel, "biz", "CANCEL_ERROR", bizAnswer("CANCEL_ERROR", "UPAY_TCP_ORDER_NOT_REFUNDABLE"), payflow.Broken},
		{callCancel, "biz", "CANCEL_ABORT_ERROR", bizAnswer("CANCEL_ABORT_ERROR", ""), payflow.Broken},
		{callCancel, "biz", "CANCEL_IN_PROGRESS", bizAnswer("CANCEL_IN_PROGRESS", ""), payflow.InProgress},
		{callCancel, "biz", "CANCEL_ABORT_IN_PROGRESS", bizAnswer("CANCEL_ABORT_IN_PROGRESS", ""), payflow.InProgress},
		{callCancel, "biz", "FAIL", bizAnswer("FAIL", "UPAY_CANCEL_INVALID_ORDER_STATE"), payflow.Failed},
		{callRefund, "biz", "REFUND_SUCCESS", bizAnswer("REFUND_SUCCESS", ""), payflow.Succeeded},
		{callRefund, "biz", "REFUND_FAIL", bizAnswer("REFUND_FAIL", "REFUND_AMT_NOT_EQUAL_TOTAL"), payflow.Failed},
		{callRefund, "biz", "REFUND_ERROR", bizAnswer("REFUND_ERROR", ""), payflow.Broken},
		{callRefund, "biz", "REFUND_IN_PROGRESS", bizAnswer("REFUND_IN_PROGRESS", ""), payflow.InProgress},
		{callRefund, "biz", "FAIL", bizAnswer("FAIL", "UPAY_REFUND_INVALID_ORDER_STATE"), payflow.Failed},
		{callPrecreate, "biz", "PRECREATE_SUCCESS", bizAnswer("PRECREATE_SUCCESS", ""), payflow.Succeeded},
		{callPrecreate, "biz", "PRECREATE_FAIL", bizAnswer("PRECREATE_FAIL", ""), payflow.Failed},
		{callPrecreate, "biz", "PRECREATE_FAIL_ERROR", bizAnswer("PRECREATE_FAIL_ERROR", ""), payflow.Broken},
		{callPrecreate, "biz", "PRECREATE_FAIL_IN_PROGRESS", bizAnswer("PRECREATE_FAIL_IN_PROGRESS", ""), payflow.Broken},
		{callPrecreate, "biz", "FAIL", bizAnswer("FAIL", "X"), payflow.Failed},
		{callQuery, "biz", "FAIL", bizAnswer("FAIL", "SOMETHING_ELSE"), payflow.Unknown},

		{callQuery, "order", "CREATED", order("CREATED"), payflow.InProgress},
		{callQuery, "order", "PAID", order("PAID"), payflow.Succeeded},
		{callQuery, "order", "PAY_CANCELED", order("PAY_CANCELED"), payflow.Failed},
		{callQuery, "order", "PAY_ERROR", order("PAY_ERROR"), payflow.Broken},
		{callQuery, "order", "REFUNDED", order("REFUNDED"), payflow.Succeeded},
		{callQuery, "order", "PARTIAL_REFUNDED", order("PARTIAL_REFUNDED"), payflow.Succeeded},
		{callQuery, "order", "REFUND_ERROR", order("REFUND_ERROR"), payflow.Succeeded},
		{callQuery, "order", "CANCELED", order("CANCELED"), payflow.Failed},
		{callQuery, "order", "CANCEL_ERROR", order("CANCEL_ERROR"), payflow.Broken},
		{callQuery, "order", "CANCEL_INPROGRESS", order("CANCEL_INPROGRESS"), payflow.InProgress},
		{callQuery, "order", "REFUND_INPROGRESS", order("REFUND_INPROGRESS"), payflow.Succeeded},
		{callQuery, "order", "INVALID_STATUS_CODE", order("INVALID_STATUS_CODE"), payflow.Broken},
	}
	// The flow's status: "do not deliver", even beside a success code.
	for _, st := range []string{"FAIL_IO_1", "FAIL_IO_2", "FAIL_IO_3", "FAIL_PROTOCOL_1", "FAIL_PROTOCOL_2", "FAIL_PROTOCOL_3", "FAIL_ERROR"} {
		tests = append(tests,
			struct {
				call, field, value string
				body               string
				want               payflow.Kind
			}{callPay, "status", st, fmt.Sprintf(`{"result_code":"200","biz_response":{"result_code":"PAY_SUCCESS","data":{"sn":"7894259244067349","client_sn":"1","payway":"3","status":%q,"order_status":"PAID"}}}`, st), payflow.Broken},
			struct {
				call, field, value string
				body               string
				want               payflow.Kind
			}{callQuery, "status", st, fmt.Sprintf(`{"result_code":"200","biz_response":{"result_code":"SUCCESS","data":{"sn":"7894259244067349","client_sn":"1","payway":"3","status":%q,"order_status":"PAID"}}}`, st), payflow.Broken})
	}
	// Every answer also goes over the wire: the fake gateway checks the
	// client's signature and answers the canned body.
	fake := sqbtest.New("100000330002383829", "68d499beda5f72116592f5c527465656")
	srv := httptest.NewServer(fake)
	defer srv.Close()
	client, err := New(Options{BaseURL: srv.URL, TillID: "till-01",
		Terminal: TerminalFile{Path: filepath.Join(t.TempDir(), "t.json")},
		Initial:  Terminal{SN: "100000330002383829", Key: "68d499beda5f72116592f5c527465656", CheckedIn: time.Now().Format(time.DateOnly)}})
	require.NoError(t, err)
	ctx := context.Background()
	send := map[string]func() (payflow.Outcome, error){
		callPay: func() (payflow.Outcome, error) {
			return client.Pay(ctx, payflow.PayRequest{OrderNo: "1", Amount: 1, AuthCode: "134567890123456789"})
		},
		callQuery:  func() (payflow.Outcome, error) { return client.Query(ctx, payflow.OrderRef{OrderNo: "1"}) },
		callCancel: func() (payflow.Outcome, error) { return client.Cancel(ctx, payflow.OrderRef{OrderNo: "1"}) },
		callRefund: func() (payflow.Outcome, error) {
			return client.Refund(ctx, payflow.RefundRequest{OrderNo: "1", RequestNo: "2", Amount: 1})
		},
		callPrecreate: func() (payflow.Outcome, error) {
			_, o, err := client.Precreate(ctx, payflow.PayRequest{OrderNo: "1", Amount: 1, Channel: "wechat"})
			return o, err
		},
	}
	covered := map[row]bool{}
	for _, tc := range tests {
		calls := []string{tc.call}
		if tc.call == "*" {
			calls = []string{callPay, callQuery, callCancel, callRefund}
		}
		for _, call := range calls {
			t.Run(call+"/"+tc.field+"/"+tc.value, func(t *testing.T) {
				var env envelope
				require.NoError(t, json.Unmarshal([]byte(tc.body), &env))
				assert.Equal(t, tc.want, classify(call, &env))

				fake.Can(paths[call], tc.body)
				o, err := send[call]()
				require.NoError(t, err)
				assert.Equal(t, tc.want, o.Kind, "over the wire")
				assert.NotEmpty(t, o.Code)
			})
		}
		covered[row{Call: tc.call, Field: tc.field, Value: tc.value, Kind: tc.want}] = true
	}
	assert.Zero(t, fake.BadSignatures)
	for _, r := range outcomes {
		assert.True(t, covered[r], "row %+v has no test case (or a different expectation)", r)
	}
	assert.Len(t, covered, len(outcomes))
}

var paths = map[string]string{
	callPay: "/upay/v2/pay", callQuery: "/upay/v2/query", callCancel: "/upay/v2/cancel",
	callRefund: "/upay/v2/refund", callPrecreate: "/upay/v2/precreate",
}

// TestUnknownAnswersAreInDoubt: what the table does not know is never a
// failure.
func TestUnknownAnswersAreInDoubt(t *testing.T) {
	for _, body := range []string{
		`{"result_code":"200","biz_response":{"result_code":"PAY_SOMETHING_NEW"}}`,
		`{"result_code":"200"}`,
		`{"result_code":"302"}`,
		`{"result_code":"200","biz_response":{"result_code":"SUCCESS","data":{"order_status":"NEW_STATE"}}}`,
		`{"result_code":"200","biz_response":{"result_code":"SUCCESS"}}`,
	} {
		var env envelope
		require.NoError(t, json.Unmarshal([]byte(body), &env))
		assert.Equal(t, payflow.Unknown, classify(callPay, &env), body)
		assert.Equal(t, payflow.Unknown, classify(callQuery, &env), body)
	}
}

func TestLenientValues(t *testing.T) {
	var env envelope
	require.NoError(t, json.Unmarshal([]byte(`{"result_code":200,"new_field":[1,2],"biz_response":{"result_code":"PAY_SUCCESS","data":{"sn":7894259244067349,"total_amount":1,"payway":3,"extra":{"a":1},"order_status":null}}}`), &env))
	assert.Equal(t, str("200"), env.ResultCode)
	assert.Equal(t, str("7894259244067349"), env.BizResponse.Data.SN)
	assert.Equal(t, str("3"), env.BizResponse.Data.Payway)
	assert.Equal(t, payflow.Succeeded, classify(callPay, &env))
	o := outcome(callPay, &env, nil)
	assert.Equal(t, "wechat", o.Channel)
	assert.Equal(t, "7894259244067349", o.GatewayTradeNo)
}

func TestChannels(t *testing.T) {
	for payway, want := range map[string]string{"1": "alipay", "2": "alipay", "3": "wechat", "17": "unionpay", "99": ""} {
		assert.Equal(t, want, Channel(payway), payway)
	}
}

func TestSign(t *testing.T) {
	// Expected values computed with coreutils' md5sum over body+key.
	assert.Equal(t, "e71dba8e493592c5fbe2085dde7abe1f", Sign([]byte("{}"), "k"))
	assert.Equal(t, "14fc2437494530f5e0e7195e1907bd87", Sign([]byte(`{"subject":"达美乐披萨"}`), "68d499beda5f72116592f5c527465656"))
}

// FuzzAnswer: any bytes from a gateway parse or fail cleanly, and any
// parsed answer maps to some kind without a panic.
func FuzzAnswer(f *testing.F) {
	f.Add([]byte(`{"result_code":"200","biz_response":{"result_code":"PAY_SUCCESS","data":{"sn":"1"}}}`))
	f.Add([]byte(`{"result_code":"400","error_code":"ILLEGAL_SIGN"}`))
	f.Add([]byte(`{"result_code":200,"biz_response":{"data":{"order_status":["x"]}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var env envelope
		if json.Unmarshal(b, &env) != nil {
			return
		}
		for _, call := range []string{callPay, callQuery, callCancel, callRefund, callPrecreate} {
			k := classify(call, &env)
			o := outcome(call, &env, b)
			assert.Equal(t, k, o.Kind)
		}
	})
}
