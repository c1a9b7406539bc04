package fufu_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/tillworks/posd/providers/fufu"
)

// TestSign checks the rule (document 1.2) with vectors computed apart from
// this code (Python's hashlib over the stripped bytes), and records that
// the document's worked example does not reproduce from its inputs.
func TestSign(t *testing.T) {
	body := "{\"busi_id\": \"581010199011345\",\n \"pay_subject\": \"Hot coffee 咖啡\",\r\n \"total_fee\": 250}"
	assert.Equal(t, "f7a17b851b7fba03c3ff64901bc31273", fufu.Sign("1700000000000", "0123456789abcdef0123456789abcdef", []byte(body)),
		"spaces and line breaks go, inside values too")
	assert.Equal(t, "825a80f591f92c09ebf6846b43f6290d", fufu.Sign("1", "k", []byte(`{"a":"b c"}`)))

	// The document's example: timestamp 1502675456531, key 32 × "1",
	// claimed sign 400073a70beecbab91780a9a4973c38f. Neither UTF-8 nor GBK
	// bytes of its body give it (docs/providers/fufu.md).
	const doc = `{"busi_id":"581010199011345","operator_id":"test1","terminal_id":"收銀機1","total_fee":"250","channel_type":"1","auth_code":"288886863488188613","pay_subject":"測試商品1","out_trade_no":"d2dbe5fb-fc71-4bfe-848f-a24875d9169c","fee_type":"CNY"}`
	key := "11111111111111111111111111111111"
	utf8 := fufu.Sign("1502675456531", key, []byte(doc))
	assert.Equal(t, "02715b8cd81d8c6ff16d38eeb82717bc", utf8)
	gbk, err := simplifiedchinese.GBK.NewEncoder().Bytes([]byte(doc))
	require.NoError(t, err)
	assert.Equal(t, "e702a8fa8eff7e876094f90dc794203e", fufu.Sign("1502675456531", key, gbk))
	assert.NotEqual(t, "400073a70beecbab91780a9a4973c38f", utf8)
}

func TestVerifyNotification(t *testing.T) {
	body := []byte(`{"result":{"return_code":"SUCCESS"},"data":{"out_trade_no":"x","state":1}}`)
	sign := fufu.Sign("1700000000000", "k", body) + ":1700000000000"
	require.NoError(t, fufu.VerifyNotification("k", sign, body))
	for _, bad := range []string{"", "nocolon", fufu.Sign("1700000000001", "k", body) + ":1700000000000", sign[:31] + ":1700000000000"} {
		assert.ErrorIs(t, fufu.VerifyNotification("k", bad, body), fufu.ErrBadSignature, bad)
	}
	assert.ErrorIs(t, fufu.VerifyNotification("other", sign, body), fufu.ErrBadSignature)
	assert.ErrorIs(t, fufu.VerifyNotification("k", sign, append(body, 'x')), fufu.ErrBadSignature)
}
