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
	"rsc.io/qr"
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

// Charset says how text is sent to the printer, and how wide it prints.
type Charset struct {
	Name    string
	enc     encoding.Encoding
	chinese bool // use the printer's Chinese mode (FS &): every multi-byte code prints two columns wide
	// fourByte allows GB18030's four-byte sequences (emoji, rare
	// characters): only for printer fonts that have them. Most Chinese
	// printer fonts have the two-byte codes only and print junk for them.
	fourByte bool
}

// Charsets posd knows, by their configuration name.
var charsets = map[string]Charset{
	"gbk":     {Name: "gbk", enc: simplifiedchinese.GBK, chinese: true},
	"gb18030": {Name: "gb18030", enc: simplifiedchinese.GB18030, chinese: true},
	"cp437":   {Name: "cp437", enc: charmap.CodePage437},
}

// LookupCharset returns the named charset: gbk (the default: two-byte GB
// codes, which every Chinese printer font has), gb18030 (the same two-byte
// codes; its four-byte sequences only WithFourByte), or cp437 (no
// Chinese). cp936 is GBK's code-page name and means gbk: the ESC t 255
// posd once sent for it selects Epson's user-defined page, not GBK.
func LookupCharset(name string) (Charset, error) {
	switch strings.ToLower(name) {
	case "", "cp936":
		name = "gbk"
	}
	cs, ok := charsets[strings.ToLower(name)]
	if !ok {
		return Charset{}, fmt.Errorf("encoding %q: use gbk, gb18030 or cp437", name)
	}
	return cs, nil
}

// WithFourByte returns gb18030 with its four-byte sequences (emoji, rare
// characters) sent, for a printer whose font has them; other charsets are
// returned as they are.
func (cs Charset) WithFourByte() Charset {
	if cs.Name == "gb18030" {
		cs.fourByte = true
	}
	return cs
}

// Chinese reports whether the charset uses the printer's Chinese mode.
func (cs Charset) Chinese() bool { return cs.chinese }

// FourByte reports whether GB18030's four-byte sequences are sent.
func (cs Charset) FourByte() bool { return cs.fourByte }

// encodeRune is what the printer is sent for r: '?' for what the charset
// (or the font) cannot print and for control characters, which could
// smuggle printer commands in from a field such as an order id.
func (cs Charset) encodeRune(r rune, buf []byte) []byte {
	switch {
	case r < 0x20 || r == 0x7F || (r >= 0x80 && r < 0xA0) || r == utf8.RuneError:
		return append(buf, '?')
	case r < 0x80:
		return append(buf, byte(r))
	case r == '¥' && cs.chinese:
		r = '￥' // U+00A5 is a four-byte GB18030 sequence; the fullwidth sign is in every font
	}
	var tmp [4]byte
	n := utf8.EncodeRune(tmp[:], r)
	out, err := cs.enc.NewEncoder().Bytes(tmp[:n])
	switch {
	case err != nil || len(out) == 0:
		return append(buf, '?')
	case len(out) == 1 && out[0] >= 0x80 && cs.chinese:
		return append(buf, '?') // GBK's lone 0x80 (€): no printer's Chinese mode takes it
	case len(out) == 4 && !cs.fourByte:
		return append(buf, '?')
	}
	return append(buf, out...)
}

// RuneWidth is how many columns r takes on paper: in Chinese mode every
// multi-byte code prints full width, two columns (·, ×, —, “”, ① too,
// whatever Unicode says of them); otherwise one.
func (cs Charset) RuneWidth(r rune) int {
	if !cs.chinese || r < 0x80 {
		return 1
	}
	var buf [4]byte
	if b := cs.encodeRune(r, buf[:0]); len(b) > 1 {
		return 2
	}
	return 1
}

// Width is how many columns s takes on paper in this charset.
func (cs Charset) Width(s string) int {
	n := 0
	for _, r := range s {
		n += cs.RuneWidth(r)
	}
	return n
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
// (FS &), or the code page (FS . then ESC t 0).
func (e *Encoder) Init() *Encoder {
	e.raw(esc, '@')
	if e.cs.chinese {
		return e.raw(fs, '&')
	}
	return e.raw(fs, '.', esc, 't', 0)
}

// Align sets the alignment (ESC a n).
func (e *Encoder) Align(a Alignment) *Encoder { return e.raw(esc, 'a', byte(a)) }

// Bold turns emphasis on or off (ESC E n).
func (e *Encoder) Bold(on bool) *Encoder { return e.raw(esc, 'E', b2b(on)) }

// Underline turns underlining on (one dot) or off: ESC - n for single-byte
// characters and, in Chinese mode, FS - n for the Chinese ones, which
// ESC - does not reach.
func (e *Encoder) Underline(on bool) *Encoder {
	e.raw(esc, '-', b2b(on))
	if e.cs.chinese {
		e.raw(fs, '-', b2b(on))
	}
	return e
}

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

// Text writes s in the charset (see Charset.encodeRune for what prints as
// '?').
func (e *Encoder) Text(s string) *Encoder {
	if e.err != nil {
		return e
	}
	var buf [8]byte
	for _, r := range s {
		if r == '\n' {
			e.raw(lf)
			continue
		}
		e.raw(e.cs.encodeRune(r, buf[:0])...)
	}
	return e
}

// QR modes: how a printer is told to print a QR code.
const (
	QRNative = "native" // GS ( k, model 2: Epson and most 80 mm printers
	QRESCZ   = "escz"   // ESC Z: some Chinese OEM firmwares
	QRRaster = "raster" // the code drawn by posd and sent as a GS v 0 image, which every printer prints
)

// QR prints a QR code in the native command (GS ( k, model 2): module
// size 1–16 dots, error correction level 'L', 'M', 'Q' or 'H'; the data
// is stored, then printed.
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

// QRESCZ prints a QR code with ESC Z m n k dL dH data, the command some
// Chinese OEM firmwares have instead of GS ( k: version m (0: as small as
// fits), level n ('L', 'M', 'Q', 'H'), module size k (1–8 dots).
func (e *Encoder) QRESCZ(data string, size int, level byte) *Encoder {
	if level != 'L' && level != 'Q' && level != 'H' {
		level = 'M'
	}
	n := len(data)
	e.raw(esc, 'Z', 0, level, byte(clamp(size, 1, 8)), byte(n), byte(n>>8))
	return e.raw([]byte(data)...)
}

// QRRaster draws the QR code itself (rsc.io/qr) and prints it as an image
// (GS v 0): module size dots per module, with the four-module quiet zone.
// An error (data too long for a QR code) prints nothing and is reported.
func (e *Encoder) QRRaster(data string, size int, level byte) error {
	lv := map[byte]qr.Level{'L': qr.L, 'M': qr.M, 'Q': qr.Q, 'H': qr.H}[level]
	if level != 'L' && level != 'Q' && level != 'H' {
		lv = qr.M
	}
	code, err := qr.Encode(data, lv)
	if err != nil {
		return fmt.Errorf("printer: QR code of %d bytes: %w", len(data), err)
	}
	size = clamp(size, 1, 16)
	side := (code.Size + 8) * size
	img := image.NewGray(image.Rect(0, 0, side, side))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	for y := 0; y < code.Size; y++ {
		for x := 0; x < code.Size; x++ {
			if !code.Black(x, y) {
				continue
			}
			for dy := 0; dy < size; dy++ {
				for dx := 0; dx < size; dx++ {
					img.Pix[(4*size+y*size+dy)*img.Stride+4*size+x*size+dx] = 0
				}
			}
		}
	}
	e.Raster(img)
	return nil
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
	wBytes, h, data := rasterBits(img)
	e.raw(gs, 'v', '0', 0, byte(wBytes), byte(wBytes>>8), byte(h), byte(h>>8))
	return e.raw(data...)
}

// rasterBits packs img into ESC/POS raster rows: one bit a dot, the
// leftmost in each byte's high bit, a dot black where the pixel is dark
// and not transparent. It returns the bytes in a row and the rows.
func rasterBits(img image.Image) (wBytes, h int, data []byte) {
	b := img.Bounds()
	wBytes, h = (b.Dx()+7)/8, b.Dy()
	data = make([]byte, wBytes*h)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		row := data[(y-b.Min.Y)*wBytes:][:wBytes]
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, a := img.At(x, y).RGBA()
			lum := (299*r + 587*g + 114*bl) / 1000
			if a > 0x8000 && lum < 0x8000 {
				i := x - b.Min.X
				row[i/8] |= 0x80 >> (i % 8)
			}
		}
	}
	return wBytes, h, data
}

// NVLogoKey is the key code (kc1, kc2) under which posd keeps the receipt
// logo in a printer's NV graphics memory: "PL", for posd's logo.
var NVLogoKey = [2]byte{'P', 'L'}

// DefineNVLogo writes img into the printer's NV graphics memory under
// NVLogoKey: GS ( L function 66 deletes what the key held, function 67
// defines the raster image (one colour). The printer keeps it through
// power cycles; each write wears the memory, which Epson asks to keep
// under ten a day. img must be at most 8192 dots wide, 2304 high, and its
// bits at most 65524 bytes (an 80 mm logo under 400 dots high is 28 800).
func (e *Encoder) DefineNVLogo(img image.Image) error {
	wBytes, h, data := rasterBits(img)
	w := img.Bounds().Dx()
	n := 11 + len(data) // m fn a kc1 kc2 b xL xH yL yH c, then the bits
	if w < 1 || w > 8192 || h < 1 || h > 2304 || n > 0xFFFF {
		return fmt.Errorf("printer: a logo of %dx%d dots (%d bytes) does not fit the printer's NV graphics command", w, h, wBytes*h)
	}
	k1, k2 := NVLogoKey[0], NVLogoKey[1]
	e.raw(gs, '(', 'L', 4, 0, 48, 66, k1, k2)
	e.raw(gs, '(', 'L', byte(n), byte(n>>8), 48, 67, 48, k1, k2, 1, byte(w), byte(w>>8), byte(h), byte(h>>8), 49)
	e.raw(data...)
	return e.err
}

// PrintNVLogo prints the image NVLogoKey holds in the printer's NV
// graphics memory at normal size (GS ( L function 69). A printer that
// holds nothing under the key prints nothing.
func (e *Encoder) PrintNVLogo() *Encoder {
	return e.raw(gs, '(', 'L', 6, 0, 48, 69, NVLogoKey[0], NVLogoKey[1], 1, 1)
}

func b2b(on bool) byte {
	if on {
		return 1
	}
	return 0
}

func clamp(v, lo, hi int) int { return max(lo, min(hi, v)) }
