package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
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
		filepath.Join(t.TempDir(), "data"), freePort(t), crashToken)))
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
	req.Header.Set("Authorization", "Bearer "+crashToken)
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
	for _, f := range []string{"printer.(*Queue).Run", "scanner.(*Manager).Run", "main.pruneDaily", "net/http.(*Server).Serve", "payflow.(*Engine).drive", "main.Run.func"} {
		assert.NotContains(t, stacks, f, "a goroutine outlived Run")
	}
}
