package scanner

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/tillworks/posd/events"
)

// Source is one scanner. Run connects to it, calls connected once it
// reads, and calls emit for every code until the device goes away (an
// error) or ctx ends (nil).
type Source interface {
	Name() string
	Kind() string // serial | hid
	Run(ctx context.Context, connected func(detail string), emit func(code string)) error
}

// ErrUnsupported is wrapped by a Source that can never work as configured
// here (HID without cgo, a keyboard-wedge scanner under a Windows
// service): the manager reports it and does not retry.
var ErrUnsupported = errors.New("scanner not usable here")

// Device states reported by the manager.
const (
	StateConnecting   = "connecting"
	StateConnected    = "connected"
	StateDisconnected = "disconnected"
	StateUnsupported  = "unsupported"
)

// DebounceWindow is how long the same code counts as one scan: a scanner
// that reads a phone twice in a row sends it twice.
const DebounceWindow = 1500 * time.Millisecond

// retryInterval is how often an absent device is looked for again, so a
// replugged scanner is back well within two seconds.
const retryInterval = 500 * time.Millisecond

// Manager runs the configured sources, reconnects them when they come
// back, debounces repeated codes and reports device states.
type Manager struct {
	sources []Source
	scan    func(code, device string)
	state   func(events.DeviceStatus)
	log     *slog.Logger
	now     func() time.Time

	mu       sync.Mutex
	status   map[string]*events.DeviceStatus
	lastCode string
	lastAt   time.Time
}

// NewManager returns a manager that hands each (debounced) code to scan
// and each device state change to state; either may be nil.
func NewManager(sources []Source, scan func(code, device string), state func(events.DeviceStatus), log *slog.Logger) *Manager {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Manager{sources: sources, scan: scan, state: state, log: log, now: time.Now, status: map[string]*events.DeviceStatus{}}
	for _, s := range sources {
		m.status[s.Name()] = &events.DeviceStatus{Name: s.Name(), Kind: "scanner", Type: s.Kind(), State: StateConnecting, Since: m.now()}
	}
	return m
}

// Run runs every source until ctx ends.
func (m *Manager) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, s := range m.sources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.runSource(ctx, s)
		}()
	}
	wg.Wait()
}

func (m *Manager) runSource(ctx context.Context, s Source) {
	name := s.Name()
	for ctx.Err() == nil {
		err := s.Run(ctx,
			func(detail string) { m.setState(name, StateConnected, detail) },
			func(code string) { m.emit(name, code) })
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, ErrUnsupported) {
			m.setState(name, StateUnsupported, err.Error())
			m.log.Error("scanner cannot be used", "scanner", name, "err", err)
			return
		}
		detail := "device went away"
		if err != nil {
			detail = err.Error()
		}
		m.setState(name, StateDisconnected, detail)
		select {
		case <-ctx.Done():
			return
		case <-time.After(retryInterval):
		}
	}
}

// setState records and announces a state change; repeats of the same
// state and detail (a device still absent) are not announced again.
func (m *Manager) setState(name, state, detail string) {
	m.mu.Lock()
	st := m.status[name]
	if st.State == state && st.Detail == detail {
		m.mu.Unlock()
		return
	}
	st.State, st.Detail, st.Since = state, detail, m.now()
	snapshot := *st
	m.mu.Unlock()
	lvl := slog.LevelInfo
	if state != StateConnected {
		lvl = slog.LevelWarn
	}
	m.log.Log(context.Background(), lvl, "scanner "+state, "scanner", name, "detail", detail)
	if m.state != nil {
		m.state(snapshot)
	}
}

func (m *Manager) emit(name, code string) {
	now := m.now()
	m.mu.Lock()
	if code == m.lastCode && now.Sub(m.lastAt) < DebounceWindow {
		m.lastAt = now
		m.mu.Unlock()
		m.log.Debug("repeated scan ignored", "scanner", name)
		return
	}
	m.lastCode, m.lastAt = code, now
	st := m.status[name]
	st.Scans++
	st.LastScanAt = now
	m.mu.Unlock()
	if m.scan != nil {
		m.scan(code, name)
	}
}

// Devices returns the configured scanners' states, by name.
func (m *Manager) Devices() []events.DeviceStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]events.DeviceStatus, 0, len(m.status))
	for _, st := range m.status {
		out = append(out, *st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
