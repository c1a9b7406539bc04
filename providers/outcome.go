package providers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/tillworks/posd/internal/strictjson"
	"github.com/tillworks/posd/payflow"
)

// Row is one line of a gateway's outcome table: in an answer to Call, the
// field Field having Value means Kind. Call "*" applies to every call.
// Each gateway names its own fields (an outer result code, a business
// code, an order state, ...) and looks them up in its own order.
type Row struct {
	Call, Field, Value string
	Kind               payflow.Kind
}

// Table is a gateway's whole mapping from its answers to posd's outcome
// kinds, one row per code, so that it can be tested row by row.
type Table []Row

// Index builds the table's lookup.
func (t Table) Index() TableIndex {
	m := make(map[[3]string]payflow.Kind, len(t))
	for _, r := range t {
		m[[3]string{r.Call, r.Field, r.Value}] = r.Kind
	}
	return TableIndex{m}
}

// TableIndex looks rows up.
type TableIndex struct{ m map[[3]string]payflow.Kind }

// Lookup finds the row for call (or "*") with field = value.
func (x TableIndex) Lookup(call, field, value string) (payflow.Kind, bool) {
	if value == "" {
		return 0, false
	}
	if k, ok := x.m[[3]string{call, field, value}]; ok {
		return k, true
	}
	k, ok := x.m[[3]string{"*", field, value}]
	return k, ok
}

// Str is an answer's value that a gateway may send as a JSON string,
// number, boolean or null: gateways document strings and send numbers, or
// the other way round, and neither may break the parser. Objects and
// arrays are kept verbatim.
type Str string

// UnmarshalJSON accepts any JSON value.
func (s *Str) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || string(b) == "null":
		*s = ""
	case b[0] == '"':
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = Str(v)
	default:
		*s = Str(b)
	}
	return nil
}

// PostJSON sends body to url (see Post) and decodes the answer strictly
// into out: an answer that repeats a key, or spells one in another case,
// is refused like an unreadable one, as a *GatewayError with code
// BAD_RESPONSE. raw is the answer's bytes either way.
func PostJSON(ctx context.Context, c *http.Client, gateway, url string, header http.Header, body []byte, out any) (status int, raw []byte, err error) {
	status, raw, err = Post(ctx, c, url, header, body)
	if err != nil {
		return status, raw, fmt.Errorf("%s: %w", gateway, err)
	}
	if jerr := strictjson.Unmarshal(raw, out); jerr != nil {
		why := "unreadable"
		if errors.Is(jerr, strictjson.ErrAmbiguous) {
			why = "ambiguous (" + jerr.Error() + ")"
		}
		return status, raw, &GatewayError{Gateway: gateway, Status: status, Code: "BAD_RESPONSE", Message: fmt.Sprintf("%s answer (HTTP %d)", why, status)}
	}
	return status, raw, nil
}
