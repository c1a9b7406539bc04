package providers_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillworks/posd/payflow"
	"github.com/tillworks/posd/providers"
)

func TestTable(t *testing.T) {
	x := providers.Table{
		{Call: "*", Field: "error", Value: "GONE", Kind: payflow.NotFound},
		{Call: "pay", Field: "error", Value: "GONE", Kind: payflow.Unknown},
		{Call: "pay", Field: "biz", Value: "OK", Kind: payflow.Succeeded},
	}.Index()
	for _, tc := range []struct {
		call, field, value string
		want               payflow.Kind
		ok                 bool
	}{
		{"pay", "error", "GONE", payflow.Unknown, true}, // the call's own row first
		{"query", "error", "GONE", payflow.NotFound, true},
		{"pay", "biz", "OK", payflow.Succeeded, true},
		{"query", "biz", "OK", 0, false},
		{"pay", "biz", "", 0, false},
	} {
		k, ok := x.Lookup(tc.call, tc.field, tc.value)
		assert.Equal(t, tc.ok, ok, "%+v", tc)
		assert.Equal(t, tc.want, k, "%+v", tc)
	}
}

func TestStr(t *testing.T) {
	var v struct{ A, B, C, D, E providers.Str }
	require.NoError(t, json.Unmarshal([]byte(`{"A":"x","B":250,"C":null,"D":true,"E":{"k":1}}`), &v))
	assert.Equal(t, providers.Str("x"), v.A)
	assert.Equal(t, providers.Str("250"), v.B)
	assert.Equal(t, providers.Str(""), v.C)
	assert.Equal(t, providers.Str("true"), v.D)
	assert.Equal(t, providers.Str(`{"k":1}`), v.E)
}

func TestPostJSON(t *testing.T) {
	body := `{"code":"OK"}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(body)) }))
	defer srv.Close()
	var out struct {
		Code string `json:"code"`
	}
	_, _, err := providers.PostJSON(context.Background(), srv.Client(), "g", srv.URL, nil, []byte("{}"), &out)
	require.NoError(t, err)
	assert.Equal(t, "OK", out.Code)
	for _, b := range []string{`{"code":"FAIL","CODE":"OK"}`, `{"code":"FAIL","code":"OK"}`, `not json`} {
		body = b
		_, raw, err := providers.PostJSON(context.Background(), srv.Client(), "g", srv.URL, nil, []byte("{}"), &out)
		var ge *providers.GatewayError
		require.ErrorAs(t, err, &ge, b)
		assert.Equal(t, "BAD_RESPONSE", ge.Code)
		assert.Equal(t, b, string(raw))
	}
}

func TestTextHelpers(t *testing.T) {
	assert.Equal(t, "订单", providers.Clip("订单号", 7), "cut on a rune boundary")
	assert.Equal(t, "abc", providers.Clip("abc", 5))
	assert.Equal(t, "订单 A1", providers.Subject("", "A1", 64))
	assert.Equal(t, "咖", providers.Subject("咖啡", "A1", 4))
	for v, want := range map[providers.Str]bool{"250": true, "": true, "0": false, "-1": false, "2.5": false, "x": false} {
		_, why, ok := providers.Amount("total_fee", v)
		assert.Equal(t, want, ok, v)
		assert.Equal(t, !want, why != "", v)
	}
}
