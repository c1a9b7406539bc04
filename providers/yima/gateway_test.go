package yima_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillworks/posd/config"
	"github.com/tillworks/posd/providers"
	"github.com/tillworks/posd/providers/yima"
)

func section(t *testing.T, body string) config.GatewaySection {
	t.Helper()
	c, err := config.Parse("posd.toml", []byte("till_id = \"t1\"\n[gateways.ym]\ntype = \"yima\"\n"+body))
	require.NoError(t, err)
	secs, _ := c.Gateways()
	return secs[0]
}

// TestConfigCheck: a Yima gateway checks its own table and names the key.
func TestConfigCheck(t *testing.T) {
	const ok = "base_url = \"https://ipos.example.invalid/ipos\"\nisspid = \"39493002\"\nsystem_id = \"8888\"\nstore_id = \"s1\"\nkey = \"k\"\n"
	for _, tc := range []struct{ body, key string }{
		{"isspid = \"39493002\"\nsystem_id = \"8888\"\nstore_id = \"s1\"\nkey = \"k\"\n", "gateways.ym.base_url"},
		{"base_url = \"ipos.example\"\n", "gateways.ym.base_url"},
		{"base_url = \"https://x.invalid\"\nisspid = \"123456789\"\n", "gateways.ym.isspid"},
		{"base_url = \"https://x.invalid\"\nisspid = \"39493002\"\nstore_id = \"s1\"\n", "gateways.ym.system_id"},
		{"base_url = \"https://x.invalid\"\nisspid = \"39493002\"\nsystem_id = \"8888\"\n", "gateways.ym.store_id"},
		{"base_url = \"https://x.invalid\"\nisspid = \"39493002\"\nsystem_id = \"8888\"\nstore_id = \"s1\"\n", "gateways.ym.key"},
		{ok + "format = \"yaml\"\n", "gateways.ym.format"},
		{ok + "sign_scheme = \"sha256\"\n", "gateways.ym.sign_scheme"},
		{ok + "in_doubt_ids = [\"0000\"]\n", "gateways.ym.in_doubt_ids"},
		{ok + "in_doubt_ids = [\"99\"]\n", "gateways.ym.in_doubt_ids"},
		{ok + "pos_id = \"123456789012345678901\"\n", "gateways.ym.pos_id"},
		{ok + "call_timeout = \"0s\"\n", "gateways.ym.call_timeout"},
		{ok + "bogus = 1\n", "gateways.ym.bogus"},
	} {
		err := yima.Type.Check(section(t, tc.body))
		var ce *config.Error
		require.ErrorAs(t, err, &ce, tc.body)
		assert.Equal(t, tc.key, ce.Key, tc.body)
	}
	require.NoError(t, yima.Type.Check(section(t, "base_url = \"http://x.invalid\"\nisspid = \"39493002\"\nsystem_id = \"8888\"\nstore_id = \"s1\"\nformat = \"xml\"\n")),
		"XML carries no sign: no key needed")
	sec := section(t, ok+"sign_scheme = \"md5_sorted\"\nin_doubt_ids = [\"9999\", \"9997\"]\n")
	require.NoError(t, yima.Type.Check(sec))
	shown, err := yima.Type.Show(sec)
	require.NoError(t, err)
	c := shown.(yima.Config)
	assert.Equal(t, "(set)", c.Key, "the key is not shown")
	assert.Equal(t, "json", c.Format)
	assert.True(t, c.VerifyAnswers)
	assert.Equal(t, []string{"9999", "9997"}, c.InDoubtIDs)

	prov, err := yima.Type.Open(context.Background(), sec, providers.Env{Name: "ym", TillID: "till-07"})
	require.NoError(t, err)
	assert.Equal(t, "39493002/till-07", prov.(*yima.Client).Account(), "pos_id defaults to till_id")
}
