package payflow

import (
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"
)

// Gateways are the gateways an engine may use, by their configured names,
// and the rules that choose one for a new payment. A payment journals the
// name of the gateway that took it; its queries, cancels and refunds go
// there and nowhere else, whatever the rules say later.
type Gateways struct {
	ByName    map[string]Provider
	Default   string            // for new payments, unless a wallet route applies
	ByChannel map[string]string // a payment code's wallet (wechat, alipay, ...) → gateway name
	// Fallback takes a new payment's pay when the chosen gateway's pay was
	// certainly not sent (ErrNotSent: DNS or connect failure). A pay that
	// may have reached a gateway is never sent to another.
	Fallback string
}

// One is a single gateway, the default, under name.
func One(name string, p Provider) Gateways {
	return Gateways{ByName: map[string]Provider{name: p}, Default: name}
}

// Validate checks that every rule names a configured gateway.
func (g Gateways) Validate() error {
	if _, ok := g.ByName[g.Default]; !ok {
		return fmt.Errorf("payflow: the default gateway %q is not configured", g.Default)
	}
	for channel, name := range g.ByChannel {
		if _, ok := g.ByName[name]; !ok {
			return fmt.Errorf("payflow: the route for %s names gateway %q, which is not configured", channel, name)
		}
	}
	if _, ok := g.ByName[g.Fallback]; g.Fallback != "" && !ok {
		return fmt.Errorf("payflow: the fallback gateway %q is not configured", g.Fallback)
	}
	return nil
}

// route names the gateway for a new payment of channel (its wallet).
func (g Gateways) route(channel string) string {
	if name, ok := g.ByChannel[channel]; ok {
		return name
	}
	return g.Default
}

// Accounter is implemented by providers that can name the account they
// charge with (a terminal's serial number, a merchant id), journaled with
// each payment so that a person can find it at the gateway.
type Accounter interface {
	Account() string
}

func account(p Provider) string {
	if a, ok := p.(Accounter); ok {
		return a.Account()
	}
	return ""
}

// ErrGatewayGone is returned (wrapped) for a refund of a payment whose
// gateway is no longer configured: it is never sent to another.
var ErrGatewayGone = errors.New("the payment's gateway is not configured")

// GatewayStatus is what the engine last saw of one gateway.
type GatewayStatus struct {
	Name        string    `json:"name"`
	Default     bool      `json:"default,omitempty"`
	LastSuccess time.Time `json:"last_success,omitzero"` // the last call answered
	LastFailure time.Time `json:"last_failure,omitzero"` // the last call not answered
	LastError   string    `json:"last_error,omitempty"`
}

// gatewayWatch records each gateway's last answered and unanswered call.
type gatewayWatch struct {
	mu sync.Mutex
	by map[string]*GatewayStatus
}

func (w *gatewayWatch) note(name string, at time.Time, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.by == nil {
		w.by = map[string]*GatewayStatus{}
	}
	s := w.by[name]
	if s == nil {
		s = &GatewayStatus{Name: name}
		w.by[name] = s
	}
	if err == nil {
		s.LastSuccess = at
		return
	}
	s.LastFailure, s.LastError = at, err.Error()
}

// GatewayStatus lists every configured gateway with what the engine last
// saw of it, by name.
func (e *Engine) GatewayStatus() []GatewayStatus {
	e.watch.mu.Lock()
	defer e.watch.mu.Unlock()
	out := make([]GatewayStatus, 0, len(e.gws.ByName))
	for name := range e.gws.ByName {
		s := GatewayStatus{Name: name}
		if seen := e.watch.by[name]; seen != nil {
			s = *seen
		}
		s.Default = name == e.gws.Default
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// gateway returns the provider that took payment p, noting the call's
// result for GatewayStatus through the returned function.
func (e *Engine) gateway(p *Payment) (Provider, func(error), bool) {
	prov, ok := e.gws.ByName[p.Gateway]
	return prov, func(err error) { e.watch.note(p.Gateway, e.clock.Now(), err) }, ok
}
