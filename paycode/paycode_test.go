package paycode_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/tillworks/posd/paycode"
	"github.com/tillworks/posd/payflow"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		code string
		want paycode.Channel
		bad  bool
	}{
		{"134567890123456789", paycode.WeChat, false},
		{"104567890123456789", paycode.WeChat, false},
		{"164567890123456789", paycode.Unknown, false}, // prefix 16 is nobody's
		{"2845678901234567", paycode.Alipay, false},    // 16 digits
		{"284567890123456789012345", paycode.Alipay, false},
		{"304567890123456789", paycode.Alipay, false},
		{"6212345678901234567", paycode.UnionPay, false},
		{"0112345678901234567", paycode.ECNY, false},
		{"13456789012345678", paycode.Unknown, false}, // 17 digits: plausible, let the gateway decide
		{"1234567890", paycode.Unknown, false},
		{"123456789", "", true},
		{"", "", true},
		{"13456789012345678a", "", true},
		{"134567890123456789\r", "", true},
		{"１３４５６７８９０１２３４５６７８９", "", true}, // full-width digits
		{"123456789012345678901234567890123", "", true},
	}
	for _, tc := range tests {
		got, err := paycode.Classify(tc.code)
		if tc.bad {
			assert.ErrorIs(t, err, payflow.ErrInvalidCode, "%q", tc.code)
			continue
		}
		assert.NoError(t, err, tc.code)
		assert.Equal(t, tc.want, got, tc.code)
	}
}

func FuzzClassify(f *testing.F) {
	f.Add("134567890123456789")
	f.Add("abc")
	f.Fuzz(func(t *testing.T, code string) {
		w, err := paycode.Classify(code)
		if err == nil {
			assert.NotEmpty(t, w)
			for _, c := range code {
				assert.True(t, c >= '0' && c <= '9')
			}
		}
	})
}
