package daemon

import (
	"context"
	"fmt"
	"image"
	"image/png"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillworks/posd/config"
)

// TestRunWaitsForItsGoroutines: when Run returns, nothing it started is
// still running (the print queue, the scanners, the daily prune, the
// server, the reload handler), so none of them can touch the journal after
// it is closed.
func TestRunWaitsForItsGoroutines(t *testing.T) {
	cfg, err := config.Parse("posd.toml", []byte(fmt.Sprintf("data_dir = %q\n[api]\nlisten = %q\ntoken = %q\n[gateways.demo]\ntype = \"demo\"\ndelay = \"0.1s\"\n",
		filepath.Join(t.TempDir(), "data"), freePort(t), testToken)))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, slog.New(slog.DiscardHandler)) }()
	base := "http://" + cfg.API.Listen
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(base + "/v1/health")
		if err == nil {
			resp.Body.Close()
			break
		}
		select {
		case err := <-done:
			t.Fatalf("Run returned: %v", err)
		default:
		}
		require.True(t, time.Now().Before(deadline), "posd never answered")
		time.Sleep(20 * time.Millisecond)
	}
	req, _ := http.NewRequest("POST", base+"/v1/payments", strings.NewReader(`{"order_id":"G1","amount":100,"auth_code":"134567890123456789"}`))
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	time.Sleep(300 * time.Millisecond) // a receipt on its way
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return")
	}
	buf := make([]byte, 1<<20)
	stacks := string(buf[:runtime.Stack(buf, true)])
	for _, f := range []string{"printer.(*Queue).Run", "scanner.(*Manager).Run", "daemon.pruneDaily", "net/http.(*Server).Serve", "payflow.(*Engine).drive", "daemon.Run.func"} {
		assert.NotContains(t, stacks, f, "a goroutine outlived Run")
	}
}

// TestLooseModesTightened: a data directory and token file made readable
// by others (by hand, or an older posd) are tightened at start.
func TestLooseModesTightened(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.Chmod(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, TokenFile), []byte("0123456789abcdef0123456789\n"), 0o644))
	require.NoError(t, prepareDataDir(dir))
	cfg := defaultConfigFor(t, dir)
	tok, err := APIToken(cfg)
	require.NoError(t, err)
	assert.Equal(t, "0123456789abcdef0123456789", tok)
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, TokenFile): 0o600} {
		fi, err := os.Stat(path)
		require.NoError(t, err)
		assert.Equal(t, want, fi.Mode().Perm(), path)
	}

	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	err = prepareDataDir(file)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "is a file")
}

func defaultConfigFor(t *testing.T, dir string) *config.Config {
	t.Helper()
	cfg, err := config.Load("")
	require.NoError(t, err)
	cfg.DataDir = dir
	return cfg
}

// TestPrinterProfileConfig: [printer] profile and its checks, named by key,
// and an existing configuration (gb18030, drawer, no profile) still
// starts.
func TestPrinterProfileConfig(t *testing.T) {
	for _, tc := range []struct{ toml, key, says string }{
		{"profile = \"brother\"", "printer.profile", "xprinter-xp58"},
		{"profile = \"zjiang-5890\"\nwidth_mm = 80", "printer.width_mm", "58"},
		{"profile = \"zjiang-5890\"\nwidth_mm = 58\ndrawer = true", "printer", "no cash-drawer port"},
		{"profile = \"xprinter-xp58\"\nwidth_mm = 58\nencoding = \"gb18030\"\nfour_byte = true", "printer", "two-byte GB codes only"},
		{"qr = \"bitmap\"", "printer", "raster"},
		{"", "", ""},
		{"encoding = \"gb18030\"\ndrawer = true", "", ""},
		{"encoding = \"cp936\"", "", ""},
		{"profile = \"zjiang-5890\"\nwidth_mm = 58\nqr = \"escz\"", "", ""},
	} {
		cfg, err := config.Parse("posd.toml", []byte("[printer]\n"+tc.toml+"\n"))
		require.NoError(t, err, tc.toml)
		l, err := PrinterLayout(cfg)
		if tc.key == "" {
			require.NoError(t, err, tc.toml)
			assert.NotEmpty(t, l.Profile.Name)
			continue
		}
		var ce *config.Error
		require.ErrorAs(t, err, &ce, tc.toml)
		assert.Equal(t, tc.key, ce.Key, tc.toml)
		assert.Contains(t, ce.Error(), tc.says, tc.toml)
	}
}

const testToken = "0123456789abcdef0123456789abcdef"

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

// TestLogoInPrinterConfig: logo_in_printer needs a logo, a profile whose
// printers keep NV graphics, and a printer rather than files; a layout
// that has them prints the logo by reference.
func TestLogoInPrinterConfig(t *testing.T) {
	logo := filepath.Join(t.TempDir(), "logo.png")
	f, err := os.Create(logo)
	require.NoError(t, err)
	require.NoError(t, png.Encode(f, image.NewGray(image.Rect(0, 0, 200, 40))))
	require.NoError(t, f.Close())
	for _, tc := range []struct{ toml, says string }{
		{"type = \"tcp\"\naddress = \"192.168.1.50\"\nprofile = \"epson-tm-t88\"\nlogo_in_printer = true", "there is no logo"},
		{"type = \"tcp\"\naddress = \"192.168.1.50\"\nlogo = %q\nlogo_in_printer = true", "generic profile"},
		{"type = \"file\"\nprofile = \"epson-tm-t88\"\nlogo = %q\nlogo_in_printer = true", "files carry their logo"},
		{"profile = \"epson-tm-t88\"\nlogo = %q\nlogo_in_printer = true", "files carry their logo"},
		{"type = \"serial\"\naddress = \"/dev/ttyS0\"\nprofile = \"epson-tm-t88\"\nlogo = %q\nlogo_in_printer = true", ""},
	} {
		toml := tc.toml
		if strings.Contains(toml, "%q") {
			toml = fmt.Sprintf(toml, logo)
		}
		cfg, err := config.Parse("posd.toml", []byte("[printer]\n"+toml+"\n"))
		require.NoError(t, err, toml)
		l, err := PrinterLayout(cfg)
		if tc.says == "" {
			require.NoError(t, err, toml)
			assert.True(t, l.LogoInPrinter)
			def, err := l.LogoDefinition()
			require.NoError(t, err)
			assert.NotEmpty(t, def)
			continue
		}
		var ce *config.Error
		require.ErrorAs(t, err, &ce, toml)
		assert.Equal(t, "printer.logo_in_printer", ce.Key, toml)
		assert.Contains(t, ce.Error(), tc.says, toml)
	}
}
