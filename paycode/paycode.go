// Package paycode recognises customers' payment codes (付款码): what can be
// one, and which wallet (channel) its shape names. It is its own package so
// that what needs only this (the engine's hook, the demo gateway) does not
// pull in the scanner's serial and USB drivers.
package paycode

import (
	"fmt"

	"github.com/tillworks/posd/payflow"
)

// Channel names a payment code's wallet, as far as its shape tells.
type Channel string

// The wallets a code's shape can name. Gateways detect the wallet
// themselves, so Unknown codes are still sent; the wallet is a hint.
const (
	WeChat   Channel = "wechat"
	Alipay   Channel = "alipay"
	UnionPay Channel = "unionpay"
	ECNY     Channel = "ecny"
	Unknown  Channel = "unknown"
)

// Payment codes are digits only; the wallets' shapes run from 16 to 24
// digits, and a little slack either side lets new shapes through.
const (
	minCodeLen = 10
	maxCodeLen = 32
)

// Classify names the wallet of a payment code (付款码) by its published
// shape: WeChat 18 digits with prefix 10–15, Alipay 16–24 digits with prefix
// 25–30, UnionPay 19 digits with prefix 62, e-CNY 19 digits with prefix 01.
// A numeric code of plausible length that matches none is Unknown; anything
// else (letters, control characters, too short or long) is an error
// wrapping payflow.ErrInvalidCode.
func Classify(code string) (Channel, error) {
	if n := len(code); n < minCodeLen || n > maxCodeLen {
		return "", fmt.Errorf("%w: %d characters; a payment code has %d to %d digits", payflow.ErrInvalidCode, n, minCodeLen, maxCodeLen)
	}
	for i := 0; i < len(code); i++ {
		if c := code[i]; c < '0' || c > '9' {
			return "", fmt.Errorf("%w: character %d is %q; a payment code has only digits", payflow.ErrInvalidCode, i+1, rune(c))
		}
	}
	prefix := int(code[0]-'0')*10 + int(code[1]-'0')
	n := len(code)
	switch {
	case n == 18 && prefix >= 10 && prefix <= 15:
		return WeChat, nil
	case n >= 16 && n <= 24 && prefix >= 25 && prefix <= 30:
		return Alipay, nil
	case n == 19 && prefix == 62:
		return UnionPay, nil
	case n == 19 && prefix == 1:
		return ECNY, nil
	}
	return Unknown, nil
}

// Classifier adapts Classify to the engine's hook.
func Classifier(code string) (string, error) {
	w, err := Classify(code)
	return string(w), err
}
