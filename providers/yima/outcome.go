package yima

import (
	"github.com/tillworks/posd/payflow"
	"github.com/tillworks/posd/providers"
)

// The calls whose answers the table maps.
const (
	callPay          = "pay"
	callQuery        = "query"
	callCancel       = "cancel"
	callRefund       = "refund"
	callUnifiedOrder = "unifiedorder"
)

func r(call, field, value string, kind payflow.Kind) providers.Row {
	return providers.Row{Call: call, Field: field, Value: value, Kind: kind}
}

// outcomes is the whole mapping from Yima's answers to posd's, tested row
// by row. Fields: result.id ("id"); the wallet's code in the channel's
// detail_error_code ("detail", read only when the id is neither 0000 nor
// 9998); and the call's default for any other id ("other"). The ids the
// configuration names in_doubt_ids come before "detail" and "other" and
// are Unknown. Lookup order: id, in_doubt_ids, detail, other.
var outcomes = func() providers.Table {
	t := providers.Table{
		// 0000 success; 9998 "accepted, not final: query, and keep pos_seq
		// when retrying" (documents and the family's public pages).
		r(callPay, "id", "0000", payflow.Succeeded),
		r(callPay, "id", "9998", payflow.InProgress),
		// Assumed (the query request is undocumented): a query's id is the
		// original pay's, as the family's pages show it.
		r(callQuery, "id", "0000", payflow.Succeeded),
		r(callQuery, "id", "9998", payflow.InProgress),
		r(callCancel, "id", "0000", payflow.Succeeded),
		r(callCancel, "id", "9998", payflow.InProgress),
		r(callRefund, "id", "0000", payflow.Succeeded),
		r(callRefund, "id", "9998", payflow.InProgress),
		// A unified order is placed, not paid: 9998 "下单成功,等待用户支付".
		// A 0000 is taken the same way; the queries say when it is paid.
		r(callUnifiedOrder, "id", "0000", payflow.InProgress),
		r(callUnifiedOrder, "id", "9998", payflow.InProgress),

		// Any other id: the documents' "其它代表失败" for a request that
		// does something — nothing was done, the comment says why.
		r(callPay, "other", "other", payflow.Failed),
		r(callCancel, "other", "other", payflow.Failed),
		r(callRefund, "other", "other", payflow.Failed),
		r(callUnifiedOrder, "other", "other", payflow.Failed),
		// A query that failed says nothing about the order: in doubt, and
		// the pay window's end cancels it.
		r(callQuery, "other", "other", payflow.Unknown),
	}
	// The wallet's own words, where an id other than 0000/9998 comes with
	// them (assume.go).
	for _, c := range detailNotFound {
		t = append(t, r(callQuery, "detail", c, payflow.NotFound), r(callCancel, "detail", c, payflow.NotFound))
	}
	for _, c := range detailPaying {
		t = append(t, r(callPay, "detail", c, payflow.InProgress), r(callQuery, "detail", c, payflow.InProgress))
	}
	for _, c := range detailClosed {
		// Closed, reversed or failed at the wallet: nothing was charged,
		// so a cancel has nothing left to do.
		t = append(t, r(callPay, "detail", c, payflow.Failed), r(callQuery, "detail", c, payflow.Failed), r(callCancel, "detail", c, payflow.Succeeded))
	}
	return t
}()

var outcomeIndex = outcomes.Index()

// classify maps an answer's result id (and the channel's detail code) to
// posd's outcome kind for call.
func classify(call, id, detail string, inDoubt map[string]bool) payflow.Kind {
	if k, ok := outcomeIndex.Lookup(call, "id", id); ok {
		return k
	}
	if id == "" || inDoubt[id] {
		return payflow.Unknown
	}
	if k, ok := outcomeIndex.Lookup(call, "detail", detail); ok {
		return k
	}
	k, _ := outcomeIndex.Lookup(call, "other", "other")
	return k
}
