package yima

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillworks/posd/payflow"
)

// TestOutcomeRows walks every row of the table through classify, as an
// answer carrying that id (or detail) would reach it.
func TestOutcomeRows(t *testing.T) {
	inDoubt := map[string]bool{"9999": true}
	for _, row := range outcomes {
		t.Run(fmt.Sprintf("%s/%s=%s", row.Call, row.Field, row.Value), func(t *testing.T) {
			var got payflow.Kind
			switch row.Field {
			case "id":
				got = classify(row.Call, row.Value, "ORDERNOTEXIST", inDoubt)
			case "detail":
				got = classify(row.Call, "1002", row.Value, inDoubt)
			case "other":
				got = classify(row.Call, "1002", "", inDoubt)
			default:
				t.Fatalf("a row of unknown field %q", row.Field)
			}
			assert.Equal(t, row.Kind, got)
		})
	}
}

// TestOutcomeOrder: the id decides before anything; an in-doubt id before
// the detail; a call without a row for an id falls to its default.
func TestOutcomeOrder(t *testing.T) {
	inDoubt := map[string]bool{"9999": true, "8888": true}
	for _, tc := range []struct {
		call, id, detail string
		want             payflow.Kind
	}{
		{callPay, "0000", "ORDERCLOSED", payflow.Succeeded},
		{callPay, "9999", "ORDERCLOSED", payflow.Unknown},
		{callPay, "8888", "", payflow.Unknown},
		{callPay, "", "", payflow.Unknown},
		{callPay, "0005", "", payflow.Failed},
		{callPay, "0005", "USERPAYING", payflow.InProgress},
		{callQuery, "0005", "", payflow.Unknown},
		{callQuery, "1002", "ACQ.TRADE_NOT_EXIST", payflow.NotFound},
		{callCancel, "1003", "ORDERREVERSED", payflow.Succeeded},
		{callCancel, "1004", "", payflow.Failed},
		{callRefund, "9998", "", payflow.InProgress},
		{callUnifiedOrder, "9998", "", payflow.InProgress},
		{callUnifiedOrder, "0001", "", payflow.Failed},
	} {
		assert.Equal(t, tc.want, classify(tc.call, tc.id, tc.detail, inDoubt), "%s %s %s", tc.call, tc.id, tc.detail)
	}
}

// TestOutcomeFields: the channel, its trade number, the code and the
// comment come from the answer; an amount that is no amount makes it in
// doubt.
func TestOutcomeFields(t *testing.T) {
	c, err := New(Options{Key: "k", Format: FormatJSON})
	require.NoError(t, err)
	parse := func(s string) *answer {
		n, err := parseJSON([]byte(s))
		require.NoError(t, err)
		return &answer{tree: n, info: channelInfo(n, n.get("pay_type")), signed: true}
	}
	a := parse(`{"pay_type":"502","alipay_res_info":{"trade_no":"2014","total_fee":"","detail_error_code":"ACQ.TRADE_HAS_CLOSE","detail_error_desc":"交易已关闭"},"result":{"id":"1003","comment":"失败"}}`)
	o := c.outcome(callPay, a, nil)
	assert.Equal(t, payflow.Failed, o.Kind)
	assert.Equal(t, "alipay", o.Channel)
	assert.Equal(t, "2014", o.ChannelTradeNo)
	assert.Equal(t, "1003/ACQ.TRADE_HAS_CLOSE", o.Code)
	assert.Equal(t, "失败 (交易已关闭)", o.Message)

	a = parse(`{"pay_type":"777","new_res_info":{"trade_no":"N1","total_fee":"-5"},"result":{"id":"0000","comment":"成功"}}`)
	o = c.outcome(callPay, a, nil)
	assert.Equal(t, "other", o.Channel, "a pay_type posd does not know")
	assert.Equal(t, "N1", o.ChannelTradeNo, "the one *_res_info block of a new channel")
	assert.Equal(t, payflow.Unknown, o.Kind, "a total that is not an amount confirms nothing")

	a = parse(`{"pay_type":"777","a_res_info":{"trade_no":"N1"},"b_res_info":{"trade_no":"N2"},"result":{"id":"0000","comment":"成功"}}`)
	assert.Nil(t, a.info, "two blocks of an unknown channel: neither is trusted")

	// Discounts: a value beyond the order is no discount but a doubt.
	a = parse(`{"buss_discount_amt":"2000","result":{"id":"0000","comment":"成功"}}`)
	_, _, why := discounts(a, 1000)
	assert.Contains(t, why, "more than the order")
	a = parse(`{"buss_discount_amt":"100","platform_discount_amt":"50","discount_amt":"120","result":{"id":"0000"}}`)
	ds, paid, why := discounts(a, 1000)
	assert.Empty(t, why)
	assert.Len(t, ds, 3)
	assert.Equal(t, int64(880), paid, "discount_amt, where given, is the total")
}
