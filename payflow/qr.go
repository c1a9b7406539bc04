package payflow

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// QR is what a QR payment (C scans B) carries: the code the till shows,
// once the gateway has placed the order, and when posd gives up on it.
type QR struct {
	Code      string    `json:"qr_code,omitempty"` // the text to encode (usually a URL); empty until the order is placed
	ExpiresAt time.Time `json:"expires_at"`        // posd closes the order at the gateway if it is unpaid then
}

// MethodQR is Payment.Method for a payment the customer makes by scanning
// the till's QR code.
const MethodQR = "qr"

// QR code lifetimes. FuFu revokes an unpaid pre-order after five minutes,
// so no code lives longer; a code shown for less than half a minute
// cannot be scanned in time.
const (
	MinQRWindow     = 30 * time.Second
	MaxQRWindow     = 5 * time.Minute
	DefaultQRWindow = 2 * time.Minute
)

// qrChannels are the wallets a QR payment may name: the routing key, and
// the payway of gateways that make one code per wallet (Shouqianba).
var qrChannels = map[string]bool{"": true, "wechat": true, "alipay": true, "unionpay": true, "ecny": true}

// CreateQRPayment journals a payment the customer pays by scanning a QR
// code the till shows, then has the gateway the routing chooses for
// channel ("" the default gateway) place the order. The code appears on the
// payment (QR.Code, state awaiting_customer) once the gateway answers; the
// order is queried until paid, and closed at the gateway if still unpaid
// after window. An order id that already has a payment awaiting a scan
// becomes this QR payment; one that has a QR payment gets it back (created
// false).
func (e *Engine) CreateQRPayment(n NewPayment, channel string, window time.Duration) (p *Payment, created bool, err error) {
	if n.AuthCode != "" {
		return nil, false, fmt.Errorf("%w: a QR payment has no auth_code (the customer scans the till's code)", ErrInvalid)
	}
	if err := n.Validate(); err != nil {
		return nil, false, err
	}
	if !qrChannels[channel] {
		return nil, false, fmt.Errorf("%w: channel must be wechat, alipay, unionpay or ecny (or left out), got %q", ErrInvalid, channel)
	}
	if window == 0 {
		window = DefaultQRWindow
	}
	if window < MinQRWindow || window > MaxQRWindow {
		return nil, false, fmt.Errorf("%w: expires_in must be from %d to %d seconds, got %d", ErrInvalid,
			int(MinQRWindow.Seconds()), int(MaxQRWindow.Seconds()), int(window.Seconds()))
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed || e.ctx == nil {
		return nil, false, ErrClosed
	}
	name := e.gws.route(channel)
	if _, ok := e.gws.ByName[name].(Precreator); !ok {
		what := "the default gateway"
		if channel != "" {
			what = "the one routed for " + channel
		}
		return nil, false, fmt.Errorf("%w: gateway %q (%s) cannot show a QR code for the customer to scan; use a payment code, or route to a gateway that can (shouqianba, fufu) in [routing]", ErrUnsupported, name, what)
	}
	if pw, ok := e.gws.ByName[name].(QRWalleter); ok && !slices.Contains(pw.QRWallets(), channel) {
		return nil, false, fmt.Errorf("%w: gateway %q makes one QR code per wallet: name the channel, one of %s", ErrInvalid, name, strings.Join(pw.QRWallets(), ", "))
	}
	now := e.clock.Now()
	old, err := e.j.ByOrder(n.OrderID)
	switch {
	case errors.Is(err, ErrNotFound):
	case err != nil:
		return nil, false, err
	case old.Amount != n.Amount || old.Currency != n.Currency:
		return old, false, fmt.Errorf("%w: order %s was created for %d fen, not %d", ErrOrderConflict, n.OrderID, old.Amount, n.Amount)
	case old.Method == MethodQR:
		return old, false, nil
	case old.State == StateAwaitingScan && old.Method == "" && e.writing[old.ID] == nil:
		// Waiting for a code nobody scanned: the same payment is shown
		// as a QR code instead. Nothing has reached a gateway yet.
		old.Method, old.QR = MethodQR, &QR{ExpiresAt: now.Add(window)}
		if err := e.j.Save(old); err != nil {
			return nil, false, fmt.Errorf("payflow: journaling QR payment %s: %w", old.ID, err)
		}
		p, err := e.stepLocked(old.ID, TrigOrder, Input{At: now, Channel: channel, Gateway: name, Account: account(e.gws.ByName[name]),
			Note: "switched to a QR code before any scan; placing the order at " + name})
		if err != nil {
			return nil, false, err
		}
		e.codes[old.ID] = orderToken
		return p, false, nil
	default:
		return old, false, fmt.Errorf("%w: order %s already has a %s payment (%s); it cannot be shown as a QR code now", ErrOrderConflict, n.OrderID, methodName(old.Method), old.State)
	}
	orderNo, err := e.newNumber(false)
	if err != nil {
		return nil, false, err
	}
	p = &Payment{
		ID: newID(), OrderID: n.OrderID, Amount: n.Amount, Currency: n.Currency,
		Subject: n.Subject, Operator: n.Operator, TillID: e.cfg.TillID, Items: n.Items,
		State: StateAwaitingScan, Channel: "unknown", GatewayOrderNo: orderNo,
		Method: MethodQR, QR: &QR{ExpiresAt: now.Add(window)},
		CreatedAt: now, UpdatedAt: now,
		History: []HistoryEntry{{At: now, State: StateAwaitingScan, Trigger: "create"}},
	}
	if err := Step(p, TrigOrder, Input{At: now, Channel: channel, Gateway: name, Account: account(e.gws.ByName[name]),
		Note: "QR payment journaled; placing the order at " + name}); err != nil {
		return nil, false, err
	}
	if _, err := e.j.Create(p); err != nil {
		return nil, false, fmt.Errorf("payflow: journaling QR payment for order %s: %w", n.OrderID, err)
	}
	e.log.Info("QR payment created", "payment", p.ID, "order", p.OrderID, "amount", p.Amount, "gateway", name, "expires_at", p.QR.ExpiresAt)
	e.codes[p.ID] = orderToken
	e.startDriverLocked(p.ID, false)
	e.publish(p)
	return p.Clone(), true, nil
}

// QRWalleter is implemented by providers whose gateway makes one QR code
// per wallet (Shouqianba's precreate needs a payway): a QR payment there
// must name one of these channels.
type QRWalleter interface {
	QRWallets() []string
}

// shownQRLocked is the one QR payment whose code is on show (none when
// there are several: a scan cannot tell which customer it belongs to).
// It is found among the open payments the engine keeps in memory (the
// Summary's): a stray scan during the recovery of thousands of payments
// reads one record, not all of them. The caller lets the writes in flight
// finish first (awaitWritesLocked): a code just put on show is journaled
// before it is noted there.
func (e *Engine) shownQRLocked() *Payment {
	e.sumMu.Lock()
	shown := ""
	for id, in := range e.open {
		if !in.qrShown {
			continue
		}
		if shown != "" {
			e.sumMu.Unlock()
			return nil
		}
		shown = id
	}
	e.sumMu.Unlock()
	if shown == "" {
		return nil
	}
	p, err := e.j.Get(shown)
	if err != nil || p.Method != MethodQR || p.State != StateAwaitingCustomer || p.SwitchRequested {
		return nil
	}
	return p
}

// pendingSwitch is a scanned code waiting, in memory only like every
// code, for its QR payment's order to be closed.
type pendingSwitch struct{ code, channel string }

// switchLocked pays QR payment old with a scanned code instead: the QR
// order is closed (or cancelled) at the gateway first, and the code sent
// only once that order is certainly unpaid. A customer who paid the QR
// code meanwhile leaves the payment paid and the code unused.
func (e *Engine) switchLocked(old *Payment, code, channel string) (*Payment, error) {
	switch old.State {
	case StateAwaitingCustomer, StateInDoubt:
	case StatePaying:
		return old, fmt.Errorf("%w: order %s's QR code is being placed at the gateway; try the code again in a moment", ErrOrderConflict, old.OrderID)
	case StateCancelling:
		if old.SwitchRequested {
			return old, fmt.Errorf("%w: order %s is already switching to a scanned code", ErrOrderConflict, old.OrderID)
		}
		fallthrough
	default:
		return old, fmt.Errorf("%w: order %s is a QR payment (%s); it cannot be paid with a code now: use a new order id", ErrOrderConflict, old.OrderID, old.State)
	}
	// Held before the switch is journaled: the close may settle before
	// this call returns, and must find the code.
	e.switches[old.ID] = pendingSwitch{code: code, channel: channel}
	p, err := e.stepLocked(old.ID, TrigSwitch, Input{Code: code, Channel: channel,
		Note: "the cashier switched to a scanned code (" + MaskCode(code) + "); closing the QR order first, the code is sent once it is certainly unpaid"})
	if err != nil {
		delete(e.switches, old.ID)
		var te *TransitionError
		if errors.As(err, &te) {
			return nil, fmt.Errorf("%w: order %s's QR payment moved on meanwhile (%s); look at it again", ErrOrderConflict, old.OrderID, te.From)
		}
		return nil, err
	}
	return p, nil
}

// finishSwitch settles a cancel that found a switching QR payment's order
// certainly unpaid: the pay with the scanned code is journaled, under a new
// order number, and the driver sends it. Without the code (posd restarted
// in between: codes are never journaled) the payment ends cancelled.
func (e *Engine) finishSwitch(p *Payment, in Input) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.awaitWriteLocked(p.ID)
	// Taken and journaled under one hold of the lock: an abort that takes
	// the switch back either comes first (no code here) or finds it paying.
	s, ok := e.switches[p.ID]
	var orderNo string
	var err error
	if ok {
		orderNo, err = e.newNumber(false)
	}
	if !ok || err != nil {
		if err != nil {
			e.log.Error("no order number for the switched pay", "payment", p.ID, "err", err)
		}
		in.Note = "the QR order is closed; the scanned code that was to replace it is gone (the cashier aborted, or posd restarted: codes are never journaled): nothing was charged, pay again under a new order id"
		e.stepLoggedLocked(p.ID, TrigCancelled, in)
		return
	}
	name := e.gws.route(s.channel)
	e.stepLoggedLocked(p.ID, TrigSwitched, Input{Outcome: in.Outcome, Code: s.code, Channel: s.channel, Gateway: name, Account: account(e.gws.ByName[name]), OrderNo: orderNo,
		Note: fmt.Sprintf("QR order %s is certainly unpaid; paying with the scanned code through %s as order number %s", p.GatewayOrderNo, name, orderNo)})
}
