package scanner

import (
	"bytes"
)

// Report formats a USB-HID scanner may speak.
const (
	FormatAuto     = "auto"     // by report length: 8 bytes keyboard, longer HID POS
	FormatKeyboard = "keyboard" // keyboard-wedge boot reports
	FormatPOS      = "pos"      // HID POS barcode scanner reports (usage page 0x8C)
)

// KeyboardDecoder turns keyboard boot reports (modifier, reserved, six key
// usages) into codes: a key counts when it appears in a report without
// having been down in the previous one (so rollover, where several keys
// are down at once, and repeats, which need a release in between, come
// out right), Shift picks upper case and symbols, and Enter ends a code.
type KeyboardDecoder struct {
	down [6]byte
	buf  []byte
}

// Modifier bits for Shift.
const (
	modLeftShift  = 0x02
	modRightShift = 0x20
)

// Feed decodes one report and returns the code it completes, if any.
func (d *KeyboardDecoder) Feed(r []byte) (string, bool) {
	if len(r) == 9 && r[0] <= 0x01 {
		r = r[1:] // a report ID byte in front (0 or 1)
	}
	if len(r) < 8 {
		return "", false
	}
	keys := r[2:8]
	if keys[0] == 0x01 && keys[1] == 0x01 { // ErrorRollOver: too many keys, state unknown
		return "", false
	}
	shift := r[0]&(modLeftShift|modRightShift) != 0
	var code string
	done := false
	for _, k := range keys {
		if k == 0 || bytes.IndexByte(d.down[:], k) >= 0 {
			continue
		}
		switch {
		case k == 0x28 || k == 0x58: // Enter, keypad Enter
			if len(d.buf) > 0 {
				code, done = string(d.buf), true
			}
			d.buf = d.buf[:0]
		default:
			if c := usageChar(k, shift); c != 0 && len(d.buf) < maxFrame {
				d.buf = append(d.buf, c)
			}
		}
	}
	copy(d.down[:], keys)
	return code, done
}

// Reset drops a partial code (the device was unplugged).
func (d *KeyboardDecoder) Reset() {
	d.buf = d.buf[:0]
	d.down = [6]byte{}
}

// usageChar maps a keyboard usage ID to the ASCII a US layout types.
func usageChar(k byte, shift bool) byte {
	switch {
	case k >= 0x04 && k <= 0x1D:
		if shift {
			return 'A' + k - 0x04
		}
		return 'a' + k - 0x04
	case k >= 0x1E && k <= 0x27:
		if shift {
			return ")!@#$%^&*("[(k-0x1E+1)%10]
		}
		return "1234567890"[k-0x1E]
	case k >= 0x59 && k <= 0x62: // keypad 1..9, 0
		return "1234567890"[k-0x59]
	case k == 0x2C:
		return ' '
	case k == 0x2D:
		return pick(shift, '_', '-')
	case k == 0x2E:
		return pick(shift, '+', '=')
	case k == 0x36:
		return pick(shift, '<', ',')
	case k == 0x37:
		return pick(shift, '>', '.')
	case k == 0x38:
		return pick(shift, '?', '/')
	}
	return 0
}

func pick(shift bool, shifted, plain byte) byte {
	if shift {
		return shifted
	}
	return plain
}

// HID POS (Usage Page 0x8C, Bar Code Scanner) input reports are 64 bytes,
// the report ID first, the length of this report's data second, bit 0 of
// the last byte set while more reports of the same code follow. Where the
// data and the symbology are differs by maker; two layout families cover
// the scanners posd is tested with (docs/scanners.md):
//
//	honeywell  Honeywell Voyager/Xenon, Access-IS: AIM symbology id at 2–4
//	           (]C0 Code 128, ]Q1 QR, …), data from byte 5 (at most 56),
//	           the maker's symbology letter at 61, reserved 62, flags 63.
//	newland    Newland FM430, QUIO: data from byte 2 (at most 56), reserved
//	           58–61, symbology id at 62, flags 63.
const (
	posReportLen = 64
	posLenOffset = 1
	posFlags     = 63
	posContinued = 0x01
	posMaxData   = 56

	LayoutAuto      = "auto"
	LayoutHoneywell = "honeywell"
	LayoutNewland   = "newland"
)

// Layouts lists the HID POS layouts hid_layout may name.
var Layouts = []string{LayoutAuto, LayoutHoneywell, LayoutNewland}

// posLayout is where one family puts a report's data.
type posLayout struct {
	data int // first data byte
	end  int // one past the last byte data may use
}

var posLayouts = map[string]posLayout{
	LayoutHoneywell: {data: 5, end: 61},
	LayoutNewland:   {data: 2, end: 58},
}

// DetectLayout names the layout family of a HID POS report, from where
// its symbology id is: a symbology id at 62 with 58–61 empty is Newland's;
// otherwise an AIM id (]xy) at bytes 2–4 is Honeywell's. It returns ""
// when the report does not tell (the decoder then waits for one that
// does).
func DetectLayout(r []byte) string {
	if len(r) < posReportLen {
		return ""
	}
	aim := r[2] == ']' && isAlnum(r[3]) && isAlnum(r[4])
	newlandTail := r[58] == 0 && r[59] == 0 && r[60] == 0 && r[61] == 0 && r[62] != 0
	switch {
	case newlandTail:
		// Honeywell keeps byte 62 reserved: a symbology id there is
		// Newland's, even when the data starts with an AIM id (a scanner
		// set to transmit them).
		return LayoutNewland
	case aim:
		return LayoutHoneywell
	}
	return ""
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z'
}

// POSDecoder joins HID POS reports into codes. Layout is one of Layouts;
// in LayoutAuto the first report that tells decides, for the device's
// life.
type POSDecoder struct {
	Layout string
	buf    []byte
}

// Feed decodes one report and returns the code it completes, if any.
func (d *POSDecoder) Feed(r []byte) (string, bool) {
	if len(r) < posReportLen {
		if d.Layout == "" || d.Layout == LayoutAuto || len(r) < posFlags {
			return "", false
		}
		r = append(append([]byte(nil), r...), make([]byte, posReportLen-len(r))...) // a forced layout: missing bytes are 0
	}
	if d.Layout == "" || d.Layout == LayoutAuto {
		l := DetectLayout(r)
		if l == "" {
			return "", false
		}
		d.Layout = l
	}
	lay, ok := posLayouts[d.Layout]
	if !ok {
		return "", false
	}
	n := min(int(r[posLenOffset]), posMaxData, lay.end-lay.data)
	if len(d.buf)+n <= maxFrame {
		d.buf = append(d.buf, r[lay.data:lay.data+n]...)
	} else {
		d.buf = d.buf[:0]
	}
	if r[posFlags]&posContinued != 0 {
		return "", false
	}
	code := string(StripAIM(bytes.TrimRight(d.buf, "\r\n\x00")))
	d.buf = d.buf[:0]
	return code, code != ""
}

// StripAIM removes an AIM symbology identifier (]C0, ]Q1, ]E0, …) that a
// scanner set to transmit it puts in front of the data.
func StripAIM(b []byte) []byte {
	if len(b) >= 3 && b[0] == ']' && b[1] >= 'A' && b[1] <= 'Z' && isAlnum(b[2]) {
		return b[3:]
	}
	return b
}

// Reset drops a partial code.
func (d *POSDecoder) Reset() { d.buf = d.buf[:0] }

// ReportDecoder decodes one scanner's reports in the configured format; in
// FormatAuto the first report's length decides.
type ReportDecoder struct {
	Format string
	Layout string // HID POS layout (Layouts); "" or auto: detected
	kb     KeyboardDecoder
	pos    POSDecoder
}

// Feed decodes one report.
func (d *ReportDecoder) Feed(r []byte) (string, bool) {
	if d.Format == FormatAuto || d.Format == "" {
		switch {
		case len(r) == 8 || len(r) == 9:
			d.Format = FormatKeyboard
		case len(r) >= posReportLen:
			d.Format = FormatPOS
		default:
			return "", false
		}
	}
	if d.Format == FormatPOS {
		if d.pos.Layout == "" {
			d.pos.Layout = d.Layout
		}
		return d.pos.Feed(r)
	}
	return d.kb.Feed(r)
}

// Reset drops any partial code.
func (d *ReportDecoder) Reset() {
	d.kb.Reset()
	d.pos.Reset()
}
