package yima

import (
	"bytes"
	"crypto/md5"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Schemes lists the sign schemes posd offers (see assume.go).
var Schemes = []string{SchemeBodyKey, SchemeKeyBodyKey, SchemeSorted}

// ValidScheme reports whether s names a sign scheme.
func ValidScheme(s string) bool {
	for _, x := range Schemes {
		if s == x {
			return true
		}
	}
	return false
}

// Sign returns the upper-case hex MD5 signature of a JSON message body
// (the message without its sign member) under scheme.
func Sign(scheme, key string, body []byte) (string, error) {
	h := md5.New()
	switch scheme {
	case SchemeBodyKey:
		h.Write(body)
		io.WriteString(h, key)
	case SchemeKeyBodyKey:
		io.WriteString(h, key)
		h.Write(body)
		io.WriteString(h, key)
	case SchemeSorted:
		s, err := sortedForm(body)
		if err != nil {
			return "", err
		}
		io.WriteString(h, s+"key="+key)
	default:
		return "", fmt.Errorf("yima: unknown sign scheme %q; one of %s", scheme, strings.Join(Schemes, ", "))
	}
	return strings.ToUpper(hex.EncodeToString(h.Sum(nil))), nil
}

// sortedForm is "k1=v1&k2=v2&…&" over body's top-level members with
// non-empty values, sorted by name; nested values as compact JSON.
func sortedForm(body []byte) (string, error) {
	n, err := parseJSON(body)
	if err != nil {
		return "", err
	}
	keys := make([]string, 0, len(n.kids))
	for k, c := range n.kids {
		if k != "sign" && c.text != "" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k + "=" + n.kids[k].text + "&")
	}
	return b.String(), nil
}

// ErrBadSign is wrapped by Verify for an answer whose sign does not match.
var ErrBadSign = errors.New("signature does not match")

// ErrUnsigned is returned by Verify for a JSON answer without a sign.
var ErrUnsigned = errors.New("answer not signed")

// Verify checks the sign of a JSON answer as received: the signature of
// its bytes with the sign member cut out.
func Verify(scheme, key string, raw []byte) error {
	body, sign, err := withoutMember(raw, "sign")
	if err != nil {
		return err
	}
	if sign == "" {
		return ErrUnsigned
	}
	want, err := Sign(scheme, key, body)
	if err != nil {
		return err
	}
	if subtle.ConstantTimeCompare([]byte(strings.ToUpper(sign)), []byte(want)) != 1 {
		return fmt.Errorf("%w (scheme %s)", ErrBadSign, scheme)
	}
	return nil
}

// withoutMember returns raw with the top-level member name (and the comma
// that joined it to the object) cut out, and that member's string value.
func withoutMember(raw []byte, name string) ([]byte, string, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, "", fmt.Errorf("%w: the answer is not a JSON object", ErrParse)
	}
	first := true
	for dec.More() {
		from := dec.InputOffset() // after the previous value (or the brace)
		k, err := dec.Token()
		if err != nil {
			return nil, "", fmt.Errorf("%w: %w", ErrParse, err)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, "", fmt.Errorf("%w: %w", ErrParse, err)
		}
		if k != name {
			first = false
			continue
		}
		to := dec.InputOffset()
		var s string
		if json.Unmarshal(v, &s) != nil {
			return nil, "", fmt.Errorf("%w: %s is not a string", ErrParse, name)
		}
		out := append(append([]byte(nil), raw[:from]...), raw[to:]...)
		if first {
			// The member came first: drop the comma that followed it.
			rest := bytes.TrimLeft(out[from:], " \t\r\n")
			if len(rest) > 0 && rest[0] == ',' {
				i := len(out) - len(rest)
				out = append(out[:i], out[i+1:]...)
			}
		}
		return out, s, nil
	}
	return raw, "", nil
}
