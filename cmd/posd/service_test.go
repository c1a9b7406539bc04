package main

import (
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
