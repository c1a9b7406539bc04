package fufu_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillworks/posd/config"
	"github.com/tillworks/posd/providers/fufu"
)

func section(t *testing.T, body string) config.GatewaySection {
	t.Helper()
	c, err := config.Parse("posd.toml", []byte("till_id = \"t1\"\n[gateways.ff]\ntype = \"fufu\"\n"+body))
	require.NoError(t, err)
	secs, _ := c.Gateways()
	return secs[0]
}

// TestConfigCheck: a FuFu gateway checks its own table and names the key.
func TestConfigCheck(t *testing.T) {
	const ok = "busi_id = \"581010199011345\"\nkey = \"k\"\n"
	for _, tc := range []struct{ body, key string }{
		{"key = \"k\"\n", "gateways.ff.busi_id"},
		{"busi_id = \"1\"\n", "gateways.ff.key"},
		{ok + "fee_type = \"USD\"\n", "gateways.ff.fee_type"},
		{ok + "time_zone = \"Mars/Olympus\"\n", "gateways.ff.time_zone"},
		{ok + "base_url = \"www.jnfbg.cn\"\n", "gateways.ff.base_url"},
		{ok + "pay_hold = \"0s\"\n", "gateways.ff.pay_hold"},
		{ok + "pay_request_timeout = \"30s\"\n", "gateways.ff.pay_request_timeout"},
		{ok + "bogus = 1\n", "gateways.ff.bogus"},
	} {
		err := fufu.Type.Check(section(t, tc.body))
		var ce *config.Error
		require.ErrorAs(t, err, &ce, tc.body)
		assert.Equal(t, tc.key, ce.Key, tc.body)
	}
	sec := section(t, ok+"time_zone = \"+08:00\"\npay_hold = \"10s\"\n")
	require.NoError(t, fufu.Type.Check(sec))
	shown, err := fufu.Type.Show(sec)
	require.NoError(t, err)
	c := shown.(fufu.Config)
	assert.Equal(t, "(set)", c.Key, "the key is not shown")
	assert.Equal(t, 15*time.Second, c.PayRequestTimeout.Duration, "the pay request outlasts the hold")
	assert.Equal(t, fufu.DefaultBaseURL, c.BaseURL)
}

func TestLocation(t *testing.T) {
	for tz, off := range map[string]int{"+08:00": 8 * 3600, "-03:30": -(3*3600 + 30*60), "Asia/Shanghai": 8 * 3600} {
		loc, err := fufu.Location(tz)
		require.NoError(t, err, tz)
		_, got := time.Date(2026, 11, 21, 12, 0, 0, 0, loc).Zone()
		assert.Equal(t, off, got, tz)
	}
	for _, tz := range []string{"+8", "+25:00", "Mars/Olympus"} {
		_, err := fufu.Location(tz)
		assert.Error(t, err, tz)
	}
}
