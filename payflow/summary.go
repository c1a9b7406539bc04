package payflow

// Summary is what health reports of the open payments, kept by the engine
// as they change so that answering it reads no journal and waits for no
// payment: during a recovery of thousands of payments health still answers
// at once.
type Summary struct {
	InDoubt          int    // paying, in doubt or cancelling: the engine is still at it
	AwaitingCustomer int    // a QR code or mini-program order the customer may still pay
	NeedsAttention   int    // payments (or their refunds) a person must reconcile
	RefundsInDoubt   int    // refunds not yet settled
	AwaitingScan     string // the payment waiting for a scan, if any
}

// openInfo is one open payment's part of the Summary.
type openInfo struct {
	state            State
	awaitingCustomer bool
	qrShown          bool // a QR code on show that a scanned code could replace (shownQRLocked)
	attention        bool
	refundsOpen      int
}

// noteOpen records p's part of the Summary (or drops it once settled).
// Every journaled change of a payment passes here (publish).
func (e *Engine) noteOpen(p *Payment) {
	e.sumMu.Lock()
	defer e.sumMu.Unlock()
	if !p.Live() && !p.Attention() {
		delete(e.open, p.ID)
		return
	}
	in := openInfo{state: p.State, attention: p.Attention()}
	switch {
	case p.State == StateAwaitingCustomer:
		in.awaitingCustomer = true
		in.qrShown = p.Method == MethodQR && !p.SwitchRequested
	case (p.State == StatePaying || p.State == StateInDoubt) && p.MiniProgram != nil && p.MiniProgram.Pay != nil:
		in.awaitingCustomer = true
	}
	for _, r := range p.Refunds {
		if !r.State.Terminal() {
			in.refundsOpen++
		}
	}
	e.open[p.ID] = in
}

// Summary counts the open payments for health.
func (e *Engine) Summary() Summary {
	e.sumMu.Lock()
	defer e.sumMu.Unlock()
	var s Summary
	for id, in := range e.open {
		switch {
		case in.awaitingCustomer:
			s.AwaitingCustomer++
		case in.state == StatePaying || in.state == StateInDoubt || in.state == StateCancelling:
			s.InDoubt++
		case in.state == StateAwaitingScan:
			s.AwaitingScan = id
		}
		if in.attention {
			s.NeedsAttention++
		}
		s.RefundsInDoubt += in.refundsOpen
	}
	return s
}
