package providers

import (
	"fmt"
	"strconv"
)

// Clip cuts s to at most n bytes on a rune boundary: gateways count
// field lengths in bytes and refuse a longer value.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// Subject is what a payment is for, as a gateway shows it to the
// customer: the cash register's subject, or "订单 <order id>", clipped to n.
func Subject(s, orderID string, n int) string {
	if s == "" {
		s = "订单 " + orderID
	}
	return Clip(s, n)
}

// Amount reads an answer's amount field (fen). ok is false, with why, for
// a value that is not a positive whole number of fen: such an answer
// cannot confirm anything and must be taken as in doubt. An empty value
// is no amount (0, ok).
func Amount(field string, v Str) (fen int64, why string, ok bool) {
	if v == "" {
		return 0, "", true
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil || n < 1 {
		return 0, fmt.Sprintf("%s %q is not an amount in fen", field, string(v)), false
	}
	return n, "", true
}
