package scanner

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.bug.st/serial"
	"go.bug.st/serial/enumerator"
)

// SerialConfig is a scanner on a serial port (RS-232, or USB in virtual-COM
// mode).
type SerialConfig struct {
	Name        string
	Port        string // /dev/ttyACM0, COM3; or empty with USB
	USB         string // "vid:pid" (hex) to find the port
	Serial      string // with USB: the USB serial number, to tell identical scanners apart
	Baud        int
	DataBits    int
	Parity      string // none, odd, even, mark, space
	StopBits    string // 1, 1.5, 2
	Suffix      Suffix
	Gap         time.Duration
	StripPrefix string
	StripSuffix string
}

// SerialSource reads codes from a serial port.
type SerialSource struct {
	cfg  SerialConfig
	mode serial.Mode
}

// NewSerial checks cfg and fills its defaults: 9600 8N1, CR, 50 ms gap.
func NewSerial(cfg SerialConfig) (*SerialSource, error) {
	if cfg.Port == "" && cfg.USB == "" {
		return nil, errors.New("a serial scanner needs port (e.g. /dev/ttyACM0, COM3) or usb (vid:pid)")
	}
	if cfg.USB != "" {
		if _, _, err := ParseUSB(cfg.USB); err != nil {
			return nil, err
		}
	}
	if cfg.Baud == 0 {
		cfg.Baud = 9600
	}
	if cfg.DataBits == 0 {
		cfg.DataBits = 8
	}
	if cfg.Suffix == "" {
		cfg.Suffix = SuffixCR
	}
	if _, err := ParseSuffix(string(cfg.Suffix)); err != nil {
		return nil, err
	}
	if cfg.Gap == 0 {
		cfg.Gap = 50 * time.Millisecond
	}
	if cfg.Baud < 300 || cfg.Baud > 4000000 {
		return nil, fmt.Errorf("baud %d is not a serial speed", cfg.Baud)
	}
	if cfg.DataBits < 5 || cfg.DataBits > 8 {
		return nil, fmt.Errorf("data_bits must be 5 to 8, got %d", cfg.DataBits)
	}
	mode := serial.Mode{BaudRate: cfg.Baud, DataBits: cfg.DataBits}
	switch strings.ToLower(cfg.Parity) {
	case "", "none", "n":
		mode.Parity = serial.NoParity
	case "odd", "o":
		mode.Parity = serial.OddParity
	case "even", "e":
		mode.Parity = serial.EvenParity
	case "mark", "m":
		mode.Parity = serial.MarkParity
	case "space", "s":
		mode.Parity = serial.SpaceParity
	default:
		return nil, fmt.Errorf("parity %q: use none, odd, even, mark or space", cfg.Parity)
	}
	switch cfg.StopBits {
	case "", "1":
		mode.StopBits = serial.OneStopBit
	case "1.5":
		mode.StopBits = serial.OnePointFiveStopBits
	case "2":
		mode.StopBits = serial.TwoStopBits
	default:
		return nil, fmt.Errorf("stop_bits %q: use 1, 1.5 or 2", cfg.StopBits)
	}
	if cfg.Name == "" {
		cfg.Name = "serial:" + cfg.Port + cfg.USB
	}
	return &SerialSource{cfg: cfg, mode: mode}, nil
}

// Name names the scanner in events and logs.
func (s *SerialSource) Name() string { return s.cfg.Name }

// Kind is "serial".
func (s *SerialSource) Kind() string { return "serial" }

// ParseUSB reads "vid:pid" in hex.
func ParseUSB(s string) (vid, pid uint16, err error) {
	v, p, ok := strings.Cut(s, ":")
	a, err1 := strconv.ParseUint(v, 16, 16)
	b, err2 := strconv.ParseUint(p, 16, 16)
	if !ok || err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("usb %q: write the USB vendor and product id in hex as vid:pid, e.g. 0c2e:0b61 ('posd devices' lists them)", s)
	}
	return uint16(a), uint16(b), nil
}

// port finds the port to open: the configured name, or the USB device's.
func (s *SerialSource) port() (string, error) {
	if s.cfg.Port != "" {
		return s.cfg.Port, nil
	}
	vid, pid, _ := ParseUSB(s.cfg.USB)
	ports, err := enumerator.GetDetailedPortsList()
	if err != nil {
		return "", fmt.Errorf("listing serial ports: %w", err)
	}
	for _, p := range ports {
		pv, _ := strconv.ParseUint(p.VID, 16, 16)
		pp, _ := strconv.ParseUint(p.PID, 16, 16)
		if p.IsUSB && uint16(pv) == vid && uint16(pp) == pid && (s.cfg.Serial == "" || p.SerialNumber == s.cfg.Serial) {
			return p.Name, nil
		}
	}
	return "", fmt.Errorf("no serial port for USB device %s is connected", s.cfg.USB)
}

// tick is how often a quiet port is checked for an ended or stale code.
const tick = 20 * time.Millisecond

// Run reads the port until it fails or ctx ends.
func (s *SerialSource) Run(ctx context.Context, connected func(string), emit func(string)) error {
	name, err := s.port()
	if err != nil {
		return err
	}
	p, err := serial.Open(name, &s.mode)
	if err != nil {
		return fmt.Errorf("opening %s: %w", name, err)
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
		case <-done:
		}
		p.Close() // unblocks Read
	}()
	if err := p.SetReadTimeout(tick); err != nil {
		return fmt.Errorf("configuring %s: %w", name, err)
	}
	connected(fmt.Sprintf("%s %d %d%s%s", name, s.cfg.Baud, s.cfg.DataBits, strings.ToUpper(parityLetter(s.cfg.Parity)), stopBits(s.cfg.StopBits)))
	f := Framer{Suffix: s.cfg.Suffix, Gap: s.cfg.Gap, StripPrefix: s.cfg.StripPrefix, StripSuffix: s.cfg.StripSuffix}
	buf := make([]byte, 512)
	for {
		n, err := p.Read(buf)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading %s: %w", name, err)
		}
		var codes []string
		if n == 0 {
			codes = f.Tick(time.Now())
		} else {
			codes = f.Feed(buf[:n], time.Now())
		}
		for _, c := range codes {
			emit(c)
		}
	}
}

func parityLetter(p string) string {
	if p == "" {
		return "n"
	}
	return p[:1]
}

func stopBits(s string) string {
	if s == "" {
		return "1"
	}
	return s
}
