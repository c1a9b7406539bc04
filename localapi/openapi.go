package localapi

import (
	"encoding/json"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/tillworks/posd/payflow"
)

// operation describes one route for the OpenAPI document. The document is
// built from this table and the Go types the handlers read and write, so a
// field cannot be missing from it; a test holds the table to the routes
// the server registers, and docs/openapi.json to the document.
type operation struct {
	Method, Path, Summary string
	Query                 []string // query parameters, "name: what"
	Body                  any      // the request body's type; nil: none
	Answer                any      // the success answer's type; nil: Content
	Status                int      // success status
	Content               string   // a non-JSON answer's media type
	Errors                []string // error codes it may answer
	Public                bool     // no token needed
	QueryToken            bool     // ?access_token= taken
}

var operations = []operation{
	{Method: "GET", Path: "/", Summary: "The status page (HTML; what it shows beyond health needs the token)", Status: 200, Content: "text/html", Public: true},
	{Method: "GET", Path: "/metrics", Summary: "Prometheus metrics (text exposition format)", Status: 200, Content: "text/plain"},
	{Method: "GET", Path: "/v1/health", Summary: "Is posd up, and how are the journal, gateways and payments (any origin, no token)", Answer: Health{}, Status: 200, Public: true},
	{Method: "GET", Path: "/v1/openapi.json", Summary: "This description (no token)", Answer: map[string]any{}, Status: 200, Public: true},
	{Method: "GET", Path: "/v1/payments", Summary: "The payment of an order (order_id), or the payments of a day and state", Query: []string{"order_id: the cash register's order id", "date: YYYY-MM-DD, default today", "state: a payment state", "wait: seconds (0-60) to wait for the order's payment to settle"},
		Answer: PaymentList{}, Status: 200, Errors: []string{"invalid_request", "not_found"}},
	{Method: "POST", Path: "/v1/payments", Summary: "Create a payment (with auth_code: pay now; without: wait for a scan; method qr: a QR code the customer scans, answered once shown)", Body: CreatePaymentRequest{}, Answer: payflow.Payment{}, Status: 201,
		Errors: []string{"invalid_request", "invalid_auth_code", "order_conflict", "scanner_busy", "not_supported"}},
	{Method: "GET", Path: "/v1/payments/{id}/qr.png", Summary: "A QR payment's code as a PNG image, for UIs that only show images", Query: []string{"size: pixels per module, 1-20 (default 8)", "access_token: the token (for <img src>)"},
		Status: 200, Content: "image/png", Errors: []string{"not_found", "no_qr_code", "invalid_request"}, QueryToken: true},
	{Method: "GET", Path: "/v1/payments/{id}", Summary: "A payment", Query: []string{"wait: seconds (0-60) to wait for it to settle"}, Answer: payflow.Payment{}, Status: 200, Errors: []string{"not_found", "invalid_request"}},
	{Method: "POST", Path: "/v1/payments/{id}/cancel", Summary: "The cashier's cancel", Answer: payflow.Payment{}, Status: 200, Errors: []string{"not_found", "not_cancellable"}},
	{Method: "POST", Path: "/v1/payments/{id}/refunds", Summary: "Refund part or all of a paid payment", Body: RefundRequest{}, Answer: RefundResponse{}, Status: 201,
		Errors: []string{"invalid_request", "not_found", "not_refundable", "refund_too_large", "refund_conflict", "gateway_not_configured"}},
	{Method: "POST", Path: "/v1/miniprogram-orders", Summary: "Place an order the customer pays in a WeChat mini program", Body: MiniProgramOrderRequest{}, Answer: payflow.Payment{}, Status: 201,
		Errors: []string{"invalid_request", "not_supported", "order_conflict"}},
	{Method: "POST", Path: "/v1/scans", Summary: "A scanned code for the payment awaiting one", Body: ScanRequest{}, Answer: payflow.Payment{}, Status: 200, Errors: []string{"invalid_auth_code", "no_payment_waiting"}},
	{Method: "GET", Path: "/v1/events", Summary: "Server-Sent Events: payment, refund, scan, device; snapshot and refetch", Query: []string{"access_token: the token (EventSource cannot set headers)", "last_event_id: replay the events after this one"},
		Status: 200, Content: "text/event-stream", QueryToken: true},
	{Method: "GET", Path: "/v1/reports/daily", Summary: "The day's totals (日结)", Query: []string{"date: YYYY-MM-DD, default today"}, Answer: DailyReport{}, Status: 200, Errors: []string{"invalid_request"}},
	{Method: "GET", Path: "/v1/devices", Summary: "The scanners and the printer, and their state", Answer: DeviceList{}, Status: 200},
	{Method: "GET", Path: "/v1/payments/{id}/receipt", Summary: "A receipt as it prints: text, PNG or ESC/POS bytes", Query: []string{"format: text (default), png or escpos", "refund_id: the refund's receipt", "access_token: the token (for <img src>)"},
		Status: 200, Content: "text/plain", Errors: []string{"not_found", "no_receipt", "no_printer", "invalid_request", "no_font"}, QueryToken: true},
	{Method: "POST", Path: "/v1/payments/{id}/receipt", Summary: "Print a copy, marked 重印", Body: map[string]string{}, Answer: JobResponse{}, Status: 202, Errors: []string{"not_found", "no_receipt", "no_printer"}},
	{Method: "POST", Path: "/v1/printer/test", Summary: "Print a test page saying what posd assumes of the printer", Answer: JobResponse{}, Status: 202, Errors: []string{"no_printer"}},
	{Method: "GET", Path: "/v1/journal/backup", Summary: "A consistent copy of the journal", Status: 200, Content: "application/octet-stream"},
	{Method: "POST", Path: "/v1/pair/code", Summary: "Open a pairing code (posd pair): a UI trades it once, within 5 minutes, for the token", Answer: PairCode{}, Status: 201},
	{Method: "POST", Path: "/v1/pair", Summary: "Trade a pairing code for the token (no token; an allowed origin)", Body: PairRequest{}, Answer: PairResult{}, Status: 200,
		Errors: []string{"invalid_request", "wrong_code", "pairing_closed"}, Public: true},
	{Method: "POST", Path: "/v1/config/reload", Summary: "Read the configuration again (allowed_origins, the token)", Answer: ReloadResult{}, Status: 200, Errors: []string{"invalid_configuration"}},
}

// OpenAPI returns posd's API as an OpenAPI 3.1 document.
func OpenAPI() map[string]any {
	g := &schemaGen{defs: map[string]any{}}
	paths := map[string]map[string]any{}
	for _, op := range operations {
		o := map[string]any{"summary": op.Summary, "operationId": operationID(op)}
		var params []any
		if strings.Contains(op.Path, "{id}") {
			params = append(params, map[string]any{"name": "id", "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
		}
		for _, q := range op.Query {
			name, desc, _ := strings.Cut(q, ": ")
			params = append(params, map[string]any{"name": name, "in": "query", "description": desc, "schema": map[string]any{"type": "string"}})
		}
		if params != nil {
			o["parameters"] = params
		}
		if op.Body != nil {
			o["requestBody"] = map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{"schema": g.schema(reflect.TypeOf(op.Body))}}}
		}
		ok := map[string]any{"description": http.StatusText(op.Status)}
		switch {
		case op.Answer != nil:
			ok["content"] = map[string]any{"application/json": map[string]any{"schema": g.schema(reflect.TypeOf(op.Answer))}}
		case op.Content != "":
			ok["content"] = map[string]any{op.Content: map[string]any{"schema": map[string]any{"type": "string"}}}
		}
		responses := map[string]any{itoa3(op.Status): ok}
		errSchema := g.schema(reflect.TypeOf(errorBody{}))
		codes := append([]string(nil), op.Errors...)
		if !op.Public {
			codes = append(codes, "unauthorized")
		}
		codes = append(codes, "forbidden_host", "forbidden_origin", "journal_unavailable", "shutting_down")
		sort.Strings(codes)
		responses["default"] = map[string]any{
			"description": "An error: " + strings.Join(codes, ", "),
			"content":     map[string]any{"application/json": map[string]any{"schema": errSchema}},
		}
		o["responses"] = responses
		switch {
		case op.Public:
			o["security"] = []any{}
		case op.QueryToken:
			o["security"] = []any{map[string]any{"bearer": []any{}}, map[string]any{"access_token": []any{}}}
		}
		if paths[op.Path] == nil {
			paths[op.Path] = map[string]any{}
		}
		paths[op.Path][strings.ToLower(op.Method)] = o
	}
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{"title": "posd local API", "version": "v1",
			"description": "The API a cash register talks to on the till: see docs/api.md and docs/web-ui.md. Money is integer fen."},
		"servers":  []any{map[string]any{"url": "http://127.0.0.1:8421"}},
		"security": []any{map[string]any{"bearer": []any{}}},
		"paths":    paths,
		"components": map[string]any{
			"schemas": g.defs,
			"securitySchemes": map[string]any{
				"bearer":       map[string]any{"type": "http", "scheme": "bearer", "description": "api.token, or <data_dir>/api-token (posd token)"},
				"access_token": map[string]any{"type": "apiKey", "in": "query", "name": "access_token"},
			},
		},
	}
}

func operationID(op operation) string {
	s := strings.ToLower(op.Method)
	for _, part := range strings.Split(strings.Trim(op.Path, "/"), "/") {
		part = strings.Trim(part, "{}")
		for _, w := range strings.FieldsFunc(part, func(r rune) bool { return r == '-' || r == '.' || r == '_' }) {
			s += strings.ToUpper(w[:1]) + w[1:]
		}
	}
	return s
}

func itoa3(n int) string { b, _ := json.Marshal(n); return string(b) }

// schemaGen turns Go types into JSON Schema, named structs into
// components.
type schemaGen struct{ defs map[string]any }

var (
	timeType = reflect.TypeOf(time.Time{})
	rawType  = reflect.TypeOf(json.RawMessage{})
)

func (g *schemaGen) schema(t reflect.Type) map[string]any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case t == rawType:
		return map[string]any{"type": "integer", "description": "integer fen"}
	}
	switch t.Kind() {
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice, reflect.Array:
		return map[string]any{"type": "array", "items": g.schema(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.schema(t.Elem())}
	case reflect.Interface:
		return map[string]any{}
	case reflect.Struct:
		name := t.Name()
		if name == "" {
			return g.object(t)
		}
		if _, ok := g.defs[name]; !ok {
			g.defs[name] = map[string]any{} // placeholder: recursive types
			g.defs[name] = g.object(t)
		}
		return map[string]any{"$ref": "#/components/schemas/" + name}
	}
	return map[string]any{}
}

// object is a struct's schema: its JSON fields, those without omitempty
// required.
func (g *schemaGen) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []string
	for _, f := range reflect.VisibleFields(t) {
		if !f.IsExported() || f.Anonymous {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		s := g.schema(f.Type)
		if f.Type.Kind() == reflect.Pointer {
			s = map[string]any{"oneOf": []any{s, map[string]any{"type": "null"}}}
		}
		props[name] = s
		if !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero") {
			required = append(required, name)
		}
	}
	sort.Strings(required)
	o := map[string]any{"type": "object", "properties": props}
	if required != nil {
		o["required"] = required
	}
	return o
}

func (s *Server) openapi(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, OpenAPI())
}
