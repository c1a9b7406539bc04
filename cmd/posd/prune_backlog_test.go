package main

import (
	"bufio"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillworks/posd/internal/daemon"
	"github.com/tillworks/posd/payflow"
	"github.com/tillworks/posd/store"
)

var pruneN = flag.Int("prune", 20000, "settled payments past retention for TestPruneBacklog (docs/performance.md quotes 150000)")

// TestPruneBacklog starts the daemon on a journal whose every payment is
// past retention_days (retention lowered, or a till off for months): it is
// healthy at once, prunes behind it, and its resident memory (the
// journal's mapped pages included) stays under 64 MiB throughout. It
// starts twice: on the journal as posd closed it (sealed: the start check
// reads only its meta pages and open payments), and on a copy of it (as
// after a crash or a restore: the start check reads every page first).
func TestPruneBacklog(t *testing.T) {
	if testing.Short() || runtime.GOOS != "linux" {
		t.Skip("builds and runs the daemon; reads /proc")
	}
	n := *pruneN
	const cfg = "[gateways.demo]\ntype = \"demo\"\ndelay = \"0.1s\"\n[store]\nretention_days = 30\n"
	sealed, copied := newCrashEnvWith(t, cfg), newCrashEnvWith(t, cfg)
	data := filepath.Join(sealed.dir, "data")
	require.NoError(t, os.MkdirAll(data, 0o700))
	st, err := store.Open(daemon.JournalFile(data))
	require.NoError(t, err)
	old := time.Now().AddDate(-1, 0, 0)
	items := []payflow.Item{{Name: "拿铁咖啡 Latte", Quantity: 1, Amount: 800}, {Name: "Croissant", Quantity: 2, Amount: 300}}
	for i := range n {
		at := old.Add(time.Duration(i) * time.Second)
		p := &payflow.Payment{ID: fmt.Sprintf("pay_old%07d", i), OrderID: fmt.Sprintf("B%07d", i), Amount: 1400, Currency: "CNY",
			State: payflow.StatePaid, Channel: "wechat", Gateway: "demo", GatewayOrderNo: fmt.Sprintf("2511220000000%013d", i),
			AuthCodeMasked: "1345**********6789", Items: items, CreatedAt: at, UpdatedAt: at, PayStartedAt: at, PaidAt: at,
			History: []payflow.HistoryEntry{{At: at, State: payflow.StatePaying, Trigger: "scan"}, {At: at, State: payflow.StatePaid, Trigger: "succeeded", GatewayCode: "PAY_SUCCESS", Raw: strings.Repeat("x", 400)}}}
		_, err := st.Create(p)
		require.NoError(t, err)
	}
	require.NoError(t, st.Close())
	b, err := os.ReadFile(daemon.JournalFile(data))
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Join(copied.dir, "data"), 0o700))
	require.NoError(t, os.WriteFile(daemon.JournalFile(filepath.Join(copied.dir, "data")), b, 0o600))
	journal := int64(len(b))
	t.Logf("%d payments past retention, a journal of %d MiB", n, journal>>20)
	b = nil

	for _, run := range []struct {
		name string
		e    *crashEnv
	}{{"sealed", sealed}, {"copied", copied}} {
		t.Run(run.name, func(t *testing.T) {
			healthy, pruned, peak, anon := startBacklog(t, run.e)
			t.Logf("%s journal: healthy after %v; %s; peak RSS %d MiB (posd's own memory at most %d MiB)",
				run.name, healthy.Round(time.Millisecond), pruned, peak>>20, anon>>20)
			assert.Contains(t, pruned, "count="+strconv.Itoa(n))
			// The sealed start reads nothing that grows with the journal:
			// 7-14 ms at 20000 and 150000 payments. The copy's start reads
			// every page (about 80 ms per 20000 payments). The bounds leave
			// room for a loaded machine; docs/performance.md has the
			// figures.
			limit := time.Second
			if run.name == "copied" {
				limit += time.Duration(n/50000) * time.Second
			}
			assert.Less(t, healthy, limit, "healthy without waiting for the prune")
			assert.Less(t, anon, int64(64<<20), "posd's own memory under 64 MiB throughout")
			assert.Less(t, peak, int64(64<<20), "resident memory, mapped journal pages included, under 64 MiB throughout")
			// Pruning, and the copy's start check, walk the whole journal:
			// the pages they read are given back as they go, never all
			// held at once (the rest of the file-backed memory is posd's
			// own executable, some 13 MiB).
			assert.Less(t, peak-anon, journal*3/4, "never the whole journal mapped at once")

		})
	}
}

// startBacklog runs the daemon of e until it has pruned, and returns when
// it answered healthy, its prune log line, and its peak resident memory:
// all of it (VmHWM) and its own (anonymous) memory sampled throughout.
func startBacklog(t *testing.T, e *crashEnv) (healthy time.Duration, pruned string, peak, anon int64) {
	cmd := exec.Command(posdBinary(t), "run", "--config", e.config)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	start := time.Now()
	require.NoError(t, cmd.Start())
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	var anonPeak atomic.Int64
	sampled := make(chan struct{})
	stopSampling := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if kb := procStatus(cmd.Process.Pid, "RssAnon:"); kb > anonPeak.Load() {
				anonPeak.Store(kb)
			}
			select {
			case <-stopSampling:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	for healthy == 0 {
		require.Less(t, time.Since(start), time.Minute, "never healthy")
		if resp, err := http.Get(e.api + "/v1/health"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				healthy = time.Since(start)
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	for pruned == "" {
		select {
		case l, ok := <-lines:
			require.True(t, ok, "posd exited")
			if strings.Contains(l, "pruned settled payments") {
				pruned = l
			}
		case <-time.After(2 * time.Minute):
			t.Fatal("never pruned")
		}
	}
	close(stopSampling)
	<-sampled
	return healthy, pruned, procStatus(cmd.Process.Pid, "VmHWM:") << 10, anonPeak.Load() << 10
}

// procStatus is a /proc/PID/status figure in kB (0 once the process is
// gone).
func procStatus(pid int, key string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == key {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb
		}
	}
	return 0
}
