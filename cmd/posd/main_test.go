package main

import (
	"bytes"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillworks/posd/providers/shouqianba/sqbtest"
)

func TestCLIExitCodes(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.toml")
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(good, []byte("till_id = \"t1\"\n[payflow]\npoll_interval = \"3s\"\n"), 0o600)
	os.WriteFile(bad, []byte("[payflow]\npoll_interval = \"soon\"\n"), 0o600)
	badLogo := filepath.Join(dir, "logo.toml")
	os.WriteFile(badLogo, []byte("[printer]\nlogo = \"/nonexistent.png\"\n"), 0o600)
	sqb := filepath.Join(dir, "sqb.toml")
	os.WriteFile(sqb, []byte(fmt.Sprintf("data_dir = %q\ntill_id = \"t9\"\n[api]\nlisten = \"127.0.0.1:0\"\n[provider]\nname = \"shouqianba\"\n", filepath.Join(dir, "sqbdata"))), 0o600)
	noTill := filepath.Join(dir, "notill.toml")
	os.WriteFile(noTill, []byte("[provider]\nname = \"shouqianba\"\n[provider.shouqianba]\nterminal_sn = \"1\"\nterminal_key = \"k\"\n"), 0o600)
	tests := []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{[]string{"version"}, 0, "posd ", ""},
		{[]string{"config", "check", "--config", good}, 0, "ok", ""},
		{[]string{"config", "check", "--config", bad}, 2, "", "payflow.poll_interval"},
		{[]string{"config", "check"}, 2, "", "needs --config"},
		{[]string{"config", "check", "--config", badLogo}, 2, "", "printer.logo"},
		{[]string{"config", "show", "--config", good}, 0, `till_id = "t1"`, ""},
		{[]string{"run", "--config", bad}, 2, "", "payflow.poll_interval"},
		{[]string{"run", "--bogus"}, 2, "", "bogus"},
		{[]string{"run", "--config", sqb}, 2, "", "posd provider activate"},
		{[]string{"run", "--config", noTill}, 2, "", "till_id: must be set when a real gateway"},
		{[]string{"journal"}, 2, "", "usage: posd journal"},
		{[]string{"journal", "backup", "--data-dir", dir}, 2, "", "usage: posd journal backup FILE"},
		{[]string{"frobnicate"}, 2, "", "unknown command"},
		{nil, 2, "", "Usage"},
		{[]string{"pay", "--config", good, "--data-dir", dir, "--order", "A1"}, 2, "", "--amount"},
		{[]string{"status", "--api", "http://127.0.0.1:1", "--token", "x", "pay_x"}, 1, "", "cannot reach posd"},
	}
	for _, tc := range tests {
		var out, errb bytes.Buffer
		code := run(tc.args, &out, &errb)
		assert.Equal(t, tc.code, code, "%v: %s", tc.args, errb.String())
		assert.Contains(t, out.String(), tc.stdout, "%v", tc.args)
		assert.Contains(t, errb.String(), tc.stderr, "%v", tc.args)
	}
}

// TestClientCommands runs the client commands against a running daemon.
func TestClientCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon")
	}
	e := newCrashEnv(t)
	e.start("")
	cli := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(append(args, "--config", e.config), &out, &errb)
		return code, out.String(), errb.String()
	}
	run2 := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(args, &out, &errb)
		return code, out.String(), errb.String()
	}
	code, out, errs := cli("pay", "--amount", "1250", "--order", "C1", "--code", "134567890123456789", "--wait")
	assert.Equal(t, 0, code, errs)
	assert.Contains(t, out, "¥12.50  PAID")
	id := strings.Fields(out)[1]

	code, out, _ = cli("status", id)
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "order C1")

	code, out, _ = cli("status")
	assert.Equal(t, 0, code, out)
	assert.Contains(t, out, ": OK")
	assert.Contains(t, out, "gateway demo (default): last answer 20")

	code, out, errs = cli("refund", id, "--amount", "250", "--refund-id", "R1")
	assert.Equal(t, 0, code, errs)
	assert.Contains(t, out, "refund R1 of ¥2.50")

	code, out, _ = cli("pay", "--amount", "100", "--order", "C2")
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "AWAITING_SCAN")
	waiting := strings.Fields(out)[1]
	code, out, _ = cli("scan", "284567890123456789")
	assert.Equal(t, 0, code)
	assert.Contains(t, out, waiting)

	code, out, _ = cli("pay", "--amount", "100", "--order", "C3", "--code", "134567890123450001", "--wait")
	assert.Equal(t, exitNotPaid, code, "a declined payment exits 4")
	assert.Contains(t, out, "INSUFFICIENT_BALANCE")

	code, _, errs = cli("cancel", id)
	assert.Equal(t, 1, code)
	assert.Contains(t, errs, "not_cancellable")

	// A backup while the daemon runs comes from the daemon (the file is locked).
	backup := filepath.Join(t.TempDir(), "backup.db")
	code, out, errs = cli("journal", "backup", backup)
	assert.Equal(t, 0, code, errs)
	assert.Contains(t, out, "from the running posd")
	code, _, errs = cli("journal", "check")
	assert.Equal(t, 1, code, "the running daemon's journal is locked")
	assert.Contains(t, errs, "another posd running")
	code, out, _ = run2("journal", "check", "--file", backup)
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "ok (")

	code, out, _ = cli("receipt", id)
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "收款凭证")
	png := filepath.Join(t.TempDir(), "r.png")
	code, _, errs = cli("receipt", id, "--png", png)
	if code == 0 {
		b, _ := os.ReadFile(png)
		assert.Equal(t, "\x89PNG", string(b[:4]))
	} else {
		assert.Contains(t, errs, "unifont")
	}
	code, out, _ = cli("receipt", id, "--reprint")
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "reprint queued")
	code, out, _ = cli("printer", "test")
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "test page queued")

	code, out, _ = cli("report", "--json")
	assert.Equal(t, 0, code)
	assert.Contains(t, out, `"net"`)
	code, out, _ = cli("report")
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "日结")
}

func TestProviderActivate(t *testing.T) {
	fake := sqbtest.New("", "")
	fake.AddActivationCode("84038959")
	srv := httptest.NewServer(fake)
	defer srv.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "posd.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`data_dir = %q
till_id = "till-02"
[provider]
name = "shouqianba"
[provider.shouqianba]
base_url = %q
vendor_sn = %q
vendor_key = %q
app_id = %q
activation_code = "84038959"
`, filepath.Join(dir, "data"), srv.URL, fake.VendorSN, fake.VendorKey, fake.AppID)), 0o600)

	var out, errb bytes.Buffer
	code := run([]string{"provider", "activate", "--config", cfg}, &out, &errb)
	require.Equal(t, 0, code, errb.String())
	assert.Contains(t, out.String(), "activated: terminal 1009")
	assert.NotContains(t, out.String()+errb.String(), fake.VendorKey)
	b, err := os.ReadFile(filepath.Join(dir, "data", "shouqianba-terminal.json"))
	require.NoError(t, err)
	assert.Contains(t, string(b), `"terminal_sn": "1009`)

	out.Reset()
	errb.Reset()
	code = run([]string{"provider", "activate", "--config", cfg}, &out, &errb)
	assert.Equal(t, 1, code)
	assert.Contains(t, errb.String(), "already activated")

	out.Reset()
	code = run([]string{"config", "show", "--config", cfg}, &out, &errb)
	assert.Equal(t, 0, code)
	assert.NotContains(t, out.String(), fake.VendorKey, "config show hides secrets")

	code = run([]string{"provider", "frob"}, &out, &errb)
	assert.Equal(t, 2, code)
}

// TestPackageDocListsEveryCommand: the package doc names every command the
// usage text does.
func TestPackageDocListsEveryCommand(t *testing.T) {
	src, err := os.ReadFile("main.go")
	require.NoError(t, err)
	doc, _, _ := strings.Cut(string(src), "package main")
	for _, line := range strings.Split(usage, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "posd" {
			continue
		}
		assert.Contains(t, doc, "posd "+f[1], "the package doc lacks %q", "posd "+f[1])
	}
}
