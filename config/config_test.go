package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillworks/posd/config"
)

const full = `
data_dir = "/var/lib/posd"
till_id = "till-07"
log_level = "debug"
[api]
listen = "127.0.0.1:9000"
token = "0123456789abcdef0123"
allowed_origins = ["http://localhost:3000"]
[payflow]
poll_interval = "3s"
pay_timeout = "50s"
cancel_retry_interval = "4s"
cancel_attempts = 7
scan_timeout = "90s"
[provider]
name = "demo"
[provider.demo]
gateway_url = "http://127.0.0.1:9999"
delay = "0s"
[store]
retention_days = 30
[printer]
type = "file"
dir = "/tmp/receipts"
store_name = "某某便利店"
header = ["欢迎光临"]
footer = ["谢谢惠顾"]
`

func TestParseFull(t *testing.T) {
	c, err := config.Parse("posd.toml", []byte(full))
	require.NoError(t, err)
	assert.Equal(t, "/var/lib/posd", c.DataDir)
	assert.Equal(t, "till-07", c.TillID)
	assert.Equal(t, "127.0.0.1:9000", c.API.Listen)
	assert.Equal(t, 3*time.Second, c.Payflow.PollInterval.Duration)
	assert.Equal(t, 50*time.Second, c.Payflow.PayTimeout.Duration)
	assert.Equal(t, 7, c.Payflow.CancelAttempts)
	assert.Equal(t, 90*time.Second, c.Payflow.ScanTimeout.Duration)
	secs, routes := c.Gateways()
	require.Len(t, secs, 1)
	assert.Equal(t, "demo", routes.Default)
	assert.Equal(t, "provider.demo", secs[0].Key, "the old form: one gateway named after its type")
	assert.True(t, c.OldProviderForm())
	var demo struct {
		GatewayURL string          `toml:"gateway_url"`
		Delay      config.Duration `toml:"delay"`
	}
	require.NoError(t, secs[0].Decode(&demo), "the gateway's package decodes its own table")
	assert.Equal(t, "http://127.0.0.1:9999", demo.GatewayURL)
	assert.Equal(t, 30, c.Store.RetentionDays)
	assert.Equal(t, []string{"欢迎光临"}, c.Printer.Header)
}

func TestDefaults(t *testing.T) {
	c, err := config.Load("")
	require.NoError(t, err)
	secs, routes := c.Gateways()
	require.Len(t, secs, 1)
	assert.Equal(t, "demo", secs[0].Type)
	assert.Equal(t, "demo", routes.Default)
	assert.Equal(t, "127.0.0.1:8421", c.API.Listen)
	assert.Equal(t, 5*time.Second, c.Payflow.PollInterval.Duration)
	assert.Equal(t, 45*time.Second, c.Payflow.PayTimeout.Duration)
	assert.Equal(t, 5, c.Payflow.CancelAttempts)
	assert.Equal(t, 120*time.Second, c.Payflow.ScanTimeout.Duration)
	assert.Equal(t, 400, c.Store.RetentionDays)
	assert.Equal(t, "file", c.Printer.Type)

	// An empty file is the defaults too.
	c2, err := config.Parse("empty.toml", nil)
	require.NoError(t, err)
	assert.Equal(t, c.Payflow, c2.Payflow)
	assert.Equal(t, c.API, c2.API)
	assert.Equal(t, c.Printer, c2.Printer)
	assert.Equal(t, c.DataDir, c2.DataDir)
	s1, r1 := c.Gateways()
	s2, r2 := c2.Gateways()
	assert.Equal(t, r1, r2)
	require.Len(t, s2, 1)
	assert.Equal(t, s1[0].Name+s1[0].Type+s1[0].Key, s2[0].Name+s2[0].Type+s2[0].Key)
}

func TestDefaultDataDir(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", "/x/state")
	assert.Equal(t, filepath.Join("/x/state", "posd"), config.DefaultDataDir(false))
	t.Setenv("XDG_STATE_HOME", "")
	home, _ := os.UserHomeDir()
	assert.Equal(t, filepath.Join(home, ".local", "state", "posd"), config.DefaultDataDir(false))
	assert.Equal(t, "/var/lib/posd", config.DefaultDataDir(true))
}

// TestErrorsNameTheKey: every mistake names its key.
func TestErrorsNameTheKey(t *testing.T) {
	tests := []struct {
		toml string
		key  string
		says string
	}{
		{"bogus = 1", "bogus", "unknown key"},
		{"[payflow]\npoll_intervall = \"5s\"", "payflow.poll_intervall", "unknown key"},
		{"[payflow]\npoll_interval = \"5x\"", "payflow.poll_interval", "not a duration"},
		{"[payflow]\npoll_interval = 5", "payflow.poll_interval", ""},
		{"[payflow]\npay_timeout = \"-5s\"", "payflow.pay_timeout", "between"},
		{"[payflow]\nscan_timeout = \"0s\"", "payflow.scan_timeout", "between"},
		{"[payflow]\ncancel_retry_interval = \"1ms\"", "payflow.cancel_retry_interval", "between"},
		{"[payflow]\ncancel_attempts = -1", "payflow.cancel_attempts", "from 1"},
		{"[payflow]\ncancel_attempts = 0", "payflow.cancel_attempts", "from 1"},
		{"[payflow]\ncancel_attempts = \"5\"", "payflow.cancel_attempts", ""},
		{"[store]\nretention_days = -3", "store.retention_days", "from 1"},
		{"[payflow]\nrefund_attempts = 0", "payflow.refund_attempts", "from 1"},
		{"[payflow]\ngateway_concurrency = 0", "payflow.gateway_concurrency", "from 1 to 256"},
		{"[payflow]\ngateway_rate = 0", "payflow.gateway_rate", "calls per second"},
		{"till_id = \"\"", "till_id", "printable"},
		{"till_id = \"till 1\"", "till_id", "printable"},
		{"data_dir = \"\"", "data_dir", "empty"},
		{"log_level = \"loud\"", "log_level", "debug"},
		{"[api]\nlisten = \"0.0.0.0:8421\"", "api.listen", "loopback"},
		{"[api]\nlisten = \"192.168.1.5:8421\"", "api.listen", "loopback"},
		{"[api]\nlisten = \"8421\"", "api.listen", "host:port"},
		{"[gateways.a]\ndelay = \"1s\"", "gateways.a.type", "needs a type"},
		{"[gateways.A]\ntype = \"demo\"", "gateways.A", "lower-case"},
		{"[gateways.a]\ntype = \"demo\"\n[gateways.b]\ntype = \"demo\"", "routing.default", "several"},
		{"[gateways.a]\ntype = \"demo\"\n[routing]\ndefault = \"b\"", "routing.default", "not configured"},
		{"[gateways.a]\ntype = \"demo\"\n[routing]\npaypal = \"a\"", "routing.paypal", "wechat"},
		{"[gateways.a]\ntype = \"demo\"\n[routing]\nfallback = \"a\"", "routing.fallback", "another gateway"},
		{"[gateways.a]\ntype = \"demo\"\n[provider]\nname = \"demo\"", "provider", "not both"},
		{"[provider]\nname = \"demo\"\n[routing]\ndefault = \"demo\"", "routing", "[gateways.<name>]"},
		{"[api]\nlisten = \"127.0.0.1:99999\"", "api.listen", "0 to 65535"},
		{"[api]\nlisten = \"127.0.0.1:http\"", "api.listen", "0 to 65535"},
		{"[provider]\nname = \"shouqianba\"\n[provider.shouqianba]\nterminal_sn = \"1\"\nterminal_key = \"k\"", "till_id", "two tills"},
		{"[api]\ntoken = \"short\"", "api.token", "16"},
		{"[api]\nallowed_origins = [\"localhost:3000\"]", "api.allowed_origins[0]", "origin"},
		{"[api]\nallowed_origins = [\"http://x/path\"]", "api.allowed_origins[0]", "origin"},
		{"[printer]\ntype = \"tcp\"", "printer.address", "needs"},
		{"[printer]\ntype = \"laser\"", "printer.type", "file, tcp"},
		{"[printer]\ntype = \"windows\"", "printer.type", "not supported yet"},
		{"[printer]\nwidth_mm = 76", "printer.width_mm", "58 or 80"},
		{"[printer]\nencoding = \"utf8\"", "printer.encoding", "gb18030"},
		{"[payflow\n", "", "line"},
		{"[[scanner]]\ntype = \"usb\"", "scanner[0]", "serial or hid"},
		{"[[scanner]]\ntype = \"serial\"", "scanner[0]", "port"},
		{"[[scanner]]\ntype = \"hid\"", "scanner[0]", "usb"},
		{"[[scanner]]\ntype = \"hid\"\nusb = \"0c2e:0b61\"\nbaud = 9600", "scanner[0]", "for type serial"},
		{"[[scanner]]\ntype = \"serial\"\nport = \"/dev/x\"\nformat = \"pos\"", "scanner[0]", "for type hid"},
		{"[[scanner]]\ntype = \"hid\"\nusb = \"0c2e:0b61\"\nhid_layout = \"zebra\"", "scanner[0]", "honeywell"},
		{"[[scanner]]\ntype = \"hid\"\nusb = \"0c2e:0b61\"\nformat = \"keyboard\"\nhid_layout = \"newland\"", "scanner[0]", "format pos"},
		{"[[scanner]]\ntype = \"serial\"\nport = \"/dev/x\"\nbauds = 9600", "scanner.bauds", "unknown key"},
		{"[[scanner]]\nname = \"a\"\ntype = \"serial\"\nport = \"/dev/x\"\n[[scanner]]\nname = \"a\"\ntype = \"serial\"\nport = \"/dev/y\"", "scanner[1].name", "two scanners"},
	}
	for _, tc := range tests {
		t.Run(tc.toml, func(t *testing.T) {
			_, err := config.Parse("posd.toml", []byte(tc.toml))
			require.Error(t, err)
			var ce *config.Error
			require.True(t, errors.As(err, &ce), "%T %v", err, err)
			assert.Equal(t, "posd.toml", ce.File)
			if tc.key != "" {
				assert.Equal(t, tc.key, ce.Key)
				assert.True(t, strings.HasPrefix(err.Error(), "posd.toml: "+tc.key+": "), err.Error())
			}
			assert.Contains(t, err.Error(), tc.says)
		})
	}
}

// TestDataDir: ~ is the home directory, as the docs write it; a data_dir
// that is a file is refused by config check, not found at start.
func TestDataDir(t *testing.T) {
	home, err := os.UserHomeDir()
	require.NoError(t, err)
	c, err := config.Parse("posd.toml", []byte("data_dir = \"~/posd-data\""))
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(home, "posd-data"), c.DataDir)
	c, err = config.Parse("posd.toml", []byte("data_dir = \"/srv/~x\""))
	require.NoError(t, err)
	assert.Equal(t, "/srv/~x", c.DataDir)

	file := filepath.Join(t.TempDir(), "afile")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	_, err = config.Parse("posd.toml", []byte("data_dir = \""+file+"\""))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "data_dir: "+file+" is a file")

	// With a real gateway and till_id set, the default name is allowed.
	_, err = config.Parse("posd.toml", []byte("till_id = \"till-01\"\n[provider]\nname = \"shouqianba\"\n[provider.shouqianba]\nterminal_sn = \"1\"\nterminal_key = \"k\""))
	require.NoError(t, err)
}

// TestGatewaysNewForm: several gateways under their names, with routes.
func TestGatewaysNewForm(t *testing.T) {
	c, err := config.Parse("posd.toml", []byte(`
till_id = "t2"
[gateways.play]
type = "demo"
delay = "0s"
[gateways.sqb]
type = "shouqianba"
terminal_sn = "1"
[routing]
default = "sqb"
alipay = "play"
fallback = "play"
`))
	require.NoError(t, err)
	assert.False(t, c.OldProviderForm())
	assert.Empty(t, c.NewFormHint())
	secs, routes := c.Gateways()
	require.Len(t, secs, 2)
	assert.Equal(t, config.Routes{Default: "sqb", Fallback: "play", ByChannel: map[string]string{"alipay": "play"}}, routes)
	assert.Equal(t, "gateways.play", secs[0].Key)
	assert.Equal(t, "shouqianba", secs[1].Type)
	// A key the gateway's struct lacks is named when its package decodes.
	var only struct {
		Type       string `toml:"type"`
		TerminalSN string `toml:"terminal_sn"`
		Bogus      string `toml:"bogus"`
	}
	require.NoError(t, secs[1].Decode(&only))
	var less struct {
		Type string `toml:"type"`
	}
	c, err = config.Parse("posd.toml", []byte("[gateways.x]\ntype = \"demo\"\nbogus = 1\n"))
	require.NoError(t, err, "unknown gateway keys are the gateway package's to name")
	secs, _ = c.Gateways()
	err = secs[0].Decode(&less)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "gateways.x.bogus: unknown key")

	// A real gateway needs till_id set, in either form.
	_, err = config.Parse("posd.toml", []byte("[gateways.sqb]\ntype = \"shouqianba\"\n"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "till_id")

	// The old form's tables of other types are checked, not run.
	c, err = config.Parse("posd.toml", []byte("[provider.shouqianba]\nterminal_sn = \"x\"\n"))
	require.NoError(t, err)
	secs, routes = c.Gateways()
	require.Len(t, secs, 2)
	assert.Equal(t, "demo", routes.Default)
	assert.True(t, secs[1].Inactive)
	assert.Contains(t, c.NewFormHint(), "[gateways.demo]")
}

func TestScanners(t *testing.T) {
	c, err := config.Parse("posd.toml", []byte(`
[[scanner]]
type = "serial"
port = "/dev/ttyACM0"
baud = 115200
suffix = "crlf"
gap = "80ms"
[[scanner]]
name = "pos"
type = "hid"
usb = "0c2e:0b61"
interface = 1
format = "pos"
`))
	require.NoError(t, err)
	require.Len(t, c.Scanners, 2)
	assert.Equal(t, 115200, c.Scanners[0].Baud)
	assert.Equal(t, 80*time.Millisecond, c.Scanners[0].Gap.Duration)
	require.NotNil(t, c.Scanners[1].Interface)
	assert.Equal(t, 1, *c.Scanners[1].Interface)
}

func TestAllowRemote(t *testing.T) {
	c, err := config.Parse("posd.toml", []byte("[api]\nlisten = \"0.0.0.0:8421\"\nallow_remote = true"))
	require.NoError(t, err)
	assert.True(t, c.API.AllowRemote)
}

func TestLoadMissingFile(t *testing.T) {
	_, err := config.Load(filepath.Join(t.TempDir(), "nope.toml"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "cannot read")
}

func TestIsLoopbackHost(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "LOCALHOST": true, "127.0.0.1": true, "127.9.9.9": true, "::1": true, "[::1]": true,
		"app.localhost": true, "0.0.0.0": false, "192.168.1.1": false, "example.com": false, "": false, "localhost.evil.com": false,
	} {
		assert.Equal(t, want, config.IsLoopbackHost(host), host)
	}
}

// FuzzParse feeds arbitrary text to the loader: it must return a config or
// an error, never panic, and any config it returns must be valid.
func FuzzParse(f *testing.F) {
	f.Add([]byte(full))
	f.Add([]byte("[payflow]\npoll_interval = \"5x\""))
	f.Add([]byte("bogus = [1, {a = 2}]"))
	f.Add([]byte("[[x]]\n[x.y]\nz = 1979-05-27T07:32:00Z"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := config.Parse("fuzz.toml", data)
		if err != nil {
			assert.NotEmpty(t, err.Error())
			return
		}
		require.NoError(t, c.Validate())
	})
}
