// Package printer prints receipts on ESC/POS thermal printers: an encoder
// for the commands posd uses, receipt layouts for 58 and 80 mm paper,
// transports (file, TCP 9100, serial, USB printer class), a journaled print
// queue that prints every receipt exactly once, and a preview that renders
// the printed bytes to text and to a PNG.
package printer

import (
	"bufio"
	"fmt"
	"image"
	"io"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/simplifiedchinese"
)

// ESC/POS bytes.
const (
	esc = 0x1B
	gs  = 0x1D
	fs  = 0x1C
	dle = 0x10
	lf  = 0x0A
)

// Alignment for Encoder.Align.
type Alignment byte

// The alignments.
const (
	Left   Alignment = 0
	Center Alignment = 1
	Right  Alignment = 2
)

// Charset says how text is sent to the printer.
type Charset struct {
	Name     string
	enc      encoding.Encoding
	chinese  bool // use the printer's Chinese mode (FS &)
	codePage int  // ESC t n, when not Chinese
}

// Charsets posd knows, by their configuration name.
var charsets = map[string]Charset{
	"gb18030": {Name: "gb18030", enc: simplifiedchinese.GB18030, chinese: true},
	"gbk":     {Name: "gbk", enc: simplifiedchinese.GBK, chinese: true},
	"cp437":   {Name: "cp437", enc: charmap.CodePage437, codePage: 0},
	"cp936":   {Name: "cp936", enc: simplifiedchinese.GBK, codePage: 255}, // printers that take GBK as code page 255 instead of FS &
}

// LookupCharset returns the named charset: gb18030 (default), gbk, cp437,
// or cp936 (GBK selected as a code page, for printers without FS &).
func LookupCharset(name string) (Charset, error) {
	if name == "" {
		name = "gb18030"
	}
	cs, ok := charsets[strings.ToLower(name)]
	if !ok {
		return Charset{}, fmt.Errorf("encoding %q: use gb18030, gbk, cp936 or cp437", name)
	}
	return cs, nil
}

// Encoder writes ESC/POS commands. Errors stick: after the first failed
// write every call is a no-op and Err reports it.
type Encoder struct {
	w   *bufio.Writer
	cs  Charset
	err error
}

// NewEncoder returns an encoder writing to w with charset cs.
func NewEncoder(w io.Writer, cs Charset) *Encoder {
	return &Encoder{w: bufio.NewWriter(w), cs: cs}
}

func (e *Encoder) raw(b ...byte) *Encoder {
	if e.err == nil {
		_, e.err = e.w.Write(b)
	}
	return e
}

// Flush writes what is buffered and returns the first error.
func (e *Encoder) Flush() error {
	if e.err == nil {
		e.err = e.w.Flush()
	}
	return e.err
}

// Err returns the first write error.
func (e *Encoder) Err() error { return e.err }

// Init resets the printer (ESC @) and selects the text mode: Chinese mode
// (FS &) or the code page (FS . then ESC t n).
func (e *Encoder) Init() *Encoder {
	e.raw(esc, '@')
	if e.cs.chinese {
		return e.raw(fs, '&')
	}
	return e.raw(fs, '.', esc, 't', byte(e.cs.codePage))
}

// Align sets the alignment (ESC a n).
func (e *Encoder) Align(a Alignment) *Encoder { return e.raw(esc, 'a', byte(a)) }

// Bold turns emphasis on or off (ESC E n).
func (e *Encoder) Bold(on bool) *Encoder { return e.raw(esc, 'E', b2b(on)) }

// Underline turns underlining on (one dot) or off (ESC - n).
func (e *Encoder) Underline(on bool) *Encoder { return e.raw(esc, '-', b2b(on)) }

// Size sets character width and height multipliers, 1 to 8 (GS ! n).
func (e *Encoder) Size(w, h int) *Encoder {
	w, h = clamp(w, 1, 8), clamp(h, 1, 8)
	return e.raw(gs, '!', byte((w-1)<<4|(h-1)))
}

// LF ends the line.
func (e *Encoder) LF() *Encoder { return e.raw(lf) }

// Feed prints and feeds n lines (ESC d n).
func (e *Encoder) Feed(n int) *Encoder { return e.raw(esc, 'd', byte(clamp(n, 0, 255))) }

// Cut feeds to the cutter and cuts, fully or leaving a hinge (GS V 65/66 n).
func (e *Encoder) Cut(partial bool) *Encoder {
	m := byte(65)
	if partial {
		m = 66
	}
	return e.raw(gs, 'V', m, 3)
}

// Drawer pulses cash-drawer pin 2 (ESC p 0 t1 t2), 50 ms on, 500 ms off.
func (e *Encoder) Drawer() *Encoder { return e.raw(esc, 'p', 0, 25, 250) }

// Text writes s in the charset. Characters the charset cannot represent,
// and control characters (which could smuggle printer commands in from a
// field such as an order id), become '?'.
func (e *Encoder) Text(s string) *Encoder {
	if e.err != nil {
		return e
	}
	enc := e.cs.enc.NewEncoder()
	var buf [8]byte
	for _, r := range s {
		switch {
		case r == '\n':
			e.raw(lf)
			continue
		case r < 0x20 || r == 0x7F || (r >= 0x80 && r < 0xA0) || r == utf8.RuneError:
			e.raw('?')
			continue
		case r < 0x80:
			e.raw(byte(r))
			continue
		}
		n := utf8.EncodeRune(buf[:], r)
		out, err := enc.Bytes(buf[:n])
		if err != nil || len(out) == 0 {
			e.raw('?')
			continue
		}
		e.raw(out...)
	}
	return e
}

// QR prints a QR code (GS ( k, model 2): module size 1–16 dots, error
// correction level 'L', 'M', 'Q' or 'H'; the data is stored, then printed.
func (e *Encoder) QR(data string, size int, level byte) *Encoder {
	lv := map[byte]byte{'L': 48, 'M': 49, 'Q': 50, 'H': 51}[level]
	if lv == 0 {
		lv = 49
	}
	e.raw(gs, '(', 'k', 4, 0, 49, 65, 50, 0) // model 2
	e.raw(gs, '(', 'k', 3, 0, 49, 67, byte(clamp(size, 1, 16)))
	e.raw(gs, '(', 'k', 3, 0, 49, 69, lv)
	n := len(data) + 3
	e.raw(gs, '(', 'k', byte(n), byte(n>>8), 49, 80, 48)
	e.raw([]byte(data)...)
	return e.raw(gs, '(', 'k', 3, 0, 49, 81, 48)
}

// Code128 prints a CODE128 barcode of printable ASCII (GS k 73), in code
// set B, with its text below (GS H 2).
func (e *Encoder) Code128(data string) *Encoder {
	clean := make([]byte, 0, len(data)+2)
	clean = append(clean, '{', 'B')
	for i := 0; i < len(data) && len(clean) < 255; i++ {
		if c := data[i]; c >= 0x20 && c < 0x7F {
			clean = append(clean, c)
		}
	}
	e.raw(gs, 'H', 2, gs, 'h', 80, gs, 'w', 2)
	e.raw(gs, 'k', 73, byte(len(clean)))
	return e.raw(clean...)
}

// Raster prints a black-and-white image (GS v 0): pixels darker than half
// are black. Its width is padded to whole bytes.
func (e *Encoder) Raster(img image.Image) *Encoder {
	b := img.Bounds()
	wBytes := (b.Dx() + 7) / 8
	h := b.Dy()
	e.raw(gs, 'v', '0', 0, byte(wBytes), byte(wBytes>>8), byte(h), byte(h>>8))
	row := make([]byte, wBytes)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		clear(row)
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, a := img.At(x, y).RGBA()
			lum := (299*r + 587*g + 114*bl) / 1000
			if a > 0x8000 && lum < 0x8000 {
				i := x - b.Min.X
				row[i/8] |= 0x80 >> (i % 8)
			}
		}
		e.raw(row...)
	}
	return e
}

func b2b(on bool) byte {
	if on {
		return 1
	}
	return 0
}

func clamp(v, lo, hi int) int { return max(lo, min(hi, v)) }
