package scanner_test

import (
	"bufio"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillworks/posd/scanner"
)

// readFixture reads a testdata/hid file: the wanted codes and the reports
// (nil for an unplug).
func readFixture(t *testing.T, path string) (want []string, reports [][]byte) {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "# want:"):
			want = strings.Fields(strings.TrimPrefix(line, "# want:"))
		case line == "" || strings.HasPrefix(line, "#"):
		case line == "unplug":
			reports = append(reports, nil)
		default:
			b, err := hex.DecodeString(strings.ReplaceAll(line, " ", ""))
			require.NoError(t, err, line)
			reports = append(reports, b)
		}
	}
	return want, reports
}

func TestHIDFixtures(t *testing.T) {
	files, err := filepath.Glob("testdata/hid/*.hex")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			want, reports := readFixture(t, file)
			type setting struct{ format, layout string }
			settings := []setting{{scanner.FormatAuto, ""}, {expectedFormat(file), ""}}
			if l := expectedLayout(file); l != "" {
				settings = append(settings, setting{scanner.FormatPOS, l})
			}
			for _, s := range settings {
				format := s.format + "/" + s.layout
				d := &scanner.ReportDecoder{Format: s.format, Layout: s.layout}
				var got []string
				for _, r := range reports {
					if r == nil {
						d.Reset()
						continue
					}
					if code, ok := d.Feed(r); ok {
						got = append(got, code)
					}
				}
				assert.Equal(t, want, got, "format %s", format)
			}
		})
	}
}

// expectedLayout is the HID POS layout a pos-<layout>-… fixture is in.
func expectedLayout(file string) string {
	for _, l := range []string{scanner.LayoutHoneywell, scanner.LayoutNewland} {
		if strings.HasPrefix(filepath.Base(file), "pos-"+l+"-") {
			return l
		}
	}
	return ""
}

// TestLayoutDetection: each family is told from one report, and the old
// reading of a Honeywell report (AIM id glued on, a QR's symbology letter
// taken for "continued") does not come back.
func TestLayoutDetection(t *testing.T) {
	for _, file := range []string{"pos-honeywell-code128.hex", "pos-honeywell-qr.hex", "pos-honeywell-voyager-1602g.hex", "pos-newland-code128.hex", "pos-newland-qr.hex", "pos-newland-aim-prefixed.hex"} {
		_, reports := readFixture(t, filepath.Join("testdata/hid", file))
		assert.Equal(t, expectedLayout(file), scanner.DetectLayout(reports[0]), file)
	}
	assert.Equal(t, "", scanner.DetectLayout(make([]byte, 64)), "an empty report tells nothing")
	assert.Equal(t, "", scanner.DetectLayout(make([]byte, 20)))

	// A forced layout reads what auto would not: a short report, padded.
	_, reports := readFixture(t, "testdata/hid/pos-newland-code128.hex")
	d := &scanner.POSDecoder{Layout: scanner.LayoutNewland}
	code, ok := d.Feed(reports[0][:63])
	assert.True(t, ok)
	assert.Equal(t, "134567890123456789", code)
}

func expectedFormat(file string) string {
	if strings.HasPrefix(filepath.Base(file), "pos-") {
		return scanner.FormatPOS
	}
	return scanner.FormatKeyboard
}

// FuzzReportDecoder feeds random reports: no panic, and a code never
// exceeds the frame limit or contains an unprintable byte from a keyboard.
func FuzzReportDecoder(f *testing.F) {
	files, _ := filepath.Glob("testdata/hid/*.hex")
	for _, file := range files {
		b, _ := os.ReadFile(file)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, format := range []string{scanner.FormatKeyboard, scanner.FormatPOS, scanner.FormatAuto} {
			d := &scanner.ReportDecoder{Format: format}
			for len(data) > 0 {
				n := 8
				if format != scanner.FormatKeyboard {
					n = 64
				}
				n = min(n, len(data))
				code, ok := d.Feed(data[:n])
				data = data[n:]
				if ok {
					require.NotEmpty(t, code)
					require.LessOrEqual(t, len(code), 256)
				}
			}
		}
	})
}

func TestFramer(t *testing.T) {
	t0 := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	type chunk struct {
		at   int // ms
		data string
	}
	tests := []struct {
		name   string
		framer scanner.Framer
		chunks []chunk
		tick   int // ms; 0 for none
		want   []string
	}{
		{"CR", scanner.Framer{Suffix: scanner.SuffixCR, Gap: 50 * time.Millisecond},
			[]chunk{{0, "134567890123456789\r"}}, 0, []string{"134567890123456789"}},
		{"LF, two at once", scanner.Framer{Suffix: scanner.SuffixLF, Gap: 50 * time.Millisecond},
			[]chunk{{0, "111\n222\n"}}, 0, []string{"111", "222"}},
		{"CRLF split across reads", scanner.Framer{Suffix: scanner.SuffixCRLF, Gap: 50 * time.Millisecond},
			[]chunk{{0, "1345"}, {5, "6789\r"}, {10, "\n"}}, 0, []string{"13456789"}},
		{"none: a gap ends the code", scanner.Framer{Suffix: scanner.SuffixNone, Gap: 50 * time.Millisecond},
			[]chunk{{0, "1345"}, {10, "678"}, {100, "999"}}, 200, []string{"1345678", "999"}},
		{"none: no tick yet, nothing", scanner.Framer{Suffix: scanner.SuffixNone, Gap: 50 * time.Millisecond},
			[]chunk{{0, "1345"}}, 20, nil},
		{"partial code dropped after the gap", scanner.Framer{Suffix: scanner.SuffixCR, Gap: 50 * time.Millisecond},
			[]chunk{{0, "13456"}, {500, "284567890123456789\r"}}, 0, []string{"284567890123456789"}},
		{"prefix and suffix stripped", scanner.Framer{Suffix: scanner.SuffixCR, StripPrefix: "]Q1", StripSuffix: "#"},
			[]chunk{{0, "]Q1134567890123456789#\r"}}, 0, []string{"134567890123456789"}},
		{"empty lines ignored", scanner.Framer{Suffix: scanner.SuffixCR}, []chunk{{0, "\r\r  \r"}}, 0, nil},
		{"endless noise is dropped", scanner.Framer{Suffix: scanner.SuffixCR},
			[]chunk{{0, strings.Repeat("x", 300) + "12\r"}}, 0, []string{strings.Repeat("x", 43) + "12"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.framer
			var got []string
			for _, c := range tc.chunks {
				got = append(got, f.Feed([]byte(c.data), ms(c.at))...)
			}
			if tc.tick > 0 {
				got = append(got, f.Tick(ms(tc.tick))...)
			}
			assert.Equal(t, tc.want, got)
		})
	}
}

func FuzzFramer(f *testing.F) {
	f.Add([]byte("134567890123456789\r"), uint8(0))
	f.Add([]byte("\r\n\x00\xff"), uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, style uint8) {
		suffixes := []scanner.Suffix{scanner.SuffixCR, scanner.SuffixLF, scanner.SuffixCRLF, scanner.SuffixNone}
		fr := scanner.Framer{Suffix: suffixes[int(style)%4], Gap: 50 * time.Millisecond}
		at := time.Unix(0, 0)
		var codes []string
		for i := 0; i < len(data); i += 3 {
			codes = append(codes, fr.Feed(data[i:min(i+3, len(data))], at)...)
			at = at.Add(time.Duration(data[i]) * time.Millisecond)
		}
		codes = append(codes, fr.Tick(at.Add(time.Second))...)
		for _, c := range codes {
			require.NotEmpty(t, c)
			require.LessOrEqual(t, len(c), 256)
			require.NotContains(t, c, "\r")
		}
	})
}
