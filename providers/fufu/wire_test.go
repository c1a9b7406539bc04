package fufu

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillworks/posd/payflow"
	"github.com/tillworks/posd/providers/fufu/fufutest"
)

// TestOutcomeRowsOverTheWire drives every row of the table through the
// real client and the fake gateway over loopback HTTP: signed, sent,
// answered, decoded and mapped.
func TestOutcomeRowsOverTheWire(t *testing.T) {
	fake := fufutest.New("581010199011345", "k")
	srv := httptest.NewServer(fake)
	defer srv.Close()
	c, err := New(Options{BaseURL: srv.URL + "/gateway/pay", BusiID: "581010199011345", Key: "k", TillID: "till-01"})
	require.NoError(t, err)
	ctx := context.Background()
	do := map[string]func() (payflow.Outcome, error){
		callPay: func() (payflow.Outcome, error) {
			return c.Pay(ctx, payflow.PayRequest{OrderNo: "1", Amount: 250, AuthCode: "134567890123456789"})
		},
		callQuery:  func() (payflow.Outcome, error) { return c.Query(ctx, payflow.OrderRef{OrderNo: "1"}) },
		callCancel: func() (payflow.Outcome, error) { return c.Cancel(ctx, payflow.OrderRef{OrderNo: "1"}) },
		callClose:  func() (payflow.Outcome, error) { return c.Close(ctx, payflow.OrderRef{OrderNo: "1"}) },
		callRefund: func() (payflow.Outcome, error) {
			return c.Refund(ctx, payflow.RefundRequest{OrderNo: "1", RequestNo: "R1", Amount: 100})
		},
		callRefundQuery: func() (payflow.Outcome, error) {
			return c.QueryRefund(ctx, payflow.RefundRequest{OrderNo: "1", RequestNo: "R1", Amount: 100})
		},
		callPreOrder: func() (payflow.Outcome, error) {
			_, o, err := c.Precreate(ctx, payflow.PayRequest{OrderNo: "1", Amount: 250})
			return o, err
		},
	}
	n := 0
	for _, tc := range rowCases() {
		for _, call := range tc.calls() {
			fake.Can(call, tc.body)
			o, err := do[call]()
			require.NoError(t, err, "%s %s=%s", call, tc.field, tc.value)
			assert.Equal(t, tc.want, o.Kind, "%s %s=%s", call, tc.field, tc.value)
			n++
		}
	}
	assert.Zero(t, fake.Bad(), "every request correctly signed")
	t.Logf("%d answers over the wire", n)
}
