package localapi

import (
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var updateOpenAPI = flag.Bool("update-openapi", false, "rewrite docs/openapi.json")

// TestOpenAPI holds the description to the server: every route it serves
// is described and nothing else, and docs/openapi.json is the document the
// handlers' types give (a field added to an answer and not to the file
// fails here: go test ./localapi -run TestOpenAPI -update-openapi).
func TestOpenAPI(t *testing.T) {
	s := New(Options{Metrics: http.NotFoundHandler()})
	var described []string
	for _, op := range operations {
		described = append(described, op.Method+" "+op.Path)
	}
	sort.Strings(described)
	served := append([]string(nil), s.routes...)
	sort.Strings(served)
	assert.Equal(t, served, described, "every route described, and only those")

	doc := OpenAPI()
	b, err := json.MarshalIndent(doc, "", "  ")
	require.NoError(t, err)
	b = append(b, '\n')
	const path = "../docs/openapi.json"
	if *updateOpenAPI {
		require.NoError(t, os.WriteFile(path, b, 0o644))
	}
	committed, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./localapi -run TestOpenAPI -update-openapi")
	assert.Equal(t, string(committed), string(b), "docs/openapi.json is not what the handlers' types give: go test ./localapi -run TestOpenAPI -update-openapi")

	var v struct {
		OpenAPI    string                               `json:"openapi"`
		Paths      map[string]map[string]map[string]any `json:"paths"`
		Components struct {
			Schemas map[string]struct {
				Properties map[string]any `json:"properties"`
				Required   []string       `json:"required"`
			} `json:"schemas"`
		} `json:"components"`
	}
	require.NoError(t, json.Unmarshal(b, &v))
	assert.Equal(t, "3.1.0", v.OpenAPI)
	pay := v.Components.Schemas["Payment"]
	for _, f := range []string{"id", "order_id", "amount", "state", "auth_code_masked", "refunds", "discounts", "miniprogram"} {
		assert.Contains(t, pay.Properties, f)
	}
	assert.NotContains(t, pay.Properties, "AuthCode", "json:\"-\" stays out")
	assert.Contains(t, pay.Required, "state")
	assert.NotContains(t, pay.Required, "discounts", "omitempty is optional")
	for path, ops := range v.Paths {
		for method, op := range ops {
			assert.Contains(t, op, "responses", "%s %s", method, path)
			assert.NotEmpty(t, op["operationId"], "%s %s", method, path)
		}
	}
}
