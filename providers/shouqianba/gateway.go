package shouqianba

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"time"

	"github.com/tillworks/posd/config"
	"github.com/tillworks/posd/internal/machineid"
	"github.com/tillworks/posd/payflow"
	"github.com/tillworks/posd/providers"
)

// Config is a Shouqianba gateway's table: [gateways.<name>] type =
// "shouqianba" (or the old [provider.shouqianba]). The terminal's key
// rotates daily; posd keeps the current one in its terminal file (see
// TerminalPath), seeded from terminal_sn and terminal_key or from
// 'posd provider activate'.
type Config struct {
	Type              string          `toml:"type"`
	BaseURL           string          `toml:"base_url"`
	TerminalSN        string          `toml:"terminal_sn"`
	TerminalKey       string          `toml:"terminal_key"`
	VendorSN          string          `toml:"vendor_sn"`
	VendorKey         string          `toml:"vendor_key"`
	AppID             string          `toml:"app_id"`
	ActivationCode    string          `toml:"activation_code"`
	DeviceID          string          `toml:"device_id"` // empty: derived from the machine id at activation
	PayRequestTimeout config.Duration `toml:"pay_request_timeout"`
	CallTimeout       config.Duration `toml:"call_timeout"`
}

// Type is the Shouqianba gateway type, for the daemon's list.
var Type = providers.Type{Check: check, Open: open, Show: show, Activate: activate}

func decodeConfig(sec config.GatewaySection) (Config, error) {
	c := Config{BaseURL: DefaultBaseURL, PayRequestTimeout: config.Duration{Duration: 50 * time.Second},
		CallTimeout: config.Duration{Duration: 10 * time.Second}}
	if err := sec.Decode(&c); err != nil {
		return c, err
	}
	bad := func(key, msg string, a ...any) error {
		return &config.Error{Key: sec.Key + "." + key, Msg: fmt.Sprintf(msg, a...)}
	}
	if pu, err := url.Parse(c.BaseURL); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
		return c, bad("base_url", "must be an https:// URL, got %q", c.BaseURL)
	}
	if (c.TerminalSN == "") != (c.TerminalKey == "") {
		return c, bad("terminal_key", "terminal_sn and terminal_key go together: set both, or neither and run 'posd provider activate'")
	}
	if d := c.PayRequestTimeout.Duration; d < time.Second || d > 5*time.Minute {
		return c, bad("pay_request_timeout", "must be between 1s and 5m, got %v", d)
	}
	if d := c.CallTimeout.Duration; d < time.Second || d > 2*time.Minute {
		return c, bad("call_timeout", "must be between 1s and 2m, got %v", d)
	}
	if len(c.DeviceID) > 32 {
		return c, bad("device_id", "must be at most 32 characters")
	}
	return c, nil
}

func check(sec config.GatewaySection) error {
	_, err := decodeConfig(sec)
	return err
}

// TerminalPath is where a Shouqianba gateway named name keeps its
// terminal's credentials: shouqianba-terminal.json for the gateway named
// shouqianba (the old form's name), shouqianba-<name>-terminal.json else.
func TerminalPath(dataDir, name string) string {
	if name == "shouqianba" {
		return filepath.Join(dataDir, "shouqianba-terminal.json")
	}
	return filepath.Join(dataDir, "shouqianba-"+name+"-terminal.json")
}

func open(ctx context.Context, sec config.GatewaySection, env providers.Env) (payflow.Provider, error) {
	c, err := decodeConfig(sec)
	if err != nil {
		return nil, err
	}
	cl, err := New(Options{
		BaseURL: c.BaseURL, DeviceID: c.DeviceID, TillID: env.TillID,
		PayTimeout: c.PayRequestTimeout.Duration, CallTimeout: c.CallTimeout.Duration,
		Terminal: TerminalFile{Path: TerminalPath(env.DataDir, env.Name)}, Initial: Terminal{SN: c.TerminalSN, Key: c.TerminalKey},
		Logger: env.Log.With("gateway", env.Name),
	})
	if errors.Is(err, ErrNotActivated) {
		return nil, &config.Error{Key: sec.Key, Msg: err.Error()}
	}
	return cl, err
}

func show(sec config.GatewaySection) (any, error) {
	c, err := decodeConfig(sec)
	for _, secret := range []*string{&c.TerminalKey, &c.VendorKey, &c.ActivationCode} {
		if *secret != "" {
			*secret = "(set)"
		}
	}
	return c, err
}

func activate(ctx context.Context, sec config.GatewaySection, env providers.Env) (string, error) {
	c, err := decodeConfig(sec)
	if err != nil {
		return "", err
	}
	device, why := c.DeviceID, "configured"
	if device == "" {
		if id, err := machineID(); err == nil {
			device, why = DefaultDeviceID(id), "derived from this machine's id, so that no two tills share it"
		} else {
			device, why = env.TillID, "till_id: this system has no machine id ("+err.Error()+"); set device_id if another till has the same till_id"
		}
	}
	file := TerminalFile{Path: TerminalPath(env.DataDir, env.Name)}
	t, err := Activate(ctx, nil, Activation{
		BaseURL: c.BaseURL, VendorSN: c.VendorSN, VendorKey: c.VendorKey, AppID: c.AppID,
		Code: c.ActivationCode, DeviceID: device,
	}, file, time.Now())
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("activated: terminal %s, device_id %s (%s); the key and device_id are saved in %s (0600).\nRemove activation_code and vendor_key from the configuration, then start posd.", t.SN, device, why, file.Path), nil
}

// machineID is the machine's id (a variable for tests).
var machineID = machineid.ID

// DefaultDeviceID is the device_id a till activates with when none is
// configured: Shouqianba refuses a second terminal with the same
// device_id under one app_id, so it must differ from till to till without
// anyone choosing it. It is "posd-" and 16 hex digits of a hash of the
// machine's id: stable for the machine, and the id itself is not sent.
func DefaultDeviceID(machine string) string {
	sum := sha256.Sum256([]byte("posd shouqianba device_id\x00" + machine))
	return "posd-" + hex.EncodeToString(sum[:8])
}

// Account names the terminal the client charges with.
func (c *Client) Account() string { return c.Terminal().SN }
