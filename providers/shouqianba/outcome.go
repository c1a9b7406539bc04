package shouqianba

import (
	"github.com/tillworks/posd/payflow"
)

// The calls whose answers the table maps.
const (
	callPay       = "pay"
	callQuery     = "query"
	callCancel    = "cancel"
	callRefund    = "refund"
	callPrecreate = "precreate"
)

// A row of the outcome table: in an answer to call, field having value
// means kind. Fields are the outer result_code ("http"), the business
// result_code ("biz"), the business error_code ("error") and the order's
// order_status ("order"). call "*" applies to every call.
type row struct {
	call, field, value string
	kind               payflow.Kind
}

// outcomes is the whole mapping from Shouqianba's answers to posd's, one
// row per code, tested row by row. Lookup order: http, then error (which
// refines a FAIL), then biz, then order (for query's SUCCESS).
var outcomes = []row{
	// Outer result_code: 400 is a request the gateway refused (bad
	// parameters, signature, terminal): nothing happened. 500 is the
	// gateway failing: for a pay that may have been half-done, so in doubt.
	{callPay, "http", "400", payflow.Failed},
	{callPay, "http", "500", payflow.Unknown},
	{callQuery, "http", "400", payflow.Unknown},
	{callQuery, "http", "500", payflow.Unknown},
	{callCancel, "http", "400", payflow.Failed},
	{callCancel, "http", "500", payflow.Unknown},
	{callRefund, "http", "400", payflow.Failed},
	{callRefund, "http", "500", payflow.Unknown},
	{callPrecreate, "http", "400", payflow.Failed},
	{callPrecreate, "http", "500", payflow.Unknown},

	// Business error codes that decide more than the FAIL they come with.
	// The vendor spells the missing order both ways.
	{"*", "error", "UPAY_ORDER_NOT_EXISTS", payflow.NotFound},
	{"*", "error", "UPAY_ORDER_NOT_EXIST", payflow.NotFound},
	// A pay with a client_sn the gateway already has. posd sends each pay
	// once, so the order is not ours to adopt: a person must look.
	{callPay, "error", "CLIENT_SN_CONFLICT", payflow.Conflict},
	{callPrecreate, "error", "CLIENT_SN_CONFLICT", payflow.Conflict},
	// "Already done", answered to a refund or cancel re-sent after its
	// answer was lost (vendor's result-code list): done.
	{callRefund, "error", "UPAY_REFUND_ORDER_NOOP", payflow.Succeeded}, // 本次退款已经完成了
	{callCancel, "error", "UPAY_CANCEL_ORDER_NOOP", payflow.Succeeded}, // 订单已经是撤单状态了
	// The refund number was used with another amount: a person must look.
	{callRefund, "error", "REFUND_REQUEST_CONFLICT", payflow.Conflict},

	// biz_response.result_code.
	{callPay, "biz", "PAY_SUCCESS", payflow.Succeeded},
	{callPay, "biz", "PAY_FAIL", payflow.Failed}, // failed and reversed
	{callPay, "biz", "PAY_IN_PROGRESS", payflow.InProgress},
	{callPay, "biz", "PAY_FAIL_ERROR", payflow.Broken},           // failed, channel state unknown
	{callPay, "biz", "PAY_FAIL_IN_PROGRESS", payflow.InProgress}, // failed, reversal under way: ask again
	{callPay, "biz", "FAIL", payflow.Failed},                     // refused, no money moved
	{callCancel, "biz", "CANCEL_SUCCESS", payflow.Succeeded},
	{callCancel, "biz", "CANCEL_ABORT_SUCCESS", payflow.Succeeded},
	{callCancel, "biz", "CANCEL_ERROR", payflow.Broken},
	{callCancel, "biz", "CANCEL_ABORT_ERROR", payflow.Broken},
	{callCancel, "biz", "CANCEL_IN_PROGRESS", payflow.InProgress},
	{callCancel, "biz", "FAIL", payflow.Failed},
	{callRefund, "biz", "REFUND_SUCCESS", payflow.Succeeded},
	{callRefund, "biz", "REFUND_FAIL", payflow.Failed},
	{callRefund, "biz", "REFUND_ERROR", payflow.Broken},
	{callRefund, "biz", "REFUND_IN_PROGRESS", payflow.InProgress},
	{callRefund, "biz", "FAIL", payflow.Failed},
	{callPrecreate, "biz", "PRECREATE_SUCCESS", payflow.Succeeded},
	{callPrecreate, "biz", "PRECREATE_FAIL", payflow.Failed},
	{callPrecreate, "biz", "FAIL", payflow.Failed},
	{callQuery, "biz", "FAIL", payflow.Unknown}, // a query that failed says nothing about the order

	// order_status, read when a query answers SUCCESS: what happened to the
	// payment. A refunded order was paid; its refunds are tracked apart.
	{callQuery, "order", "CREATED", payflow.InProgress},
	{callQuery, "order", "PAID", payflow.Succeeded},
	{callQuery, "order", "PAY_CANCELED", payflow.Failed},
	{callQuery, "order", "PAY_ERROR", payflow.Broken},
	{callQuery, "order", "REFUNDED", payflow.Succeeded},
	{callQuery, "order", "PARTIAL_REFUNDED", payflow.Succeeded},
	{callQuery, "order", "REFUND_ERROR", payflow.Succeeded},
	{callQuery, "order", "CANCELED", payflow.Failed},
	{callQuery, "order", "CANCEL_ERROR", payflow.Broken},
}

type tableKey struct{ call, field, value string }

var outcomeIndex = func() map[tableKey]payflow.Kind {
	m := make(map[tableKey]payflow.Kind, len(outcomes))
	for _, r := range outcomes {
		m[tableKey{r.call, r.field, r.value}] = r.kind
	}
	return m
}()

func lookup(call, field, value string) (payflow.Kind, bool) {
	if value == "" {
		return 0, false
	}
	if k, ok := outcomeIndex[tableKey{call, field, value}]; ok {
		return k, true
	}
	k, ok := outcomeIndex[tableKey{"*", field, value}]
	return k, ok
}

// classify maps an answer to call into posd's outcome kind. Anything the
// table does not know is Unknown: in doubt, never failed.
func classify(call string, e *envelope) payflow.Kind {
	if e.ResultCode != "200" {
		if k, ok := lookup(call, "http", string(e.ResultCode)); ok {
			return k
		}
		return payflow.Unknown
	}
	b := e.BizResponse
	if b == nil {
		return payflow.Unknown
	}
	if k, ok := lookup(call, "error", string(b.ErrorCode)); ok {
		return k
	}
	if call == callQuery && b.ResultCode == "SUCCESS" {
		if b.Data == nil {
			return payflow.Unknown
		}
		k, _ := lookup(call, "order", string(b.Data.OrderStatus))
		return k // zero value: Unknown
	}
	k, _ := lookup(call, "biz", string(b.ResultCode))
	return k
}

// channels maps payway to posd's wallet names.
var channels = map[string]string{
	"1":  "alipay", // 支付宝 1.0
	"2":  "alipay", // 支付宝 2.0
	"3":  "wechat",
	"4":  "baidu",
	"5":  "jd",
	"6":  "qq",
	"17": "unionpay", // 银联云闪付
	"18": "bestpay",  // 翼支付
	"19": "wechat",   // 微信境外
}

// Channel names the wallet of a payway, or "" when unknown.
func Channel(payway string) string { return channels[payway] }
