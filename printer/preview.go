package printer

import (
	"bufio"
	"compress/gzip"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/simplifiedchinese"
)

// Doc is what a receipt's bytes print, as the preview understands it: lines
// of text with their alignment and style, and blocks (QR codes, barcodes,
// images, cuts) between them.
type Doc struct {
	Lines []DocLine
}

// DocLine is one printed line, or one block.
type DocLine struct {
	Align    Alignment
	Segments []Segment
	Block    string      // "qr", "code128", "image", "cut", "drawer", "" for text
	Data     string      // the block's content
	Image    *image.Gray // for "image"
}

// Segment is a run of text in one style.
type Segment struct {
	Text      string
	W, H      int
	Bold      bool
	Underline bool
	Chinese   bool // printed in Chinese mode: every non-ASCII character is two columns
}

// Cols is how many columns the segment takes on paper, before its width
// multiplier.
func (s Segment) Cols() int { return textCols(s.Text, s.Chinese) }

func textCols(t string, chinese bool) int {
	n := 0
	for _, r := range t {
		n += runeCols(r, chinese)
	}
	return n
}

// runeCols is a printed character's width: in Chinese mode every
// multi-byte GB code is full width.
func runeCols(r rune, chinese bool) int {
	if chinese && r >= 0x80 {
		return 2
	}
	return 1
}

type interpState struct {
	align     Alignment
	bold, ul  bool
	ulCN      bool // FS -: underline of Chinese characters
	w, h      int
	chinese   bool
	codePage  byte
	raw       []byte
	segs      []Segment
	qrData    string
	lines     []DocLine
	lineAlign Alignment
	nv        map[[2]byte]*image.Gray // NV graphics defined earlier in the stream
}

func (s *interpState) decoder() *encoding.Decoder {
	if s.chinese {
		return simplifiedchinese.GB18030.NewDecoder()
	}
	if s.codePage == 255 {
		return simplifiedchinese.GBK.NewDecoder()
	}
	return charmap.CodePage437.NewDecoder()
}

// flushText closes the current style run.
func (s *interpState) flushText() {
	if len(s.raw) == 0 {
		return
	}
	txt, err := s.decoder().Bytes(s.raw)
	if err != nil {
		txt = []byte(strings.Repeat("?", len(s.raw)))
	}
	s.segs = append(s.segs, Segment{Text: string(txt), W: s.w, H: s.h, Bold: s.bold, Underline: s.ul || (s.chinese && s.ulCN), Chinese: s.chinese})
	s.raw = s.raw[:0]
}

func (s *interpState) newline() {
	s.flushText()
	s.lines = append(s.lines, DocLine{Align: s.lineAlign, Segments: s.segs})
	s.segs = nil
	s.lineAlign = s.align
}

func (s *interpState) block(kind, data string, img *image.Gray) {
	s.flushText()
	if len(s.segs) > 0 {
		s.newline()
	}
	s.lines = append(s.lines, DocLine{Align: s.align, Block: kind, Data: data, Image: img})
	s.lineAlign = s.align
}

func (s *interpState) reset() {
	s.flushText()
	s.align, s.bold, s.ul, s.ulCN, s.w, s.h, s.chinese, s.codePage = Left, false, false, false, 1, 1, false, 0
	s.lineAlign = Left
}

// Interpret reads the ESC/POS subset posd emits. Anything else is an error
// naming the byte offset: the preview shows what would print, or says it
// cannot.
func Interpret(b []byte) (*Doc, error) {
	s := &interpState{}
	s.reset()
	need := func(i, n int) error {
		if i+n > len(b) {
			return fmt.Errorf("printer: preview: command at byte %d is cut short", i)
		}
		return nil
	}
	for i := 0; i < len(b); {
		c := b[i]
		switch c {
		case lf:
			s.newline()
			i++
		case esc:
			if err := need(i, 2); err != nil {
				return nil, err
			}
			op := b[i+1]
			switch op {
			case '@':
				s.reset()
				i += 2
				continue
			case 'a', 'E', '-', 'd', 't':
				if err := need(i, 3); err != nil {
					return nil, err
				}
				n := b[i+2]
				s.flushText()
				switch op {
				case 'a':
					s.align = Alignment(n % 3)
					if len(s.segs) == 0 {
						s.lineAlign = s.align
					}
				case 'E':
					s.bold = n&1 == 1
				case '-':
					s.ul = n != 0
				case 'd':
					if len(s.segs) > 0 {
						s.newline()
					}
					for k := 0; k < int(n); k++ {
						s.newline()
					}
				case 't':
					s.codePage = n
				}
				i += 3
			case 'p':
				if err := need(i, 5); err != nil {
					return nil, err
				}
				s.block("drawer", "", nil)
				i += 5
			case 'Z': // ESC Z m n k dL dH data: a QR code, as some OEM firmwares take it
				if err := need(i, 7); err != nil {
					return nil, err
				}
				n := int(b[i+5]) | int(b[i+6])<<8
				if err := need(i, 7+n); err != nil {
					return nil, err
				}
				s.block("qr", string(b[i+7:i+7+n]), nil)
				i += 7 + n
			default:
				return nil, fmt.Errorf("printer: preview: unknown command ESC 0x%02x at byte %d", op, i)
			}
		case fs:
			if err := need(i, 2); err != nil {
				return nil, err
			}
			s.flushText()
			switch b[i+1] {
			case '&':
				s.chinese = true
			case '.':
				s.chinese = false
			case '-':
				if err := need(i, 3); err != nil {
					return nil, err
				}
				s.ulCN = b[i+2] != 0
				i++
			default:
				return nil, fmt.Errorf("printer: preview: unknown command FS 0x%02x at byte %d", b[i+1], i)
			}
			i += 2
		case gs:
			n, err := s.gsCommand(b, i)
			if err != nil {
				return nil, err
			}
			i += n
		case dle:
			i += 3 // DLE EOT n: a status request
		default:
			s.raw = append(s.raw, c)
			i++
		}
	}
	s.flushText()
	if len(s.segs) > 0 {
		s.newline()
	}
	return &Doc{Lines: s.lines}, nil
}

// gsCommand interprets one GS command at b[i] and returns its length.
func (s *interpState) gsCommand(b []byte, i int) (int, error) {
	if i+2 > len(b) {
		return 0, fmt.Errorf("printer: preview: command at byte %d is cut short", i)
	}
	short := fmt.Errorf("printer: preview: command at byte %d is cut short", i)
	switch b[i+1] {
	case '!':
		if i+3 > len(b) {
			return 0, short
		}
		s.flushText()
		s.w, s.h = int(b[i+2]>>4)+1, int(b[i+2]&0x0F)+1
		return 3, nil
	case 'V':
		if i+3 > len(b) {
			return 0, short
		}
		s.block("cut", "", nil)
		if b[i+2] >= 65 {
			return 4, nil
		}
		return 3, nil
	case 'H', 'h', 'w':
		return 3, nil
	case '(':
		if i+5 <= len(b) && b[i+2] == 'L' {
			return s.graphics(b, i)
		}
		if i+5 > len(b) || b[i+2] != 'k' {
			return 0, short
		}
		n := int(b[i+3]) | int(b[i+4])<<8
		if i+5+n > len(b) || n < 2 {
			return 0, short
		}
		fn := b[i+6]
		switch fn {
		case 80:
			s.qrData = string(b[i+8 : i+5+n])
		case 81:
			s.block("qr", s.qrData, nil)
		}
		return 5 + n, nil
	case 'k':
		if i+4 > len(b) {
			return 0, short
		}
		n := int(b[i+3])
		if i+4+n > len(b) {
			return 0, short
		}
		data := strings.TrimPrefix(string(b[i+4:i+4+n]), "{B")
		s.block("code128", data, nil)
		return 4 + n, nil
	case 'v':
		if i+8 > len(b) {
			return 0, short
		}
		wb := int(b[i+4]) | int(b[i+5])<<8
		h := int(b[i+6]) | int(b[i+7])<<8
		if i+8+wb*h > len(b) {
			return 0, short
		}
		img := image.NewGray(image.Rect(0, 0, wb*8, h))
		for y := 0; y < h; y++ {
			for x := 0; x < wb*8; x++ {
				c := color.Gray{255}
				if b[i+8+y*wb+x/8]&(0x80>>(x%8)) != 0 {
					c = color.Gray{0}
				}
				img.SetGray(x, y, c)
			}
		}
		s.block("image", fmt.Sprintf("%dx%d", wb*8, h), img)
		return 8 + wb*h, nil
	}
	return 0, fmt.Errorf("printer: preview: unknown command GS 0x%02x at byte %d", b[i+1], i)
}

// graphics reads GS ( L at b[i]: function 66 (delete an NV image), 67
// (define one, raster, one colour) and 69 (print one). An image printed
// by a key the stream did not define is one the printer keeps: it shows
// as a labelled block.
func (s *interpState) graphics(b []byte, i int) (int, error) {
	n := int(b[i+3]) | int(b[i+4])<<8
	if n < 2 || i+5+n > len(b) || b[i+5] != 48 {
		return 0, fmt.Errorf("printer: preview: GS ( L at byte %d is cut short or not one posd sends", i)
	}
	p := b[i+5 : i+5+n] // m fn ...
	bad := fmt.Errorf("printer: preview: GS ( L function %d at byte %d is not one posd sends", p[1], i)
	switch p[1] {
	case 66:
		if n != 4 {
			return 0, bad
		}
		delete(s.nv, [2]byte{p[2], p[3]})
	case 67:
		if n < 12 || p[2] != 48 || p[5] != 1 || p[10] != 49 {
			return 0, bad
		}
		w, h := int(p[6])|int(p[7])<<8, int(p[8])|int(p[9])<<8
		wb := (w + 7) / 8
		if w == 0 || h == 0 || 11+wb*h != n {
			return 0, bad
		}
		img := image.NewGray(image.Rect(0, 0, w, h))
		for y := range h {
			for x := range w {
				c := color.Gray{255}
				if p[11+y*wb+x/8]&(0x80>>(x%8)) != 0 {
					c = color.Gray{0}
				}
				img.SetGray(x, y, c)
			}
		}
		if s.nv == nil {
			s.nv = map[[2]byte]*image.Gray{}
		}
		s.nv[[2]byte{p[3], p[4]}] = img
	case 69:
		if n != 6 {
			return 0, bad
		}
		key := [2]byte{p[2], p[3]}
		if img := s.nv[key]; img != nil {
			s.block("image", fmt.Sprintf("%dx%d", img.Bounds().Dx(), img.Bounds().Dy()), img)
		} else {
			s.block("logo", "kept in the printer as "+string(key[:]), nil)
		}
	default:
		return 0, bad
	}
	return 5 + n, nil
}

// Text renders the document as plain text on cols columns: double-width
// text counts twice, alignment is kept, blocks are shown in brackets.
func (d *Doc) Text(cols int) string {
	var sb strings.Builder
	for _, l := range d.Lines {
		var line string
		switch l.Block {
		case "":
			var w int
			for _, s := range l.Segments {
				line += s.Text
				w += s.Cols() * s.W
			}
			line = pad(line, w, cols, l.Align)
		case "cut":
			line = strings.Repeat("~", cols)
		default:
			label := "[" + l.Block
			if l.Data != "" {
				label += " " + l.Data
			}
			label += "]"
			line = pad(label, textCols(label, false), cols, l.Align)
		}
		sb.WriteString(strings.TrimRight(line, " "))
		sb.WriteByte('\n')
	}
	return sb.String()
}

func pad(s string, w, cols int, a Alignment) string {
	if w >= cols {
		return s
	}
	switch a {
	case Center:
		return strings.Repeat(" ", (cols-w)/2) + s
	case Right:
		return strings.Repeat(" ", cols-w) + s
	}
	return s
}

// Font is a bitmap font in GNU Unifont's .hex format: 8×16 glyphs for
// half-width characters and 16×16 for wide ones.
type Font struct {
	glyphs map[rune][]byte
}

// FontPaths are where the unifont package puts its font.
var FontPaths = []string{"/usr/share/unifont/unifont.hex", "/usr/share/unifont/unifont.hex.gz"}

var (
	fontOnce sync.Once
	font     *Font
	fontErr  error
)

// LoadFont reads GNU Unifont from $POSD_UNIFONT or the unifont package.
func LoadFont() (*Font, error) {
	fontOnce.Do(func() {
		paths := FontPaths
		if p := os.Getenv("POSD_UNIFONT"); p != "" {
			paths = []string{p}
		}
		for _, p := range paths {
			if font, fontErr = readHexFont(p); fontErr == nil {
				return
			}
		}
		fontErr = fmt.Errorf("printer: no CJK bitmap font for the PNG preview (%w): install the unifont package, or set POSD_UNIFONT to a unifont .hex file", fontErr)
	})
	return font, fontErr
}

func readHexFont(path string) (*Font, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		gz, err := gzip.NewReader(f)
		if err != nil {
			return nil, err
		}
		r = gz
	}
	fnt := &Font{glyphs: make(map[rune][]byte, 60000)}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		code, bits, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		cp, err1 := strconv.ParseUint(code, 16, 32)
		bm, err2 := hex.DecodeString(bits)
		if err1 != nil || err2 != nil || (len(bm) != 16 && len(bm) != 32) {
			continue
		}
		fnt.glyphs[rune(cp)] = bm
	}
	if len(fnt.glyphs) == 0 {
		return nil, errors.New(path + " holds no glyphs")
	}
	return fnt, sc.Err()
}

// cell is the size of one font-A character on the printer, in dots.
const (
	cellW = 12
	cellH = 24
)

// PNG draws the document as the printer would on paper dots wide: each
// character in a 12×24-dot cell, wide characters in two.
func (d *Doc) PNG(f *Font, dots int) *image.Gray {
	h := 8
	for _, l := range d.Lines {
		h += lineHeight(l, dots)
	}
	img := image.NewGray(image.Rect(0, 0, dots, h))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	y := 4
	for _, l := range d.Lines {
		lh := lineHeight(l, dots)
		switch l.Block {
		case "":
			w := 0
			for _, s := range l.Segments {
				w += s.Cols() * s.W * cellW
			}
			x := align(w, dots, l.Align)
			for _, s := range l.Segments {
				x = drawText(img, f, s, x, y, lh)
			}
		case "image":
			x := align(l.Image.Bounds().Dx(), dots, l.Align)
			for yy := 0; yy < l.Image.Bounds().Dy(); yy++ {
				for xx := 0; xx < l.Image.Bounds().Dx(); xx++ {
					if l.Image.GrayAt(xx, yy).Y == 0 {
						img.SetGray(x+xx, y+yy, color.Gray{0})
					}
				}
			}
		case "cut":
			for x := 0; x < dots; x += 8 {
				for k := 0; k < 4 && x+k < dots; k++ {
					img.SetGray(x+k, y+lh/2, color.Gray{0})
				}
			}
		default: // qr, code128, drawer: a labelled frame where the printer draws its own
			label := "[" + l.Block + "] " + l.Data
			w := min(dots-8, textCols(label, false)*cellW+16)
			x := align(w, dots, l.Align)
			frame(img, x, y+2, w, lh-4)
			drawText(img, f, Segment{Text: label, W: 1, H: 1}, x+8, y+(lh-cellH)/2, cellH)
		}
		y += lh
	}
	return img
}

func lineHeight(l DocLine, dots int) int {
	switch l.Block {
	case "":
		h := 1
		for _, s := range l.Segments {
			h = max(h, s.H)
		}
		return h * cellH
	case "image":
		return l.Image.Bounds().Dy() + 4
	case "qr":
		return 4 * cellH
	case "code128":
		return 3 * cellH
	}
	return cellH
}

func align(w, dots int, a Alignment) int {
	switch a {
	case Center:
		return max(0, (dots-w)/2)
	case Right:
		return max(0, dots-w)
	}
	return 0
}

// drawText draws s with its top at y, on a line lh dots high, and returns
// the x after it.
func drawText(img *image.Gray, f *Font, s Segment, x, y, lh int) int {
	for _, r := range s.Text {
		cw := runeCols(r, s.Chinese) * cellW * s.W
		g := f.glyphs[r]
		if g == nil {
			g = f.glyphs['?']
		}
		gw := len(g) / 2 // 8 or 16 dots
		gx := x + (cw-gw*s.W)/2
		gy := y + lh - 20*s.H // glyph bottom sits 4·h dots above the line's bottom
		for row := 0; row < 16; row++ {
			for col := 0; col < gw; col++ {
				byteIdx := row*(gw/8) + col/8
				if g[byteIdx]&(0x80>>(col%8)) == 0 {
					continue
				}
				for dy := 0; dy < s.H; dy++ {
					for dx := 0; dx < s.W; dx++ {
						px, py := gx+col*s.W+dx, gy+row*s.H+dy
						img.SetGray(px, py, color.Gray{0})
						if s.Bold {
							img.SetGray(px+1, py, color.Gray{0})
						}
					}
				}
			}
		}
		if s.Underline {
			for k := x; k < x+cw; k++ {
				img.SetGray(k, y+lh-2, color.Gray{0})
			}
		}
		x += cw
	}
	return x
}

func frame(img *image.Gray, x, y, w, h int) {
	for k := x; k < x+w; k++ {
		img.SetGray(k, y, color.Gray{0})
		img.SetGray(k, y+h-1, color.Gray{0})
	}
	for k := y; k < y+h; k++ {
		img.SetGray(x, k, color.Gray{0})
		img.SetGray(x+w-1, k, color.Gray{0})
	}
}
