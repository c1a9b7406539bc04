package fufu

import (
	"crypto/md5"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Sign is FuFu's signature (document section 1.2): the lower-case hex MD5
// of the millisecond timestamp, the merchant key and the body with every
// space and line break removed (inside values too). The request carries
// it in its URL as ?sign=<md5>:<timestamp>; the body is sent as it is.
//
// The document's worked example does not reproduce from its own inputs
// (under UTF-8 or GBK): posd follows the rule; docs/providers/fufu.md
// has the vectors posd's tests check.
func Sign(timestamp, key string, body []byte) string {
	h := md5.New()
	h.Write([]byte(timestamp))
	h.Write([]byte(key))
	h.Write(stripped(body))
	return hex.EncodeToString(h.Sum(nil))
}

// stripped is body without spaces and line breaks.
func stripped(body []byte) []byte {
	out := make([]byte, 0, len(body))
	for _, c := range body {
		if c != ' ' && c != '\n' && c != '\r' {
			out = append(out, c)
		}
	}
	return out
}

// ErrBadSignature is wrapped by VerifyNotification for a notification the
// key did not sign.
var ErrBadSignature = errors.New("fufu: the notification's signature does not match")

// VerifyNotification checks an asynchronous notification (document
// section 2.3) that FuFu posted to a merchant's notifyUrl?sign=..., for an
// integrator's server (a till has no public address, so posd itself polls).
// sign is the URL's sign parameter, "<md5>:<timestamp>"; body is the raw
// request body.
func VerifyNotification(key, sign string, body []byte) error {
	sum, ts, ok := strings.Cut(sign, ":")
	if !ok || len(sum) != 32 || ts == "" {
		return fmt.Errorf("%w: sign %q is not <md5>:<timestamp>", ErrBadSignature, sign)
	}
	want := Sign(ts, key, body)
	if subtle.ConstantTimeCompare([]byte(strings.ToLower(sum)), []byte(want)) != 1 {
		return ErrBadSignature
	}
	return nil
}
