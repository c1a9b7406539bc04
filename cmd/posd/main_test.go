package main

import (
	"bytes"
	"os"
	"path/filepath"
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
