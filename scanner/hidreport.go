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

// HID POS input report layout (Usage Page 0x8C, Bar Code Scanner): a report
// ID, the number of valid data bytes, 56 data bytes, three AIM symbology
// identifier bytes, and a flags byte whose bit 0 says the code continues in
// the next report.
const (
	posDataLen   = 56
	posLenOffset = 1
	posData      = 2
	posSymbology = posData + posDataLen // 3 bytes
	posFlags     = posSymbology + 3
	posMinReport = posFlags + 1
	posContinued = 0x01
)

// POSDecoder joins HID POS reports into codes.
type POSDecoder struct {
	buf []byte
}

// Feed decodes one report and returns the code it completes, if any.
func (d *POSDecoder) Feed(r []byte) (string, bool) {
	if len(r) < posMinReport {
		return "", false
	}
	n := int(r[posLenOffset])
	if n > posDataLen {
		n = posDataLen
	}
	if len(d.buf)+n <= maxFrame {
		d.buf = append(d.buf, r[posData:posData+n]...)
	} else {
		d.buf = d.buf[:0]
	}
	if r[posFlags]&posContinued != 0 {
		return "", false
	}
	code := string(bytes.TrimRight(d.buf, "\r\n\x00"))
	d.buf = d.buf[:0]
	return code, code != ""
}

// Reset drops a partial code.
func (d *POSDecoder) Reset() { d.buf = d.buf[:0] }

// ReportDecoder decodes one scanner's reports in the configured format; in
// FormatAuto the first report's length decides.
type ReportDecoder struct {
	Format string
	kb     KeyboardDecoder
	pos    POSDecoder
}

// Feed decodes one report.
func (d *ReportDecoder) Feed(r []byte) (string, bool) {
	if d.Format == FormatAuto || d.Format == "" {
		switch {
		case len(r) == 8 || len(r) == 9:
			d.Format = FormatKeyboard
		case len(r) >= posMinReport:
			d.Format = FormatPOS
		default:
			return "", false
		}
	}
	if d.Format == FormatPOS {
		return d.pos.Feed(r)
	}
	return d.kb.Feed(r)
}

// Reset drops any partial code.
func (d *ReportDecoder) Reset() {
	d.kb.Reset()
	d.pos.Reset()
}
