package localapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tillworks/posd/events"
	"github.com/tillworks/posd/internal/strictjson"
	"github.com/tillworks/posd/payflow"
)

// maxBody bounds a request body.
const maxBody = 64 << 10

// CreatePaymentRequest is the body of POST /v1/payments.
type CreatePaymentRequest struct {
	OrderID  string          `json:"order_id"`
	Amount   json.RawMessage `json:"amount"`
	Currency string          `json:"currency,omitempty"`
	Subject  string          `json:"subject,omitempty"`
	Items    []ItemRequest   `json:"items,omitempty"`
	Operator string          `json:"operator,omitempty"`
	AuthCode string          `json:"auth_code,omitempty"`
	// Method is how the customer pays: "code" (the default) a payment code
	// posd scans or is given, "qr" a QR code the till shows and the
	// customer scans (C scans B).
	Method string `json:"method,omitempty"`
	// Channel is, for method qr, the wallet the code is for (routing; and
	// required by gateways that make one code per wallet).
	Channel string `json:"channel,omitempty"`
	// ExpiresIn is, for method qr, how many seconds the code is shown
	// before posd closes the order (30-300, default 120).
	ExpiresIn int `json:"expires_in,omitempty"`
}

// QROptions are a QR payment's choices from POST /v1/payments.
type QROptions struct {
	Channel string
	Window  time.Duration
}

// ItemRequest is one sold item in a payment request; amount is the
// line's total in integer fen.
type ItemRequest struct {
	Name     string          `json:"name"`
	Quantity int             `json:"quantity"`
	Amount   json.RawMessage `json:"amount"`
}

// RefundRequest is the body of POST /v1/payments/{id}/refunds.
type RefundRequest struct {
	RefundID string          `json:"refund_id"`
	Amount   json.RawMessage `json:"amount"`
	Reason   string          `json:"reason,omitempty"`
	Operator string          `json:"operator,omitempty"`
}

// MiniProgramOrderRequest is the body of POST /v1/miniprogram-orders: a
// payment the customer makes inside a WeChat mini program. Amounts are
// integer fen throughout.
type MiniProgramOrderRequest struct {
	OrderID      string          `json:"order_id"`
	Amount       json.RawMessage `json:"amount"`
	Currency     string          `json:"currency,omitempty"`
	Subject      string          `json:"subject,omitempty"`
	Items        []ItemRequest   `json:"items,omitempty"`
	Operator     string          `json:"operator,omitempty"`
	BuyerID      string          `json:"buyer_id"`
	DeviceIP     string          `json:"device_ip,omitempty"`
	Memo         string          `json:"memo,omitempty"`
	NotifyURL    string          `json:"notify_url,omitempty"`
	GoodsDetail  []payflow.Goods `json:"goods_detail,omitempty"`
	ExtendParams *payflow.Split  `json:"extend_params,omitempty"`
	ExpiresIn    int             `json:"expires_in,omitempty"` // seconds; posd cancels the order if unpaid then
}

// ScanRequest is the body of POST /v1/scans.
type ScanRequest struct {
	Code string `json:"code"`
}

// decode reads exactly one JSON object with only known fields into v.
func decode(r io.Reader, v any) error {
	body, err := io.ReadAll(io.LimitReader(r, maxBody+1))
	if err != nil {
		return fmt.Errorf("reading the body: %v", err)
	}
	if len(body) > maxBody {
		return fmt.Errorf("the body is larger than %d KiB", maxBody>>10)
	}
	// Keys twice, or in another case than documented, are ambiguous:
	// encoding/json would quietly take the last, or match any case.
	if err := strictjson.Check(body, v); errors.Is(err, strictjson.ErrAmbiguous) {
		return fmt.Errorf("%v; see docs/api.md", strings.TrimPrefix(err.Error(), "ambiguous JSON: "))
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.Is(err, io.EOF):
			return errors.New("the request body is empty; send a JSON object")
		case errors.As(err, &se):
			return fmt.Errorf("the body is not valid JSON at byte %d: %v", se.Offset, err)
		case errors.As(err, &te):
			return fmt.Errorf("field %q must be a JSON %s", te.Field, jsonKind(te.Type.Kind().String()))
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return fmt.Errorf("unknown field %s; see docs/api.md", strings.TrimPrefix(err.Error(), "json: unknown field "))
		}
		return fmt.Errorf("the body is not a valid JSON object: %v", err)
	}
	if dec.More() {
		return errors.New("the body has more than one JSON value")
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("the body has data after the JSON object")
	}
	return nil
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "string"
	case "struct", "map":
		return "object"
	}
	return "value of type " + k
}

// amount parses an integer number of fen; floats, exponents and strings
// are refused so that no amount is ever rounded.
func amount(field string, raw json.RawMessage) (int64, error) {
	n := string(raw)
	if n == "" || n == "null" {
		return 0, fmt.Errorf("%s is required: an integer number of fen (1250 is ¥12.50)", field)
	}
	v, err := strconv.ParseInt(n, 10, 64)
	if err != nil || v < 1 || v > payflow.MaxAmount {
		return 0, fmt.Errorf("%s must be an integer number of fen from 1 to %d (1250 is ¥12.50), got %s", field, int64(payflow.MaxAmount), n)
	}
	return v, nil
}

// itemAmount parses an item's line total: integer fen, zero allowed (a
// free item).
func itemAmount(i int, raw json.RawMessage) (int64, error) {
	if string(raw) == "0" {
		return 0, nil
	}
	v, err := amount(fmt.Sprintf("items[%d].amount", i), raw)
	return v, err
}

// DecodePaymentRequest reads and checks a POST /v1/payments body; qr is
// non-nil for method qr.
func DecodePaymentRequest(r io.Reader) (n payflow.NewPayment, qr *QROptions, err error) {
	var req CreatePaymentRequest
	if err := decode(r, &req); err != nil {
		return payflow.NewPayment{}, nil, err
	}
	switch req.Method {
	case "", "code":
		if req.Channel != "" || req.ExpiresIn != 0 {
			return payflow.NewPayment{}, nil, errors.New("channel and expires_in go with method qr; a payment code names its own wallet")
		}
	case payflow.MethodQR:
		if strings.TrimSpace(req.AuthCode) != "" {
			return payflow.NewPayment{}, nil, errors.New("method qr takes no auth_code: the customer scans the till's code")
		}
		if req.ExpiresIn < 0 {
			return payflow.NewPayment{}, nil, fmt.Errorf("expires_in must be a number of seconds, got %d", req.ExpiresIn)
		}
		qr = &QROptions{Channel: req.Channel, Window: time.Duration(req.ExpiresIn) * time.Second}
	default:
		return payflow.NewPayment{}, nil, fmt.Errorf("method must be code or qr, got %q", req.Method)
	}
	n, err = newPayment(req)
	return n, qr, err
}

func newPayment(req CreatePaymentRequest) (payflow.NewPayment, error) {
	amt, err := amount("amount", req.Amount)
	if err != nil {
		return payflow.NewPayment{}, err
	}
	n := payflow.NewPayment{
		OrderID: req.OrderID, Amount: amt, Currency: req.Currency,
		Subject: req.Subject, Operator: req.Operator, AuthCode: strings.TrimSpace(req.AuthCode),
	}
	for i, it := range req.Items {
		a, err := itemAmount(i, it.Amount)
		if err != nil {
			return payflow.NewPayment{}, err
		}
		n.Items = append(n.Items, payflow.Item{Name: it.Name, Quantity: it.Quantity, Amount: a})
	}
	if err := n.Validate(); err != nil {
		return n, err
	}
	return n, nil
}

// DecodeMiniProgramOrder reads and checks a POST /v1/miniprogram-orders
// body.
func DecodeMiniProgramOrder(r io.Reader) (payflow.NewPayment, payflow.MiniProgram, time.Duration, error) {
	var req MiniProgramOrderRequest
	var m payflow.MiniProgram
	if err := decode(r, &req); err != nil {
		return payflow.NewPayment{}, m, 0, err
	}
	amt, err := amount("amount", req.Amount)
	if err != nil {
		return payflow.NewPayment{}, m, 0, err
	}
	n := payflow.NewPayment{OrderID: req.OrderID, Amount: amt, Currency: req.Currency, Subject: req.Subject, Operator: req.Operator}
	for i, it := range req.Items {
		a, err := itemAmount(i, it.Amount)
		if err != nil {
			return n, m, 0, err
		}
		n.Items = append(n.Items, payflow.Item{Name: it.Name, Quantity: it.Quantity, Amount: a})
	}
	if req.ExpiresIn < 0 {
		return n, m, 0, fmt.Errorf("expires_in must be a number of seconds, got %d", req.ExpiresIn)
	}
	m = payflow.MiniProgram{BuyerID: req.BuyerID, DeviceIP: req.DeviceIP, Memo: req.Memo, NotifyURL: req.NotifyURL,
		Goods: req.GoodsDetail, Split: req.ExtendParams}
	if err := n.Validate(); err != nil {
		return n, m, 0, err
	}
	if err := m.Validate(amt); err != nil {
		return n, m, 0, err
	}
	return n, m, time.Duration(req.ExpiresIn) * time.Second, nil
}

// DecodeRefund reads and checks a POST /v1/payments/{id}/refunds body.
func DecodeRefund(r io.Reader) (payflow.NewRefund, error) {
	var req RefundRequest
	if err := decode(r, &req); err != nil {
		return payflow.NewRefund{}, err
	}
	if strings.TrimSpace(req.RefundID) == "" {
		return payflow.NewRefund{}, errors.New("refund_id is required: the cash register's id for this refund, reused when retrying it")
	}
	amt, err := amount("amount", req.Amount)
	if err != nil {
		return payflow.NewRefund{}, err
	}
	return payflow.NewRefund{RefundID: req.RefundID, Amount: amt, Reason: req.Reason, Operator: req.Operator}, nil
}

func (s *Server) badRequest(w http.ResponseWriter, err error) {
	writeError(w, http.StatusBadRequest, "invalid_request", err.Error())
}

func (s *Server) createPayment(w http.ResponseWriter, r *http.Request) {
	n, qr, err := DecodePaymentRequest(r.Body)
	if err != nil {
		s.badRequest(w, err)
		return
	}
	var p *payflow.Payment
	var created bool
	if qr != nil {
		p, created, err = s.eng.CreateQRPayment(n, qr.Channel, qr.Window)
	} else {
		p, created, err = s.eng.CreatePayment(n)
	}
	if err != nil {
		s.engineError(w, err)
		return
	}
	if qr != nil {
		// Answer with the code to show, once the gateway has placed the
		// order (or said it cannot).
		p = s.awaitOrder(r, p)
	}
	answerCreated(w, p, created)
}

// orderAnswerWait bounds how long a QR payment or a mini-program order
// waits for the gateway to place the order before it is answered.
const orderAnswerWait = 15 * time.Second

// awaitOrder is payment p once its gateway has answered the order's
// placing, or as it is when orderAnswerWait runs out.
func (s *Server) awaitOrder(r *http.Request, p *payflow.Payment) *payflow.Payment {
	ctx, cancel := context.WithTimeout(r.Context(), orderAnswerWait)
	defer cancel()
	if got, err := s.eng.AwaitOrder(ctx, p.ID); err == nil {
		return got
	}
	return p
}

// answerCreated answers a create: 201 with the new payment, 200 with the
// one the order already had.
func answerCreated(w http.ResponseWriter, p *payflow.Payment, created bool) {
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	w.Header().Set("Location", "/v1/payments/"+p.ID)
	writeJSON(w, status, p)
}

func (s *Server) createMiniProgramOrder(w http.ResponseWriter, r *http.Request) {
	n, m, window, err := DecodeMiniProgramOrder(r.Body)
	if err != nil {
		s.badRequest(w, err)
		return
	}
	p, created, err := s.eng.CreateMiniProgramOrder(n, m, window)
	if err != nil {
		s.engineError(w, err)
		return
	}
	answerCreated(w, s.awaitOrder(r, p), created)
}

// waitParam reads ?wait=N, seconds to long-poll, 0..60.
func waitParam(r *http.Request) (time.Duration, error) {
	v := r.URL.Query().Get("wait")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > 60 {
		return 0, fmt.Errorf("wait must be a whole number of seconds from 0 to 60, got %q", v)
	}
	return time.Duration(n) * time.Second, nil
}

// respondPayment answers with payment id, first waiting up to ?wait for it
// to settle.
func (s *Server) respondPayment(w http.ResponseWriter, r *http.Request, id string) {
	wait, err := waitParam(r)
	if err != nil {
		s.badRequest(w, err)
		return
	}
	var p *payflow.Payment
	if wait > 0 {
		ctx, cancel := context.WithTimeout(r.Context(), wait)
		defer cancel()
		p, err = s.eng.Wait(ctx, id)
	} else {
		p, err = s.eng.Get(id)
	}
	if err != nil {
		s.engineError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (s *Server) getPayment(w http.ResponseWriter, r *http.Request) {
	s.respondPayment(w, r, r.PathValue("id"))
}

// PaymentList is the answer of GET /v1/payments.
type PaymentList struct {
	Payments []*payflow.Payment `json:"payments"`
}

func (s *Server) listPayments(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if order := q.Get("order_id"); order != "" {
		p, err := s.eng.ByOrder(order)
		if err != nil {
			s.engineError(w, err)
			return
		}
		s.respondPayment(w, r, p.ID)
		return
	}
	day := q.Get("date")
	state := payflow.State(q.Get("state"))
	if state != "" && !state.Valid() {
		s.badRequest(w, fmt.Errorf("state %q is not a payment state (awaiting_scan, paying, in_doubt, cancelling, paid, failed, cancelled, needs_attention)", state))
		return
	}
	var ps []*payflow.Payment
	var err error
	switch {
	case day == "" && state != "" && (!state.Terminal() || state == payflow.StateNeedsAttention):
		// Open payments, whatever day they were made.
		ps, err = s.eng.Open()
	default:
		if day == "" {
			day = s.opt.Now().Format(time.DateOnly)
		}
		if _, perr := time.Parse(time.DateOnly, day); perr != nil {
			s.badRequest(w, fmt.Errorf("date must be YYYY-MM-DD, got %q", day))
			return
		}
		ps, err = s.eng.Day(day)
	}
	if err != nil {
		s.engineError(w, err)
		return
	}
	out := PaymentList{Payments: []*payflow.Payment{}}
	for _, p := range ps {
		if state == "" || p.State == state || (state == payflow.StateNeedsAttention && p.Attention()) {
			out.Payments = append(out.Payments, p)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) cancelPayment(w http.ResponseWriter, r *http.Request) {
	if err := emptyBody(r); err != nil {
		s.badRequest(w, err)
		return
	}
	p, err := s.eng.Abort(r.PathValue("id"))
	if err != nil {
		s.engineError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// emptyOr decodes an optional JSON body into v.
func emptyOr(r *http.Request, v any) error {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		return fmt.Errorf("reading the body: %v", err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	return decode(bytes.NewReader(b), v)
}

// emptyBody accepts no body, or an empty JSON object.
func emptyBody(r *http.Request) error {
	var v struct{}
	return emptyOr(r, &v)
}

// RefundResponse is the answer of POST /v1/payments/{id}/refunds.
type RefundResponse struct {
	Refund  *payflow.Refund  `json:"refund"`
	Payment *payflow.Payment `json:"payment"`
}

func (s *Server) createRefund(w http.ResponseWriter, r *http.Request) {
	n, err := DecodeRefund(r.Body)
	if err != nil {
		s.badRequest(w, err)
		return
	}
	p, ref, created, err := s.eng.Refund(r.PathValue("id"), n)
	if err != nil {
		s.engineError(w, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, RefundResponse{Refund: ref, Payment: p})
}

func (s *Server) scan(w http.ResponseWriter, r *http.Request) {
	var req ScanRequest
	if err := decode(r.Body, &req); err != nil {
		s.badRequest(w, err)
		return
	}
	p, err := s.eng.Scan(strings.TrimSpace(req.Code), "api")
	if err != nil {
		s.engineError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// Health is the answer of GET /v1/health.
type Health struct {
	Status   string                  `json:"status"` // ok | attention | degraded
	Version  string                  `json:"version"`
	Provider string                  `json:"provider"` // the default gateway
	Gateways []payflow.GatewayStatus `json:"gateways"`
	TillID   string                  `json:"till_id"`
	Journal  string                  `json:"journal"`
	InDoubt  int                     `json:"in_doubt"`
	// AwaitingCustomer counts QR payments and mini-program orders the
	// customer may still pay: open, but nothing is wrong with them.
	AwaitingCustomer int    `json:"awaiting_customer"`
	NeedsAttention   int    `json:"needs_attention"`
	RefundsInDoubt   int    `json:"refunds_in_doubt"`
	AwaitingScan     string `json:"awaiting_scan,omitempty"`
	Message          string `json:"message,omitempty"`
	// Devices are the scanners and the printer and their state (paper
	// out, disconnected): what anyone at the till may see.
	Devices []events.DeviceStatus `json:"devices"`
	// OriginAllowed says, to a page that sent an Origin, whether posd
	// allows it (a UI that can read health but is refused elsewhere).
	OriginAllowed *bool `json:"origin_allowed,omitempty"`
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	h := Health{Status: "ok", Version: s.opt.Version, Provider: s.opt.Provider, TillID: s.opt.TillID, Journal: "ok",
		Gateways: []payflow.GatewayStatus{}, Devices: []events.DeviceStatus{}}
	if s.opt.Devices != nil {
		h.Devices = append(h.Devices, s.opt.Devices()...)
	}
	if origin := r.Header.Get("Origin"); origin != "" {
		ok := s.originAllowed(r, origin)
		h.OriginAllowed = &ok
	}
	if s.opt.Gateways != nil {
		h.Gateways = s.opt.Gateways()
	}
	status := http.StatusOK
	if err := s.opt.JournalCheck(); err != nil {
		h.Status, h.Journal, status = "degraded", err.Error(), http.StatusServiceUnavailable
		h.Message = "the journal cannot be read or written: payments are refused until it can (" + err.Error() + ")"
		writeJSON(w, status, h)
		return
	}
	// Counted by the engine as payments change: health reads no journal
	// and waits for no payment, however many are being recovered.
	sum := s.eng.Summary()
	h.InDoubt, h.AwaitingCustomer, h.NeedsAttention, h.RefundsInDoubt, h.AwaitingScan =
		sum.InDoubt, sum.AwaitingCustomer, sum.NeedsAttention, sum.RefundsInDoubt, sum.AwaitingScan
	if h.NeedsAttention > 0 {
		h.Status = "attention"
		h.Message = fmt.Sprintf("%d payment(s) NEED ATTENTION: the gateway could not confirm a cancel or a refund; check each in the merchant console (GET /v1/payments?state=needs_attention)", h.NeedsAttention)
	}
	writeJSON(w, status, h)
}

// backup streams a consistent copy of the journal (bbolt's own format, a
// journal posd can open) for 'posd journal backup'.
func (s *Server) backup(w http.ResponseWriter, r *http.Request) {
	if s.opt.Backup == nil {
		writeError(w, http.StatusNotFound, "not_found", "this daemon offers no journal backup")
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="posd-journal-`+s.opt.Now().Format("20060102-150405")+`.db"`)
	w.Header().Set("Cache-Control", "no-store")
	if _, err := s.opt.Backup(w); err != nil {
		// The status is sent; a cut-short body fails the client's check.
		s.log.Error("journal backup failed", "err", err)
	}
}

// DeviceList is the answer of GET /v1/devices.
type DeviceList struct {
	Devices []events.DeviceStatus `json:"devices"`
}

func (s *Server) devices(w http.ResponseWriter, r *http.Request) {
	out := DeviceList{Devices: []events.DeviceStatus{}}
	if s.opt.Devices != nil {
		out.Devices = append(out.Devices, s.opt.Devices()...)
	}
	writeJSON(w, http.StatusOK, out)
}
