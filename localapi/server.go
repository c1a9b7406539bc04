// Package localapi is the HTTP API the cash-register UI talks to: JSON over
// HTTP/1.1 on a loopback address, every /v1 route but health behind a
// bearer token, browser origins allowed only by name.
package localapi

import (
	"crypto/subtle"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tillworks/posd/events"
	"github.com/tillworks/posd/internal/origin"
	"github.com/tillworks/posd/payflow"
	"github.com/tillworks/posd/printer"
)

// Options configure a Server.
type Options struct {
	Engine         *payflow.Engine
	Token          string
	AllowedOrigins []string
	AllowRemote    bool // skip the loopback Host check (api.allow_remote)
	Version        string
	Provider       string // the default gateway's name
	TillID         string
	// Gateways reports each gateway's last success and failure (health); nil: none.
	Gateways     func() []payflow.GatewayStatus
	JournalCheck func() error
	Devices      func() []events.DeviceStatus // scanners and printers; nil: none
	Printer      *printer.Queue               // nil: no receipts
	// Backup writes a consistent copy of the journal (GET
	// /v1/journal/backup); nil: not offered.
	Backup func(io.Writer) (int64, error)
	// Reload reads the configuration again and applies what can change
	// without a restart (POST /v1/config/reload); nil: not offered.
	Reload func() (string, error)
	// Metrics serves GET /metrics (Prometheus text format, behind the
	// token like every route); nil: not offered.
	Metrics http.Handler
	Logger  *slog.Logger
	Now     func() time.Time
	// BodyTimeout bounds how long a request's body may take to arrive, so
	// that a slow or stalled client cannot hold a connection open; zero:
	// 20 s. (Answers are not bounded: events and long polls stream for as
	// long as the client reads.)
	BodyTimeout time.Duration
}

// Server serves the local API.
type Server struct {
	opt     Options
	eng     *payflow.Engine
	origins atomic.Pointer[[]origin.Origin]
	log     *slog.Logger
	mux     *http.ServeMux

	refusedMu sync.Mutex
	refused   map[string]bool // code and origin of refusals already logged

	epoch  string // names this run in event ids: an id from an earlier run is not replayed
	token  atomic.Pointer[string]
	routes []string // "METHOD path" of every route, for the OpenAPI check
	pair   pairing
}

// New returns the API server for an engine that has been started.
func New(opt Options) *Server {
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.JournalCheck == nil {
		opt.JournalCheck = func() error { return nil }
	}
	if opt.BodyTimeout <= 0 {
		opt.BodyTimeout = 20 * time.Second
	}
	s := &Server{opt: opt, eng: opt.Engine, log: opt.Logger, mux: http.NewServeMux(), refused: map[string]bool{},
		epoch: strconv.FormatInt(time.Now().UnixNano(), 36)}
	s.SetToken(opt.Token)
	if err := s.SetAllowedOrigins(opt.AllowedOrigins); err != nil {
		// The configuration has checked them; an origin that does not parse
		// matches nothing.
		s.log.Error("api.allowed_origins", "err", err)
	}
	s.route("/v1/health", methods{"GET": s.health})
	s.route("/v1/payments", methods{"GET": s.listPayments, "POST": s.createPayment})
	s.route("/v1/payments/{id}", methods{"GET": s.getPayment})
	s.route("/v1/payments/{id}/cancel", methods{"POST": s.cancelPayment})
	s.route("/v1/payments/{id}/refunds", methods{"POST": s.createRefund})
	s.route("/v1/payments/{id}/qr.png", methods{"GET": s.qrImage})
	s.route("/v1/miniprogram-orders", methods{"POST": s.createMiniProgramOrder})
	s.route("/v1/scans", methods{"POST": s.scan})
	s.route("/v1/events", methods{"GET": s.events})
	s.route("/v1/reports/daily", methods{"GET": s.dailyReport})
	s.route("/v1/devices", methods{"GET": s.devices})
	s.route("/v1/payments/{id}/receipt", methods{"GET": s.getReceipt, "POST": s.reprint})
	s.route("/v1/printer/test", methods{"POST": s.testPage})
	s.route("/v1/journal/backup", methods{"GET": s.backup})
	s.route("/v1/config/reload", methods{"POST": s.reload})
	s.route("/v1/openapi.json", methods{"GET": s.openapi})
	s.route("/v1/pair/code", methods{"POST": s.newPairCode})
	s.route("/v1/pair", methods{"POST": s.pairWith})
	s.mux.HandleFunc("GET /{$}", s.statusPage)
	s.routes = append(s.routes, "GET /")
	if opt.Metrics != nil {
		s.mux.Handle("GET /metrics", opt.Metrics)
		s.routes = append(s.routes, "GET /metrics")
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such route: "+r.URL.Path+"; see docs/api.md")
	})
	return s
}

type methods map[string]http.HandlerFunc

// route registers a path whose methods are listed; any other method gets a
// JSON 405 naming the allowed ones.
func (s *Server) route(path string, m methods) {
	allowed := make([]string, 0, len(m))
	for k := range m {
		allowed = append(allowed, k)
		s.routes = append(s.routes, k+" "+path)
	}
	sort.Strings(allowed)
	allow := strings.Join(allowed, ", ")
	s.mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
		h, ok := m[r.Method]
		if !ok && r.Method == http.MethodHead {
			h, ok = m[http.MethodGet]
		}
		if !ok {
			w.Header().Set("Allow", allow)
			writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not allowed on "+path+"; use "+allow)
			return
		}
		h(w, r)
	})
}

// ReloadResult is the answer of POST /v1/config/reload.
type ReloadResult struct {
	Reloaded string `json:"reloaded"`
}

func (s *Server) reload(w http.ResponseWriter, r *http.Request) {
	if err := emptyBody(r); err != nil {
		s.badRequest(w, err)
		return
	}
	if s.opt.Reload == nil {
		writeError(w, http.StatusNotFound, "not_found", "this daemon offers no reload")
		return
	}
	msg, err := s.opt.Reload()
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_configuration", "the configuration was not reloaded, nothing changed: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, ReloadResult{Reloaded: msg})
}

// SetToken replaces the API token (posd token --rotate, then a reload):
// requests with the old one are refused from then on.
func (s *Server) SetToken(t string) { s.token.Store(&t) }

// SetReload offers POST /v1/config/reload, for a daemon that builds its
// reload after its API.
func (s *Server) SetReload(f func() (string, error)) { s.opt.Reload = f }

// SetAllowedOrigins replaces the browser origins allowed to use the API
// (api.allowed_origins), as posd does when its configuration is reloaded.
// On an error nothing changes.
func (s *Server) SetAllowedOrigins(list []string) error {
	var rules []origin.Origin
	for i, o := range list {
		r, err := origin.Parse(o)
		if err != nil {
			return fmt.Errorf("api.allowed_origins[%d]: %w", i, err)
		}
		rules = append(rules, r)
	}
	s.origins.Store(&rules)
	return nil
}

// originAllowed reports whether a browser's Origin header is allowed:
// listed, or posd's own (the status page it serves, at the address the
// request came to).
func (s *Server) originAllowed(r *http.Request, origin string) bool {
	if origin == "http://"+r.Host && loopbackHost(r.Host) {
		// Only on this machine's own address: with allow_remote a page
		// rebinding a name of its own to the till would otherwise pass as
		// posd's own.
		return true
	}
	for _, r := range *s.origins.Load() {
		if r.Match(origin) {
			return true
		}
	}
	return false
}

//go:embed status/index.html
var statusHTML []byte

// statusPage serves the status page (localapi/status): no token needed to
// load it; what it shows beyond health it asks for with the token the
// operator enters.
func (s *Server) statusPage(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self'; frame-ancestors 'none'")
	w.Write(statusHTML)
}

// public is what any page may ask without being allowed or a token: health
// (so that a UI can tell "posd is down" from "posd refuses me") and the
// API's description; neither holds a secret.
func public(r *http.Request) bool {
	return r.URL.Path == "/v1/health" || r.URL.Path == "/v1/openapi.json" || r.URL.Path == "/"
}

// pairingRequest is the one request that carries no token but must come from an
// allowed origin: a UI trading a pairing code for the token.
func pairingRequest(r *http.Request) bool {
	return r.URL.Path == "/v1/pair" && r.Method == http.MethodPost
}

// ServeHTTP applies the API's guards in order: Host (anti DNS-rebinding),
// Origin, CORS preflight, then the token for everything but health. Every
// answer to a browser carries the CORS headers that let its page read it,
// refusals included: a page refused sees posd's words, not a bare
// "Failed to fetch".
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	if origin != "" {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", origin)
		h.Add("Vary", "Origin")
		h.Set("Access-Control-Expose-Headers", "Location")
	}
	if !s.opt.AllowRemote && !loopbackHost(r.Host) {
		s.refuse(w, r, http.StatusForbidden, "forbidden_host",
			fmt.Sprintf("the API answers only requests addressed to localhost or a loopback address, not %q: open the page at http://localhost or http://127.0.0.1", r.Host))
		return
	}
	if origin != "" && r.Method == http.MethodOptions {
		// A preflight is answered for any origin: the request it clears
		// is refused below if its origin is not allowed, and its page can
		// then read why.
		h := w.Header()
		h.Set("Access-Control-Allow-Methods", "GET, POST")
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Last-Event-ID")
		h.Set("Access-Control-Max-Age", "600")
		if r.Header.Get("Access-Control-Request-Private-Network") == "true" {
			// Chromium's private network access: a public page asking for
			// this machine (the user is still asked).
			h.Set("Access-Control-Allow-Private-Network", "true")
		}
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if origin != "" && !public(r) && !s.originAllowed(r, origin) {
		s.refuse(w, r, http.StatusForbidden, "forbidden_origin",
			fmt.Sprintf("origin %s is not in api.allowed_origins: add %q to [api] allowed_origins in posd's configuration, then reload it (posd service reload, or SIGHUP); docs/web-ui.md", origin, origin))
		return
	}
	if r.Body != nil && r.Body != http.NoBody {
		// The body must arrive within BodyTimeout; the deadline is lifted
		// once it has, so a handler's own time is not bounded by it.
		rc := http.NewResponseController(w)
		if rc.SetReadDeadline(time.Now().Add(s.opt.BodyTimeout)) == nil {
			r.Body = &deadlineBody{ReadCloser: r.Body, lift: func() { rc.SetReadDeadline(time.Time{}) }}
		}
	}
	if !public(r) && !pairingRequest(r) && !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="posd"`)
		s.refuse(w, r, http.StatusUnauthorized, "unauthorized", "send Authorization: Bearer <token>; the token is api.token or the api-token file in the data directory (posd token prints it); docs/web-ui.md")
		return
	}
	s.mux.ServeHTTP(w, r)
}

// deadlineBody lifts the connection's read deadline when the body has
// been read to its end.
type deadlineBody struct {
	io.ReadCloser
	lift func()
	done bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.done {
		b.done = true
		b.lift()
	}
	return n, err
}

func (s *Server) authorized(r *http.Request) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok && queryToken(r) {
		got, ok = r.URL.Query().Get("access_token"), true
	}
	return ok && got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(*s.token.Load())) == 1
}

// queryToken reports whether r may carry its token as ?access_token=:
// only what a browser fetches without a chance to set a header, the event
// stream (EventSource), a receipt's image and a QR payment's code
// (<img src>), and only to read.
func queryToken(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	return r.URL.Path == "/v1/events" || (strings.HasPrefix(r.URL.Path, "/v1/payments/") && (strings.HasSuffix(r.URL.Path, "/receipt") || strings.HasSuffix(r.URL.Path, "/qr.png")))
}

// maxRefusalsLogged bounds the refusals remembered for logging once each.
const maxRefusalsLogged = 256

// refuse answers a refused request, and logs the first refusal of each
// kind from each origin with what to change: the person setting a UI up
// reads the log, not the page's console.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	key := code + " " + r.Header.Get("Origin")
	s.refusedMu.Lock()
	first := !s.refused[key] && len(s.refused) < maxRefusalsLogged
	if first {
		s.refused[key] = true
	}
	s.refusedMu.Unlock()
	if first {
		s.log.Warn("API request refused", "code", code, "origin", r.Header.Get("Origin"), "host", r.Host, "path", r.URL.Path, "what_to_do", msg)
	}
	writeError(w, status, code, msg)
}

// loopbackHost checks the Host header, with or without a port.
func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	return origin.IsLoopbackHost(host)
}

// errorBody is every error answer: {"error":{"code":"...","message":"..."}}.
type errorBody struct {
	Error payflow.Error `json:"error"`
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, errorBody{payflow.Error{Code: code, Message: msg}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

// engineError maps the engine's errors to statuses and codes.
func (s *Server) engineError(w http.ResponseWriter, err error) {
	for _, m := range []struct {
		err    error
		status int
		code   string
	}{
		{payflow.ErrInvalidCode, http.StatusBadRequest, "invalid_auth_code"},
		{payflow.ErrInvalid, http.StatusBadRequest, "invalid_request"},
		{payflow.ErrNotFound, http.StatusNotFound, "not_found"},
		{payflow.ErrOrderConflict, http.StatusConflict, "order_conflict"},
		{payflow.ErrScannerBusy, http.StatusConflict, "scanner_busy"},
		{payflow.ErrNoPaymentWaiting, http.StatusConflict, "no_payment_waiting"},
		{payflow.ErrNotCancellable, http.StatusConflict, "not_cancellable"},
		{payflow.ErrNotRefundable, http.StatusConflict, "not_refundable"},
		{payflow.ErrRefundConflict, http.StatusConflict, "refund_conflict"},
		{payflow.ErrRefundTooLarge, http.StatusConflict, "refund_too_large"},
		{payflow.ErrGatewayGone, http.StatusConflict, "gateway_not_configured"},
		{payflow.ErrUnsupported, http.StatusBadRequest, "not_supported"},
		{payflow.ErrClosed, http.StatusServiceUnavailable, "shutting_down"},
	} {
		if errors.Is(err, m.err) {
			writeError(w, m.status, m.code, err.Error())
			return
		}
	}
	s.log.Error("journal error", "err", err)
	writeError(w, http.StatusServiceUnavailable, "journal_unavailable",
		"the journal could not be read or written ("+err.Error()+"); nothing was charged by this request; check disk space and the log, then retry")
}
