package payflow

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"time"
)

// Config holds the engine's timing rules, named as in posd.toml.
type Config struct {
	TillID              string
	PollInterval        time.Duration // between queries while in doubt
	PayTimeout          time.Duration // from the pay request until the engine cancels
	CancelRetryInterval time.Duration
	CancelAttempts      int
	ScanTimeout         time.Duration // an unscanned payment expires after this
	// RefundAttempts bounds how often a refund whose outcome is unknown is
	// sent (or asked about); then it needs attention. Zero: 20.
	RefundAttempts int
	// GatewayConcurrency and GatewayRate bound the calls that the work
	// resumed at start makes to each gateway (limit.go). Zero: 8 and 50/s.
	GatewayConcurrency int
	GatewayRate        float64
}

// DefaultRefundAttempts is Config.RefundAttempts when none is set.
const DefaultRefundAttempts = 20

// Classifier checks a scanned code and names its wallet ("wechat",
// "alipay", ...). It returns an error wrapping ErrInvalidCode for anything
// that cannot be a payment code.
type Classifier func(code string) (channel string, err error)

// Options are the engine's collaborators other than the journal and the
// provider; zero values get sensible defaults.
type Options struct {
	Clock    Clock
	Logger   *slog.Logger
	Classify Classifier
	Bus      *Bus
	// ObserveCall, when set, is told of every gateway call: which
	// gateway, which call (pay, query, cancel, refund, …), how long it took
	// on the wall clock and its error, nil when the gateway answered.
	ObserveCall func(gateway, call string, d time.Duration, err error)
}

// Engine runs payments and refunds through their state machines, one
// goroutine for each live one, journaling every transition first.
type Engine struct {
	cfg      Config
	j        Journal
	gws      Gateways
	watch    gatewayWatch
	clock    Clock
	log      *slog.Logger
	classify Classifier
	bus      *Bus

	mu      sync.Mutex
	drivers map[string]*driver // live payments being driven, by id
	refunds map[string]bool    // refunds being driven, by payment id + "/" + refund id
	waiting string             // the payment awaiting a scan, if any
	codes   map[string]string  // payment codes (or orderToken) by payment id, held in memory until the pay is answered
	// switches are codes scanned for QR payments being closed, by
	// payment id: sent once the QR order is certainly unpaid.
	switches map[string]pendingSwitch
	// writing marks the payments whose journal write is in flight with
	// e.mu released (saveUnlocked); closed when it is done.
	writing map[string]chan struct{}
	// lanes bound the resumed work's calls per gateway; resumed holds the
	// payments resumed at start (by id, with their creation time).
	lanesMu sync.Mutex
	lanes   map[string]*lane
	resumed map[string]time.Time
	// resumeJitter spreads the start of resumed drivers: up to a
	// millisecond per payment resumed, at most a second.
	resumeJitter time.Duration
	// open is each open payment's part of the Summary (summary.go).
	sumMu   sync.Mutex
	open    map[string]openInfo
	seqNext uint64 // next number of the reserved block, up to seqEnd
	seqEnd  uint64
	closed  bool

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	beforePay func() // tests: runs as a driver is about to send a pay
	// onSleep, in tests, is told each wait a driver starts on the clock,
	// once its timer is set: a test can then move the clock on to it.
	onSleep func(time.Duration)
	observe func(gateway, call string, d time.Duration, err error)
}

type driver struct {
	wake    chan struct{} // nudges the goroutine after an abort or scan
	stopPay context.CancelFunc
	// sending is set, under Engine.mu, when the driver has taken the
	// payment code to send the pay: from then on an abort can only ask
	// for the pay's answer to be cancelled.
	sending bool
	// unanswered counts the queries in a row that got no answer from the
	// gateway (an error, a time-out): while it is not zero, a payment past
	// its deadline is asked about again instead of cancelled.
	unanswered int
	// answered: the last query got the gateway's answer. A payment past
	// its deadline is cancelled only then.
	answered bool
}

// NewEngine returns an engine over the gateways gws (see Gateways.Validate);
// Start resumes journaled work and opens it for new payments.
func NewEngine(cfg Config, j Journal, gws Gateways, opt Options) *Engine {
	if opt.Clock == nil {
		opt.Clock = SystemClock{}
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Classify == nil {
		opt.Classify = func(string) (string, error) { return "", nil }
	}
	if opt.Bus == nil {
		opt.Bus = &Bus{}
	}
	if cfg.CancelAttempts < 1 {
		cfg.CancelAttempts = 1
	}
	if cfg.RefundAttempts < 1 {
		cfg.RefundAttempts = DefaultRefundAttempts
	}
	return &Engine{
		cfg: cfg, j: j, gws: gws,
		clock: opt.Clock, log: opt.Logger, classify: opt.Classify, bus: opt.Bus, observe: opt.ObserveCall,
		drivers:  make(map[string]*driver),
		refunds:  make(map[string]bool),
		codes:    make(map[string]string),
		switches: make(map[string]pendingSwitch),
		writing:  make(map[string]chan struct{}),
		lanes:    make(map[string]*lane),
		resumed:  make(map[string]time.Time),
		open:     make(map[string]openInfo),
	}
}

// Bus returns the engine's event bus.
func (e *Engine) Bus() *Bus { return e.bus }

// Start recovers every journaled payment and refund that might still be
// open at the gateway and resumes it: paying and in_doubt are queried first,
// cancelling is cancelled again, refunds are re-sent with their number, and
// an awaiting_scan payment past scan_timeout expires.
func (e *Engine) Start(ctx context.Context) error {
	e.ctx, e.cancel = context.WithCancel(ctx)
	if n, err := e.j.AssignGateway(e.gws.Default, account(e.gws.ByName[e.gws.Default]), e.clock.Now()); err != nil {
		return fmt.Errorf("payflow: assigning a gateway to payments from before gateways were recorded: %w", err)
	} else if n > 0 {
		e.log.Warn("payments journaled before posd recorded gateways were assigned to the default gateway", "count", n, "gateway", e.gws.Default)
	}
	open, err := e.j.Open()
	if err != nil {
		return fmt.Errorf("payflow: reading open payments from the journal: %w", err)
	}
	// Oldest first: their calls go through each gateway's lane in that
	// order (limit.go).
	slices.SortStableFunc(open, func(a, b *Payment) int { return a.CreatedAt.Compare(b.CreatedAt) })
	e.lanesMu.Lock()
	for _, p := range open {
		if p.Live() {
			e.resumed[p.ID] = p.CreatedAt
		}
	}
	e.resumeJitter = min(time.Second, time.Duration(len(e.resumed))*time.Millisecond)
	e.lanesMu.Unlock()
	for _, p := range open {
		e.noteOpen(p)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, p := range open {
		if !p.Live() {
			continue
		}
		e.log.Info("recovering payment", "payment", p.ID, "state", p.State, "order_no", p.GatewayOrderNo)
		if p.State == StateAwaitingScan {
			if e.waiting != "" || e.clock.Now().Sub(p.CreatedAt) >= e.cfg.ScanTimeout {
				if _, err := e.stepLocked(p.ID, TrigExpire, Input{}); err != nil {
					return err
				}
				continue
			}
			e.waiting = p.ID
		}
		if !p.State.Terminal() {
			e.startDriverLocked(p.ID, true)
		}
		for _, r := range p.Refunds {
			if !r.State.Terminal() {
				e.startRefundLocked(p.ID, r.ID, true)
			}
		}
	}
	return nil
}

// Close stops the drivers and waits for them: a journal write in flight
// completes, requests in flight are abandoned, and whatever is left open is
// resumed by the next Start.
func (e *Engine) Close() {
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
	if e.cancel != nil {
		e.cancel()
	}
	e.wg.Wait()
}

// NewPayment is what the cash register asks for.
type NewPayment struct {
	OrderID  string
	Amount   int64
	Currency string
	Subject  string
	Operator string
	AuthCode string // empty: wait for a scan
	Items    []Item // optional, printed on the receipt
}

// maxItems bounds the item lines of one payment.
const maxItems = 200

// MaxAmount is the largest amount posd accepts, in fen (99,999,999.99 yuan):
// ten digits, as the gateways' amount fields allow.
const MaxAmount = 9999999999

// Validate checks a new payment's fields and fills defaults.
func (n *NewPayment) Validate() error {
	n.OrderID = strings.TrimSpace(n.OrderID)
	switch {
	case n.OrderID == "":
		return fmt.Errorf("%w: order_id is required", ErrInvalid)
	case len(n.OrderID) > 64:
		return fmt.Errorf("%w: order_id is longer than 64 bytes", ErrInvalid)
	case n.Amount < 1 || n.Amount > MaxAmount:
		return fmt.Errorf("%w: amount must be an integer number of fen from 1 to %d, got %d", ErrInvalid, int64(MaxAmount), n.Amount)
	case len(n.Subject) > 128:
		return fmt.Errorf("%w: subject is longer than 128 bytes", ErrInvalid)
	case len(n.Operator) > 64:
		return fmt.Errorf("%w: operator is longer than 64 bytes", ErrInvalid)
	case len(n.Items) > maxItems:
		return fmt.Errorf("%w: %d items; at most %d", ErrInvalid, len(n.Items), maxItems)
	}
	for i, it := range n.Items {
		switch {
		case strings.TrimSpace(it.Name) == "" || len(it.Name) > 64:
			return fmt.Errorf("%w: items[%d].name must be 1 to 64 bytes", ErrInvalid, i)
		case it.Quantity < 1 || it.Quantity > 99999:
			return fmt.Errorf("%w: items[%d].quantity must be from 1 to 99999, got %d", ErrInvalid, i, it.Quantity)
		case it.Amount < 0 || it.Amount > MaxAmount:
			return fmt.Errorf("%w: items[%d].amount must be fen from 0 to %d, got %d", ErrInvalid, i, int64(MaxAmount), it.Amount)
		}
	}
	if n.Currency == "" {
		n.Currency = "CNY"
	}
	if n.Currency != "CNY" {
		return fmt.Errorf("%w: currency %q is not supported; only CNY", ErrInvalid, n.Currency)
	}
	return nil
}

// CreatePayment journals a new payment. With a code it starts paying at
// once; without, it waits for the next scan. created is false when the
// order id already had a payment for the same amount, which is returned.
func (e *Engine) CreatePayment(n NewPayment) (p *Payment, created bool, err error) {
	if err := n.Validate(); err != nil {
		return nil, false, err
	}
	var channel string
	if n.AuthCode != "" {
		if channel, err = e.classify(n.AuthCode); err != nil {
			return nil, false, err
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed || e.ctx == nil {
		return nil, false, ErrClosed
	}
	if old, err := e.j.ByOrder(n.OrderID); err == nil {
		return e.existingLocked(old, n, channel)
	} else if !errors.Is(err, ErrNotFound) {
		return nil, false, err
	}
	if n.AuthCode == "" && e.waiting != "" {
		return nil, false, fmt.Errorf("%w: payment %s; scan, cancel or wait for it first", ErrScannerBusy, e.waiting)
	}
	orderNo, err := e.newNumber(false)
	if err != nil {
		return nil, false, err
	}
	now := e.clock.Now()
	p = &Payment{
		ID: newID(), OrderID: n.OrderID, Amount: n.Amount, Currency: n.Currency,
		Subject: n.Subject, Operator: n.Operator, TillID: e.cfg.TillID, Items: n.Items,
		State: StateAwaitingScan, Channel: "unknown", GatewayOrderNo: orderNo,
		CreatedAt: now, UpdatedAt: now,
		History: []HistoryEntry{{At: now, State: StateAwaitingScan, Trigger: "create"}},
	}
	if n.AuthCode != "" {
		if err := Step(p, TrigScan, e.scanInput(now, n.AuthCode, channel)); err != nil {
			return nil, false, err
		}
	}
	// The scanner is reserved for it while it is written, with e.mu
	// released so that other payments' writes share the commit.
	if p.State == StateAwaitingScan {
		e.waiting = p.ID
	}
	if err := e.createUnlocked(p); err != nil {
		if e.waiting == p.ID {
			e.waiting = ""
		}
		if errors.Is(err, ErrOrderExists) {
			// Another request for the order was written meanwhile.
			if old, gerr := e.j.ByOrder(n.OrderID); gerr == nil {
				return e.existingLocked(old, n, channel)
			}
		}
		return nil, false, fmt.Errorf("payflow: journaling payment for order %s: %w", n.OrderID, err)
	}
	e.log.Info("payment created", "payment", p.ID, "order", p.OrderID, "amount", p.Amount, "state", p.State, "code", p.AuthCodeMasked)
	if p.State != StateAwaitingScan {
		e.codes[p.ID] = n.AuthCode
	}
	e.startDriverLocked(p.ID, false)
	e.publish(p)
	return p.Clone(), true, nil
}

// Scan hands a scanned code to the payment awaiting one. source names the
// scanner (or "api").
func (e *Engine) Scan(code, source string) (*Payment, error) {
	channel, cerr := e.classify(code)
	ev := &ScanEvent{CodeMasked: MaskCode(code), Channel: channel, Source: source}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed || e.ctx == nil {
		return nil, ErrClosed
	}
	if cerr != nil {
		ev.Reason = cerr.Error()
		e.bus.Publish(Event{Type: EventScan, At: e.clock.Now(), Scan: ev})
		return nil, cerr
	}
	if e.waiting == "" {
		// Nothing waits for a scan: perhaps a QR code on show. What is
		// noted in memory first catches up with the writes in flight.
		e.awaitWritesLocked()
		if e.closed {
			return nil, ErrClosed
		}
	}
	if e.waiting == "" {
		if q := e.shownQRLocked(); q != nil {
			// The customer shows a code after all, while the till shows its
			// own: the one QR payment on show is paid with the code instead.
			p, err := e.switchLocked(q, code, channel)
			if err != nil {
				ev.Reason = err.Error()
				e.bus.Publish(Event{Type: EventScan, At: e.clock.Now(), Scan: ev})
				return nil, err
			}
			ev.Accepted, ev.PaymentID = true, q.ID
			e.bus.Publish(Event{Type: EventScan, At: e.clock.Now(), Scan: ev})
			e.log.Info("code scanned for a QR payment on show; switching to it", "payment", q.ID, "code", ev.CodeMasked, "channel", channel, "source", source)
			return p, nil
		}
		ev.Reason = ErrNoPaymentWaiting.Error()
		e.bus.Publish(Event{Type: EventScan, At: e.clock.Now(), Scan: ev})
		return nil, ErrNoPaymentWaiting
	}
	id := e.waiting
	p, err := e.stepLocked(id, TrigScan, e.scanInput(time.Time{}, code, channel))
	if err != nil {
		return nil, err
	}
	ev.Accepted, ev.PaymentID = true, id
	e.bus.Publish(Event{Type: EventScan, At: e.clock.Now(), Scan: ev})
	e.log.Info("code scanned", "payment", id, "code", ev.CodeMasked, "channel", channel, "source", source)
	return p, nil
}

// Abort is the cashier's cancel. A payment awaiting a scan is cancelled at
// once; one in flight or in doubt is cancelled at the gateway; one that
// needs attention gets a fresh round of cancel attempts.
func (e *Engine) Abort(id string) (*Payment, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.awaitWriteLocked(id) // decide on the payment as journaled, not as being written
	p, err := e.j.Get(id)
	if err != nil {
		return nil, err
	}
	switch p.State {
	case StateAwaitingScan:
		return e.stepLocked(id, TrigAbort, Input{Note: "aborted by the cashier"})
	case StateInDoubt:
		return e.stepLocked(id, TrigAbort, Input{Note: "aborted by the cashier while in doubt"})
	case StateAwaitingCustomer:
		return e.stepLocked(id, TrigAbort, Input{Note: "aborted by the cashier while the QR code was shown; closing the order at the gateway"})
	case StatePaying:
		d := e.drivers[id]
		if e.codes[id] != "" && (d == nil || !d.sending) {
			// The pay has not been handed to the gateway client, and with
			// its code gone (stepLocked forgets it) it never will be.
			return e.stepLocked(id, TrigAbort, Input{Note: "aborted by the cashier before the pay request was sent"})
		}
		if p.AbortRequested {
			return p.Clone(), nil
		}
		p, err := e.stepLocked(id, TrigAbortRequest, Input{Note: "abort requested while the pay request is in flight; cancelled at the gateway once it answers"})
		if err != nil {
			return nil, err
		}
		if d != nil && d.stopPay != nil {
			d.stopPay()
		}
		return p, nil
	case StateNeedsAttention:
		p, err := e.stepLocked(id, TrigRetry, Input{Note: "cancel retried by an operator"})
		if err == nil {
			e.startDriverLocked(id, false)
		}
		return p, err
	case StateCancelling, StateCancelled, StateFailed:
		if _, ok := e.switches[id]; ok {
			// The cashier takes back a switch to a scanned code: the QR
			// order is still closed, and the code is never sent.
			delete(e.switches, id)
			e.log.Info("switch to a scanned code aborted by the cashier; the code will not be sent", "payment", id)
		}
		return p.Clone(), nil
	}
	return p.Clone(), fmt.Errorf("%w: payment %s is %s; refund it instead", ErrNotCancellable, id, p.State)
}

// scanInput is a scan's input: the code, its wallet, and the gateway the
// routing rules choose for that wallet.
func (e *Engine) scanInput(at time.Time, code, channel string) Input {
	name := e.gws.route(channel)
	return Input{At: at, Code: code, Channel: channel, Gateway: name, Account: account(e.gws.ByName[name])}
}

// NewRefund is a refund the cash register asks for.
type NewRefund struct {
	RefundID string
	Amount   int64
	Reason   string
	Operator string
}

// Refund journals and starts a refund of payment id. created is false when
// the refund id was already used for the same amount.
func (e *Engine) Refund(id string, n NewRefund) (p *Payment, r *Refund, created bool, err error) {
	n.RefundID = strings.TrimSpace(n.RefundID)
	switch {
	case n.RefundID == "":
		return nil, nil, false, fmt.Errorf("%w: refund_id is required", ErrInvalid)
	case len(n.RefundID) > 64:
		return nil, nil, false, fmt.Errorf("%w: refund_id is longer than 64 bytes", ErrInvalid)
	case n.Amount < 1 || n.Amount > MaxAmount:
		return nil, nil, false, fmt.Errorf("%w: amount must be an integer number of fen from 1 to %d, got %d", ErrInvalid, int64(MaxAmount), n.Amount)
	case len(n.Reason) > 128:
		return nil, nil, false, fmt.Errorf("%w: reason is longer than 128 bytes", ErrInvalid)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed || e.ctx == nil {
		return nil, nil, false, ErrClosed
	}
	e.awaitWriteLocked(id)
	if p, err = e.j.Get(id); err != nil {
		return nil, nil, false, err
	}
	if old := p.Refund(n.RefundID); old != nil {
		if old.Amount != n.Amount {
			return p, old, false, fmt.Errorf("%w: refund %s was for %d fen, not %d", ErrRefundConflict, n.RefundID, old.Amount, n.Amount)
		}
		return p.Clone(), old, false, nil
	}
	if p.State != StatePaid {
		return p, nil, false, fmt.Errorf("%w: payment %s is %s, only paid payments can be refunded", ErrNotRefundable, id, p.State)
	}
	if _, ok := e.gws.ByName[p.Gateway]; !ok {
		return p, nil, false, fmt.Errorf("%w: payment %s was taken by gateway %q, which is no longer in the configuration; add it back to refund through posd, or refund in that gateway's merchant console", ErrGatewayGone, id, p.Gateway)
	}
	if left := p.Refundable(); n.Amount > left {
		return p, nil, false, fmt.Errorf("%w: %d fen asked, %d fen left of %d paid", ErrRefundTooLarge, n.Amount, left, p.Amount)
	}
	no, err := e.newNumber(true)
	if err != nil {
		return nil, nil, false, err
	}
	now := e.clock.Now()
	r = &Refund{
		ID: n.RefundID, RequestNo: no, Amount: n.Amount, Reason: n.Reason,
		State: RefundRefunding, Attempts: 1, CreatedAt: now, UpdatedAt: now,
		History: []HistoryEntry{{At: now, State: State(RefundRefunding), Trigger: "create", Note: n.Operator}},
	}
	p.Refunds = append(p.Refunds, r)
	p.UpdatedAt = now
	if err := e.j.Save(p); err != nil {
		return nil, nil, false, fmt.Errorf("payflow: journaling refund %s: %w", n.RefundID, err)
	}
	e.log.Info("refund created", "payment", id, "refund", r.ID, "amount", r.Amount, "request_no", r.RequestNo)
	e.startRefundLocked(id, r.ID, false)
	e.publishRefund(p, r)
	c := p.Clone()
	return c, c.Refund(r.ID), true, nil
}

// Get returns a payment by id.
func (e *Engine) Get(id string) (*Payment, error) { return e.j.Get(id) }

// ByOrder returns the payment for a cash-register order id.
func (e *Engine) ByOrder(orderID string) (*Payment, error) { return e.j.ByOrder(orderID) }

// Day returns the payments created on a day (YYYY-MM-DD, local time).
func (e *Engine) Day(day string) ([]*Payment, error) { return e.j.Day(day) }

// RefundDay returns the payments with a refund created on a day.
func (e *Engine) RefundDay(day string) ([]*Payment, error) { return e.j.RefundDay(day) }

// Open returns the payments still live or needing attention.
func (e *Engine) Open() ([]*Payment, error) { return e.j.Open() }

// Wait blocks until payment id is terminal (and its refunds settled) or ctx
// ends, and returns its latest state either way.
func (e *Engine) Wait(ctx context.Context, id string) (*Payment, error) {
	ch, stop := e.bus.Subscribe(64)
	defer stop()
	for {
		p, err := e.j.Get(id)
		if err != nil || !p.Live() {
			return p, err
		}
		select {
		case <-ctx.Done():
			return p, nil
		case <-ch:
		case <-e.clock.After(time.Second): // events may be dropped; look again
		}
	}
}

// Waiting returns the id of the payment awaiting a scan, or "".
func (e *Engine) Waiting() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.waiting
}

// stepLocked loads payment id, applies trigger t, journals the result and
// announces it. Callers hold e.mu.
//
// The engine's lock is released while the step is written to the journal,
// so that other payments' steps share its commit (the store's group
// commit); steps of one payment stay in order (awaitWriteLocked). Callers
// hold e.mu, and find it held again on return, but must not rely on what
// they read before the call.
func (e *Engine) stepLocked(id string, t Trigger, in Input) (*Payment, error) {
	e.awaitWriteLocked(id)
	p, err := e.j.Get(id)
	if err != nil {
		return nil, err
	}
	if in.At.IsZero() {
		in.At = e.clock.Now()
	}
	// Let Step mask the code in whatever the gateway echoes.
	if p.AuthCode = e.codes[id]; p.AuthCode == "" {
		p.AuthCode = in.Code
	}
	if err := Step(p, t, in); err != nil {
		return nil, err
	}
	if p.AuthCode == orderToken {
		p.AuthCode = "" // a mini-program order has no code to mask
	}
	if p.State == StatePaying && (t == TrigScan || t == TrigReroute || t == TrigSwitched) {
		if in.Code != "" {
			e.codes[id] = in.Code
		}
	} else {
		delete(e.codes, id) // a pay is sent once; nothing needs the code after its answer
	}
	clearedWaiting := false
	if p.State != StateAwaitingScan && e.waiting == id {
		e.waiting, clearedWaiting = "", true // no scan goes to it from now
	}
	err = e.saveUnlocked(p)
	if err != nil {
		if clearedWaiting && e.waiting == "" {
			e.waiting = id // still awaiting its scan in the journal
		}
		return nil, fmt.Errorf("payflow: journaling %s of payment %s: %w", t, id, err)
	}
	if t == TrigSwitched || p.State.Terminal() {
		delete(e.switches, id) // sent now, or never
	}
	if !p.Live() {
		e.forgetResumed(id)
	}
	if d := e.drivers[id]; d != nil {
		select {
		case d.wake <- struct{}{}:
		default:
		}
	}
	lvl := slog.LevelInfo
	if p.State == StateNeedsAttention {
		lvl = slog.LevelError
	}
	e.log.Log(context.Background(), lvl, "payment "+string(p.State), "payment", id, "trigger", t, "gateway_code", p.Scrub(in.Outcome.Code))
	e.publish(p)
	return p.Clone(), nil
}

// existingLocked answers a new payment for an order that has one: the
// same payment again, a QR payment switched to the code, or a conflict.
func (e *Engine) existingLocked(old *Payment, n NewPayment, channel string) (*Payment, bool, error) {
	if old.Amount != n.Amount || old.Currency != n.Currency {
		return old, false, fmt.Errorf("%w: order %s was created for %d fen, not %d", ErrOrderConflict, n.OrderID, old.Amount, n.Amount)
	}
	if old.Method == MethodQR && n.AuthCode != "" {
		p, err := e.switchLocked(old, n.AuthCode, channel)
		return p, false, err
	}
	if old.Method != "" {
		return old, false, fmt.Errorf("%w: order %s is a %s payment (%s); it cannot also be paid with a code: cancel it and use a new order id", ErrOrderConflict, n.OrderID, old.Method, old.State)
	}
	return old, false, nil
}

// createUnlocked journals new payment p with e.mu released, marked in
// flight like saveUnlocked: a scan or an abort for it waits until it is
// written.
func (e *Engine) createUnlocked(p *Payment) error {
	done := make(chan struct{})
	e.writing[p.ID] = done
	e.mu.Unlock()
	_, err := e.j.Create(p)
	e.mu.Lock()
	delete(e.writing, p.ID)
	close(done)
	return err
}

// awaitWriteLocked waits, releasing e.mu meanwhile, until no write of
// payment id is in flight: whoever reads it next reads it durable and
// whole, never a state an earlier step is still writing.
func (e *Engine) awaitWriteLocked(id string) {
	for {
		done, busy := e.writing[id]
		if !busy {
			return
		}
		e.mu.Unlock()
		<-done
		e.mu.Lock()
	}
}

// awaitWritesLocked waits, releasing e.mu meanwhile, until the writes in
// flight when it was called are done, and so noted in memory (e.open,
// e.waiting): the writer holds e.mu again from its write's end to then.
func (e *Engine) awaitWritesLocked() {
	var inFlight []chan struct{}
	for _, done := range e.writing {
		inFlight = append(inFlight, done)
	}
	if len(inFlight) == 0 {
		return
	}
	e.mu.Unlock()
	for _, done := range inFlight {
		<-done
	}
	e.mu.Lock()
}

// saveUnlocked journals p with e.mu released (the caller holds it, and
// holds it again on return), marking the write in flight for
// awaitWriteLocked.
func (e *Engine) saveUnlocked(p *Payment) error {
	done := make(chan struct{})
	e.writing[p.ID] = done
	e.mu.Unlock()
	err := e.j.Save(p)
	e.mu.Lock()
	delete(e.writing, p.ID)
	close(done)
	return err
}

// code returns the payment code held for payment id, if any.
func (e *Engine) code(id string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.codes[id]
}

// step is stepLocked for the drivers.
func (e *Engine) step(id string, t Trigger, in Input) (*Payment, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.stepLocked(id, t, in)
}

func (e *Engine) publish(p *Payment) {
	e.noteOpen(p)
	e.bus.Publish(Event{Type: EventPayment, At: p.UpdatedAt, Payment: p.Clone()})
}

func (e *Engine) publishRefund(p *Payment, r *Refund) {
	e.noteOpen(p)
	c := p.Clone()
	e.bus.Publish(Event{Type: EventRefund, At: r.UpdatedAt, Payment: c, Refund: c.Refund(r.ID)})
}

// newNumber makes a gateway order number (26 digits: the local date, six
// digits from the till id, eight from the journal's sequence and six
// random ones) or refund number (20 digits, the most Shouqianba takes: the
// date, six of the sequence and eight random). The sequence keeps numbers
// readable and ordered in a merchant console; the random part keeps them
// unique when the sequence cannot be trusted: a journal restored from a
// backup or lost, bbolt falling back to its older meta page, two tills
// with the same till_id. A repeated number would let the gateway answer
// about an earlier customer's order. Callers hold e.mu.
func (e *Engine) newNumber(refund bool) (string, error) {
	if e.seqNext == e.seqEnd {
		first, err := e.j.ReserveSeq(seqBlock)
		if err != nil {
			return "", fmt.Errorf("payflow: numbering: %w", err)
		}
		e.seqNext, e.seqEnd = first, first+seqBlock
	}
	seq := e.seqNext
	e.seqNext++
	date := e.clock.Now().Format("060102")
	if refund {
		return fmt.Sprintf("%s%06d%s", date, seq%1000000, randomDigits(8)), nil
	}
	h := fnv.New32a()
	h.Write([]byte(e.cfg.TillID))
	return fmt.Sprintf("%s%06d%08d%s", date, h.Sum32()%1000000, seq%100000000, randomDigits(6)), nil
}

// randomDigits returns n (at most 18) decimal digits from crypto/rand.
func randomDigits(n int) string {
	limit := uint64(1)
	for range n {
		limit *= 10
	}
	var b [8]byte
	for {
		rand.Read(b[:])
		v := binary.BigEndian.Uint64(b[:])
		if v < math.MaxUint64-math.MaxUint64%limit { // no modulo bias
			return fmt.Sprintf("%0*d", n, v%limit)
		}
	}
}

// seqBlock is how many numbers the engine reserves in one journal write;
// a restart skips what is left of a block.
const seqBlock = 100

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

func newID() string {
	var b [10]byte
	rand.Read(b[:])
	return "pay_" + idEncoding.EncodeToString(b[:])
}
