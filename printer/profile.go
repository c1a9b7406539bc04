package printer

import (
	"fmt"
	"sort"
	"strings"
)

// Profile is what a family of printers can do, so that posd sends it only
// what it prints: columns per paper width, how it takes a QR code, whether
// it has a cutter, a drawer port, a Code 128 command, and a font with
// GB18030's four-byte sequences. docs/printers.md has the table and says
// where each row comes from.
type Profile struct {
	Name    string
	Models  string // the printers it stands for
	Widths  []int  // paper widths (mm) the family takes
	Cols58  int    // font A columns on 58 mm paper (0: no such width)
	Cols80  int    // and on 80 mm
	QR      string // QRNative, QRESCZ or QRRaster
	Code128 bool   // GS k 73
	Cutter  bool   // GS V
	Drawer  bool   // a cash-drawer port (ESC p)
	// FourByteFont: the font prints GB18030's four-byte sequences, which
	// are then sent with encoding gb18030; elsewhere they print as junk,
	// and posd sends '?' unless told otherwise (four_byte).
	FourByteFont bool
	// NVGraphics: the printer keeps images in NV graphics memory (GS ( L
	// functions 66, 67 and 69), so a logo can be stored once and printed
	// by reference (logo_in_printer).
	NVGraphics bool
}

// profiles are the printer families posd knows. Conservative where the
// makers' manuals are silent: a QR code drawn as an image prints
// everywhere, a command the printer lacks prints garbage.
var profiles = map[string]Profile{
	"generic": {Name: "generic", Models: "any ESC/POS printer (Epson-compatible commands, two-byte Chinese font)",
		Widths: []int{58, 80}, Cols58: 32, Cols80: 48, QR: QRNative, Code128: true, Cutter: true, Drawer: true},
	"epson-tm-t82": {Name: "epson-tm-t82", Models: "Epson TM-T82, TM-T82II, TM-T82III (China)",
		Widths: []int{58, 80}, Cols58: 32, Cols80: 48, QR: QRNative, Code128: true, Cutter: true, Drawer: true, FourByteFont: true},
	"epson-tm-t88": {Name: "epson-tm-t88", Models: "Epson TM-T88V, TM-T88VI, TM-T88VII",
		Widths: []int{58, 80}, Cols58: 32, Cols80: 48, QR: QRNative, Code128: true, Cutter: true, Drawer: true, FourByteFont: true, NVGraphics: true},
	"xprinter-xp58": {Name: "xprinter-xp58", Models: "Xprinter XP-58 series and 58 mm clones",
		Widths: []int{58}, Cols58: 32, QR: QRRaster, Code128: false, Cutter: false, Drawer: true},
	"xprinter-xp80": {Name: "xprinter-xp80", Models: "Xprinter XP-80, XP-N160 series",
		Widths: []int{80}, Cols80: 48, QR: QRNative, Code128: true, Cutter: true, Drawer: true},
	"gprinter-gp58": {Name: "gprinter-gp58", Models: "GPrinter GP-58 series",
		Widths: []int{58}, Cols58: 32, QR: QRRaster, Code128: false, Cutter: false, Drawer: true},
	"gprinter-gp80": {Name: "gprinter-gp80", Models: "GPrinter GP-80 series (GP-L80, GP-C80)",
		Widths: []int{80}, Cols80: 48, QR: QRNative, Code128: true, Cutter: true, Drawer: true},
	"zjiang-5890": {Name: "zjiang-5890", Models: "Zjiang POS-5890, ZJ-5870, ZJ-5802",
		Widths: []int{58}, Cols58: 32, QR: QRRaster, Code128: false, Cutter: false, Drawer: false},
	"sunmi": {Name: "sunmi", Models: "Sunmi built-in printers (V2, T2, D2 series)",
		Widths: []int{58, 80}, Cols58: 32, Cols80: 48, QR: QRNative, Code128: true, Cutter: false, Drawer: false},
}

// DefaultProfile is the profile when none is configured.
const DefaultProfile = "generic"

// Profiles lists the profiles' names, sorted.
func Profiles() []string {
	names := make([]string, 0, len(profiles))
	for n := range profiles {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// LookupProfile returns the named profile ("" is DefaultProfile).
func LookupProfile(name string) (Profile, error) {
	if name == "" {
		name = DefaultProfile
	}
	p, ok := profiles[strings.ToLower(name)]
	if !ok {
		return Profile{}, fmt.Errorf("profile %q: use one of %s (docs/printers.md)", name, strings.Join(Profiles(), ", "))
	}
	return p, nil
}

// Paper is the profile's paper of width mm (58 or 80).
func (p Profile) Paper(mm int) (Paper, error) {
	base, err := PaperFor(mm)
	if err != nil {
		return Paper{}, err
	}
	cols := p.Cols80
	if base.MM == 58 {
		cols = p.Cols58
	}
	if cols == 0 {
		return Paper{}, fmt.Errorf("width_mm %d: the %s profile (%s) takes %v mm paper", base.MM, p.Name, p.Models, p.Widths)
	}
	base.Columns = cols
	return base, nil
}

// Charset is cs as this profile's printers print it: gb18030's four-byte
// sequences are sent where the font has them (or fourByte says it does).
func (p Profile) Charset(cs Charset, fourByte bool) Charset {
	if p.FourByteFont || fourByte {
		return cs.WithFourByte()
	}
	return cs
}

// Check refuses settings the profile cannot print: a drawer it has no port
// for, four-byte codes its font is known to lack, a QR mode other than
// the three.
func (p Profile) Check(cs Charset, drawer, fourByte bool, qrMode string) error {
	switch {
	case drawer && !p.Drawer:
		return fmt.Errorf("the %s profile (%s) has no cash-drawer port: set drawer = false", p.Name, p.Models)
	case fourByte && cs.Name != "gb18030":
		return fmt.Errorf("four_byte is for encoding gb18030, not %s", cs.Name)
	case fourByte && !p.FourByteFont && p.Name != DefaultProfile:
		return fmt.Errorf("the %s profile's font (%s) has the two-byte GB codes only and prints the four-byte ones as junk: remove four_byte", p.Name, p.Models)
	}
	switch qrMode {
	case "", QRNative, QRESCZ, QRRaster:
	default:
		return fmt.Errorf("qr %q: use native (GS ( k), escz (ESC Z) or raster (an image every printer prints)", qrMode)
	}
	return nil
}
