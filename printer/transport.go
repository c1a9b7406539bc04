package printer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.bug.st/serial"
)

// Transport reaches a printer.
type Transport interface {
	Kind() string   // file | tcp | serial | usb
	Target() string // the address, port, device or directory
	// Open connects for one job; name names the job (the file transport
	// uses it for the file).
	Open(ctx context.Context, name string) (Conn, error)
}

// Conn is one connection to a printer. Close after a successful Write
// means every byte was handed over.
type Conn interface {
	io.Writer
	Close() error
}

// StatusConn is a connection that can ask the printer how it is.
type StatusConn interface {
	Conn
	Status(ctx context.Context) (Status, error)
}

// Status is the printer's real-time status (DLE EOT 1, 2 and 4).
type Status struct {
	Offline      bool `json:"offline"`
	CoverOpen    bool `json:"cover_open"`
	PaperOut     bool `json:"paper_out"`
	PaperNearEnd bool `json:"paper_near_end"`
	Error        bool `json:"error"`
}

// Ready reports whether a receipt can print now (paper near its end still
// prints).
func (s Status) Ready() bool { return !s.Offline && !s.CoverOpen && !s.PaperOut && !s.Error }

// State names the status for device events.
func (s Status) State() string {
	switch {
	case s.CoverOpen:
		return StateCoverOpen
	case s.PaperOut:
		return StatePaperOut
	case s.Error:
		return StateError
	case s.Offline:
		return StateOffline
	case s.PaperNearEnd:
		return StatePaperNearEnd
	}
	return StateReady
}

// statusTimeout bounds the wait for each status byte; a printer that does
// not answer is taken as unable to tell, not as broken.
const statusTimeout = 800 * time.Millisecond

// ErrNoStatus means the printer did not answer a status request.
var ErrNoStatus = errors.New("printer does not answer status requests")

// queryStatus asks DLE EOT 1, 2 and 4 over a two-way connection. read
// reads one byte with a deadline.
func queryStatus(w io.Writer, read func(deadline time.Time) (byte, error)) (Status, error) {
	var st Status
	for _, n := range []byte{1, 2, 4} {
		if _, err := w.Write([]byte{dle, 0x04, n}); err != nil {
			return st, err
		}
		b, err := read(time.Now().Add(statusTimeout))
		if err != nil {
			return st, err
		}
		if b&0x93 != 0x12 { // fixed bits of every status byte: 0xx1 xx10
			return st, fmt.Errorf("printer answered 0x%02x to DLE EOT %d, not a status byte", b, n)
		}
		switch n {
		case 1:
			st.Offline = b&0x08 != 0
		case 2:
			st.CoverOpen = b&0x04 != 0
			st.PaperOut = b&0x20 != 0
			st.Error = b&0x40 != 0
		case 4:
			st.PaperNearEnd = b&0x0C != 0
			st.PaperOut = st.PaperOut || b&0x60 != 0
		}
	}
	return st, nil
}

// NewTransport builds the configured transport.
func NewTransport(kind, target string, baud int) (Transport, error) {
	switch kind {
	case "file":
		return FileTransport{Dir: target}, nil
	case "tcp":
		if _, _, err := net.SplitHostPort(target); err != nil {
			target = net.JoinHostPort(target, "9100")
		}
		return TCPTransport{Address: target}, nil
	case "serial":
		if target == "" {
			return nil, errors.New("printer type serial needs address = the port, e.g. /dev/ttyUSB0 or COM4")
		}
		if baud == 0 {
			baud = 9600
		}
		return SerialTransport{Port: target, Baud: baud}, nil
	case "usb":
		if target == "" {
			target = "/dev/usb/lp0"
		}
		return USBTransport{Device: target}, nil
	case "windows":
		return nil, errors.New("printer type windows (a printer shared through the Windows spooler) is not supported yet: use tcp (port 9100), serial, or the printer's virtual-COM driver")
	}
	return nil, fmt.Errorf("printer type %q: use file, tcp, serial or usb", kind)
}

// FileTransport writes each receipt to files instead of a printer: its
// ESC/POS bytes (.bin) and what they print (.txt), in a directory per day
// (Dir/2026-11-22/payment_<id>.bin) so that no directory grows with the
// years; a day's directory is removed once it is older than RetentionDays.
// A receipt is written in Dir/.spool first and appears whole.
type FileTransport struct {
	Dir     string
	Columns int // of the paper, for the .txt preview; 0 means 48
	// RetentionDays: day directories older than this are removed when a
	// new day begins; 0 keeps them all.
	RetentionDays int
	// Now is the clock for the day directories (default time.Now).
	Now func() time.Time
}

// Kind is "file".
func (t FileTransport) Kind() string { return "file" }

// Target is the directory.
func (t FileTransport) Target() string { return t.Dir }

// Atomic reports that a receipt written to files appears whole or not at
// all (written in the spool, then renamed): it cannot be half printed, so
// the queue journals no "printing" state before it (Wholer).
func (t FileTransport) Atomic() bool { return true }

// Printed reports whether the job's receipt file is there (Witness): in
// the directory of the day the job was made, or of yesterday or today,
// when it was printed.
func (t FileTransport) Printed(name string, created time.Time) bool {
	now := time.Now()
	if t.Now != nil {
		now = t.Now()
	}
	for _, day := range []time.Time{created, now.AddDate(0, 0, -1), now} {
		if _, err := os.Stat(filepath.Join(t.Dir, day.Format(time.DateOnly), safeName(name)+".bin")); err == nil {
			return true
		}
	}
	return false
}

// spoolDir holds the receipts being written.
const spoolDir = ".spool"

// Open starts the job's file.
func (t FileTransport) Open(ctx context.Context, name string) (Conn, error) {
	now := time.Now()
	if t.Now != nil {
		now = t.Now()
	}
	day := filepath.Join(t.Dir, now.Format(time.DateOnly))
	if _, err := os.Stat(day); err != nil {
		// The day's first receipt: its directory, and the old days go.
		if err := os.MkdirAll(day, 0o700); err != nil {
			return nil, fmt.Errorf("printer: receipt directory %s: %w", day, err)
		}
		t.pruneDays(now)
	}
	spool := filepath.Join(t.Dir, spoolDir)
	if err := os.MkdirAll(spool, 0o700); err != nil {
		return nil, fmt.Errorf("printer: receipt directory %s: %w", spool, err)
	}
	// The queue prints one job at a time: a leftover partial file is from
	// an attempt that died, and its job is printed again.
	if stale, _ := filepath.Glob(filepath.Join(spool, "job-*")); len(stale) > 0 {
		for _, f := range stale {
			os.Remove(f)
		}
	}
	f, err := os.CreateTemp(spool, "job-*")
	if err != nil {
		return nil, fmt.Errorf("printer: %w", err)
	}
	cols := t.Columns
	if cols == 0 {
		cols = Paper80.Columns
	}
	return &fileConn{f: f, path: filepath.Join(day, safeName(name)), cols: cols}, nil
}

// pruneDays removes the day directories older than RetentionDays.
func (t FileTransport) pruneDays(now time.Time) {
	if t.RetentionDays <= 0 {
		return
	}
	entries, err := os.ReadDir(t.Dir)
	if err != nil {
		return
	}
	cutoff := now.AddDate(0, 0, -t.RetentionDays).Format(time.DateOnly)
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if _, err := time.Parse(time.DateOnly, e.Name()); err == nil && e.Name() < cutoff {
			os.RemoveAll(filepath.Join(t.Dir, e.Name()))
		}
	}
}

type fileConn struct {
	f    *os.File
	path string
	cols int
	data []byte
}

func (c *fileConn) Write(b []byte) (int, error) {
	c.data = append(c.data, b...)
	return c.f.Write(b)
}

// Close makes the job's file appear whole (fsync, rename), with its text
// preview.
func (c *fileConn) Close() error {
	err := c.f.Sync()
	if cerr := c.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(c.f.Name(), c.path+".bin")
	}
	if err != nil {
		os.Remove(c.f.Name())
		return fmt.Errorf("printer: writing %s (is the disk full?): %w", c.path, err)
	}
	if doc, err := Interpret(c.data); err == nil {
		os.WriteFile(c.path+".txt", []byte(doc.Text(c.cols)), 0o600)
	}
	return nil
}

func safeName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_' || c == '.') {
			b[i] = '_'
		}
	}
	return string(b)
}

// TCPTransport is a network printer (raw port 9100), two-way.
type TCPTransport struct{ Address string }

// Kind is "tcp".
func (t TCPTransport) Kind() string { return "tcp" }

// Target is host:port.
func (t TCPTransport) Target() string { return t.Address }

// Open connects.
func (t TCPTransport) Open(ctx context.Context, name string) (Conn, error) {
	d := net.Dialer{Timeout: 5 * time.Second}
	c, err := d.DialContext(ctx, "tcp", t.Address)
	if err != nil {
		return nil, fmt.Errorf("printer at %s unreachable: %w", t.Address, err)
	}
	return &tcpConn{Conn: c}, nil
}

type tcpConn struct{ net.Conn }

func (c *tcpConn) Write(b []byte) (int, error) {
	c.SetWriteDeadline(time.Now().Add(30 * time.Second))
	return c.Conn.Write(b)
}

func (c *tcpConn) Status(ctx context.Context) (Status, error) {
	return queryStatus(c, func(deadline time.Time) (byte, error) {
		c.SetReadDeadline(deadline)
		var b [1]byte
		_, err := io.ReadFull(c.Conn, b[:])
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return 0, ErrNoStatus
		}
		return b[0], err
	})
}

// SerialTransport is a printer on a serial port, two-way.
type SerialTransport struct {
	Port string
	Baud int
}

// Kind is "serial".
func (t SerialTransport) Kind() string { return "serial" }

// Target is the port.
func (t SerialTransport) Target() string { return t.Port }

// Open opens the port.
func (t SerialTransport) Open(ctx context.Context, name string) (Conn, error) {
	p, err := serial.Open(t.Port, &serial.Mode{BaudRate: t.Baud, DataBits: 8})
	if err != nil {
		return nil, fmt.Errorf("printer port %s: %w", t.Port, err)
	}
	return &serialConn{Port: p}, nil
}

type serialConn struct{ serial.Port }

func (c *serialConn) Close() error {
	c.Port.Drain()
	return c.Port.Close()
}

func (c *serialConn) Status(ctx context.Context) (Status, error) {
	c.ResetInputBuffer()
	return queryStatus(c.Port, func(deadline time.Time) (byte, error) {
		var b [1]byte
		for time.Now().Before(deadline) {
			c.SetReadTimeout(time.Until(deadline))
			n, err := c.Read(b[:])
			if err != nil {
				return 0, err
			}
			if n == 1 {
				return b[0], nil
			}
		}
		return 0, ErrNoStatus
	})
}

// USBTransport is a USB printer-class device (/dev/usb/lp0 on Linux),
// written one way: the usblp driver gives no dependable status.
type USBTransport struct{ Device string }

// Kind is "usb".
func (t USBTransport) Kind() string { return "usb" }

// Target is the device.
func (t USBTransport) Target() string { return t.Device }

// Open opens the device for writing.
func (t USBTransport) Open(ctx context.Context, name string) (Conn, error) {
	f, err := os.OpenFile(t.Device, os.O_WRONLY, 0)
	if err != nil {
		hint := ""
		if strings.HasPrefix(t.Device, "/dev/") {
			hint = "; the service user needs the lp group or the udev rule in docs/printers.md"
		}
		return nil, fmt.Errorf("printer %s: %w%s", t.Device, err, hint)
	}
	return f, nil
}
