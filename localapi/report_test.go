package localapi_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/tillworks/posd/localapi"
	"github.com/tillworks/posd/payflow"
)

// TestBuildReport: payments count on the day they were made, refunds on
// the day they were made, whatever day their payment was.
func TestBuildReport(t *testing.T) {
	today := time.Date(2026, 11, 21, 12, 0, 0, 0, time.Local)
	yesterday := today.AddDate(0, 0, -1)
	old := &payflow.Payment{ID: "p0", Channel: "alipay", State: payflow.StatePaid, Amount: 5000, CreatedAt: yesterday,
		Refunds: []*payflow.Refund{
			{ID: "r-yesterday", Amount: 100, State: payflow.RefundRefunded, CreatedAt: yesterday},
			{ID: "r-today", Amount: 700, State: payflow.RefundRefunded, CreatedAt: today},
		}}
	ps := []*payflow.Payment{
		{ID: "p1", Channel: "wechat", State: payflow.StatePaid, Amount: 1000, CreatedAt: today,
			Refunds: []*payflow.Refund{
				{ID: "r1", Amount: 200, State: payflow.RefundRefunded, CreatedAt: today},
				{ID: "r2", Amount: 300, State: payflow.RefundInDoubt, CreatedAt: today},
				{ID: "r3", Amount: 50, State: payflow.RefundFailed, CreatedAt: today},
			}},
		{ID: "p2", Channel: "wechat", State: payflow.StatePaid, Amount: 250, CreatedAt: today, Method: payflow.MethodQR},
		{ID: "p3", Channel: "wechat", State: payflow.StateFailed, Amount: 999, CreatedAt: today},
		{ID: "p4", Channel: "unionpay", State: payflow.StateInDoubt, Amount: 10, CreatedAt: today},
		{ID: "p5", Channel: "ecny", State: payflow.StateNeedsAttention, Amount: 20, CreatedAt: today},
	}
	rep := localapi.BuildReport("2026-11-21", "till-01", ps, []*payflow.Payment{old, ps[0]}, today)
	assert.Equal(t, localapi.Totals{Count: 2, Amount: 1250}, rep.Paid)
	assert.Equal(t, localapi.Totals{Count: 2, Amount: 900}, rep.Refunded, "today's refunds, one of them of yesterday's payment")
	assert.Equal(t, int64(350), rep.Net)
	assert.Equal(t, 1, rep.Open)
	assert.Equal(t, 1, rep.RefundsOpen)
	assert.Equal(t, 1, rep.NeedsAttention)
	assert.Equal(t, []localapi.ReportRow{
		{Channel: "ecny", Method: "code", State: "needs_attention", Totals: localapi.Totals{Count: 1, Amount: 20}},
		{Channel: "unionpay", Method: "code", State: "in_doubt", Totals: localapi.Totals{Count: 1, Amount: 10}},
		{Channel: "wechat", Method: "code", State: "failed", Totals: localapi.Totals{Count: 1, Amount: 999}},
		{Channel: "wechat", Method: "code", State: "paid", Totals: localapi.Totals{Count: 1, Amount: 1000}},
		{Channel: "wechat", Method: "qr", State: "paid", Totals: localapi.Totals{Count: 1, Amount: 250}},
	}, rep.Rows)
	assert.Equal(t, []localapi.ReportRow{
		{Channel: "alipay", Method: "code", State: "refunded", Totals: localapi.Totals{Count: 1, Amount: 700}},
		{Channel: "wechat", Method: "code", State: "failed", Totals: localapi.Totals{Count: 1, Amount: 50}},
		{Channel: "wechat", Method: "code", State: "in_doubt", Totals: localapi.Totals{Count: 1, Amount: 300}},
		{Channel: "wechat", Method: "code", State: "refunded", Totals: localapi.Totals{Count: 1, Amount: 200}},
	}, rep.RefundRows)

	empty := localapi.BuildReport("2001-01-01", "t", nil, nil, today)
	assert.NotNil(t, empty.Rows)
	assert.NotNil(t, empty.RefundRows)
}
