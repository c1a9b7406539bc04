package scanner_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillworks/posd/events"
	"github.com/tillworks/posd/internal/ptytest"
	"github.com/tillworks/posd/scanner"
)

func bytewise(s string) []string {
	out := make([]string, len(s))
	for i := range s {
		out[i] = s[i : i+1]
	}
	return out
}

// collector gathers what a manager hands on.
type collector struct {
	mu     sync.Mutex
	codes  []string
	states []events.DeviceStatus
}

func (c *collector) scan(code, device string) {
	c.mu.Lock()
	c.codes = append(c.codes, code)
	c.mu.Unlock()
}
func (c *collector) state(s events.DeviceStatus) {
	c.mu.Lock()
	c.states = append(c.states, s)
	c.mu.Unlock()
}

func (c *collector) got() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.codes...)
}

func (c *collector) lastState() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.states) == 0 {
		return ""
	}
	return c.states[len(c.states)-1].State
}

func runManager(t *testing.T, cfg scanner.SerialConfig) (*collector, *scanner.Manager) {
	t.Helper()
	src, err := scanner.NewSerial(cfg)
	require.NoError(t, err)
	c := &collector{}
	m := scanner.NewManager([]scanner.Source{src}, c.scan, c.state, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	require.Eventually(t, func() bool { return c.lastState() == scanner.StateConnected }, 5*time.Second, 5*time.Millisecond)
	return c, m
}

const (
	wechatCode = "134567890123456789"
	alipayCode = "284567890123456789"
)

func TestSerialSuffixStyles(t *testing.T) {
	tests := []struct {
		name   string
		cfg    scanner.SerialConfig
		writes func(p *ptytest.Pair)
		want   []string
	}{
		{"CR at realistic speed", scanner.SerialConfig{Suffix: scanner.SuffixCR},
			func(p *ptytest.Pair) { p.Write(0, wechatCode+"\r") }, []string{wechatCode}},
		{"LF", scanner.SerialConfig{Suffix: scanner.SuffixLF},
			func(p *ptytest.Pair) { p.Write(0, wechatCode+"\n") }, []string{wechatCode}},
		{"CRLF, byte by byte with pauses", scanner.SerialConfig{Suffix: scanner.SuffixCRLF, Gap: 2 * time.Second},
			func(p *ptytest.Pair) { p.Write(3*time.Millisecond, bytewise(wechatCode+"\r\n")...) }, []string{wechatCode}},
		{"none: the gap ends each code", scanner.SerialConfig{Suffix: scanner.SuffixNone, Gap: 300 * time.Millisecond},
			func(p *ptytest.Pair) {
				p.Write(2*time.Millisecond, bytewise(wechatCode)...)
				time.Sleep(800 * time.Millisecond)
				p.Write(0, alipayCode)
			}, []string{wechatCode, alipayCode}},
		{"noise and a partial code", scanner.SerialConfig{Suffix: scanner.SuffixCR, Gap: 300 * time.Millisecond},
			func(p *ptytest.Pair) {
				p.Write(0, "\x00\x1b[A\xff\r")         // line noise: comes out as a frame the engine rejects
				p.Write(800*time.Millisecond, "13456") // the scanner stopped mid-code
				p.Write(0, alipayCode+"\r")
			}, []string{"\x00\x1b[A\xff", alipayCode}},
		{"prefix and suffix stripped, two codes in one write", scanner.SerialConfig{Suffix: scanner.SuffixCR, StripPrefix: "]Q1"},
			func(p *ptytest.Pair) { p.Write(0, "]Q1"+wechatCode+"\r]Q1"+alipayCode+"\r") }, []string{wechatCode, alipayCode}},
		{"the same code twice at once is one scan", scanner.SerialConfig{Suffix: scanner.SuffixCR},
			func(p *ptytest.Pair) { p.Write(0, wechatCode+"\r"+wechatCode+"\r") }, []string{wechatCode}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := ptytest.New(t)
			cfg := tc.cfg
			cfg.Port = p.Scanner
			cfg.Name = "test"
			c, _ := runManager(t, cfg)
			tc.writes(p)
			require.Eventually(t, func() bool { return len(c.got()) >= len(tc.want) }, 5*time.Second, 5*time.Millisecond, "got %q", c.got())
			time.Sleep(100 * time.Millisecond) // nothing more may come
			assert.Equal(t, tc.want, c.got())
		})
	}
}

// TestSerialUnplugReplug: the port disappears and comes back; the manager
// reports both and reads again within two seconds.
func TestSerialUnplugReplug(t *testing.T) {
	p := ptytest.New(t)
	c, m := runManager(t, scanner.SerialConfig{Name: "front", Port: p.Scanner})
	p.Write(0, wechatCode+"\r")
	require.Eventually(t, func() bool { return len(c.got()) == 1 }, 5*time.Second, 5*time.Millisecond)

	p.Unplug()
	require.Eventually(t, func() bool { return c.lastState() == scanner.StateDisconnected }, 5*time.Second, 5*time.Millisecond)
	devs := m.Devices()
	require.Len(t, devs, 1)
	assert.Equal(t, scanner.StateDisconnected, devs[0].State)
	assert.NotEmpty(t, devs[0].Detail)

	p.Plug()
	back := time.Now()
	require.Eventually(t, func() bool { return c.lastState() == scanner.StateConnected }, 5*time.Second, 5*time.Millisecond)
	assert.Less(t, time.Since(back), 2*time.Second, "back within 2 s of the device reappearing")
	p.Write(0, alipayCode+"\r")
	require.Eventually(t, func() bool { return len(c.got()) == 2 }, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, []string{wechatCode, alipayCode}, c.got())
	devs = m.Devices()
	assert.Equal(t, 2, devs[0].Scans)
}

func TestSerialConfig(t *testing.T) {
	for _, cfg := range []scanner.SerialConfig{
		{},
		{Port: "/dev/x", Baud: 7},
		{Port: "/dev/x", Parity: "sometimes"},
		{Port: "/dev/x", StopBits: "3"},
		{Port: "/dev/x", DataBits: 9},
		{Port: "/dev/x", Suffix: "tab"},
		{USB: "zz:1"},
	} {
		_, err := scanner.NewSerial(cfg)
		assert.Error(t, err, "%+v", cfg)
	}
	s, err := scanner.NewSerial(scanner.SerialConfig{USB: "0C2E:0b61"})
	require.NoError(t, err)
	assert.Equal(t, "serial", s.Kind())
}

func TestMissingPortIsReported(t *testing.T) {
	src, err := scanner.NewSerial(scanner.SerialConfig{Name: "ghost", Port: filepath.Join(t.TempDir(), "nope")})
	require.NoError(t, err)
	c := &collector{}
	m := scanner.NewManager([]scanner.Source{src}, c.scan, c.state, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go m.Run(ctx)
	require.Eventually(t, func() bool { return c.lastState() == scanner.StateDisconnected }, 5*time.Second, 5*time.Millisecond)
	assert.Contains(t, m.Devices()[0].Detail, "nope")
}

func TestHIDSourceConfig(t *testing.T) {
	_, err := scanner.NewHID(scanner.HIDConfig{USB: "nope"})
	assert.Error(t, err)
	_, err = scanner.NewHID(scanner.HIDConfig{USB: "0c2e:0b61", Format: "morse"})
	assert.Error(t, err)
	s, err := scanner.NewHID(scanner.HIDConfig{USB: "0c2e:0b61", Interface: -1})
	require.NoError(t, err)

	// No such device attached here: reported, retried, never a crash. (Or,
	// without cgo, unsupported for good.)
	c := &collector{}
	m := scanner.NewManager([]scanner.Source{s}, c.scan, c.state, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go m.Run(ctx)
	require.Eventually(t, func() bool {
		st := c.lastState()
		return st == scanner.StateDisconnected || st == scanner.StateUnsupported
	}, 5*time.Second, 5*time.Millisecond)
	if !scanner.HIDAvailable() {
		assert.Equal(t, scanner.StateUnsupported, c.lastState())
	}
}
