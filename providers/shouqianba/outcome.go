package shouqianba

import (
	"github.com/tillworks/posd/payflow"
	"github.com/tillworks/posd/providers"
)

// The calls whose answers the table maps.
const (
	callPay       = "pay"
	callQuery     = "query"
	callCancel    = "cancel"
	callRefund    = "refund"
	callPrecreate = "precreate"
)

// row is a line of the outcome table (providers.Row). Fields are the
// outer result_code ("http"), the business result_code ("biz"), the
// business error_code ("error") and the order's order_status ("order").
type row = providers.Row

func r(call, field, value string, kind payflow.Kind) row {
	return row{Call: call, Field: field, Value: value, Kind: kind}
}

// outcomes is the whole mapping from Shouqianba's answers to posd's, one
// row per code, tested row by row. Lookup order: http, then error (which
// refines a FAIL), then the flow's status, then biz, then order (for
// query's SUCCESS).
var outcomes = providers.Table{
	// Outer result_code: 400 is a request the gateway refused (bad
	// parameters, signature, terminal): nothing happened. 500 is the
	// gateway failing: for a pay that may have been half-done, so in doubt.
	r(callPay, "http", "400", payflow.Failed),
	r(callPay, "http", "500", payflow.Unknown),
	r(callQuery, "http", "400", payflow.Unknown),
	r(callQuery, "http", "500", payflow.Unknown),
	r(callCancel, "http", "400", payflow.Failed),
	r(callCancel, "http", "500", payflow.Unknown),
	r(callRefund, "http", "400", payflow.Failed),
	r(callRefund, "http", "500", payflow.Unknown),
	r(callPrecreate, "http", "400", payflow.Failed),
	r(callPrecreate, "http", "500", payflow.Unknown),

	// Business error codes that decide more than the FAIL they come with.
	// The vendor spells the missing order both ways.
	r("*", "error", "UPAY_ORDER_NOT_EXISTS", payflow.NotFound),
	r("*", "error", "UPAY_ORDER_NOT_EXIST", payflow.NotFound),
	// A pay with a client_sn the gateway already has. posd sends each pay
	// once, so the order is not ours to adopt: a person must look.
	r(callPay, "error", "CLIENT_SN_CONFLICT", payflow.Conflict),
	r(callPrecreate, "error", "CLIENT_SN_CONFLICT", payflow.Conflict),
	// "Already done", answered to a refund or cancel re-sent after its
	// answer was lost (vendor's result-code list): done.
	r(callRefund, "error", "UPAY_REFUND_ORDER_NOOP", payflow.Succeeded), // 本次退款已经完成了
	r(callCancel, "error", "UPAY_CANCEL_ORDER_NOOP", payflow.Succeeded), // 订单已经是撤单状态了
	// The refund number was used with another amount: a person must look.
	r(callRefund, "error", "REFUND_REQUEST_CONFLICT", payflow.Conflict),

	// biz_response.result_code.
	r(callPay, "biz", "PAY_SUCCESS", payflow.Succeeded),
	r(callPay, "biz", "PAY_FAIL", payflow.Failed), // failed and reversed
	r(callPay, "biz", "PAY_IN_PROGRESS", payflow.InProgress),
	r(callPay, "biz", "PAY_FAIL_ERROR", payflow.Broken), // failed, channel state unknown
	// Failed and the reversal did not settle: the vendor's list says to
	// contact support, not to wait.
	r(callPay, "biz", "PAY_FAIL_IN_PROGRESS", payflow.Broken),
	r(callPay, "biz", "FAIL", payflow.Failed), // refused, no money moved
	r(callCancel, "biz", "CANCEL_SUCCESS", payflow.Succeeded),
	r(callCancel, "biz", "CANCEL_ABORT_SUCCESS", payflow.Succeeded),
	r(callCancel, "biz", "CANCEL_ERROR", payflow.Broken),
	r(callCancel, "biz", "CANCEL_ABORT_ERROR", payflow.Broken),
	r(callCancel, "biz", "CANCEL_IN_PROGRESS", payflow.InProgress),
	r(callCancel, "biz", "CANCEL_ABORT_IN_PROGRESS", payflow.InProgress), // the reversal of a pay in flight is under way: ask again
	r(callCancel, "biz", "FAIL", payflow.Failed),
	r(callRefund, "biz", "REFUND_SUCCESS", payflow.Succeeded),
	r(callRefund, "biz", "REFUND_FAIL", payflow.Failed),
	r(callRefund, "biz", "REFUND_ERROR", payflow.Broken),
	r(callRefund, "biz", "REFUND_IN_PROGRESS", payflow.InProgress),
	r(callRefund, "biz", "FAIL", payflow.Failed),
	r(callPrecreate, "biz", "PRECREATE_SUCCESS", payflow.Succeeded),
	r(callPrecreate, "biz", "PRECREATE_FAIL", payflow.Failed),
	r(callPrecreate, "biz", "PRECREATE_FAIL_ERROR", payflow.Broken),       // failed, the channel's state unknown
	r(callPrecreate, "biz", "PRECREATE_FAIL_IN_PROGRESS", payflow.Broken), // as PAY_FAIL_IN_PROGRESS: contact support
	r(callPrecreate, "biz", "FAIL", payflow.Failed),
	r(callQuery, "biz", "FAIL", payflow.Unknown), // a query that failed says nothing about the order

	// order_status, read when a query answers SUCCESS: what happened to the
	// payment. A refunded order was paid; its refunds are tracked apart.
	r(callQuery, "order", "CREATED", payflow.InProgress),
	r(callQuery, "order", "PAID", payflow.Succeeded),
	r(callQuery, "order", "PAY_CANCELED", payflow.Failed),
	r(callQuery, "order", "PAY_ERROR", payflow.Broken),
	r(callQuery, "order", "REFUNDED", payflow.Succeeded),
	r(callQuery, "order", "PARTIAL_REFUNDED", payflow.Succeeded),
	r(callQuery, "order", "REFUND_ERROR", payflow.Succeeded),
	r(callQuery, "order", "CANCELED", payflow.Failed),
	r(callQuery, "order", "CANCEL_ERROR", payflow.Broken),
	r(callQuery, "order", "CANCEL_INPROGRESS", payflow.InProgress), // a cancel under way: ask again
	r(callQuery, "order", "REFUND_INPROGRESS", payflow.Succeeded),  // paid; its refund is tracked apart
	r(callQuery, "order", "INVALID_STATUS_CODE", payflow.Broken),   // a state the gateway itself cannot name

	// The flow's status (data.status) of a pay: FAIL_IO_* and
	// FAIL_PROTOCOL_* (the channel's answer lost or garbled) and
	// FAIL_ERROR mean "do not deliver" in the vendor's demos, whatever the
	// result code says: a person must settle the order. Read before the
	// result code.
	r(callPay, "status", "FAIL_IO_1", payflow.Broken),
	r(callPay, "status", "FAIL_IO_2", payflow.Broken),
	r(callPay, "status", "FAIL_IO_3", payflow.Broken),
	r(callPay, "status", "FAIL_PROTOCOL_1", payflow.Broken),
	r(callPay, "status", "FAIL_PROTOCOL_2", payflow.Broken),
	r(callPay, "status", "FAIL_PROTOCOL_3", payflow.Broken),
	r(callPay, "status", "FAIL_ERROR", payflow.Broken),
	r(callQuery, "status", "FAIL_IO_1", payflow.Broken),
	r(callQuery, "status", "FAIL_IO_2", payflow.Broken),
	r(callQuery, "status", "FAIL_IO_3", payflow.Broken),
	r(callQuery, "status", "FAIL_PROTOCOL_1", payflow.Broken),
	r(callQuery, "status", "FAIL_PROTOCOL_2", payflow.Broken),
	r(callQuery, "status", "FAIL_PROTOCOL_3", payflow.Broken),
	r(callQuery, "status", "FAIL_ERROR", payflow.Broken),
}

var outcomeIndex = outcomes.Index()

func lookup(call, field, value string) (payflow.Kind, bool) {
	return outcomeIndex.Lookup(call, field, value)
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
	if b.Data != nil {
		if k, ok := lookup(call, "status", string(b.Data.Status)); ok {
			return k
		}
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
	"7":  "nfc",      // NFC
	"8":  "lakala",   // 拉卡拉钱包
	"15": "wechat",   // 拉卡拉微信
	"16": "cmb",      // 招商银行
	"17": "unionpay", // 银联云闪付
	"18": "bestpay",  // 翼支付
	"19": "wechat",   // 微信境外
}

// Channel names the wallet of a payway, or "" when unknown.
func Channel(payway string) string { return channels[payway] }
