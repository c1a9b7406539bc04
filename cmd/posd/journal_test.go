package main

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillworks/posd/internal/daemon"
	"github.com/tillworks/posd/payflow"
	"github.com/tillworks/posd/store"
)

func cli(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

// writeJournal puts n payments (one still in doubt) in dir's journal.
func writeJournal(t *testing.T, dir string, n int) {
	t.Helper()
	require.NoError(t, os.MkdirAll(dir, 0o700))
	s, err := store.Open(daemon.JournalFile(dir))
	require.NoError(t, err)
	now := time.Now()
	for i := range n {
		st := payflow.StatePaid
		if i == 0 {
			st = payflow.StateInDoubt
		}
		_, err := s.Create(&payflow.Payment{ID: fmt.Sprintf("pay_%03d", i), OrderID: fmt.Sprintf("O%03d", i), Amount: 100,
			Currency: "CNY", State: st, CreatedAt: now, UpdatedAt: now})
		require.NoError(t, err)
	}
	require.NoError(t, s.Close())
}

// TestJournalCommands: check, back up, find damage, refuse to run on it
// (exit 3, the file untouched), recover, and restore a backup.
func TestJournalCommands(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	writeJournal(t, data, 120)
	noDaemon := []string{"--data-dir", data, "--api", "http://127.0.0.1:1", "--token", "x"}

	code, out, errs := cli("journal", "check", "--data-dir", data)
	require.Equal(t, 0, code, errs)
	assert.Contains(t, out, "ok (")
	assert.Contains(t, out, "120 payments, 1 open")

	backup := filepath.Join(dir, "backup.db")
	code, out, errs = cli(append([]string{"journal", "backup", backup}, noDaemon...)...)
	require.Equal(t, 0, code, errs)
	assert.Contains(t, out, "120 payments, checked ok")
	fi, err := os.Stat(backup)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	// Cut the journal short, as a failing disk or a bad copy would.
	path := daemon.JournalFile(data)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, b[:len(b)/2], 0o600))
	before := sha256.Sum256(b[:len(b)/2])

	code, out, _ = cli("journal", "check", "--data-dir", data)
	assert.Equal(t, exitJournalDamaged, code)
	assert.Contains(t, out, "DAMAGED")
	assert.Contains(t, out, "cut short")

	code, _, errs = cli("run", "--data-dir", data)
	assert.Equal(t, exitJournalDamaged, code, "a distinct exit code: not 2 (bad configuration), not a panic")
	assert.Contains(t, errs, "posd journal recover")
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, before, sha256.Sum256(after), "a failed start leaves the damaged file as it was")

	code, out, errs = cli("journal", "recover", "--data-dir", data)
	require.Equal(t, 0, code, errs)
	assert.Contains(t, out, "recovered ")
	kept, err := filepath.Glob(path + ".damaged-*")
	require.NoError(t, err)
	require.Len(t, kept, 2, "the damaged journal is kept beside the new one, with its log")
	assert.FileExists(t, kept[0]+".wal")
	leftover, err := filepath.Glob(path + ".recovered-*")
	require.NoError(t, err)
	assert.Empty(t, leftover, "nothing of the recovered journal's is left under its temporary name")
	code, out, errs = cli("journal", "check", "--data-dir", data)
	assert.Equal(t, 0, code, errs+out)

	// Restore: the documented steps (stop posd, copy the backup in place).
	require.NoError(t, os.Remove(path))
	b, err = os.ReadFile(backup)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, b, 0o600))
	code, out, _ = cli("journal", "check", "--data-dir", data)
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "120 payments")

	// An empty journal is not silently replaced by a new one.
	require.NoError(t, os.WriteFile(path, nil, 0o600))
	code, _, errs = cli("run", "--data-dir", data)
	assert.Equal(t, exitJournalDamaged, code)
	assert.Contains(t, errs, "empty (0 bytes)")
	fi, err = os.Stat(path)
	require.NoError(t, err)
	assert.Zero(t, fi.Size())
}
