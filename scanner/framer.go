package scanner

import (
	"bytes"
	"fmt"
	"strings"
	"time"
)

// Suffix is how a serial scanner ends a code.
type Suffix string

// The suffix styles. With SuffixNone a code ends when the line goes quiet
// for the framer's gap.
const (
	SuffixCR   Suffix = "cr"
	SuffixLF   Suffix = "lf"
	SuffixCRLF Suffix = "crlf"
	SuffixNone Suffix = "none"
)

// ParseSuffix checks a configured suffix name.
func ParseSuffix(s string) (Suffix, error) {
	switch Suffix(strings.ToLower(s)) {
	case SuffixCR, SuffixLF, SuffixCRLF, SuffixNone:
		return Suffix(strings.ToLower(s)), nil
	}
	return "", fmt.Errorf("suffix %q: use cr, lf, crlf or none", s)
}

// maxFrame bounds a frame: no payment code is this long, so a stream of
// noise without a terminator is dropped rather than buffered forever.
const maxFrame = 256

// Framer cuts a serial scanner's byte stream into codes. It is fed bytes
// with the time they arrived and does no I/O, so it is tested without a
// port.
type Framer struct {
	Suffix      Suffix
	Gap         time.Duration // SuffixNone: silence that ends a code; others: silence that discards a partial code
	StripPrefix string        // removed from the start of a code when present
	StripSuffix string        // removed from the end of a code when present

	buf  []byte
	last time.Time
}

// Feed adds bytes read at time at and returns the codes they complete.
func (f *Framer) Feed(b []byte, at time.Time) []string {
	var out []string
	if len(f.buf) > 0 && f.Gap > 0 && at.Sub(f.last) > f.Gap {
		out = append(out, f.timeout()...)
	}
	f.last = at
	for _, c := range b {
		switch {
		case c == '\r' && f.Suffix == SuffixCRLF:
			// wait for the LF
		case c == '\r' || c == '\n':
			// The configured suffix, or a line end of another style: a
			// code boundary either way.
			out = append(out, f.emit()...)
		default:
			f.buf = append(f.buf, c)
			if len(f.buf) > maxFrame {
				f.buf = f.buf[:0]
			}
		}
	}
	return out
}

// Tick is called when nothing arrived for a while; with SuffixNone it ends
// a code after Gap of silence, and with a suffix it drops a partial code
// the scanner never finished.
func (f *Framer) Tick(now time.Time) []string {
	if len(f.buf) == 0 || f.Gap <= 0 || now.Sub(f.last) <= f.Gap {
		return nil
	}
	return f.timeout()
}

func (f *Framer) timeout() []string {
	if f.Suffix == SuffixNone {
		return f.emit()
	}
	f.buf = f.buf[:0] // a partial code: the scanner stopped mid-way
	return nil
}

// Reset drops a partial code (the device went away).
func (f *Framer) Reset() { f.buf = f.buf[:0] }

func (f *Framer) emit() []string {
	code := string(bytes.TrimSpace(f.buf))
	f.buf = f.buf[:0]
	if f.StripPrefix != "" {
		code = strings.TrimPrefix(code, f.StripPrefix)
	}
	if f.StripSuffix != "" {
		code = strings.TrimSuffix(code, f.StripSuffix)
	}
	if code == "" {
		return nil
	}
	return []string{code}
}
