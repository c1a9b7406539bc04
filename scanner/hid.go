package scanner

import (
	"context"
	"errors"
	"fmt"
	"runtime"

	"github.com/karalabe/hid"
	"go.bug.st/serial/enumerator"
)

// HIDConfig is a scanner on USB HID, read directly (not as a keyboard
// typing into the focused window).
type HIDConfig struct {
	Name      string
	USB       string // "vid:pid"
	Serial    string // the USB serial number, when several identical scanners are attached
	Interface int    // the USB interface, when a scanner exposes several; -1 for any
	Format    string // auto, keyboard, pos
	Layout    string // HID POS layout: auto, honeywell, newland
}

// HIDSource reads codes from a USB HID scanner through hidapi.
type HIDSource struct {
	cfg      HIDConfig
	vid, pid uint16
}

// NewHID checks cfg.
func NewHID(cfg HIDConfig) (*HIDSource, error) {
	vid, pid, err := ParseUSB(cfg.USB)
	if err != nil {
		return nil, err
	}
	switch cfg.Format {
	case "":
		cfg.Format = FormatAuto
	case FormatAuto, FormatKeyboard, FormatPOS:
	default:
		return nil, fmt.Errorf("format %q: use auto, keyboard or pos", cfg.Format)
	}
	switch cfg.Layout {
	case "":
		cfg.Layout = LayoutAuto
	case LayoutAuto, LayoutHoneywell, LayoutNewland:
	default:
		return nil, fmt.Errorf("hid_layout %q: use auto, honeywell or newland", cfg.Layout)
	}
	if cfg.Name == "" {
		cfg.Name = "hid:" + cfg.USB
	}
	return &HIDSource{cfg: cfg, vid: vid, pid: pid}, nil
}

// Name names the scanner in events and logs.
func (s *HIDSource) Name() string { return s.cfg.Name }

// Kind is "hid".
func (s *HIDSource) Kind() string { return "hid" }

// HIDAvailable reports whether this build can read HID devices (it needs
// cgo).
func HIDAvailable() bool { return hid.Supported() }

// Usage page and usage of a keyboard (Generic Desktop / Keyboard).
const (
	usagePageDesktop = 0x01
	usageKeyboard    = 0x06
	usagePagePOS     = 0x8C
)

// errWindowsKeyboard explains the one case no retry fixes.
var errWindowsKeyboard = fmt.Errorf("%w: Windows keeps keyboards to itself, so a service cannot read a scanner in keyboard-wedge mode: switch the scanner to HID POS (USB-HID POS) or virtual-COM (serial) mode with its configuration barcodes, then configure it as such", ErrUnsupported)

// windowsKeyboard reports whether a device is a keyboard that Windows will
// not let posd open.
func windowsKeyboard(d hid.DeviceInfo) bool {
	return runtime.GOOS == "windows" && d.UsagePage == usagePageDesktop && d.Usage == usageKeyboard
}

// find picks the configured device among those attached.
func (s *HIDSource) find() (hid.DeviceInfo, error) {
	devs, err := hid.Enumerate(s.vid, s.pid)
	if err != nil {
		return hid.DeviceInfo{}, fmt.Errorf("listing HID devices: %w", err)
	}
	var keyboard bool
	for _, d := range devs {
		if s.cfg.Serial != "" && d.Serial != s.cfg.Serial {
			continue
		}
		if s.cfg.Interface >= 0 && d.Interface != s.cfg.Interface {
			continue
		}
		if windowsKeyboard(d) {
			keyboard = true
			continue // another interface of the same scanner may be HID POS
		}
		return d, nil
	}
	if keyboard || (runtime.GOOS == "windows" && s.cfg.Format == FormatKeyboard) {
		return hid.DeviceInfo{}, errWindowsKeyboard
	}
	return hid.DeviceInfo{}, fmt.Errorf("HID device %s is not connected", s.cfg.USB)
}

// Run reads reports until the device fails or ctx ends.
func (s *HIDSource) Run(ctx context.Context, connected func(string), emit func(string)) error {
	if !hid.Supported() {
		return fmt.Errorf("%w: this posd was built without cgo, so it cannot read USB HID devices; use the scanner's virtual-COM (serial) mode or a posd built with cgo", ErrUnsupported)
	}
	info, err := s.find()
	if err != nil {
		return err
	}
	dev, err := info.Open()
	if err != nil {
		return fmt.Errorf("opening %s (%s): %w; on Linux the service user needs access to the device: see docs/scanners.md for the udev rule", s.cfg.USB, info.Path, err)
	}
	// Closing hands the device back: hidapi re-attaches the kernel driver it
	// detached, so the scanner types into the focused window again.
	defer dev.Close()
	connected(fmt.Sprintf("%s %s interface %d", info.Product, info.Path, info.Interface))
	d := ReportDecoder{Format: s.cfg.Format, Layout: s.cfg.Layout}
	buf := make([]byte, 256)
	for ctx.Err() == nil {
		n, err := dev.ReadTimeout(buf, 200)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading %s: %w", s.cfg.USB, err)
		}
		if n == 0 {
			continue
		}
		if code, ok := d.Feed(buf[:n]); ok {
			emit(code)
		}
	}
	return nil
}

// PortInfo is a serial port as 'posd devices' lists it.
type PortInfo struct {
	Name    string `json:"name"`
	USB     string `json:"usb,omitempty"`
	Serial  string `json:"serial_number,omitempty"`
	Product string `json:"product,omitempty"`
}

// SerialPorts lists the serial ports of this machine.
func SerialPorts() ([]PortInfo, error) {
	ports, err := enumerator.GetDetailedPortsList()
	if err != nil {
		return nil, err
	}
	out := make([]PortInfo, 0, len(ports))
	for _, p := range ports {
		pi := PortInfo{Name: p.Name, Serial: p.SerialNumber, Product: p.Product}
		if p.IsUSB {
			pi.USB = fmt.Sprintf("%04s:%04s", p.VID, p.PID)
		}
		out = append(out, pi)
	}
	return out, nil
}

// HIDInfo is a HID device as 'posd devices' lists it.
type HIDInfo struct {
	USB          string `json:"usb"`
	Product      string `json:"product,omitempty"`
	Manufacturer string `json:"manufacturer,omitempty"`
	Serial       string `json:"serial_number,omitempty"`
	Interface    int    `json:"interface"`
	Path         string `json:"path"`
	Kind         string `json:"kind,omitempty"` // keyboard, pos, or "" where the platform does not say (Linux)
	Note         string `json:"note,omitempty"`
}

// HIDDevices lists the HID devices of this machine; without cgo it says
// so in the error.
func HIDDevices() ([]HIDInfo, error) {
	if !hid.Supported() {
		return nil, errors.New("HID is not available in this build (built without cgo)")
	}
	devs, err := hid.Enumerate(0, 0)
	if err != nil {
		return nil, err
	}
	out := make([]HIDInfo, 0, len(devs))
	for _, d := range devs {
		hi := HIDInfo{USB: fmt.Sprintf("%04x:%04x", d.VendorID, d.ProductID), Product: d.Product, Manufacturer: d.Manufacturer,
			Serial: d.Serial, Interface: d.Interface, Path: d.Path}
		switch {
		case d.UsagePage == usagePageDesktop && d.Usage == usageKeyboard:
			hi.Kind = "keyboard"
			if runtime.GOOS == "windows" {
				hi.Note = "keyboard-wedge: a Windows service cannot read it; switch the scanner to HID POS or virtual-COM mode"
			}
		case d.UsagePage == usagePagePOS:
			hi.Kind = "pos"
		}
		out = append(out, hi)
	}
	return out, nil
}
