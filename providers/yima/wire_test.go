package yima

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/text/encoding/simplifiedchinese"
)

func sample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	require.NoError(t, err)
	return b
}

// TestVendorSamples reads every answer sample of the documents; the
// vendor's two typos are clear parse errors that name where they are.
func TestVendorSamples(t *testing.T) {
	n, err := parseXML(sample(t, "cancel-answer.xml"))
	require.NoError(t, err)
	assert.Equal(t, "barcode_cancel_response", n.get("response_type"))
	assert.Equal(t, "0000", n.get("result", "id"))
	assert.Equal(t, "成功", n.get("result", "comment"))
	assert.Equal(t, "扩展字段(json格式)", n.get("extend"), "CDATA is read as text")
	assert.Equal(t, "2014110721001004640000791910", channelInfo(n, n.get("pay_type")).get("trade_no"), "pay_type 502 reads alipay_res_info")

	n, err = parseXML(sample(t, "refund-answer.xml"))
	require.NoError(t, err)
	assert.Equal(t, "2", n.get("buss_discount_amt"))
	assert.Equal(t, "10001", n.get("wxpay_res_info", "refund_fee"))

	for _, name := range []string{"unifiedorder-answer.json", "unifiedorder-request.json", "cancel-request.json"} {
		_, err = parseJSON(sample(t, name))
		require.NoError(t, err, name)
	}
	n, _ = parseJSON(sample(t, "unifiedorder-answer.json"))
	assert.Equal(t, "9998", n.get("result", "id"))
	assert.Equal(t, "wx1712341601086258515448c31980502232", n.get("pay_id"))
	n, err = parseXML(sample(t, "unifiedorder-answer.xml"))
	require.NoError(t, err)
	assert.Equal(t, "9280696fced8329af66d7be472f9e7f6", n.get("pay_sign"))

	_, err = parseJSON(sample(t, "cancel-answer.json"))
	require.ErrorIs(t, err, ErrParse)
	assert.Regexp(t, "invalid JSON at byte \\d+, line 1 .*after `.*\"member_id\": \"1452\",}`", err.Error(), "the trailing comma is named where it is")
	_, err = parseJSON(sample(t, "refund-goods-detail.json"))
	require.ErrorIs(t, err, ErrParse)
	assert.Contains(t, err.Error(), "line 16")
	assert.Contains(t, err.Error(), `"quantity" :"1,`+"`")
}

// TestXMLEncodings: an answer is read in the encoding it declares, and a
// byte that is not of it is an error naming its offset.
func TestXMLEncodings(t *testing.T) {
	doc := `<?xml version="1.0" encoding="GBK"?><business_trans><result><id>0005</id><comment>余额不足</comment></result></business_trans>`
	gbkDoc, err := simplifiedchinese.GBK.NewEncoder().String(doc)
	require.NoError(t, err)
	n, err := parseXML([]byte(gbkDoc))
	require.NoError(t, err)
	assert.Equal(t, "余额不足", n.get("result", "comment"))

	// The same text in UTF-8 but declared GBK: not valid GBK at the first
	// Chinese byte (0xE4 0xBD 0x99: 0xE4 0xBD is a GBK pair, 0x99 0xE9 is
	// not).
	_, err = parseXML([]byte(doc))
	require.ErrorIs(t, err, ErrParse)
	i := strings.Index(doc, "余")
	assert.Contains(t, err.Error(), "not valid GBK")
	assert.Regexp(t, `byte (\d+)`, err.Error())
	var at int
	_, scanErr := fmtSscanf(err.Error(), &at)
	require.NoError(t, scanErr)
	assert.GreaterOrEqual(t, at, i)
	assert.Less(t, at, i+6)

	// Declared UTF-8 (or nothing): must be UTF-8.
	n, err = parseXML([]byte(strings.Replace(doc, "GBK", "UTF-8", 1)))
	require.NoError(t, err)
	assert.Equal(t, "余额不足", n.get("result", "comment"))
	_, err = parseXML([]byte(strings.Replace(gbkDoc, "GBK", "UTF-8", 1)))
	assert.ErrorContains(t, err, "not valid UTF-8")

	// GB18030's four-byte sequences, where declared.
	doc18 := strings.Replace(doc, "GBK", "GB18030", 1)
	doc18 = strings.Replace(doc18, "余额不足", "余额不足😀", 1)
	b18, err := simplifiedchinese.GB18030.NewEncoder().String(doc18)
	require.NoError(t, err)
	n, err = parseXML([]byte(b18))
	require.NoError(t, err)
	assert.Equal(t, "余额不足😀", n.get("result", "comment"))

	for _, tc := range []struct{ doc, want string }{
		{`<?xml version="1.0" encoding="Big5"?><business_trans/>`, `declares encoding "big5"`},
		{`<business_trans><a>1</a><a>2</a></business_trans>`, "appears twice"},
		{`<other/>`, "not <business_trans>"},
		{`<business_trans><a>`, "invalid XML"},
		{`<?xml version="1.0" encoding="GBK"`, "not closed"},
		{"", "no <business_trans>"},
		{`<!DOCTYPE x [<!ENTITY e "boom">]><business_trans><a>&e;</a></business_trans>`, "invalid XML"},
	} {
		_, err := parseXML([]byte(tc.doc))
		require.ErrorIs(t, err, ErrParse, tc.doc)
		assert.Contains(t, err.Error(), tc.want, tc.doc)
	}
}

// TestEncodeXML writes GBK with the documents' CDATA, and what GBK or XML
// cannot carry does not break the message.
func TestEncodeXML(t *testing.T) {
	b, err := encodeXML([]field{
		str("request_type", "unifiedorder_request"),
		str("memo", "订单备注 <&> 😀\x01"),
		{name: "unifiedorder_request", kids: []field{
			num("tx_amt", 1),
			{name: "goods_detail", json: []byte(`[{"goods_name":"苹果]]>"}]`)},
			{name: "notify_url", text: "http://example.invalid/n?a=1&b=2", cdata: true},
		}},
	})
	require.NoError(t, err)
	assert.False(t, utf8.Valid(b), "the bytes are GBK, not UTF-8")
	n, err := parseXML(b)
	require.NoError(t, err)
	assert.Equal(t, "订单备注 <&> ?", n.get("memo"), "an emoji becomes ?, a control character is dropped")
	assert.Equal(t, `[{"goods_name":"苹果]]>"}]`, n.get("unifiedorder_request", "goods_detail"), "CDATA with ]]> inside is split and read back whole")
	assert.Equal(t, "http://example.invalid/n?a=1&b=2", n.get("unifiedorder_request", "notify_url"))
	assert.Contains(t, string(b), "<notify_url><![CDATA[http://example.invalid/n?a=1&b=2]]></notify_url>")

	j := encodeJSON([]field{str("a", "<&>"), num("n", 10), {name: "o", kids: []field{{name: "g", json: []byte(`[1]`)}}}})
	assert.Equal(t, `{"a":"<&>","n":10,"o":{"g":[1]}}`, string(j))
}

// FuzzParseJSON: no input makes the JSON reader panic, and what it reads
// it reads the same twice.
func FuzzParseJSON(f *testing.F) {
	for _, name := range []string{"unifiedorder-answer.json", "cancel-answer.json", "cancel-request.json", "refund-goods-detail.json"} {
		b, _ := os.ReadFile("testdata/" + name)
		f.Add(b)
	}
	f.Add([]byte(`{"result":{"id":"0000"},"result":{"id":"9998"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := parseJSON(b)
		if err != nil {
			return
		}
		n2, _ := parseJSON(b)
		if n.get("result", "id") != n2.get("result", "id") {
			t.Fatal("not deterministic")
		}
		withoutMember(b, "sign")
		sortedForm(b)
	})
}

// FuzzParseXML: no input makes the XML reader panic.
func FuzzParseXML(f *testing.F) {
	for _, name := range []string{"cancel-answer.xml", "refund-answer.xml", "unifiedorder-answer.xml"} {
		b, _ := os.ReadFile("testdata/" + name)
		f.Add(b)
	}
	f.Add([]byte(`<?xml version="1.0" encoding="GB18030"?><business_trans><a>` + "\x81\x30\x81\x30" + `</a></business_trans>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := parseXML(b)
		if err == nil && n.kids == nil {
			t.Fatal("a parsed answer has a root object")
		}
	})
}

func fmtSscanf(s string, at *int) (int, error) {
	i := strings.Index(s, "byte ")
	if i < 0 {
		return 0, assert.AnError
	}
	return fmt.Sscanf(s[i:], "byte %d", at)
}
