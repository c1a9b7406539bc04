package origin_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillworks/posd/internal/origin"
)

func TestParseOrigin(t *testing.T) {
	for in, want := range map[string]string{
		"http://localhost:3000":    "http://localhost:3000",
		"HTTP://LocalHost:3000/":   "http://localhost:3000",
		"http://localhost:80":      "http://localhost",
		"https://till.example:443": "https://till.example",
		"http://127.0.0.1:*":       "http://127.0.0.1:*",
		"http://[::1]:5173":        "http://[::1]:5173",
		"null":                     "null",
		"NULL":                     "null",
		"app://posd-ui":            "app://posd-ui",
		"chrome-extension://abc":   "chrome-extension://abc",
	} {
		o, err := origin.Parse(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, o.String(), in)
	}
	for in, says := range map[string]string{
		"*":                        "every web page",
		"localhost:3000":           "not an origin",
		"http://x/path":            "no path",
		"http://user@x":            "no path",
		"file:///C:/ui/index.html": "null",
		"http://till.example:*":    "port wildcard",
		"app://x:*":                "port wildcard",
		"http://localhost:99999":   "not a port",
		"http://:3000":             "no host",
		"ht tp://x":                "scheme",
	} {
		_, err := origin.Parse(in)
		require.Error(t, err, in)
		assert.Contains(t, err.Error(), says, in)
	}
}

func TestOriginMatch(t *testing.T) {
	rule := func(s string) origin.Origin {
		o, err := origin.Parse(s)
		require.NoError(t, err)
		return o
	}
	for _, tc := range []struct {
		rule, origin string
		want         bool
	}{
		{"http://localhost:3000", "http://localhost:3000", true},
		{"http://localhost:3000", "http://LOCALHOST:3000", true},
		{"http://localhost:3000", "http://localhost:3001", false},
		{"http://localhost:3000", "http://127.0.0.1:3000", false},
		{"http://localhost:*", "http://localhost:5173", true},
		{"http://localhost:*", "http://localhost", true},
		{"http://localhost:*", "https://localhost:5173", false},
		{"https://till.example", "https://till.example:443", true},
		{"https://till.example", "https://till.example", true},
		{"null", "null", true},
		{"http://localhost:3000", "null", false},
		{"null", "http://localhost:3000", false},
		{"app://posd-ui", "app://posd-ui", true},
		{"app://posd-ui", "app://other", false},
		{"http://localhost:*", "http://localhost:*", false},
		{"http://localhost:3000", "", false},
	} {
		assert.Equal(t, tc.want, rule(tc.rule).Match(tc.origin), "%s vs %s", tc.rule, tc.origin)
	}
}
