package scanner_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/tillworks/posd/payflow"
	"github.com/tillworks/posd/scanner"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		code string
		want scanner.Channel
		bad  bool
	}{
		{"134567890123456789", scanner.WeChat, false},
		{"104567890123456789", scanner.WeChat, false},
		{"164567890123456789", scanner.Unknown, false}, // prefix 16 is nobody's
		{"2845678901234567", scanner.Alipay, false},    // 16 digits
		{"284567890123456789012345", scanner.Alipay, false},
		{"304567890123456789", scanner.Alipay, false},
		{"6212345678901234567", scanner.UnionPay, false},
		{"0112345678901234567", scanner.ECNY, false},
		{"13456789012345678", scanner.Unknown, false}, // 17 digits: plausible, let the gateway decide
		{"1234567890", scanner.Unknown, false},
		{"123456789", "", true},
		{"", "", true},
		{"13456789012345678a", "", true},
		{"134567890123456789\r", "", true},
		{"１３４５６７８９０１２３４５６７８９", "", true}, // full-width digits
		{"123456789012345678901234567890123", "", true},
	}
	for _, tc := range tests {
		got, err := scanner.Classify(tc.code)
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
		w, err := scanner.Classify(code)
		if err == nil {
			assert.NotEmpty(t, w)
			for _, c := range code {
				assert.True(t, c >= '0' && c <= '9')
			}
		}
	})
}
