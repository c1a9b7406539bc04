package payflow_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tillworks/posd/internal/fakeclock"
	"github.com/tillworks/posd/paycode"
	"github.com/tillworks/posd/payflow"
	"github.com/tillworks/posd/store"
)

// fakeClock is a Clock whose time moves only when the test says.
type fakeClock = fakeclock.Clock

func newFakeClock() *fakeClock {
	return fakeclock.New(time.Date(2026, 11, 21, 10, 0, 0, 0, time.Local))
}

// fakeGateway is a scripted Provider. Each call's answer comes from the
// matching function, given how many times that call has been made.
type fakeGateway struct {
	mu     sync.Mutex
	pay    func(r payflow.PayRequest) (payflow.Outcome, error)
	query  func(n int) (payflow.Outcome, error)
	cancel func(n int) (payflow.Outcome, error)
	refund func(r payflow.RefundRequest, n int) (payflow.Outcome, error)
	// queryRefund, when set, makes the gateway a payflow.RefundQuerier.
	queryRefund func(r payflow.RefundRequest, n int) (payflow.Outcome, error)
	// miniOrder, when set, makes the gateway a payflow.MiniProgramOrderer.
	miniOrder func(r payflow.PayRequest, m payflow.MiniProgram) (payflow.Outcome, error)
	// precreate, when set, makes the gateway a payflow.Precreator; close
	// a payflow.Closer too.
	precreate func(r payflow.PayRequest) (string, payflow.Outcome, error)
	close     func(n int) (payflow.Outcome, error)
	lastPay   payflow.PayRequest
	calls     []string
	counts    map[string]int
	refNos    []string
	inflight  atomic.Int32
}

func (g *fakeGateway) record(op string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.counts == nil {
		g.counts = map[string]int{}
	}
	g.counts[op]++
	g.calls = append(g.calls, op)
	return g.counts[op]
}

func (g *fakeGateway) refundNos() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.refNos...)
}

func (g *fakeGateway) count(op string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.counts[op]
}

func (g *fakeGateway) Pay(ctx context.Context, r payflow.PayRequest) (payflow.Outcome, error) {
	g.inflight.Add(1)
	defer g.inflight.Add(-1)
	g.record("pay")
	g.mu.Lock()
	g.lastPay = r
	g.mu.Unlock()
	if g.pay == nil {
		return payflow.Outcome{Kind: payflow.Succeeded, GatewayTradeNo: "T" + r.OrderNo}, nil
	}
	return g.pay(r)
}

func (g *fakeGateway) Query(ctx context.Context, r payflow.OrderRef) (payflow.Outcome, error) {
	g.inflight.Add(1)
	defer g.inflight.Add(-1)
	n := g.record("query")
	if g.query == nil {
		return payflow.Outcome{Kind: payflow.NotFound}, nil
	}
	return g.query(n)
}

func (g *fakeGateway) Cancel(ctx context.Context, r payflow.OrderRef) (payflow.Outcome, error) {
	g.inflight.Add(1)
	defer g.inflight.Add(-1)
	n := g.record("cancel")
	if g.cancel == nil {
		return payflow.Outcome{Kind: payflow.Succeeded}, nil
	}
	return g.cancel(n)
}

func (g *fakeGateway) Refund(ctx context.Context, r payflow.RefundRequest) (payflow.Outcome, error) {
	g.inflight.Add(1)
	defer g.inflight.Add(-1)
	n := g.record("refund")
	g.mu.Lock()
	g.refNos = append(g.refNos, r.RequestNo)
	g.mu.Unlock()
	if g.refund == nil {
		return payflow.Outcome{Kind: payflow.Succeeded}, nil
	}
	return g.refund(r, n)
}

var (
	errLost    = errors.New("read tcp: connection reset by peer")
	errNotSent = fmt.Errorf("%w: dial tcp: connection refused", payflow.ErrNotSent)
)

func answer(k payflow.Kind) func(int) (payflow.Outcome, error) {
	return func(int) (payflow.Outcome, error) { return payflow.Outcome{Kind: k, Code: k.String()}, nil }
}

var testCfg = payflow.Config{
	TillID:              "till-01",
	PollInterval:        5 * time.Second,
	PayTimeout:          45 * time.Second,
	CancelRetryInterval: 5 * time.Second,
	CancelAttempts:      3,
	ScanTimeout:         120 * time.Second,
}

// harness is an engine on a real journal, a fake clock and a fake gateway.
type harness struct {
	sleeps struct { // the drivers' waits, once watchSleeps is on
		mu    sync.Mutex
		seq   int
		until time.Time
	}
	t     *testing.T
	dir   string
	st    *store.Store
	clock *fakeClock
	gw    *fakeGateway
	eng   *payflow.Engine
	j     *flakyJournal
	cfg   payflow.Config
	hook  func(*payflow.Engine) // run on every new engine, before Start
	extra map[string]payflow.Provider
	route func(*payflow.Gateways)
}

// flakyJournal fails writes while failing is set, like a full disk.
type flakyJournal struct {
	payflow.Journal
	failing atomic.Bool
	failed  atomic.Int32
	opens   atomic.Int32 // reads of every open payment
}

func (f *flakyJournal) Open() ([]*payflow.Payment, error) {
	f.opens.Add(1)
	return f.Journal.Open()
}

var errDiskFull = errors.New("write posd.db: no space left on device")

func (f *flakyJournal) Save(p *payflow.Payment) error {
	if f.failing.Load() {
		f.failed.Add(1)
		return errDiskFull
	}
	return f.Journal.Save(p)
}

func (f *flakyJournal) Create(p *payflow.Payment) (*payflow.Payment, error) {
	if f.failing.Load() {
		f.failed.Add(1)
		return nil, errDiskFull
	}
	return f.Journal.Create(p)
}

func newHarness(t *testing.T, gw *fakeGateway) *harness {
	t.Helper()
	h := &harness{t: t, dir: t.TempDir(), clock: newFakeClock(), gw: gw, cfg: testCfg}
	h.start()
	return h
}

func (h *harness) start() {
	h.t.Helper()
	st, err := store.Open(filepath.Join(h.dir, "posd.db"))
	require.NoError(h.t, err)
	h.st = st
	h.j = &flakyJournal{Journal: st}
	h.eng = payflow.NewEngine(h.cfg, h.j, h.gateways(), payflow.Options{Clock: h.clock, Classify: paycode.Classifier})
	if h.hook != nil {
		h.hook(h.eng)
	}
	require.NoError(h.t, h.eng.Start(context.Background()))
	h.t.Cleanup(h.stop)
}

// stop shuts the engine down as a crash would leave it: whatever is open
// stays open in the journal.
func (h *harness) stop() {
	if h.eng != nil {
		h.eng.Close()
		h.st.Close()
		h.eng = nil
	}
}

// gateways are the harness's: the fake under "fake", the default, and
// whatever a test adds to extra.
func (h *harness) gateways() payflow.Gateways {
	g := payflow.One("fake", h.provider())
	for name, p := range h.extra {
		g.ByName[name] = p
	}
	if h.route != nil {
		h.route(&g)
	}
	return g
}

// provider is the fake gateway, with refund look-ups when it has them.
func (h *harness) provider() payflow.Provider {
	if h.gw.queryRefund != nil {
		return refundQuerier{h.gw}
	}
	if h.gw.miniOrder != nil {
		return miniOrderer{h.gw}
	}
	if h.gw.precreate != nil && h.gw.close != nil {
		return qrCloser{qrGateway{h.gw}}
	}
	if h.gw.precreate != nil {
		return qrGateway{h.gw}
	}
	return h.gw
}

type qrGateway struct{ *fakeGateway }

func (g qrGateway) Precreate(ctx context.Context, r payflow.PayRequest) (string, payflow.Outcome, error) {
	g.inflight.Add(1)
	defer g.inflight.Add(-1)
	g.record("precreate")
	return g.precreate(r)
}

type qrCloser struct{ qrGateway }

func (g qrCloser) Close(ctx context.Context, r payflow.OrderRef) (payflow.Outcome, error) {
	g.inflight.Add(1)
	defer g.inflight.Add(-1)
	return g.close(g.record("close"))
}

type miniOrderer struct{ *fakeGateway }

func (g miniOrderer) MiniProgramOrder(ctx context.Context, r payflow.PayRequest, m payflow.MiniProgram) (payflow.Outcome, error) {
	g.inflight.Add(1)
	defer g.inflight.Add(-1)
	g.record("mini_order")
	return g.miniOrder(r, m)
}

type refundQuerier struct{ *fakeGateway }

func (g refundQuerier) QueryRefund(ctx context.Context, r payflow.RefundRequest) (payflow.Outcome, error) {
	g.inflight.Add(1)
	defer g.inflight.Add(-1)
	return g.queryRefund(r, g.record("query_refund"))
}

func (h *harness) restart() {
	h.stop()
	h.start()
}

// until runs the clock forward in half-second steps, never while a
// gateway call is in flight, until payment id satisfies ok; it fails after
// ten seconds of real time.
func (h *harness) until(id string, ok func(*payflow.Payment) bool) *payflow.Payment {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		p, err := h.st.Get(id)
		require.NoError(h.t, err)
		if ok(p) {
			return p
		}
		time.Sleep(time.Millisecond)
		if h.gw.inflight.Load() == 0 {
			h.clock.Advance(500 * time.Millisecond)
		}
	}
	p, _ := h.st.Get(id)
	h.t.Fatalf("payment %s never got there; state %s, history %+v", id, p.State, p.History)
	return nil
}

func (h *harness) untilState(id string, s payflow.State) *payflow.Payment {
	h.t.Helper()
	return h.until(id, func(p *payflow.Payment) bool { return p.State == s })
}

func (h *harness) pay(order string, amount int64, code string) *payflow.Payment {
	h.t.Helper()
	p, created, err := h.eng.CreatePayment(payflow.NewPayment{OrderID: order, Amount: amount, AuthCode: code})
	require.NoError(h.t, err)
	require.True(h.t, created)
	return p
}

func states(p *payflow.Payment) []payflow.State {
	var out []payflow.State
	for _, h := range p.History {
		if len(out) == 0 || out[len(out)-1] != h.State {
			out = append(out, h.State)
		}
	}
	return out
}

const wechat = "134567890123456789"

// openStore opens the harness's journal while its engine is stopped, to
// lay out payments as a crash would leave them.
func (h *harness) openStore() *store.Store {
	h.t.Helper()
	st, err := store.Open(filepath.Join(h.dir, "posd.db"))
	require.NoError(h.t, err)
	return st
}

// openStoreStopped stops the harness's engine and returns its journal,
// open, for a test that runs an engine of its own on it.
func (h *harness) openStoreStopped() *store.Store {
	h.t.Helper()
	h.stop()
	st := h.openStore()
	h.t.Cleanup(func() { st.Close() })
	return st
}

// jumpUntil moves the clock on to the end of each wait the engine's
// driver starts (told by SetOnSleep once its timer is set) until ok holds
// for the payment: hours of polling in a second, each wait exactly as long
// as the engine asked, whatever the machine's load. The harness must have
// been started with sleeps watched (watchSleeps).
func (h *harness) jumpUntil(id string, ok func(*payflow.Payment) bool) *payflow.Payment {
	h.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	last := 0
	for time.Now().Before(deadline) {
		p, err := h.st.Get(id)
		require.NoError(h.t, err)
		if ok(p) {
			return p
		}
		h.sleeps.mu.Lock()
		seq, until := h.sleeps.seq, h.sleeps.until
		h.sleeps.mu.Unlock()
		if seq == last {
			time.Sleep(200 * time.Microsecond)
			continue
		}
		last = seq
		h.clock.Advance(until.Sub(h.clock.Now()))
	}
	p, _ := h.st.Get(id)
	h.t.Fatalf("payment %s never got there; state %s", id, p.State)
	return nil
}

// watchSleeps restarts the engine with its drivers' waits recorded for
// jumpUntil.
func (h *harness) watchSleeps() {
	h.hook = func(e *payflow.Engine) {
		payflow.SetOnSleep(e, func(d time.Duration) {
			h.sleeps.mu.Lock()
			h.sleeps.seq++
			h.sleeps.until = h.clock.Now().Add(d)
			h.sleeps.mu.Unlock()
		})
	}
	h.stop()
	h.start()
}

// entered is when p first entered state (zero if it never did).
func entered(p *payflow.Payment, state payflow.State) time.Time {
	for _, e := range p.History {
		if e.State == state {
			return e.At
		}
	}
	return time.Time{}
}
