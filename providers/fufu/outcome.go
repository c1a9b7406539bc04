package fufu

import (
	"github.com/tillworks/posd/payflow"
	"github.com/tillworks/posd/providers"
)

// The calls whose answers the table maps.
const (
	callPay         = "order"
	callQuery       = "query"
	callCancel      = "cancel"
	callClose       = "close"
	callRefund      = "refund"
	callRefundQuery = "refundQuery"
	callPreOrder    = "preOrder"
)

func r(call, field, value string, kind payflow.Kind) providers.Row {
	return providers.Row{Call: call, Field: field, Value: value, Kind: kind}
}

// outcomes is the whole mapping from FuFu's answers to posd's, one row per
// code, tested row by row. Fields: the request's result.return_msg when
// result.return_code is FAIL ("refused"), data.return_msg when
// data.return_code is FAIL ("msg"), data.return_code ("data"), the order
// state ("state", section 3.4) and a refund's trade_status ("refund").
// Lookup order: refused, then msg, then data, then state or refund.
// Anything not here is Unknown: in doubt, never failed.
var outcomes = providers.Table{
	// The request refused before anything happened: bad parameters,
	// signature, amount, contract or merchant. Nothing was done, except
	// that a query that was refused says nothing about the order.
	r("*", "refused", "ILLEGAL_PARAMETER", payflow.Failed),
	r("*", "refused", "INVALID_SIGN", payflow.Failed),
	r("*", "refused", "AMT_ERROR", payflow.Failed),
	r("*", "refused", "INVALID_CONTRACT", payflow.Failed),
	r("*", "refused", "UNREGISTERED_BUSI", payflow.Failed),
	r(callQuery, "refused", "ILLEGAL_PARAMETER", payflow.Unknown),
	r(callQuery, "refused", "INVALID_SIGN", payflow.Unknown),
	r(callRefundQuery, "refused", "INVALID_SIGN", payflow.Unknown),
	// The gateway failing: it may have half done the request.
	r("*", "refused", "EXCEPTION", payflow.Unknown),
	r("*", "refused", "SERVICE_UNAVAILABLE", payflow.Unknown),
	r("*", "refused", "DATABASE_ERROR", payflow.Unknown),
	r("*", "refused", "HTTP_EXCEPTION", payflow.Unknown),
	r("*", "refused", "IO_EXCEPTION", payflow.Unknown),
	r("*", "refused", "CREATE_SECURITY_CONNECTION_ERROR", payflow.Unknown),

	// data.return_msg codes that decide more than the FAIL they come with.
	r("*", "msg", "CHARGE_NONEXISTENT", payflow.NotFound),
	// A pay with an out_trade_no the gateway has: posd sends each pay once,
	// so the number belongs to an order posd may not know.
	r(callPay, "msg", "SERIAL_REPEAT", payflow.Conflict),
	r(callPreOrder, "msg", "SERIAL_REPEAT", payflow.Conflict),
	// A refund number already used: done before, or used with other
	// details. The refund query settles which.
	r(callRefund, "msg", "SERIAL_REPEAT", payflow.Unknown),
	// A cancel re-sent after its answer was lost: done.
	r(callCancel, "msg", "AREADY_REVOKED", payflow.Succeeded),
	r("*", "msg", "EXCEPTION", payflow.Unknown),
	r("*", "msg", "SERVICE_UNAVAILABLE", payflow.Unknown),
	r("*", "msg", "DATABASE_ERROR", payflow.Unknown),
	r("*", "msg", "HTTP_EXCEPTION", payflow.Unknown),
	r("*", "msg", "IO_EXCEPTION", payflow.Unknown),

	// data.return_code. The dictionary spells success SUCESS; the
	// examples SUCCESS: both are success.
	r(callPay, "data", "FAIL", payflow.Failed), // declined: nothing charged
	r(callCancel, "data", "FAIL", payflow.Failed),
	r(callClose, "data", "FAIL", payflow.Failed),
	r(callRefund, "data", "FAIL", payflow.Failed),
	r(callPreOrder, "data", "FAIL", payflow.Failed),
	r(callQuery, "data", "FAIL", payflow.Unknown), // a failed query says nothing about the order
	r(callRefundQuery, "data", "FAIL", payflow.Unknown),
	r(callCancel, "data", "SUCCESS", payflow.Succeeded),
	r(callCancel, "data", "SUCESS", payflow.Succeeded),
	r(callClose, "data", "SUCCESS", payflow.Succeeded),
	r(callClose, "data", "SUCESS", payflow.Succeeded),
	r(callRefund, "data", "SUCCESS", payflow.Succeeded),
	r(callRefund, "data", "SUCESS", payflow.Succeeded),
	r(callPreOrder, "data", "SUCCESS", payflow.Succeeded),
	r(callPreOrder, "data", "SUCESS", payflow.Succeeded),

	// The order state (pay and query answered SUCCESS), section 3.4. A
	// refund state means the order was paid; its refunds are tracked apart.
	r("*", "state", "0", payflow.InProgress), // 待付款
	r("*", "state", "1", payflow.Succeeded),  // 已付款
	r("*", "state", "2", payflow.Failed),     // 已撤单
	r("*", "state", "3", payflow.InProgress), // 申请撤单: ask again
	r("*", "state", "4", payflow.Succeeded),  // 部分退款
	r("*", "state", "5", payflow.Succeeded),  // 已退款
	r("*", "state", "6", payflow.Failed),     // 交易关闭
	r("*", "state", "7", payflow.Unknown),    // 系统保留
	r("*", "state", "8", payflow.Succeeded),  // 退款中
	r("*", "state", "9", payflow.Succeeded),  // 退款失败
	r("*", "state", "10", payflow.Succeeded), // 待退款
	r("*", "state", "11", payflow.Succeeded), // 退款成功
	r("*", "state", "12", payflow.Succeeded), // 退款失败
	r("*", "state", "13", payflow.Succeeded), // 退款取消
	r("*", "state", "14", payflow.Failed),    // 撤单成功

	// A refund's trade_status (refund query).
	r(callRefundQuery, "refund", "succ", payflow.Succeeded),
	r(callRefundQuery, "refund", "fail", payflow.Failed),
	r(callRefundQuery, "refund", "refunding", payflow.InProgress),
}

var outcomeIndex = outcomes.Index()

// classify maps an answer to call into posd's outcome kind.
func classify(call string, e *envelope) payflow.Kind {
	lookup := outcomeIndex.Lookup
	if string(e.Result.ReturnCode) != "SUCCESS" && string(e.Result.ReturnCode) != "SUCESS" {
		k, _ := lookup(call, "refused", string(e.Result.ReturnMsg))
		return k // zero value: Unknown
	}
	d := e.Data
	if d == nil {
		return payflow.Unknown
	}
	if string(d.ReturnCode) == "FAIL" {
		if k, ok := lookup(call, "msg", string(d.ReturnMsg)); ok {
			return k
		}
	}
	if k, ok := lookup(call, "data", string(d.ReturnCode)); ok || string(d.ReturnCode) == "FAIL" {
		return k
	}
	switch call {
	case callPay, callQuery:
		if string(d.ReturnCode) == "SUCCESS" || string(d.ReturnCode) == "SUCESS" {
			k, _ := lookup(call, "state", string(d.State))
			return k
		}
	case callRefundQuery:
		if string(d.ReturnCode) == "SUCCESS" || string(d.ReturnCode) == "SUCESS" {
			k, _ := lookup(call, "refund", string(d.TradeStatus))
			return k
		}
	}
	return payflow.Unknown
}

// channels maps channel_type to posd's wallet names (section 3.2).
var channels = map[string]string{"1": "alipay", "2": "wechat"}
