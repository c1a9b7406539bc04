package shouqianba

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Terminal is the till's identity at Shouqianba: its serial number and
// signing key, rotated by the daily check-in.
type Terminal struct {
	SN          string `json:"terminal_sn"`
	Key         string `json:"terminal_key"`
	PreviousKey string `json:"previous_key,omitempty"` // still accepted by the gateway after a check-in
	CheckedIn   string `json:"checked_in,omitempty"`   // local day (YYYY-MM-DD) of the last check-in
	// DeviceID is the device_id the terminal was activated with; check-ins
	// and pays send it. Empty for terminals from before posd kept it.
	DeviceID  string    `json:"device_id,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
}

// ErrNotActivated means there are no terminal credentials yet.
var ErrNotActivated = errors.New("shouqianba: this till has no terminal yet: run 'posd provider activate' with an activation code, or set terminal_sn and terminal_key")

// TerminalFile keeps a Terminal in a file (0600) that is replaced
// atomically and fsynced, so that a new key is on disk before it is used
// and a crash leaves either the old key or the new one.
type TerminalFile struct {
	Path string
}

// Load reads the terminal; it wraps ErrNotActivated when there is none.
func (f TerminalFile) Load() (Terminal, error) {
	var t Terminal
	b, err := os.ReadFile(f.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return t, ErrNotActivated
	}
	if err != nil {
		return t, fmt.Errorf("shouqianba: reading terminal credentials: %w", err)
	}
	if err := json.Unmarshal(b, &t); err != nil || t.SN == "" || t.Key == "" {
		return t, fmt.Errorf("shouqianba: %s is damaged (%v): restore it from a backup or activate the till again", f.Path, err)
	}
	return t, nil
}

// Save writes the terminal durably: a temporary file, fsync, rename, and
// fsync of the directory.
func (f TerminalFile) Save(t Terminal) error {
	b, err := json.MarshalIndent(t, "", "  ")
	if err != nil {
		return err
	}
	if err := writeDurably(f.Path, b); err != nil {
		return fmt.Errorf("shouqianba: saving terminal credentials to %s (is the disk full?): %w", f.Path, err)
	}
	return nil
}

func writeDurably(path string, b []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".terminal-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename this finds nothing
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	// Make the rename itself durable. Windows cannot sync a directory;
	// the rename is atomic there all the same.
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
