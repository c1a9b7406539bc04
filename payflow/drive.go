package payflow

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/tillworks/posd/internal/failpoint"
)

// startDriverLocked starts the goroutine that takes payment id from its
// current state to a terminal one. recovered says the state was read back
// after a restart, so a request journaled as sent may or may not have left.
func (e *Engine) startDriverLocked(id string, recovered bool) {
	if _, ok := e.drivers[id]; ok {
		return
	}
	if e.closed {
		// Closed while a write was in flight with e.mu released: the
		// payment is journaled, and the next start resumes it.
		return
	}
	d := &driver{wake: make(chan struct{}, 1)}
	e.drivers[id] = d
	e.wg.Add(1)
	jitter := e.resumeJitter
	go func() {
		defer e.wg.Done()
		if recovered && jitter > 0 {
			// Resumed work starts spread out, not all at one instant.
			e.sleep(rand.N(jitter), nil)
		}
		for {
			e.drive(id, d, recovered)
			recovered = false
			// Leave only if the payment is still settled once we hold the
			// lock: an operator may have reopened it meanwhile, and would
			// have found this driver still registered.
			e.mu.Lock()
			p, err := e.j.Get(id)
			if err != nil || p.State.Terminal() || e.ctx.Err() != nil {
				delete(e.drivers, id)
				e.mu.Unlock()
				return
			}
			e.mu.Unlock()
		}
	}()
}

func (e *Engine) drive(id string, d *driver, recovered bool) {
	for e.ctx.Err() == nil {
		p, err := e.j.Get(id)
		if err != nil {
			e.log.Error("payment driver cannot read the journal; the payment is left for recovery", "payment", id, "err", err)
			return
		}
		if p.State.Terminal() {
			return
		}
		if _, _, ok := e.gateway(p); !ok && p.State != StateAwaitingScan {
			e.stepLogged(p.ID, TrigGatewayGone, Input{Gateway: p.Gateway})
			continue
		}
		switch p.State {
		case StateAwaitingScan:
			e.awaitScan(p, d)
		case StatePaying:
			// The code is in memory from the scan until the pay is
			// answered; without it (after a restart) the pay may or may
			// not have left: ask the gateway, never send it again.
			if e.code(p.ID) == "" {
				e.resolvePaying(p, d)
			} else {
				e.pay(p, d)
			}
		case StateInDoubt, StateAwaitingCustomer:
			e.poll(p, d, recovered)
		case StateCancelling:
			e.cancelOnce(p)
		}
		recovered = false
	}
}

// sleep waits for d on the engine's clock, or until woken or shut down.
// It reports whether the engine is still running.
func (e *Engine) sleep(d time.Duration, wake <-chan struct{}) bool {
	if d > 0 {
		timer := e.clock.After(d)
		if e.onSleep != nil {
			e.onSleep(d)
		}
		select {
		case <-timer:
		case <-wake:
		case <-e.ctx.Done():
		}
	}
	return e.ctx.Err() == nil
}

func (e *Engine) awaitScan(p *Payment, d *driver) {
	left := p.CreatedAt.Add(e.cfg.ScanTimeout).Sub(e.clock.Now())
	if left <= 0 {
		e.stepLogged(p.ID, TrigExpire, Input{Note: "no code was scanned within scan_timeout"})
		return
	}
	e.sleep(left, d.wake)
}

// pay sends the journaled pay request. Its context ends at the pay
// deadline, or when the cashier aborts. The payment code is the token to
// send: the driver takes it under the engine's lock, and an abort that
// comes first removes it, so a pay never leaves after its abort was
// journaled.
func (e *Engine) pay(p *Payment, d *driver) {
	if e.beforePay != nil {
		e.beforePay()
	}
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	e.mu.Lock()
	code := e.codes[p.ID]
	if code == "" || e.closed {
		e.mu.Unlock()
		return // aborted before it was sent, or shutting down: the driver re-reads the journal
	}
	if p.AbortRequested {
		// Journaled while a pay that never left was being rerouted: it
		// does not leave now either.
		delete(e.codes, p.ID)
		e.mu.Unlock()
		e.stepLogged(p.ID, TrigAbort, Input{Note: "aborted by the cashier before the pay request was sent"})
		return
	}
	d.sending, d.stopPay = true, cancel
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		d.sending, d.stopPay = false, nil
		e.mu.Unlock()
	}()
	stopTimer := e.cancelAfter(ctx, cancel, p.PayStartedAt.Add(e.payWindow(p)).Sub(e.clock.Now()))
	defer stopTimer()

	prov, noted, _ := e.gateway(p)
	failpoint.Hit(failpoint.PayJournaled)
	req := PayRequest{
		OrderNo: p.GatewayOrderNo, OrderID: p.OrderID, Amount: p.Amount, Currency: p.Currency,
		AuthCode: code, Channel: p.Channel, Subject: p.Subject, Operator: p.Operator, TillID: p.TillID,
	}
	var o Outcome
	var err error
	if code == orderToken {
		req.AuthCode, code = "", ""
		if req.Channel == "unknown" {
			req.Channel = "" // not named: the gateway's default, the wallet told once paid
		}
		if pc, ok := prov.(Precreator); ok && p.Method == MethodQR {
			o, err = timed(e, p.ID, p.Gateway, "precreate", func() (Outcome, error) {
				qr, o, err := pc.Precreate(ctx, req)
				if err == nil && o.Kind == Succeeded {
					// A precreate's success is an order placed, never a
					// payment: the customer has yet to scan and pay.
					o.Kind = InProgress
				}
				o.QRCode = qr
				return o, err
			})
		} else if mo, ok := prov.(MiniProgramOrderer); ok && p.MiniProgram != nil {
			o, err = timed(e, p.ID, p.Gateway, "miniprogram_order", func() (Outcome, error) { return mo.MiniProgramOrder(ctx, req, *p.MiniProgram) })
		} else {
			err = fmt.Errorf("%w: gateway %s cannot place mini-program orders (the configuration changed?)", ErrNotSent, p.Gateway)
		}
	} else {
		o, err = timed(e, p.ID, p.Gateway, "pay", func() (Outcome, error) { return prov.Pay(ctx, req) })
	}
	failpoint.Hit(failpoint.PayAnswered)
	noted(err)
	// The pay is sent once: from here on only a query may ask about it,
	// even if journaling this answer fails.
	e.mu.Lock()
	delete(e.codes, p.ID)
	e.mu.Unlock()
	if e.ctx.Err() != nil {
		return // shutting down: leave it paying, recovery queries it
	}
	t, in := e.judge(p, o, err)
	in.Code = code // to mask it should the gateway echo it
	if p.Method == MethodQR && t == TrigUncertain && o.QRCode != "" {
		t = TrigShown
	}
	if err != nil && errors.Is(err, ErrNotSent) {
		t = TrigNotSent
		switch fb := e.gws.Fallback; {
		case ctx.Err() != nil && e.aborting(p.ID):
			t, in.Note = TrigAbort, "aborted by the cashier before the pay request was sent"
		case ctx.Err() == nil && fb != "" && fb != p.Gateway && e.gws.ByName[fb] != nil && p.Method == "":
			// Nothing reached the chosen gateway: the fallback may take the
			// pay, journaled before it is sent there. Once only.
			t, in.Gateway, in.Account = TrigReroute, fb, account(e.gws.ByName[fb])
			in.Note = fmt.Sprintf("gateway %s could not be reached, nothing was sent (%v): paying through %s instead", p.Gateway, err, fb)
		}
	}
	e.stepLogged(p.ID, t, in)
}

// aborting reports whether the cashier has asked to abort payment id.
func (e *Engine) aborting(id string) bool {
	p, err := e.j.Get(id)
	return err == nil && p.AbortRequested
}

// payWindow is how long payment p's pay may take: pay_timeout, or longer
// where its gateway holds a pay request open longer (PayHolder).
func (e *Engine) payWindow(p *Payment) time.Duration {
	if m := p.MiniProgram; m != nil && !p.PayStartedAt.IsZero() {
		// The customer pays in the mini program, in their own time.
		return m.ExpiresAt.Sub(p.PayStartedAt)
	}
	if q := p.QR; q != nil && p.Method == MethodQR && !p.PayStartedAt.IsZero() {
		// The customer scans the till's code in their own time.
		return q.ExpiresAt.Sub(p.PayStartedAt)
	}
	w := e.cfg.PayTimeout
	if h, ok := e.gws.ByName[p.Gateway].(PayHolder); ok && h.PayHold() > w {
		w = h.PayHold()
	}
	return w
}

// cancelAfter cancels ctx after d on the engine's clock.
func (e *Engine) cancelAfter(ctx context.Context, cancel context.CancelFunc, d time.Duration) (stop func()) {
	done := make(chan struct{})
	go func() {
		select {
		case <-e.clock.After(d):
			cancel()
		case <-ctx.Done():
		case <-done:
		}
	}()
	return func() { close(done) }
}

// resolvePaying settles a payment found in paying after a restart: the pay
// may or may not have reached the gateway, so ask before anything else.
func (e *Engine) resolvePaying(p *Payment, d *driver) {
	prov, noted, _ := e.gateway(p)
	o, err := timed(e, p.ID, p.Gateway, "query", func() (Outcome, error) { return prov.Query(e.ctx, p.ref()) })
	if e.ctx.Err() != nil {
		return
	}
	noted(err)
	if err != nil {
		d.unanswered++ // in doubt now, and not cancelled until the gateway answers
	}
	t, in := e.judge(p, o, err)
	if t == TrigNotFound {
		in.Note = "the gateway has no such order yet; the pay may still land: polling until pay_timeout, then cancelling"
	}
	e.stepLogged(p.ID, t, in)
}

// poll queries an in-doubt payment until the gateway settles it or the pay
// deadline passes, then hands it to cancelling. After a restart it queries
// once before anything else, however late it is.
func (e *Engine) poll(p *Payment, d *driver, recovered bool) {
	deadline := p.PayStartedAt.Add(e.payWindow(p))
	if p.AbortRequested && !recovered {
		e.stepLogged(p.ID, TrigAbort, Input{Note: "aborted by the cashier while the pay was in flight"})
		return
	}
	if !e.clock.Now().Before(deadline) && !recovered && d.answered {
		e.stepLogged(p.ID, TrigDeadline, Input{Note: "still unpaid when pay_timeout ran out"})
		return
	}
	// Past the deadline, the gateway is asked before anything is cancelled
	// (again, while its last answer is missing): a failure of ours (a
	// time-out, a network down) is never a reason to reverse a sale that
	// may be paid.
	failpoint.Hit(failpoint.InDoubt)
	prov, noted, _ := e.gateway(p)
	o, err := timed(e, p.ID, p.Gateway, "query", func() (Outcome, error) { return prov.Query(e.ctx, p.ref()) })
	if e.ctx.Err() != nil {
		return
	}
	noted(err)
	if err != nil {
		d.unanswered++
	} else {
		d.unanswered = 0
	}
	d.answered = err == nil
	switch t, in := e.judge(p, o, err); t {
	case TrigUncertain, TrigNotFound:
		// Not found is not final while the pay window is open: a gateway
		// may record the order late. At the deadline the cancel settles it.
		if err != nil {
			e.log.Warn("query failed; will ask again", "payment", p.ID, "attempt", d.unanswered, "err", p.Scrub(err.Error()))
		}
	case TrigMismatch:
		e.stepLogged(p.ID, t, in)
	default:
		e.stepLogged(p.ID, t, in)
		return
	}
	now := e.clock.Now()
	wait := min(patientWait(e.cfg.PollInterval, now.Sub(p.PayStartedAt)), deadline.Sub(now))
	if d.unanswered > 0 && !now.Before(deadline) {
		// Past the deadline and unanswered: ask again, backing off.
		wait = unansweredBackoff(e.cfg.PollInterval, d.unanswered)
	}
	if !recovered || d.unanswered > 0 {
		e.sleep(wait, d.wake)
	}
}

// PatientAfter is how long a payment is asked about every poll_interval.
// A pay, or a QR code on show (5 minutes at most), is settled within it;
// a mini-program order, which its customer may pay for two hours, is then
// asked about less and less often, up to every patientMax: an abandoned
// one costs its gateway some 300 queries, not 1 440 at the 5 s default.
const (
	PatientAfter = 5 * time.Minute
	patientMax   = 30 * time.Second
)

// patientWait is the wait before asking again about a payment whose order
// was sent age ago: poll_interval for PatientAfter, then a tenth of the
// time past it, up to patientMax (never less than poll_interval).
func patientWait(interval, age time.Duration) time.Duration {
	if age < PatientAfter {
		return interval
	}
	return max(interval, min((age-PatientAfter)/10+interval, patientMax))
}

// unansweredBackoff is the wait before asking again about a payment past
// its deadline whose last n queries went unanswered: poll_interval
// doubling, at most a minute.
func unansweredBackoff(interval time.Duration, n int) time.Duration {
	w := interval
	for i := 1; i < n && w < time.Minute; i++ {
		w *= 2
	}
	return min(w, time.Minute)
}

// cancelOnce sends the journaled cancel attempt and either settles the
// payment, journals the next attempt after cancel_retry_interval, or gives
// up into needs_attention.
func (e *Engine) cancelOnce(p *Payment) {
	prov, noted, _ := e.gateway(p)
	// An unpaid QR order is closed where the gateway has a call for it,
	// once; a close that does not settle it is followed by cancels.
	closer, closing := prov.(Closer)
	closing = closing && p.Method == MethodQR && p.CancelAttempts <= 1
	if !closing && e.awaitCancelWindow(prov, noted, p) {
		return
	}
	failpoint.Hit(failpoint.CancelJournaled)
	call, send := "cancel", prov.Cancel
	if closing {
		call, send = "close", closer.Close
	}
	o, err := timed(e, p.ID, p.Gateway, call, func() (Outcome, error) { return send(e.ctx, p.ref()) })
	if e.ctx.Err() != nil {
		return
	}
	noted(err)
	var note string
	if err == nil {
		if why := mismatch(o, p.GatewayOrderNo, p.GatewayTradeNo, p.Amount); why != "" {
			e.log.Warn("cancel answered about another order; not taken as cancelled", "payment", p.ID, "mismatch", why)
			o, note = Outcome{Code: o.Code, Raw: o.Raw}, "answer ignored: "+why
		}
	}
	if err == nil && o.Kind == NotFound {
		// No such order, yet: while the pay window is open a pay on its way
		// (delayed, or recorded late) may still land and charge. Ask again
		// when the window ends; only then does "no such order" settle it.
		if wait := p.PayStartedAt.Add(e.payWindow(p)).Sub(e.clock.Now()); wait > 0 {
			e.log.Info("cancel found no order yet; the pay may still land: cancelling again when pay_timeout ends", "payment", p.ID, "in", wait)
			e.sleep(wait, nil)
			return
		}
	}
	if err == nil && cancelSettles[o.Kind] {
		in := Input{Outcome: o}
		if o.Kind == NotFound {
			in.Note = "the gateway has no such order: nothing to cancel"
		}
		if p.SwitchRequested {
			e.finishSwitch(p, in)
			return
		}
		e.stepLogged(p.ID, TrigCancelled, in)
		return
	}
	in := Input{Outcome: o, Note: note}
	if err != nil {
		in.Note = err.Error()
	}
	if p.CancelAttempts >= e.cfg.CancelAttempts {
		e.stepLogged(p.ID, TrigGiveUp, in)
		return
	}
	e.log.Warn("cancel failed; will retry", "payment", p.ID, "attempt", p.CancelAttempts, "gateway_code", p.Scrub(o.Code), "err", p.Scrub(fmt.Sprint(err)))
	if !e.sleep(e.cfg.CancelRetryInterval, nil) {
		return
	}
	e.stepLogged(p.ID, TrigCancelRetry, in)
}

// awaitCancelWindow holds a cancel its gateway would refuse now
// (CancelWindower) and reports whether it did: the wait is journaled once,
// the order is queried meanwhile (paid or closed settles the payment), and
// the driver comes back when the window opens or the next query is due.
func (e *Engine) awaitCancelWindow(prov Provider, noted func(error), p *Payment) bool {
	cw, ok := prov.(CancelWindower)
	if !ok {
		return false
	}
	now := e.clock.Now()
	at := cw.CancelNotBefore(p.PayStartedAt, now)
	if !at.After(now) {
		return false
	}
	if !p.CancelNotBefore.Equal(at) {
		e.stepLogged(p.ID, TrigCancelWait, Input{Until: at,
			Note: "the gateway accepts a cancel from " + at.Format(time.DateTime) + ": waiting, and asking about the order meanwhile"})
		return true
	}
	o, err := timed(e, p.ID, p.Gateway, "query", func() (Outcome, error) { return prov.Query(e.ctx, p.ref()) })
	if e.ctx.Err() != nil {
		return true
	}
	noted(err)
	switch t, in := e.judge(p, o, err); t {
	case TrigSucceeded, TrigFailed:
		e.stepLogged(p.ID, t, in) // paid meanwhile, or closed unpaid: nothing left to cancel
		return true
	}
	e.sleep(min(e.cfg.PollInterval, at.Sub(now)), nil)
	return true
}

// stepLogged applies a driver's trigger. A refusal means someone else (the
// cashier) moved the payment meanwhile; the driver re-reads and goes on.
// A failed journal write is logged and the driver waits a second before
// it re-reads (the payment is left for recovery meanwhile).
func (e *Engine) stepLogged(id string, t Trigger, in Input) {
	if _, err := e.step(id, t, in); e.stepFailed(id, t, err) {
		e.sleep(time.Second, nil)
	}
}

// stepLoggedLocked is stepLogged for a caller holding e.mu: a step that
// no longer applies is logged and dropped (no retry: the caller decides).
func (e *Engine) stepLoggedLocked(id string, t Trigger, in Input) {
	_, err := e.stepLocked(id, t, in)
	e.stepFailed(id, t, err)
}

// stepFailed logs why a driver's step was not applied and reports whether
// the journal write failed (rather than the payment having moved on).
func (e *Engine) stepFailed(id string, t Trigger, err error) bool {
	var te *TransitionError
	switch {
	case err == nil:
		return false
	case errors.As(err, &te):
		e.log.Info("payment moved meanwhile; outcome not applied", "payment", id, "trigger", t, "state", te.From)
		return false
	}
	e.log.Error("journal write failed; payment left for recovery", "payment", id, "trigger", t, "err", err)
	return true
}

// outcomeTrigger maps a gateway answer to the trigger it fires. Errors and
// unclear answers are uncertain: never failed, since the gateway may have
// charged.
func outcomeTrigger(o Outcome, err error) (Trigger, Input) {
	in := Input{Outcome: o}
	if err != nil {
		in.Note = err.Error()
		return TrigUncertain, in
	}
	switch o.Kind {
	case Succeeded:
		return TrigSucceeded, in
	case Failed:
		return TrigFailed, in
	case NotFound:
		return TrigNotFound, in
	case Broken:
		return TrigBroken, in
	case Conflict:
		return TrigConflict, in
	}
	return TrigUncertain, in
}

// judge maps a gateway's answer about payment p to the trigger it fires,
// after holding it against what was asked (see hold).
func (e *Engine) judge(p *Payment, o Outcome, err error) (Trigger, Input) {
	return e.hold(p, o, err, p.GatewayTradeNo, p.Mismatches, p.State != StatePaying, "payment", p.ID)
}

// judgeRefund is judge for an answer about refund r of p: it must be about
// p's order and its amount.
func (e *Engine) judgeRefund(p *Payment, r *Refund, o Outcome, err error) (Trigger, Input) {
	return e.hold(p, o, err, "", r.Mismatches, true, "payment", p.ID, "refund", r.ID)
}

// hold maps an answer to its trigger unless it names another order (by
// posd's number or, when given, the gateway's tradeNo) or amount than p's.
// Such an answer is no outcome: it is in doubt (TrigMismatch), its ids are
// not kept (a foreign sn would direct later cancels and refunds at someone
// else's order), and once seen answers like it reach maxMismatches, a
// person must look (TrigSuspect, where canSuspect).
func (e *Engine) hold(p *Payment, o Outcome, err error, tradeNo string, seen int, canSuspect bool, logArgs ...any) (Trigger, Input) {
	t, in := outcomeTrigger(o, err)
	if err != nil {
		in.Note = p.Scrub(in.Note)
		return t, in
	}
	why := mismatch(o, p.GatewayOrderNo, tradeNo, p.Amount)
	if why == "" {
		return t, in
	}
	e.log.Warn("gateway answered about another order; not taken as an outcome", append(logArgs, "mismatch", why, "gateway_code", p.Scrub(o.Code))...)
	in = Input{Outcome: Outcome{Code: o.Code, Raw: o.Raw}, Note: "answer ignored: " + why}
	if canSuspect && seen+1 >= maxMismatches {
		return TrigSuspect, in
	}
	return TrigMismatch, in
}

// mismatch says how an answer's order identity differs from the order
// asked about, or "" when it does not. Fields the answer leaves empty are
// not held against it.
func mismatch(o Outcome, orderNo, tradeNo string, amount int64) string {
	var why []string
	if o.OrderNo != "" && o.OrderNo != orderNo {
		why = append(why, fmt.Sprintf("order number %s, not %s", o.OrderNo, orderNo))
	}
	if tradeNo != "" && o.GatewayTradeNo != "" && o.GatewayTradeNo != tradeNo {
		why = append(why, fmt.Sprintf("gateway order %s, not %s", o.GatewayTradeNo, tradeNo))
	}
	if o.Amount != 0 && o.Amount != amount {
		why = append(why, fmt.Sprintf("%d fen, not %d", o.Amount, amount))
	}
	return strings.Join(why, "; ")
}

// startRefundLocked starts the goroutine that settles one refund.
func (e *Engine) startRefundLocked(paymentID, refundID string, recovered bool) {
	key := paymentID + "/" + refundID
	if e.refunds[key] || e.closed {
		return
	}
	e.refunds[key] = true
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		defer func() {
			e.mu.Lock()
			delete(e.refunds, key)
			e.mu.Unlock()
		}()
		e.driveRefund(paymentID, refundID, recovered)
	}()
}

// driveRefund sends the refund and, while its outcome is unknown, asks the
// gateway about it (where it can) or sends it again with the same refund
// number, backing off, until the gateway answers for sure or
// refund_attempts run out. The number makes the gateway refund at most once.
func (e *Engine) driveRefund(paymentID, refundID string, recovered bool) {
	// absent: the gateway's refund look-up just said it has no refund with
	// this number, so no earlier attempt landed and the next answer is as
	// final as a first one.
	absent := false
	for e.ctx.Err() == nil {
		p, err := e.j.Get(paymentID)
		if err != nil {
			e.log.Error("refund driver cannot read the journal", "payment", paymentID, "err", err)
			return
		}
		r := p.Refund(refundID)
		if r == nil || r.State.Terminal() {
			return
		}
		prov, noted, ok := e.gateway(p)
		if !ok {
			e.stepRefund(paymentID, refundID, TrigGatewayGone, Input{Gateway: p.Gateway})
			continue
		}
		req := RefundRequest{
			OrderNo: p.GatewayOrderNo, GatewayTradeNo: p.GatewayTradeNo, RequestNo: r.RequestNo,
			Amount: r.Amount, PaymentAmount: p.Amount, Reason: r.Reason, Operator: p.Operator, TillID: p.TillID,
		}
		switch r.State {
		case RefundInDoubt:
			if r.Attempts >= e.cfg.RefundAttempts {
				e.stepRefund(paymentID, refundID, TrigGiveUp, Input{Note: "refund_attempts used up"})
				continue
			}
			if !e.sleep(min(e.cfg.PollInterval*time.Duration(r.Attempts), time.Minute), nil) {
				return
			}
			t, in, ok := e.askRefund(prov, noted, p, r, req)
			if ok {
				e.stepRefund(paymentID, refundID, t, in)
				continue
			}
			absent = t == TrigNotFound
			e.stepRefund(paymentID, refundID, TrigRetry, Input{Note: "sending the refund again with the same number"})
		case RefundRefunding:
			failpoint.Hit(failpoint.RefundJournaled)
			o, err := timed(e, p.ID, p.Gateway, "refund", func() (Outcome, error) { return prov.Refund(e.ctx, req) })
			failpoint.Hit(failpoint.RefundAnswered)
			if e.ctx.Err() != nil {
				return
			}
			noted(err)
			// A retry is any attempt after one that may have reached the
			// gateway: a second send, or the first after a restart.
			retry := (r.Attempts > 1 || recovered) && !absent
			absent = false
			t, in := e.judgeRefund(p, r, o, err)
			if err != nil && errors.Is(err, ErrNotSent) {
				t = TrigNotSent
			}
			if next := refundAnswer(t, retry); next != t {
				if next == TrigUncertain && t != TrigNotSent {
					in.Note = "refused on a retry; an earlier attempt may have refunded: " + orUnknown(o.Message)
				}
				t = next
			}
			e.stepRefund(paymentID, refundID, t, in)
		}
		recovered = false
	}
}

// askRefund asks a gateway that can look refunds up what became of r.
// ok is false when it cannot tell (or cannot be asked): then the refund is
// sent again with its number; t is then TrigNotFound when the gateway said
// it has no such refund.
func (e *Engine) askRefund(prov Provider, noted func(error), p *Payment, r *Refund, req RefundRequest) (Trigger, Input, bool) {
	rq, can := prov.(RefundQuerier)
	if !can {
		return "", Input{}, false
	}
	o, err := timed(e, p.ID, p.Gateway, "query_refund", func() (Outcome, error) { return rq.QueryRefund(e.ctx, req) })
	if e.ctx.Err() != nil {
		return "", Input{}, false
	}
	noted(err)
	t, in := e.judgeRefund(p, r, o, err)
	switch t {
	case TrigSucceeded, TrigFailed, TrigSuspect:
		return t, in, true
	}
	return t, Input{}, false
}

func (e *Engine) stepRefund(paymentID, refundID string, t Trigger, in Input) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.awaitWriteLocked(paymentID)
	p, err := e.j.Get(paymentID)
	if err != nil {
		e.log.Error("refund driver cannot read the journal", "payment", paymentID, "err", err)
		return
	}
	r := p.Refund(refundID)
	if r == nil {
		return
	}
	if in.At.IsZero() {
		in.At = e.clock.Now()
	}
	if err := StepRefund(p, r, t, in); err != nil {
		e.log.Warn("refund outcome not applied", "payment", paymentID, "refund", refundID, "err", err)
		return
	}
	if err := e.j.Save(p); err != nil {
		e.log.Error("journal write failed; refund left for recovery", "payment", paymentID, "refund", refundID, "err", err)
		return
	}
	if !p.Live() {
		e.forgetResumed(paymentID)
	}
	e.log.Info("refund "+string(r.State), "payment", paymentID, "refund", refundID, "gateway_code", p.Scrub(in.Outcome.Code))
	e.publishRefund(p, r)
}

// timed runs one gateway call about payment id and tells
// Options.ObserveCall how long it took and whether it failed. A call of
// work resumed at start waits for its turn in the gateway's lane first
// (limit.go); the call's own time-out starts only then.
func timed(e *Engine, id, gateway, call string, f func() (Outcome, error)) (Outcome, error) {
	if oldest, ok := e.resumedSince(id); ok {
		l := e.lane(gateway)
		if !l.acquire(e.ctx, oldest) {
			return Outcome{}, fmt.Errorf("%w: posd is stopping", ErrNotSent)
		}
		defer l.release()
	}
	if e.observe == nil {
		return f()
	}
	start := time.Now()
	o, err := f()
	e.observe(gateway, call, time.Since(start), err)
	return o, err
}
