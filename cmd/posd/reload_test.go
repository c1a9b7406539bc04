package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReloadOrigins: api.allowed_origins changes without a restart, by
// 'posd service reload' (through the API) and by SIGHUP; a configuration
// that does not load changes nothing.
func TestReloadOrigins(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon")
	}
	e := newCrashEnvWith(t, "[gateways.demo]\ntype = \"demo\"\n")
	d := e.start("")
	from := func(origin string) int {
		req, _ := http.NewRequest("GET", d.api+"/v1/payments", nil)
		req.Header.Set("Authorization", "Bearer "+crashToken)
		req.Header.Set("Origin", origin)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	setOrigins := func(list string) {
		b, err := os.ReadFile(e.config)
		require.NoError(t, err)
		lines := strings.Split(string(b), "\n")
		var out []string
		for _, l := range lines {
			if strings.HasPrefix(l, "allowed_origins") {
				continue
			}
			out = append(out, l)
			if l == "[api]" {
				out = append(out, "allowed_origins = "+list)
			}
		}
		require.NoError(t, os.WriteFile(e.config, []byte(strings.Join(out, "\n")), 0o600))
	}
	assert.Equal(t, 403, from("http://localhost:5173"))

	setOrigins(`["http://localhost:*"]`)
	var out bytes.Buffer
	code := run([]string{"service", "reload", "--config", e.config}, &out, &out)
	require.Equal(t, 0, code, out.String())
	assert.Contains(t, out.String(), `api.allowed_origins now ["http://localhost:*"]`)
	assert.Equal(t, 200, from("http://localhost:5173"), "reloaded without a restart")

	setOrigins(`["null"]`)
	require.NoError(t, d.cmd.Process.Signal(syscall.SIGHUP))
	deadline := time.Now().Add(10 * time.Second)
	for from("null") != 200 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	assert.Equal(t, 200, from("null"), "SIGHUP reloads")
	assert.Equal(t, 403, from("http://localhost:5173"))

	setOrigins(`["*"]`)
	out.Reset()
	code = run([]string{"service", "reload", "--config", e.config}, &out, &out)
	assert.NotEqual(t, 0, code)
	assert.Contains(t, out.String(), `"*" would let every web page`, "the client names what is wrong")
	var refused map[string]map[string]string
	assert.Equal(t, 400, d.request("POST", "/v1/config/reload", nil, &refused))
	assert.Contains(t, refused["error"]["message"], "nothing changed")
	assert.Equal(t, 200, from("null"), "a configuration that does not load changes nothing")
}

// TestTokenRotate: 'posd token' prints the generated token; --rotate
// replaces it and the running daemon takes the new one at once.
func TestTokenRotate(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon")
	}
	e := newCrashEnvWith(t, "[gateways.demo]\ntype = \"demo\"\n")
	b, err := os.ReadFile(e.config)
	require.NoError(t, err)
	var kept []string
	for _, l := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(l, "token = ") {
			kept = append(kept, l)
		}
	}
	require.NoError(t, os.WriteFile(e.config, []byte(strings.Join(kept, "\n")), 0o600))
	d := e.start("")
	status := func(tok string) int {
		req, _ := http.NewRequest("GET", d.api+"/v1/payments", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	var out bytes.Buffer
	require.Equal(t, 0, run([]string{"token", "--config", e.config}, &out, &out), out.String())
	old := strings.TrimSpace(out.String())
	assert.Len(t, old, 48)
	assert.Equal(t, 200, status(old))

	out.Reset()
	require.Equal(t, 0, run([]string{"token", "--rotate", "--config", e.config}, &out, &out), out.String())
	fresh := strings.TrimSpace(out.String())
	assert.Len(t, fresh, 48)
	assert.NotEqual(t, old, fresh)
	assert.Equal(t, 401, status(old), "the old token is refused at once")
	assert.Equal(t, 200, status(fresh))
	fi, err := os.Stat(strings.TrimSuffix(e.dir, "/") + "/data/api-token")
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
}

// TestPairCLI: 'posd pair' shows a code the UI trades for the token.
func TestPairCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon")
	}
	e := newCrashEnvWith(t, "[gateways.demo]\ntype = \"demo\"\n")
	d := e.start("")
	var out bytes.Buffer
	require.Equal(t, 0, run([]string{"pair", "--config", e.config}, &out, &out), out.String())
	m := regexp.MustCompile(`Pairing code: (\d{6})`).FindStringSubmatch(out.String())
	require.Len(t, m, 2, out.String())
	resp, err := http.Post(d.api+"/v1/pair", "application/json", strings.NewReader(`{"code":"`+m[1]+`"}`))
	require.NoError(t, err)
	defer resp.Body.Close()
	var got struct{ Token string }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
	assert.Equal(t, crashToken, got.Token)
}
