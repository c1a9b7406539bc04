package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// chromium finds Debian's Chromium. CI installs it (.ci/run); elsewhere
// the browser test is skipped without it.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no chromium: .ci/run installs Debian's chromium")
	}
	t.Skip("no chromium")
	return ""
}

// pageServer serves testdata/browser.html (the cash register's page) and
// takes the page's report.
type pageServer struct {
	base    string // http://localhost:PORT
	port    string
	reports chan map[string]any
}

func newPageServer(t *testing.T) *pageServer {
	t.Helper()
	page, err := os.ReadFile("testdata/browser.html")
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ps := &pageServer{base: "http://localhost:" + port, port: port, reports: make(chan map[string]any, 4)}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*") // the report of a file:// page is cross-origin
		switch r.URL.Path {
		case "/ui.html":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write(page)
		case "/report":
			var v map[string]any
			b, _ := io.ReadAll(r.Body)
			if json.Unmarshal(b, &v) == nil {
				ps.reports <- v
			}
		default:
			http.NotFound(w, r)
		}
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ps
}

// browse opens pageURL in headless Chromium and returns what the page
// reported.
func browse(t *testing.T, chrome string, ps *pageServer, pageURL string) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chrome, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+profileDir(t), pageURL)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	select {
	case r := <-ps.reports:
		return r
	case <-ctx.Done():
		t.Fatalf("the page never reported (%s):\n%s", pageURL, stderr.String())
	}
	return nil
}

// TestBrowser runs a cash register's page in a real headless Chromium
// against a real posd: served from http://localhost:PORT it creates a
// payment and sees paying → paid through EventSource, cancels one, refunds
// one, shows the receipt image (<img> with access_token), and after being
// disconnected across a payment gets it on reconnecting; served from an
// origin posd does not allow it reads posd's refusal, not "Failed to
// fetch"; a file:// page works with "null" allowed and is refused clearly
// once it is not (reloaded, no restart).
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Chromium and the daemon")
	}
	chrome := chromium(t)
	ps := newPageServer(t)
	e := newCrashEnvWith(t, "[gateways.demo]\ntype = \"demo\"\ndelay = \"0.3s\"\n")
	setOrigins := func(list ...string) {
		b, err := os.ReadFile(e.config)
		require.NoError(t, err)
		var out []string
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "allowed_origins") {
				continue
			}
			out = append(out, l)
			if l == "[api]" {
				q, _ := json.Marshal(list)
				out = append(out, "allowed_origins = "+string(q))
			}
		}
		require.NoError(t, os.WriteFile(e.config, []byte(strings.Join(out, "\n")), 0o600))
	}
	setOrigins(ps.base, "null")
	d := e.start("")
	page := func(origin, mode string) string {
		q := url.Values{"posd": {d.api}, "token": {crashToken}, "mode": {mode}, "report": {ps.base + "/report"}}
		return origin + "/ui.html?" + q.Encode()
	}

	r := browse(t, chrome, ps, page(ps.base, "main"))
	t.Logf("page: %v", r)
	assert.Nil(t, r["exception"])
	assert.Equal(t, true, r["snapshot"], "the stream starts with a snapshot")
	assert.EqualValues(t, 201, r["create"])
	assert.Equal(t, []any{"paying", "paid"}, r["states"], "paying → paid through EventSource")
	assert.Equal(t, "cancelled", r["cancelled"])
	assert.EqualValues(t, 201, r["refund"])
	assert.Equal(t, "loaded", r["receipt"], "the receipt image loads with ?access_token=")
	assert.EqualValues(t, 576, r["receiptWidth"], "80 mm: 576 dots")
	assert.Equal(t, true, r["replayed"], "the payment made while disconnected arrives on reconnecting")
	assert.Equal(t, false, r["replaySnapshot"], "a replay, not a snapshot")

	// The same page from an origin posd does not list.
	r = browse(t, chrome, ps, page("http://127.0.0.1:"+ps.port, "refused"))
	assert.Nil(t, r["fetchError"], "the page reads the refusal instead of 'Failed to fetch'")
	assert.EqualValues(t, 403, r["status"])
	errObj, _ := r["error"].(map[string]any)
	assert.Equal(t, "forbidden_origin", errObj["code"])
	assert.Contains(t, fmt.Sprint(errObj["message"]), "add \"http://127.0.0.1:"+ps.port+"\" to [api] allowed_origins")
	assert.EqualValues(t, 200, r["health"], "health answers any page: posd is up")

	// A file:// page: allowed as "null", then not (reloaded).
	dir := t.TempDir()
	b, err := os.ReadFile("testdata/browser.html")
	require.NoError(t, err)
	file := filepath.Join(dir, "ui.html")
	require.NoError(t, os.WriteFile(file, b, 0o644))
	fileURL := func() string {
		q := url.Values{"posd": {d.api}, "token": {crashToken}, "mode": {"file"}, "report": {ps.base + "/report"}}
		return "file://" + file + "?" + q.Encode()
	}
	r = browse(t, chrome, ps, fileURL())
	assert.Contains(t, []any{"null", "file://"}, r["origin"], "a file:// page (its requests carry Origin: null)")
	assert.EqualValues(t, 200, r["status"], "a file:// page works with null allowed: %v", r)
	setOrigins(ps.base)
	require.Equal(t, 200, d.request("POST", "/v1/config/reload", nil, nil))
	r = browse(t, chrome, ps, fileURL())
	assert.EqualValues(t, 403, r["status"], "and is refused, readably, without: %v", r)
	errObj, _ = r["error"].(map[string]any)
	assert.Contains(t, fmt.Sprint(errObj["message"]), `add "null"`)
}

// TestStatusPage renders posd's own status page in headless Chromium at
// 1024×768: without the token it shows the till's state, the printer that
// cannot be reached as offline; with it, today's payments. The screenshot
// is kept in $POSD_ARTIFACTS (CI: dist/artifacts/status-page.png).
func TestStatusPage(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Chromium and the daemon")
	}
	chrome := chromium(t)
	closed := freePort(t) // nothing listens there: the printer is away
	e := newCrashEnvWith(t, "[gateways.demo]\ntype = \"demo\"\ndelay = \"0.1s\"\n[printer]\ntype = \"tcp\"\naddress = \""+closed+"\"\n")
	d := e.start("")
	require.Equal(t, 201, d.request("POST", "/v1/payments", map[string]any{"order_id": "SHOWN-1", "amount": 1250, "auth_code": "134567890123456789"}, nil))
	d.settled("SHOWN-1")
	render := func(args ...string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
			"--disable-background-networking", "--disable-component-update", "--disable-sync", "--lang=en-US",
			"--user-data-dir=" + profileDir(t), "--window-size=1024,768",
			// Virtual time: the page's first fetches are answered before it
			// is captured; its event stream opens later (2 s), as its
			// refresh does (5 s).
			"--virtual-time-budget=1500"}
		cmd := exec.CommandContext(ctx, chrome, append(base, args...)...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		cmd.WaitDelay = time.Second // Chromium's helpers may keep its output open after it exits
		out, err := cmd.Output()
		require.NoError(t, err, "%s", stderr.String())
		return string(out)
	}
	var dom string
	for i := 0; i < 3 && !strings.Contains(dom, "offline"); i++ {
		dom = render("--dump-dom", d.api+"/")
	}
	assert.Contains(t, dom, "till-crash", "the till")
	assert.Contains(t, dom, "printer (tcp)")
	assert.Regexp(t, `pill bad">offline`, dom, "the printer that cannot be reached shows as offline")
	assert.Contains(t, dom, "Enter the API token", "no payments without the token")
	assert.NotContains(t, dom, "SHOWN-1")

	for i := 0; i < 3 && !strings.Contains(dom, "SHOWN-1"); i++ {
		dom = render("--dump-dom", d.api+"/#token="+crashToken)
	}
	assert.Contains(t, dom, "SHOWN-1", "with the token: today's payments")
	assert.Contains(t, dom, "¥12.50")

	dir := os.Getenv("POSD_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	shot := filepath.Join(dir, "status-page.png")
	render("--screenshot="+shot, d.api+"/#token="+crashToken)
	fi, err := os.Stat(shot)
	require.NoError(t, err)
	assert.Greater(t, fi.Size(), int64(5000), "a screenshot with something on it")
	t.Logf("status page screenshot: %s", shot)
}

// TestJSClient runs clients/js's tests (node --test) against a real posd.
func TestJSClient(t *testing.T) {
	if testing.Short() {
		t.Skip("runs node and the daemon")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("no node: .ci/run installs nodejs")
		}
		t.Skip("no node")
	}
	e := newCrashEnvWith(t, "[gateways.demo]\ntype = \"demo\"\ndelay = \"0.2s\"\n")
	d := e.start("")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", "test/")
	cmd.Dir = "../../clients/js"
	cmd.Env = append(os.Environ(), "POSD_URL="+d.api, "POSD_TOKEN="+crashToken)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s\nposd's log:\n%s", out, d.output())
	assert.Contains(t, string(out), "# pass 4")
	assert.Contains(t, string(out), "# fail 0")
}

// TestWebUIExample runs docs/web-ui.md's example page as pasted (its token
// and the daemon's address filled in) in headless Chromium, and reads what
// it logs to the console: it pays and follows the payment to paid.
func TestWebUIExample(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Chromium and the daemon")
	}
	chrome := chromium(t)
	doc, err := os.ReadFile("../../docs/web-ui.md")
	require.NoError(t, err)
	_, rest, ok := strings.Cut(string(doc), "```html\n")
	require.True(t, ok, "docs/web-ui.md has an html example")
	example, _, _ := strings.Cut(rest, "```")

	// The page is served from an origin of its own, which the
	// configuration allows.
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: http.FileServer(http.Dir(dir))}
	go srv.Serve(ln)
	defer srv.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	e := newCrashEnvWith(t, "[gateways.demo]\ntype = \"demo\"\ndelay = \"0.2s\"\n")
	b, err := os.ReadFile(e.config)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(e.config, []byte(strings.Replace(string(b), "[api]\n", "[api]\nallowed_origins = [\"http://localhost:"+port+"\"]\n", 1)), 0o600))
	d := e.start("")
	page := strings.NewReplacer("http://127.0.0.1:8421", d.api, "YOUR-TOKEN", crashToken).Replace(example)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "example.html"), []byte(page), 0o644))

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chrome, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--enable-logging=stderr", "--v=0",
		"--user-data-dir="+profileDir(t), "http://localhost:"+port+"/example.html")
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	var logged strings.Builder
	buf := make([]byte, 4096)
	for !strings.Contains(logged.String(), " paid") {
		n, err := stderr.Read(buf)
		logged.Write(buf[:n])
		if err != nil || ctx.Err() != nil {
			t.Fatalf("the example never logged a paid payment:\n%s", logged.String())
		}
	}
	out := logged.String()
	assert.Contains(t, out, "open payments", "the snapshot")
	assert.Regexp(t, `created pay_[a-z0-9]+ paying`, out)
	assert.Regexp(t, `A\d+ paid`, out)
}

// profileDir is a Chromium profile directory for one run. Chromium's
// helper processes may still write into it after the browser is killed,
// so it is removed with a few tries rather than by t.TempDir, whose
// cleanup fails the test when a file appears during its removal.
func profileDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "posd-chromium-")
	require.NoError(t, err)
	t.Cleanup(func() {
		for i := 0; i < 50; i++ {
			if os.RemoveAll(dir) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("Chromium's profile %s is still being written to; left behind", dir)
	})
	return dir
}
