package yima

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The vectors were computed apart from this package (Python's hashlib over
// the strings each scheme's documentation in assume.go describes).
func TestSignSchemes(t *testing.T) {
	body := []byte(`{"request_type":"barcode_query_request","isspid":"39493002","pos_id":"1511300001","store_id":"1511300001","pos_seq":"1511300000004","system_id":"8888","barcode_query_request":{"org_pos_seq":"1511300000001"}}`)
	key := "k3y-测试"
	for _, tc := range []struct{ scheme, want string }{
		{SchemeBodyKey, "3469961FD7437E3211D6A568A734CD3C"},
		{SchemeKeyBodyKey, "4BB452932C75B864172D7FAC9D70EFFA"},
		{SchemeSorted, "38AE621C9BD570521667E3D6B148181E"},
	} {
		t.Run(tc.scheme, func(t *testing.T) {
			got, err := Sign(tc.scheme, key, body)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			signed := append(body[:len(body)-1:len(body)-1], `,"sign":"`+got+`"}`...)
			assert.NoError(t, Verify(tc.scheme, key, signed))
			assert.ErrorIs(t, Verify(tc.scheme, "other", signed), ErrBadSign)
			assert.ErrorIs(t, Verify(tc.scheme, key, body), ErrUnsigned)
		})
	}
	_, err := Sign("sha1", key, body)
	assert.ErrorContains(t, err, "md5_body_key")
}

// TestWithoutMember cuts the sign out wherever it stands.
func TestWithoutMember(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"a":"1","sign":"S"}`, `{"a":"1"}`},
		{`{"sign":"S","a":"1"}`, `{"a":"1"}`},
		{`{ "sign" : "S" , "a":"1"}`, `{   "a":"1"}`},
		{`{"a":{"sign":"inner"},"sign":"S","b":2}`, `{"a":{"sign":"inner"},"b":2}`},
		{`{"sign":"S"}`, `{}`},
	} {
		got, sign, err := withoutMember([]byte(tc.in), "sign")
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, string(got), tc.in)
		assert.Equal(t, "S", sign)
	}
	_, _, err := withoutMember([]byte(`{"sign":1}`), "sign")
	assert.ErrorIs(t, err, ErrParse)
}
