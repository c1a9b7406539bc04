package payflow

import (
	"context"
	"errors"
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
	d := &driver{wake: make(chan struct{}, 1)}
	e.drivers[id] = d
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
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
		switch p.State {
		case StateAwaitingScan:
			e.awaitScan(p, d)
		case StatePaying:
			// The code is in memory from the scan until the pay is
			// answered; without it (after a restart) the pay may or may
			// not have left: ask the gateway, never send it again.
			if code := e.code(p.ID); code == "" {
				e.resolvePaying(p)
			} else {
				e.pay(p, code, d)
			}
		case StateInDoubt:
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
		select {
		case <-e.clock.After(d):
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
// deadline, or when the cashier aborts.
func (e *Engine) pay(p *Payment, code string, d *driver) {
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	e.mu.Lock()
	d.stopPay = cancel
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		d.stopPay = nil
		e.mu.Unlock()
	}()
	stopTimer := e.cancelAfter(ctx, cancel, p.PayStartedAt.Add(e.cfg.PayTimeout).Sub(e.clock.Now()))
	defer stopTimer()

	failpoint.Hit("pay-journaled")
	o, err := e.prov.Pay(ctx, PayRequest{
		OrderNo: p.GatewayOrderNo, OrderID: p.OrderID, Amount: p.Amount, Currency: p.Currency,
		AuthCode: code, Subject: p.Subject, Operator: p.Operator, TillID: p.TillID,
	})
	failpoint.Hit("pay-answered")
	// The pay is sent once: from here on only a query may ask about it,
	// even if journaling this answer fails.
	e.mu.Lock()
	delete(e.codes, p.ID)
	e.mu.Unlock()
	if e.ctx.Err() != nil {
		return // shutting down: leave it paying, recovery queries it
	}
	t, in := outcomeTrigger(o, err)
	in.Code = code // to mask it should the gateway echo it
	if err != nil && errors.Is(err, ErrNotSent) {
		t = TrigNotSent
	}
	e.stepLogged(p.ID, t, in)
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
func (e *Engine) resolvePaying(p *Payment) {
	o, err := e.prov.Query(e.ctx, OrderRef{OrderNo: p.GatewayOrderNo, GatewayTradeNo: p.GatewayTradeNo, TillID: p.TillID})
	if e.ctx.Err() != nil {
		return
	}
	t, in := outcomeTrigger(o, err)
	e.stepLogged(p.ID, t, in)
}

// poll queries an in-doubt payment until the gateway settles it or the pay
// deadline passes, then hands it to cancelling. After a restart it queries
// once before anything else, however late it is.
func (e *Engine) poll(p *Payment, d *driver, recovered bool) {
	deadline := p.PayStartedAt.Add(e.cfg.PayTimeout)
	if p.AbortRequested && !recovered {
		e.stepLogged(p.ID, TrigAbort, Input{Note: "aborted by the cashier while the pay was in flight"})
		return
	}
	if !e.clock.Now().Before(deadline) && !recovered {
		e.stepLogged(p.ID, TrigDeadline, Input{Note: "still unpaid when pay_timeout ran out"})
		return
	}
	failpoint.Hit("in-doubt")
	o, err := e.prov.Query(e.ctx, OrderRef{OrderNo: p.GatewayOrderNo, GatewayTradeNo: p.GatewayTradeNo, TillID: p.TillID})
	if e.ctx.Err() != nil {
		return
	}
	if t, in := outcomeTrigger(o, err); t != TrigUncertain {
		e.stepLogged(p.ID, t, in)
		return
	}
	if err != nil {
		e.log.Warn("query failed; will ask again", "payment", p.ID, "err", err)
	}
	if wait := min(e.cfg.PollInterval, deadline.Sub(e.clock.Now())); !recovered {
		e.sleep(wait, d.wake)
	}
}

// cancelOnce sends the journaled cancel attempt and either settles the
// payment, journals the next attempt after cancel_retry_interval, or gives
// up into needs_attention.
func (e *Engine) cancelOnce(p *Payment) {
	failpoint.Hit("cancel-journaled")
	o, err := e.prov.Cancel(e.ctx, OrderRef{OrderNo: p.GatewayOrderNo, GatewayTradeNo: p.GatewayTradeNo, TillID: p.TillID})
	if e.ctx.Err() != nil {
		return
	}
	if err == nil && (o.Kind == Succeeded || o.Kind == NotFound) {
		in := Input{Outcome: o}
		if o.Kind == NotFound {
			in.Note = "the gateway has no such order: nothing to cancel"
		}
		e.stepLogged(p.ID, TrigCancelled, in)
		return
	}
	in := Input{Outcome: o}
	if err != nil {
		in.Note = err.Error()
	}
	if p.CancelAttempts >= e.cfg.CancelAttempts {
		e.stepLogged(p.ID, TrigGiveUp, in)
		return
	}
	e.log.Warn("cancel failed; will retry", "payment", p.ID, "attempt", p.CancelAttempts, "gateway_code", o.Code, "err", err)
	if !e.sleep(e.cfg.CancelRetryInterval, nil) {
		return
	}
	e.stepLogged(p.ID, TrigCancelRetry, in)
}

// stepLogged applies a driver's trigger. A refusal means someone else (the
// cashier) moved the payment meanwhile; the driver re-reads and goes on.
func (e *Engine) stepLogged(id string, t Trigger, in Input) {
	if _, err := e.step(id, t, in); err != nil {
		var te *ErrTransition
		if errors.As(err, &te) {
			e.log.Info("payment moved meanwhile; outcome not applied", "payment", id, "trigger", t, "state", te.From)
			return
		}
		e.log.Error("journal write failed; payment left for recovery", "payment", id, "trigger", t, "err", err)
		if !e.sleep(time.Second, nil) {
			return
		}
	}
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
	}
	return TrigUncertain, in
}

// startRefundLocked starts the goroutine that settles one refund.
func (e *Engine) startRefundLocked(paymentID, refundID string, recovered bool) {
	key := paymentID + "/" + refundID
	if e.refunds[key] {
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

// driveRefund sends the refund and, while its outcome is unknown, sends it
// again with the same refund number every poll_interval until the gateway
// answers for sure. The number makes the gateway refund at most once.
func (e *Engine) driveRefund(paymentID, refundID string, recovered bool) {
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
		switch r.State {
		case RefundInDoubt:
			if !e.sleep(e.cfg.PollInterval, nil) {
				return
			}
			e.stepRefund(paymentID, refundID, TrigRetry, Input{Note: "sending the refund again with the same number"})
		case RefundRefunding:
			failpoint.Hit("refund-journaled")
			o, err := e.prov.Refund(e.ctx, RefundRequest{
				OrderNo: p.GatewayOrderNo, GatewayTradeNo: p.GatewayTradeNo, RequestNo: r.RequestNo,
				Amount: r.Amount, PaymentAmount: p.Amount, Reason: r.Reason, Operator: p.Operator, TillID: p.TillID,
			})
			failpoint.Hit("refund-answered")
			if e.ctx.Err() != nil {
				return
			}
			t, in := outcomeTrigger(o, err)
			if t == TrigNotFound {
				t = TrigFailed
			}
			// A refund that never left fails, but only on its first try: a
			// retry's earlier attempts may have reached the gateway.
			if err != nil && errors.Is(err, ErrNotSent) && r.Attempts == 1 && !recovered {
				t = TrigNotSent
			}
			e.stepRefund(paymentID, refundID, t, in)
		}
		recovered = false
	}
}

func (e *Engine) stepRefund(paymentID, refundID string, t Trigger, in Input) {
	e.mu.Lock()
	defer e.mu.Unlock()
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
	e.log.Info("refund "+string(r.State), "payment", paymentID, "refund", refundID, "gateway_code", in.Outcome.Code)
	e.publishRefund(p, r)
}
