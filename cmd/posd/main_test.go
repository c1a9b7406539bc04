package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestCLIExitCodes(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.toml")
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(good, []byte("till_id = \"t1\"\n[payflow]\npoll_interval = \"3s\"\n"), 0o600)
	os.WriteFile(bad, []byte("[payflow]\npoll_interval = \"soon\"\n"), 0o600)
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
		{[]string{"config", "show", "--config", good}, 0, `till_id = "t1"`, ""},
		{[]string{"run", "--config", bad}, 2, "", "payflow.poll_interval"},
		{[]string{"run", "--bogus"}, 2, "", "bogus"},
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
	code, out, errs := cli("pay", "--amount", "1250", "--order", "C1", "--code", "134567890123456789", "--wait")
	assert.Equal(t, 0, code, errs)
	assert.Contains(t, out, "¥12.50  PAID")
	id := strings.Fields(out)[1]

	code, out, _ = cli("status", id)
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "order C1")

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

	code, out, _ = cli("report", "--json")
	assert.Equal(t, 0, code)
	assert.Contains(t, out, `"net"`)
	code, out, _ = cli("report")
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "日结")
}
