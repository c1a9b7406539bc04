package main

import (
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillworks/posd/config"
	"github.com/tillworks/posd/packaging"
)

func TestServiceDefinition(t *testing.T) {
	def, err := serviceDefinition("/etc/posd/custom.toml")
	require.NoError(t, err)
	assert.Equal(t, "posd", def.Name)
	assert.Equal(t, []string{"run", "--config", "/etc/posd/custom.toml"}, def.Arguments)
	if runtime.GOOS == "linux" {
		unit, _ := def.Option["SystemdScript"].(string)
		exe, _ := os.Executable()
		assert.Contains(t, unit, "ExecStart="+exe+" run --config /etc/posd/custom.toml")
		for _, want := range []string{"Type=notify", "Restart=on-failure", "RestartPreventExitStatus=2 3", "User=posd",
			"StateDirectory=posd", "ProtectSystem=strict", "DevicePolicy=closed", "DeviceAllow=char-ttyACM rw"} {
			assert.Contains(t, unit, want)
		}
		assert.NotContains(t, unit, "{{", "no template actions: the unit is used as written")
	}
}

func TestWriteDefaultConfig(t *testing.T) {
	path := t.TempDir() + "/sub/posd.toml"
	require.NoError(t, writeDefaultConfig(path))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, packaging.DefaultConfig, string(b))
	require.NoError(t, os.WriteFile(path, []byte("till_id = \"mine\"\n"), 0o600))
	require.NoError(t, writeDefaultConfig(path))
	b, _ = os.ReadFile(path)
	assert.True(t, strings.Contains(string(b), "mine"), "an existing configuration is never replaced")
}

// TestWindowsDefaults: what 'posd service install' and the service's first
// start write on Windows is the Windows configuration (the service died
// writing its token under /var/lib/posd), it parses, and it keeps its data
// where the service looks; the Linux one is the packaged file as it is.
func TestWindowsDefaults(t *testing.T) {
	const dir = `C:\ProgramData\posd`
	text := packaging.ConfigFor("windows", dir)
	assert.NotContains(t, text, "/var/lib/posd")
	assert.NotContains(t, text, "/etc/posd")
	assert.NotContains(t, text, "/usr/share/doc")
	assert.NotContains(t, text, "/dev/tty")
	assert.Contains(t, text, `posd config check --config "C:\ProgramData\posd\posd.toml"`)
	cfg, err := config.Parse("posd.toml", []byte(text))
	require.NoError(t, err)
	assert.Equal(t, dir, cfg.DataDir)
	assert.Equal(t, packaging.DefaultConfig, packaging.ConfigFor("linux", "/var/lib/posd"))

	assert.True(t, isServiceManager(`C:\windows\system32\services.exe`))
	assert.True(t, isServiceManager("SERVICES.EXE"))
	assert.False(t, isServiceManager(`C:\windows\explorer.exe`))
	assert.False(t, isServiceManager(""))

	win := strings.Join(deviceAdvice("windows"), "\n")
	assert.Contains(t, win, "COM3")
	assert.Contains(t, win, "HID POS")
	assert.Contains(t, win, "keyboard-wedge")
	assert.NotContains(t, win, "udev")
	assert.Contains(t, strings.Join(deviceAdvice("linux"), "\n"), "udev")
}

// TestQuoteImage: an unquoted service command line with spaces in the
// program's path is quoted (CWE-428); anything else is left alone.
func TestQuoteImage(t *testing.T) {
	const exe = `C:\Program Files\posd\posd.exe`
	for in, want := range map[string]string{
		exe + ` run --config "C:\ProgramData\posd\posd.toml"`: `"` + exe + `" run --config "C:\ProgramData\posd\posd.toml"`,
		`"` + exe + `" run`:                  `"` + exe + `" run`,
		`c:\program files\posd\posd.exe run`: `"c:\program files\posd\posd.exe" run`,
		`C:\Other\posd.exe run`:              `C:\Other\posd.exe run`,
		``:                                   ``,
	} {
		assert.Equal(t, want, quoteImage(in, exe), in)
	}
	assert.Equal(t, `C:\posd\posd.exe run`, quoteImage(`C:\posd\posd.exe run`, `C:\posd\posd.exe`), "no space: nothing to quote")
}
