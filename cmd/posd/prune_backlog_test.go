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
// healthy at once, prunes behind it, and its peak memory stays small.
func TestPruneBacklog(t *testing.T) {
	if testing.Short() || runtime.GOOS != "linux" {
		t.Skip("builds and runs the daemon; reads /proc")
	}
	n := *pruneN
	e := newCrashEnvWith(t, "[gateways.demo]\ntype = \"demo\"\ndelay = \"0.1s\"\n[store]\nretention_days = 30\n")
	data := filepath.Join(e.dir, "data")
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

	cmd := exec.Command(posdBinary(t), "run", "--config", e.config)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	start := time.Now()
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	// The process's own (anonymous) memory, sampled throughout; the peak
	// RSS also counts the journal's pages that bbolt maps and the kernel
	// may drop at will.
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
	var healthy time.Duration
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
	pruned := ""
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
	peak, anon := procStatus(cmd.Process.Pid, "VmHWM:")<<10, anonPeak.Load()<<10
	t.Logf("%d payments past retention: healthy after %v; %s; peak RSS %d MiB (the process's own memory at most %d MiB, the rest the journal's mapped pages)",
		n, healthy.Round(time.Millisecond), pruned, peak>>20, anon>>20)
	assert.Contains(t, pruned, "count="+strconv.Itoa(n))
	// The start reads no record to prune; what it does read is the
	// journal check before any write (store.Verify), which grows with the
	// journal: about 100 ms at 20000 payments, 0.8 s at 150000.
	assert.Less(t, healthy, time.Second+time.Duration(n/100000)*time.Second, "healthy without waiting for the prune")
	assert.Less(t, anon, int64(64<<20), "the process's own memory under 64 MiB")
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
