package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillworks/posd/internal/failpoint"
	"github.com/tillworks/posd/payflow"
	"github.com/tillworks/posd/providers/demo"
)

// The crash tests run the real binary, built with -tags failpoints, against
// a demo gateway served from this test process (so the gateway outlives the
// daemon), stop it with SIGKILL at an exact instant, restart it, and check
// that every payment ends where the gateway says it is.

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func posdBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "posd-crash-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "posd")
		if runtime.GOOS == "windows" {
			binPath += ".exe"
		}
		gobin, err := exec.LookPath("go")
		if err != nil {
			buildErr = fmt.Errorf("the crash tests build posd and need the go command on PATH: %w", err)
			return
		}
		out, err := exec.Command(gobin, "build", "-tags", "failpoints", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("building posd: %v\n%s", err, out)
		}
	})
	require.NoError(t, buildErr)
	return binPath
}

const crashToken = "crash-test-token-0123456789"

// posdProc is one run of the posd binary.
type posdProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	lines  chan string
	mu     sync.Mutex
	log    bytes.Buffer
	api    string
	exited chan struct{}
}

// crashEnv is a data directory, a config and a gateway shared by successive
// daemon runs.
type crashEnv struct {
	t       *testing.T
	dir     string
	config  string
	api     string
	gateway *demo.Gateway
	// quiesce, when set, waits until a daemon that crashAt stops only to
	// set up the crash (not the one under test) has nothing in flight
	// beside its payments, such as a gateway's daily check-in.
	quiesce func(d *posdProc)
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

func newCrashEnv(t *testing.T) *crashEnv {
	t.Helper()
	gw, err := demo.NewGateway("", 0)
	require.NoError(t, err)
	srv := httptest.NewServer(gw)
	t.Cleanup(srv.Close)
	e := newCrashEnvWith(t, fmt.Sprintf("[provider.demo]\ngateway_url = %q\n", srv.URL))
	e.gateway = gw
	return e
}

// newCrashEnvWith writes a configuration with short timings and the given
// provider section.
func newCrashEnvWith(t *testing.T, provider string) *crashEnv {
	t.Helper()
	dir := t.TempDir()
	listen := freePort(t)
	cfg := fmt.Sprintf(`
data_dir = %q
till_id = "till-crash"
log_level = "debug"
[api]
listen = %q
token = %q
[payflow]
poll_interval = "100ms"
pay_timeout = "2s"
cancel_retry_interval = "100ms"
cancel_attempts = 3
scan_timeout = "60s"
`, filepath.Join(dir, "data"), listen, crashToken) + provider
	path := filepath.Join(dir, "posd.toml")
	require.NoError(t, os.WriteFile(path, []byte(cfg), 0o600))
	return &crashEnv{t: t, dir: dir, config: path, api: "http://" + listen}
}

// addConfig appends TOML to the configuration.
func (e *crashEnv) addConfig(toml string) {
	e.t.Helper()
	f, err := os.OpenFile(e.config, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(e.t, err)
	defer f.Close()
	_, err = f.WriteString("\n" + toml)
	require.NoError(e.t, err)
}

// start runs the daemon, armed at failpoint (none if empty), and waits
// until its API answers.
func (e *crashEnv) start(failpoint string) *posdProc {
	e.t.Helper()
	cmd := exec.Command(posdBinary(e.t), "run", "--config", e.config)
	cmd.Env = append(os.Environ(), "POSD_FAILPOINT="+failpoint)
	stderr, err := cmd.StderrPipe()
	require.NoError(e.t, err)
	require.NoError(e.t, cmd.Start())
	d := &posdProc{t: e.t, cmd: cmd, lines: make(chan string, 1024), api: e.api, exited: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			d.mu.Lock()
			d.log.WriteString(sc.Text() + "\n")
			d.mu.Unlock()
			select {
			case d.lines <- sc.Text():
			default:
			}
		}
		cmd.Wait()
		close(d.exited)
	}()
	e.t.Cleanup(d.kill)
	// Wait for this process to say it listens: a health answer alone could
	// come from whatever else took the port while no daemon held it.
	deadline := time.After(20 * time.Second)
	for ready := false; !ready; {
		select {
		case l := <-d.lines:
			ready = strings.Contains(l, `msg="posd ready"`)
		case <-d.exited:
			e.t.Fatalf("posd exited at start:\n%s", d.output())
		case <-deadline:
			e.t.Fatalf("posd did not start:\n%s", d.output())
		}
	}
	require.Eventually(e.t, func() bool {
		resp, err := http.Get(e.api + "/v1/health")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, 20*time.Second, 20*time.Millisecond, "posd did not answer:\n%s", d.output())
	return d
}

func (d *posdProc) output() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.log.String()
}

// waitFailpoint waits until the daemon reports it is stopped at name.
func (d *posdProc) waitFailpoint(name string) {
	d.t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case l := <-d.lines:
			if l == "failpoint reached: "+name {
				return
			}
		case <-d.exited:
			d.t.Fatalf("posd exited before failpoint %s:\n%s", name, d.output())
		case <-deadline:
			d.t.Fatalf("failpoint %s never reached:\n%s", name, d.output())
		}
	}
}

// waitOutput waits until posd's log contains s.
func (d *posdProc) waitOutput(s string) {
	d.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(d.output(), s) {
		if time.Now().After(deadline) {
			d.t.Fatalf("posd never logged %q:\n%s", s, d.output())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// kill is kill -9: no shutdown code runs.
func (d *posdProc) kill() {
	if d.cmd.Process != nil {
		d.cmd.Process.Kill()
		<-d.exited
	}
}

func (d *posdProc) request(method, path string, body any, out any) int {
	d.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, d.api+path, rd)
	require.NoError(d.t, err)
	req.Header.Set("Authorization", "Bearer "+crashToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(d.t, err, "posd's log:\n%s", d.output())
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		require.NoError(d.t, json.Unmarshal(b, out), string(b))
	}
	return resp.StatusCode
}

// settled long-polls the payment for an order until it and its refunds are
// settled.
func (d *posdProc) settled(order string) *payflow.Payment {
	d.t.Helper()
	// Longer than the longest window a test gives an order to run out
	// (a QR code shown for 30 s), with room for its close on a loaded
	// machine.
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		var p payflow.Payment
		require.Equal(d.t, 200, d.request("GET", "/v1/payments?order_id="+order+"&wait=5", nil, &p))
		if !p.Live() {
			return &p
		}
	}
	d.t.Fatalf("order %s never settled:\n%s", order, d.output())
	return nil
}

// crashAt pays 1000 fen for order with code on a daemon armed at
// failpoint and kills it there. With a refund, it pays on an unarmed
// daemon first and arms the one that refunds.
func (e *crashEnv) crashAt(failpoint, order, code string, refund int64) {
	e.t.Helper()
	pay := map[string]any{"order_id": order, "amount": 1000, "auth_code": code}
	var d *posdProc
	if refund == 0 {
		d = e.start(failpoint)
		require.Equal(e.t, 201, d.request("POST", "/v1/payments", pay, nil))
	} else {
		d = e.start("")
		require.Equal(e.t, 201, d.request("POST", "/v1/payments", pay, nil))
		p := d.settled(order)
		require.Equal(e.t, payflow.StatePaid, p.State)
		if e.quiesce != nil {
			e.quiesce(d)
		}
		d.kill()
		d = e.start(failpoint)
		require.Equal(e.t, 201, d.request("POST", "/v1/payments/"+p.ID+"/refunds", map[string]any{"refund_id": "R1", "amount": refund}, nil))
	}
	d.waitFailpoint(failpoint)
	d.kill()
}

// agree asserts that posd's view of a payment is the gateway's.
func (e *crashEnv) agree(p *payflow.Payment) {
	e.t.Helper()
	o, exists := e.gateway.Order(p.GatewayOrderNo)
	switch p.State {
	case payflow.StatePaid:
		require.True(e.t, exists, "posd says paid, the gateway has no order")
		assert.Equal(e.t, demo.StatusPaid, o.Status)
		assert.Equal(e.t, p.RefundedAmount, o.Refunded, "refunded amounts agree")
	case payflow.StateFailed:
		if exists {
			assert.NotEqual(e.t, demo.StatusPaid, o.Status, "posd says failed, the gateway charged")
		}
	case payflow.StateCancelled:
		if exists {
			assert.Equal(e.t, demo.StatusCancelled, o.Status)
		}
	default:
		e.t.Errorf("payment ended %s", p.State)
	}
	// No order charged twice: one gateway order per cash-register order,
	// and the pay sent at most once.
	n := 0
	for _, o := range e.gateway.Orders() {
		if o.MerchantOrder == p.OrderID {
			n++
			assert.LessOrEqual(e.t, o.PayCalls, 1, "pay for %s sent %d times", p.OrderID, o.PayCalls)
		}
	}
	assert.LessOrEqual(e.t, n, 1)
}

func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon")
	}
	const paid, paidLater, neverPaid = "134567890123456789", "134567890123450002", "134567890123450003"
	tests := []struct {
		name      string
		failpoint string
		code      string
		refund    int64 // refund this much once paid, armed at the failpoint
		want      payflow.State
		wantRefd  int64
	}{
		{"after the pay is journaled, before it is sent", failpoint.PayJournaled, paid, 0, payflow.StateCancelled, 0},
		{"after the gateway charged, before the answer is journaled", failpoint.PayAnswered, paid, 0, payflow.StatePaid, 0},
		{"while in doubt, paid meanwhile", failpoint.InDoubt, paidLater, 0, payflow.StatePaid, 0},
		{"while in doubt, never paid", failpoint.InDoubt, neverPaid, 0, payflow.StateCancelled, 0},
		{"while cancelling, before the cancel is sent", failpoint.CancelJournaled, neverPaid, 0, payflow.StateCancelled, 0},
		{"while refunding, before the refund is sent", failpoint.RefundJournaled, paid, 400, payflow.StatePaid, 400},
		{"while refunding, after the gateway refunded", failpoint.RefundAnswered, paid, 1000, payflow.StatePaid, 1000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newCrashEnv(t)
			order := "crash-" + tc.failpoint
			e.crashAt(tc.failpoint, order, tc.code, tc.refund)
			d := e.start("")
			p := d.settled(order)
			assert.Equal(t, tc.want, p.State, "history: %+v\n%s", p.History, d.output())
			assert.Equal(t, tc.wantRefd, p.RefundedAmount)
			e.agree(p)
			if tc.refund > 0 {
				assert.Equal(t, payflow.RefundRefunded, p.Refund("R1").State)
			}
			if p.State == payflow.StatePaid {
				// The receipt is printed, even if the daemon died before it could.
				assert.Eventually(t, func() bool { return receiptFile(e.dir, "payment_"+p.ID+".bin") != "" }, 10*time.Second, 10*time.Millisecond)
			}
		})
	}
}

// TestGracefulShutdown: SIGTERM stops the daemon cleanly with a payment in
// doubt; the next start resolves it.
func TestGracefulShutdown(t *testing.T) {
	if testing.Short() || runtime.GOOS == "windows" {
		t.Skip("builds and runs the daemon; uses SIGTERM")
	}
	e := newCrashEnv(t)
	d := e.start("")
	require.Equal(t, 201, d.request("POST", "/v1/payments", map[string]any{"order_id": "g1", "amount": 1000, "auth_code": "134567890123450003"}, nil))
	require.Eventually(t, func() bool {
		var p payflow.Payment
		d.request("GET", "/v1/payments?order_id=g1", nil, &p)
		return p.State == payflow.StateInDoubt
	}, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, d.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-d.exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("posd did not stop on SIGTERM:\n%s", d.output())
	}
	assert.Equal(t, 0, d.cmd.ProcessState.ExitCode(), d.output())
	assert.Contains(t, d.output(), "left for recovery")

	d = e.start("")
	p := d.settled("g1")
	assert.Equal(t, payflow.StateCancelled, p.State)
	e.agree(p)
	assert.True(t, strings.Contains(d.output(), "recovering payment"), d.output())
}

// TestPrintCrash kills the daemon with a receipt queued but not printed,
// with a receipt on its way to the (file) printer, and with one printed
// whose "done" record was not yet written (it rides with the journal's
// next write): after the restart each is printed exactly once. A file receipt appears whole or not at all,
// so the interrupted one is not marked 重印: that mark is for printers that
// may have printed part of it (printer's TestHalfPrintedIsReprinted).
func TestPrintCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon")
	}
	for _, tc := range []struct {
		failpoint string
		reprint   bool
		printed   bool // before the crash
	}{{failpoint.PrintQueued, false, false}, {failpoint.PrintSending, false, false}, {failpoint.PrintDone, false, true}} {
		t.Run(tc.failpoint, func(t *testing.T) {
			e := newCrashEnv(t)
			d := e.start(tc.failpoint)
			require.Equal(t, 201, d.request("POST", "/v1/payments", map[string]any{"order_id": "P1", "amount": 500, "auth_code": "134567890123456789"}, nil))
			d.waitFailpoint(tc.failpoint)
			d.kill()
			receipts := filepath.Join(e.dir, "data", "receipts")
			files, _ := filepath.Glob(filepath.Join(receipts, "*", "*.bin"))
			var before os.FileInfo
			if tc.printed {
				// Printed, its "done" record not yet written: the file
				// says it was printed, and it is not printed again.
				require.Len(t, files, 1, "printed before the crash")
				var err error
				before, err = os.Stat(files[0])
				require.NoError(t, err)
			} else {
				require.Empty(t, files, "nothing printed before the crash")
			}

			d = e.start("")
			p := d.settled("P1")
			require.Equal(t, payflow.StatePaid, p.State)
			require.Eventually(t, func() bool { return receiptFile(e.dir, "payment_"+p.ID+".bin") != "" }, 10*time.Second, 10*time.Millisecond)
			time.Sleep(300 * time.Millisecond)
			files, _ = filepath.Glob(filepath.Join(receipts, "*", "*.bin"))
			assert.Len(t, files, 1, "printed once")
			if before != nil {
				require.Eventually(t, func() bool { return strings.Contains(d.output(), "receipt found printed") }, 10*time.Second, 10*time.Millisecond)
				after, err := os.Stat(files[0])
				require.NoError(t, err)
				assert.True(t, os.SameFile(before, after), "the receipt was not written again")
			}
			txt, err := os.ReadFile(strings.TrimSuffix(receiptFile(e.dir, "payment_"+p.ID+".bin"), ".bin") + ".txt")
			require.NoError(t, err)
			assert.Contains(t, string(txt), "收款凭证")
			assert.Equal(t, tc.reprint, strings.Contains(string(txt), "重印"))
		})
	}
}

// receiptFile finds a receipt the file printer wrote under a day's
// directory of <dir>/data/receipts ("" while there is none).
func receiptFile(dir, name string) string {
	found, _ := filepath.Glob(filepath.Join(dir, "data", "receipts", "*", name))
	if len(found) == 0 {
		return ""
	}
	return found[0]
}
