// Package config reads posd.toml: the daemon's settings with their
// embedded defaults, validated so that a mistake names its key.
package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/tillworks/posd/internal/origin"
)

// Config is posd's configuration. Field tags are the TOML key names.
type Config struct {
	DataDir  string    `toml:"data_dir"`
	TillID   string    `toml:"till_id"`
	LogLevel string    `toml:"log_level"`
	API      API       `toml:"api"`
	Payflow  Payflow   `toml:"payflow"`
	Store    Store     `toml:"store"`
	Printer  Printer   `toml:"printer"`
	Scanners []Scanner `toml:"scanner"`
	// The gateways, each decoded by its own package (Gateways), and the
	// rules that route new payments to them.
	RawGateways map[string]toml.Primitive `toml:"gateways"`
	RawProvider map[string]toml.Primitive `toml:"provider"` // the old form: [provider] name = "T", [provider.T]
	Routing     map[string]string         `toml:"routing"`

	gateways []GatewaySection
	routes   Routes
	oldForm  bool

	// Source is the file the configuration was read from ("" for the
	// embedded defaults): what a reload reads again.
	Source string `toml:"-"`
}

// Scanner is one [[scanner]] table: a serial or USB-HID barcode scanner.
type Scanner struct {
	Name string `toml:"name"` // shown in events and GET /v1/devices; default type:port or type:usb
	Type string `toml:"type"` // serial | hid
	// serial
	Port        string   `toml:"port"` // /dev/ttyACM0, COM3
	USB         string   `toml:"usb"`  // vid:pid in hex; for serial, finds the port; for hid, the device
	Serial      string   `toml:"serial_number"`
	Baud        int      `toml:"baud"`
	DataBits    int      `toml:"data_bits"`
	Parity      string   `toml:"parity"`
	StopBits    string   `toml:"stop_bits"`
	Suffix      string   `toml:"suffix"` // cr | lf | crlf | none
	Gap         Duration `toml:"gap"`
	StripPrefix string   `toml:"strip_prefix"`
	StripSuffix string   `toml:"strip_suffix"`
	// hid
	Interface *int   `toml:"interface"`  // USB interface number, when the scanner has several
	Format    string `toml:"format"`     // auto | keyboard | pos
	HIDLayout string `toml:"hid_layout"` // auto | honeywell | newland: where a HID POS report keeps its data
}

// API configures the local HTTP API for the cash register.
type API struct {
	Listen         string   `toml:"listen"`
	Token          string   `toml:"token"`
	AllowedOrigins []string `toml:"allowed_origins"`
	AllowRemote    bool     `toml:"allow_remote"`
}

// Payflow holds the payment engine's timing rules.
type Payflow struct {
	PollInterval        Duration `toml:"poll_interval"`
	PayTimeout          Duration `toml:"pay_timeout"`
	CancelRetryInterval Duration `toml:"cancel_retry_interval"`
	CancelAttempts      int      `toml:"cancel_attempts"`
	ScanTimeout         Duration `toml:"scan_timeout"`
	RefundAttempts      int      `toml:"refund_attempts"`
	// GatewayConcurrency and GatewayRate bound the calls that the work
	// resumed at start makes to each gateway (at most this many at once,
	// this many a second), so that a restart with thousands of payments in
	// doubt does not overload it.
	GatewayConcurrency int     `toml:"gateway_concurrency"`
	GatewayRate        float64 `toml:"gateway_rate"`
}

// Store configures the journal.
type Store struct {
	RetentionDays int `toml:"retention_days"`
}

// Printer configures the receipt printer.
type Printer struct {
	Type     string `toml:"type"`    // file | tcp | serial | usb
	Address  string `toml:"address"` // tcp: host[:9100]; serial: the port; usb: the device (/dev/usb/lp0)
	Baud     int    `toml:"baud"`    // serial
	Dir      string `toml:"dir"`     // file: where receipts go; empty: <data_dir>/receipts
	WidthMM  int    `toml:"width_mm"`
	Encoding string `toml:"encoding"`  // gbk | gb18030 | cp437 (cp936: gbk)
	Profile  string `toml:"profile"`   // what the printer can do: docs/printers.md (default generic)
	QR       string `toml:"qr"`        // native | escz | raster; empty: the profile's
	FourByte bool   `toml:"four_byte"` // gb18030: send four-byte codes (emoji, rare characters); the font must have them
	Drawer   bool   `toml:"drawer"`    // open the cash drawer with each payment receipt
	// PrintQRSlips prints a QR payment's code on a slip for the customer
	// to scan, for tills without a customer display.
	PrintQRSlips bool   `toml:"print_qr_slips"`
	Logo         string `toml:"logo"` // a black-and-white PNG printed at the top
	// LogoInPrinter stores the logo in the printer's NV graphics memory
	// and prints it from there (profiles with NV graphics only).
	LogoInPrinter bool     `toml:"logo_in_printer"`
	StoreName     string   `toml:"store_name"`
	Header        []string `toml:"header"`
	Footer        []string `toml:"footer"`
}

// Duration is a time.Duration written as "5s", "2m".
type Duration struct{ time.Duration }

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration (write it like \"5s\" or \"2m\")", string(b))
	}
	d.Duration = v
	return nil
}

// MarshalText writes the duration back in Go syntax.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// Default returns the embedded defaults: the demo gateway, the API on
// 127.0.0.1:8421, receipts as files, data in the user's state directory.
func Default() *Config {
	return &Config{
		DataDir:  DefaultDataDir(false),
		TillID:   "till-01",
		LogLevel: "info",
		API:      API{Listen: "127.0.0.1:8421"},
		Payflow: Payflow{
			PollInterval:        Duration{5 * time.Second},
			PayTimeout:          Duration{45 * time.Second},
			CancelRetryInterval: Duration{5 * time.Second},
			CancelAttempts:      5,
			ScanTimeout:         Duration{120 * time.Second},
			RefundAttempts:      20,
			GatewayConcurrency:  8,
			GatewayRate:         50,
		},
		Store:   Store{RetentionDays: 400},
		Printer: Printer{Type: "file", WidthMM: 80, Encoding: "gbk", StoreName: "posd demo store"},
	}
}

// DefaultDataDir is where posd keeps its journal when no data_dir is set:
// $XDG_STATE_HOME/posd (~/.local/state/posd) for a user, %ProgramData%\posd
// for the Windows service, %LocalAppData%\posd for a Windows user.
func DefaultDataDir(service bool) string {
	if runtime.GOOS == "windows" {
		if service {
			if d := os.Getenv("ProgramData"); d != "" {
				return filepath.Join(d, "posd")
			}
			return `C:\ProgramData\posd`
		}
		if d := os.Getenv("LocalAppData"); d != "" {
			return filepath.Join(d, "posd")
		}
	}
	if service {
		return "/var/lib/posd"
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "posd")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "state", "posd")
	}
	return "posd-data"
}

// Error is a configuration mistake, naming the file and key.
type Error struct {
	File string
	Key  string
	Msg  string
}

func (e *Error) Error() string {
	where := e.File
	if e.Key != "" {
		if where != "" {
			where += ": "
		}
		where += e.Key
	}
	if where == "" {
		return e.Msg
	}
	return where + ": " + e.Msg
}

// Load reads the TOML file at path over the defaults and validates the
// result. An empty path means the defaults alone.
func Load(path string) (*Config, error) {
	if path == "" {
		c := Default()
		if err := c.resolveGateways(&toml.MetaData{}); err != nil {
			return nil, err
		}
		return c, c.Validate()
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{File: path, Msg: fmt.Sprintf("cannot read the configuration: %v", err)}
	}
	c, err := Parse(path, b)
	if c != nil {
		c.Source = path
	}
	return c, err
}

// Parse decodes TOML text over the defaults and validates it. name is used
// in error messages.
func Parse(name string, data []byte) (*Config, error) {
	c := Default()
	md, err := toml.Decode(string(data), c)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, &Error{File: name, Key: pe.LastKey, Msg: fmt.Sprintf("line %d: %s", pe.Position.Line, pe.Message)}
		}
		// Type mismatches come as plain errors: `toml: line N (last key "K"): msg`.
		if m := typeErr.FindStringSubmatch(err.Error()); m != nil {
			return nil, &Error{File: name, Key: m[2], Msg: fmt.Sprintf("line %s: %s", m[1], m[3])}
		}
		return nil, &Error{File: name, Msg: err.Error()}
	}
	c.DataDir = expandHome(c.DataDir)
	var und []toml.Key
	for _, k := range md.Undecoded() {
		// Gateway tables are their packages' to decode (GatewaySection).
		if top := k[0]; top != "gateways" && top != "provider" {
			und = append(und, k)
		}
	}
	if len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		return nil, &Error{File: name, Key: keys[0], Msg: fmt.Sprintf("unknown key (unknown: %s); see docs/configuration.md for the keys posd reads", strings.Join(keys, ", "))}
	}
	if err := c.Validate(); err != nil {
		var ce *Error
		if errors.As(err, &ce) {
			ce.File = name
		}
		return nil, err
	}
	if err := c.resolveGateways(&md); err != nil {
		var ce *Error
		if errors.As(err, &ce) {
			ce.File = name
		}
		return nil, err
	}
	for _, g := range c.gateways {
		if g.Type != "demo" && !g.Inactive && !md.IsDefined("till_id") {
			return nil, &Error{File: name, Key: "till_id", Msg: fmt.Sprintf("must be set when a real gateway (%s) is configured: it names this till on receipts and in the gateway's order numbers, and two tills left on the default %q share them; give each till of the shop its own, e.g. till_id = \"till-02\"", g.Type, Default().TillID)}
		}
	}
	return c, nil
}

var typeErr = regexp.MustCompile(`^toml: line (\d+) \(last key "([^"]+)"\): (.*)$`)

// expandHome turns a leading ~ (alone or before a separator) into the
// user's home directory, as the documentation's examples write it.
func expandHome(p string) string {
	if p != "~" && !strings.HasPrefix(p, "~/") && !strings.HasPrefix(p, `~\`) {
		return p
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return p
	}
	return filepath.Join(home, p[1:])
}

// Validate checks every value and names the first key that is wrong.
func (c *Config) Validate() error {
	bad := func(key, format string, a ...any) error { return &Error{Key: key, Msg: fmt.Sprintf(format, a...)} }
	if strings.TrimSpace(c.DataDir) == "" {
		return bad("data_dir", "must not be empty")
	}
	if fi, err := os.Stat(c.DataDir); err == nil && !fi.IsDir() {
		return bad("data_dir", "%s is a file; it must be a directory (or not exist yet)", c.DataDir)
	}
	if c.TillID == "" || len(c.TillID) > 32 || strings.ContainsFunc(c.TillID, func(r rune) bool { return r < 0x21 || r > 0x7e }) {
		return bad("till_id", "must be 1 to 32 printable ASCII characters without spaces, got %q", c.TillID)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return bad("log_level", "must be debug, info, warn or error, got %q", c.LogLevel)
	}
	if err := c.API.validate(); err != nil {
		return err
	}
	for _, d := range []struct {
		key string
		v   Duration
		min time.Duration
	}{
		{"payflow.poll_interval", c.Payflow.PollInterval, 100 * time.Millisecond},
		{"payflow.pay_timeout", c.Payflow.PayTimeout, time.Second},
		{"payflow.cancel_retry_interval", c.Payflow.CancelRetryInterval, 100 * time.Millisecond},
		{"payflow.scan_timeout", c.Payflow.ScanTimeout, time.Second},
	} {
		if d.v.Duration < d.min || d.v.Duration > 24*time.Hour {
			return bad(d.key, "must be between %v and 24h, got %v", d.min, d.v.Duration)
		}
	}
	if c.Payflow.CancelAttempts < 1 || c.Payflow.CancelAttempts > 100 {
		return bad("payflow.cancel_attempts", "must be from 1 to 100, got %d", c.Payflow.CancelAttempts)
	}
	if c.Payflow.RefundAttempts < 1 || c.Payflow.RefundAttempts > 1000 {
		return bad("payflow.refund_attempts", "must be from 1 to 1000, got %d", c.Payflow.RefundAttempts)
	}
	if c.Payflow.GatewayConcurrency < 1 || c.Payflow.GatewayConcurrency > 256 {
		return bad("payflow.gateway_concurrency", "must be from 1 to 256, got %d", c.Payflow.GatewayConcurrency)
	}
	if !(c.Payflow.GatewayRate >= 0.1 && c.Payflow.GatewayRate <= 10000) {
		return bad("payflow.gateway_rate", "must be calls per second from 0.1 to 10000, got %v", c.Payflow.GatewayRate)
	}
	if c.Store.RetentionDays < 1 || c.Store.RetentionDays > 10000 {
		return bad("store.retention_days", "must be from 1 to 10000, got %d", c.Store.RetentionDays)
	}
	names := map[string]bool{}
	for i, sc := range c.Scanners {
		key := fmt.Sprintf("scanner[%d]", i)
		if err := sc.validate(); err != nil {
			return &Error{Key: key, Msg: err.Error()}
		}
		if sc.Name != "" && names[sc.Name] {
			return &Error{Key: key + ".name", Msg: fmt.Sprintf("%q is used by two scanners", sc.Name)}
		}
		names[sc.Name] = true
	}
	switch c.Printer.Type {
	case "file", "usb":
	case "tcp", "serial":
		if c.Printer.Address == "" {
			return bad("printer.address", "type %s needs the printer's address (tcp: 192.168.1.50:9100; serial: /dev/ttyUSB0 or COM4)", c.Printer.Type)
		}
	case "windows":
		return bad("printer.type", "printing through the Windows spooler is not supported yet: use tcp, serial or usb")
	default:
		return bad("printer.type", "%q: use file, tcp, serial or usb", c.Printer.Type)
	}
	if c.Printer.WidthMM != 58 && c.Printer.WidthMM != 80 {
		return bad("printer.width_mm", "must be 58 or 80, got %d", c.Printer.WidthMM)
	}
	switch c.Printer.Encoding {
	case "gb18030", "gbk", "cp936", "cp437":
	default:
		return bad("printer.encoding", "%q: use gbk (every Chinese printer), gb18030 (fonts with four-byte codes) or cp437 (no Chinese)", c.Printer.Encoding)
	}
	return nil
}

func (s *Scanner) validate() error {
	switch s.Type {
	case "serial":
		if s.Port == "" && s.USB == "" {
			return errors.New("type serial needs port (e.g. /dev/ttyACM0, COM3) or usb (vid:pid)")
		}
		if s.Format != "" || s.Interface != nil || s.HIDLayout != "" {
			return errors.New("format, interface and hid_layout are for type hid")
		}
	case "hid":
		if s.USB == "" {
			return errors.New("type hid needs usb = \"vid:pid\" ('posd devices' lists them)")
		}
		if s.Port != "" || s.Baud != 0 || s.Suffix != "" {
			return errors.New("port, baud and suffix are for type serial")
		}
		switch s.HIDLayout {
		case "", "auto", "honeywell", "newland":
		default:
			return fmt.Errorf("hid_layout %q: use auto, honeywell (Honeywell, Access-IS) or newland (Newland, QUIO); docs/scanners.md", s.HIDLayout)
		}
		if s.HIDLayout != "" && s.HIDLayout != "auto" && s.Format == "keyboard" {
			return errors.New("hid_layout is for format pos (HID POS reports), not keyboard")
		}
	default:
		return fmt.Errorf("type %q: use serial or hid", s.Type)
	}
	if s.Gap.Duration < 0 || s.Gap.Duration > 10*time.Second {
		return fmt.Errorf("gap must be between 0 and 10s, got %v", s.Gap.Duration)
	}
	return nil
}

func (a *API) validate() error {
	host, port, err := net.SplitHostPort(a.Listen)
	if err != nil || port == "" {
		return &Error{Key: "api.listen", Msg: fmt.Sprintf("must be host:port like 127.0.0.1:8421, got %q", a.Listen)}
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return &Error{Key: "api.listen", Msg: fmt.Sprintf("port %q must be a number from 0 to 65535", port)}
	}
	if !a.AllowRemote && !IsLoopbackHost(host) {
		return &Error{Key: "api.listen", Msg: fmt.Sprintf("%q is not a loopback address; the API carries payments and must stay on this machine (set api.allow_remote = true only behind a firewall you control)", a.Listen)}
	}
	if a.Token != "" && len(a.Token) < 16 {
		return &Error{Key: "api.token", Msg: "must be at least 16 characters, or empty to generate one"}
	}
	for i, o := range a.AllowedOrigins {
		if _, err := origin.Parse(o); err != nil {
			return &Error{Key: fmt.Sprintf("api.allowed_origins[%d]", i), Msg: err.Error()}
		}
	}
	return nil
}

// IsLoopbackHost reports whether host is this machine (origin.IsLoopbackHost).
func IsLoopbackHost(host string) bool { return origin.IsLoopbackHost(host) }
