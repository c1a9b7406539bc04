package localapi_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillworks/posd/localapi"
	"github.com/tillworks/posd/payflow"
)

func TestDecodeCreatePayment(t *testing.T) {
	n, _, err := localapi.DecodePaymentRequest(strings.NewReader(`{"order_id":" A1 ","amount":1250,"auth_code":" 134567890123456789 ","subject":"s","operator":"o"}`))
	require.NoError(t, err)
	assert.Equal(t, payflow.NewPayment{OrderID: "A1", Amount: 1250, Currency: "CNY", Subject: "s", Operator: "o", AuthCode: "134567890123456789"}, n)
	n, _, err = localapi.DecodePaymentRequest(strings.NewReader(`{"order_id":"A1","amount":9999999999}`))
	require.NoError(t, err)
	assert.Equal(t, int64(payflow.MaxAmount), n.Amount)
}

// FuzzDecodeCreatePayment: any body yields either an error or a request
// whose amount is a whole number of fen in range and whose order id is set.
func FuzzDecodeCreatePayment(f *testing.F) {
	for _, s := range []string{
		`{"order_id":"A1","amount":1250}`,
		`{"order_id":"A1","amount":1250,"auth_code":"134567890123456789","currency":"CNY"}`,
		`{"order_id":"A1","amount":12.50}`, `{"amount":-1}`, `{"order_id":"\u0000","amount":1e2}`,
		`{"order_id":"A1","amount":"1250"}`, `[]`, `null`, `{"order_id":"A1","amount":1250}garbage`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		n, _, err := localapi.DecodePaymentRequest(bytes.NewReader(body))
		if err != nil {
			require.NotEmpty(t, err.Error())
			return
		}
		require.GreaterOrEqual(t, n.Amount, int64(1))
		require.LessOrEqual(t, n.Amount, int64(payflow.MaxAmount))
		require.NotEmpty(t, n.OrderID)
		require.Equal(t, "CNY", n.Currency)
		// What was accepted was a JSON object with that amount, exactly
		// (encoding/json matches keys regardless of case).
		var m map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(body, &m))
		found := false
		for k, v := range m {
			if strings.EqualFold(k, "amount") && strings.TrimSpace(string(v)) == itoa(int(n.Amount)) {
				found = true
			}
		}
		require.True(t, found, "amount %d not in %s", n.Amount, body)
	})
}

// FuzzDecodeRefund: the same for refunds.
func FuzzDecodeRefund(f *testing.F) {
	for _, s := range []string{`{"refund_id":"R1","amount":300}`, `{"refund_id":"","amount":3}`, `{"refund_id":"R","amount":0.1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		n, err := localapi.DecodeRefund(bytes.NewReader(body))
		if err != nil {
			return
		}
		require.GreaterOrEqual(t, n.Amount, int64(1))
		require.LessOrEqual(t, n.Amount, int64(payflow.MaxAmount))
		require.NotEmpty(t, strings.TrimSpace(n.RefundID))
	})
}
