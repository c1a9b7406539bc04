package shouqianba_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillworks/posd/config"
	"github.com/tillworks/posd/providers/shouqianba"
)

// TestConfigCheck: the gateway checks its own table, in either form, and
// names the key that is wrong.
func TestConfigCheck(t *testing.T) {
	for _, tc := range []struct{ toml, key, says string }{
		{"[gateways.s]\ntype = \"shouqianba\"\nterminal_id = \"x\"", "gateways.s.terminal_id", "unknown key"},
		{"[gateways.s]\ntype = \"shouqianba\"\nterminal_sn = \"x\"", "gateways.s.terminal_key", "go together"},
		{"[gateways.s]\ntype = \"shouqianba\"\nbase_url = \"vsi-api.shouqianba.com\"", "gateways.s.base_url", "https://"},
		{"[gateways.s]\ntype = \"shouqianba\"\npay_request_timeout = \"10m\"", "gateways.s.pay_request_timeout", "between"},
		{"[gateways.s]\ntype = \"shouqianba\"\ncall_timeout = 5", "gateways.s.call_timeout", ""},
		{"[provider.shouqianba]\nterminal_sn = \"x\"", "provider.shouqianba.terminal_key", "go together"},
		{"[gateways.s]\ntype = \"shouqianba\"\ndevice_id = \"" + strings.Repeat("x", 40) + "\"", "gateways.s.device_id", "32"},
	} {
		t.Run(tc.toml, func(t *testing.T) {
			c, err := config.Parse("posd.toml", []byte("till_id = \"t1\"\n"+tc.toml))
			require.NoError(t, err)
			secs, _ := c.Gateways()
			var sec config.GatewaySection
			for _, s := range secs {
				if s.Type == "shouqianba" {
					sec = s
				}
			}
			err = shouqianba.Type.Check(sec)
			require.Error(t, err)
			var ce *config.Error
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, tc.key, ce.Key)
			assert.Contains(t, err.Error(), tc.says)
		})
	}
	c, err := config.Parse("posd.toml", []byte("till_id = \"t1\"\n[gateways.s]\ntype = \"shouqianba\"\nterminal_sn = \"1\"\nterminal_key = \"secret-key\"\n"))
	require.NoError(t, err)
	secs, _ := c.Gateways()
	require.NoError(t, shouqianba.Type.Check(secs[0]))
	shown, err := shouqianba.Type.Show(secs[0])
	require.NoError(t, err)
	assert.Equal(t, "(set)", shown.(shouqianba.Config).TerminalKey, "secrets are not shown")
	assert.Equal(t, "https://vsi-api.shouqianba.com", shown.(shouqianba.Config).BaseURL, "defaults are shown")
	assert.Equal(t, "/d/shouqianba-terminal.json", shouqianba.TerminalPath("/d", "shouqianba"), "the old form's file")
	assert.Equal(t, "/d/shouqianba-s-terminal.json", shouqianba.TerminalPath("/d", "s"), "one file per gateway")
}
