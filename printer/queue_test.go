package printer_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"image"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/tillworks/posd/internal/ptytest"
	"github.com/tillworks/posd/payflow"
	"github.com/tillworks/posd/printer"
	"github.com/tillworks/posd/store"
)

// fakePrinter plays an ESC/POS printer on a byte stream: it answers
// DLE EOT 1, 2 and 4 from its scripted state and keeps everything else as
// printed bytes.
type fakePrinter struct {
	mu        sync.Mutex
	paperOut  bool
	nearEnd   bool
	coverOpen bool
	offline   bool
	printed   [][]byte // one entry per connection that printed something
	dropAfter int      // close the first print connection after this many bytes (0: never)
	dropped   bool
}

func (p *fakePrinter) status(n byte) byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	b := byte(0x12)
	switch n {
	case 1:
		if p.offline {
			b |= 0x08
		}
	case 2:
		if p.paperOut {
			b |= 0x20
		}
		if p.coverOpen {
			b |= 0x04
		}
	case 4:
		if p.paperOut {
			b |= 0x60
		}
		if p.nearEnd {
			b |= 0x0C
		}
	}
	return b
}

// serve reads one connection (or port) until EOF; it returns what was
// printed on it.
func (p *fakePrinter) serve(rw io.ReadWriter, closeEarly func()) []byte {
	var job []byte
	buf := make([]byte, 4096)
	var pending []byte
	for {
		n, err := rw.Read(buf)
		pending = append(pending, buf[:n]...)
		for len(pending) > 0 {
			if pending[0] == 0x10 {
				if len(pending) < 3 {
					break
				}
				rw.Write([]byte{p.status(pending[2])})
				pending = pending[3:]
				continue
			}
			take := graphicsLen(pending)
			if take > len(pending) {
				break // the rest of an image is still coming
			}
			job = append(job, pending[:take]...)
			pending = pending[take:]
			p.mu.Lock()
			drop := p.dropAfter > 0 && !p.dropped && len(job) >= p.dropAfter
			if drop {
				p.dropped = true
			}
			p.mu.Unlock()
			if drop && closeEarly != nil {
				closeEarly()
				return job
			}
		}
		if err != nil {
			return append(job, pending...)
		}
	}
}

// graphicsLen is how many bytes at the start of b are one command whose
// data may hold any byte (0x10 too, which is not DLE there): an image
// (GS v 0) or NV graphics (GS ( L); 1 for any other byte.
func graphicsLen(b []byte) int {
	if len(b) == 0 || b[0] != 0x1d {
		return 1
	}
	nv := len(b) < 3 || b[1] == '(' && b[2] == 'L'
	raster := len(b) < 3 || b[1] == 'v' && b[2] == '0'
	switch {
	case nv && len(b) >= 5:
		return 5 + (int(b[3]) | int(b[4])<<8)
	case raster && len(b) >= 8:
		return 8 + (int(b[4])|int(b[5])<<8)*(int(b[6])|int(b[7])<<8)
	case nv || raster:
		return 8 // its header is still coming
	}
	return 1
}

func (p *fakePrinter) record(job []byte) {
	if len(job) == 0 {
		return
	}
	p.mu.Lock()
	p.printed = append(p.printed, job)
	p.mu.Unlock()
}

func (p *fakePrinter) jobs() [][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([][]byte(nil), p.printed...)
}

func (p *fakePrinter) set(f func()) { p.mu.Lock(); f(); p.mu.Unlock() }

// listen serves the fake printer on a loopback TCP port.
func (p *fakePrinter) listen(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				p.record(p.serve(c, func() { c.Close() }))
			}()
		}
	}()
	return ln.Addr().String()
}

type queueEnv struct {
	q      *printer.Queue
	st     *store.Store
	states chan string
	cancel context.CancelFunc
	done   chan struct{}
}

func runQueue(t *testing.T, tr printer.Transport) *queueEnv {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "posd.db"))
	require.NoError(t, err)
	e := &queueEnv{st: st, states: make(chan string, 100), done: make(chan struct{})}
	e.q = &printer.Queue{Jobs: st, Transport: tr, Layout: layout(t, 58),
		OnState: func(s printer.State) { e.states <- s.State }}
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	events := make(chan payflow.Event)
	go func() { e.q.Run(ctx, events, nil); close(e.done) }()
	t.Cleanup(func() { cancel(); <-e.done; st.Close() })
	return e
}

func (e *queueEnv) waitState(t *testing.T, want string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case s := <-e.states:
			if s == want {
				return
			}
		case <-deadline:
			t.Fatalf("printer never reported %s", want)
		}
	}
}

func (e *queueEnv) waitEmpty(t *testing.T) {
	t.Helper()
	require.Eventually(t, func() bool {
		// A receipt file's "done" may wait for the journal's next write:
		// the checkpoint writes it.
		if err := e.st.Checkpoint(); err != nil {
			return false
		}
		jobs, err := e.st.PendingJobs()
		return err == nil && len(jobs) == 0
	}, 15*time.Second, 10*time.Millisecond)
}

func gb(b []byte) string {
	s, _ := simplifiedchinese.GB18030.NewDecoder().Bytes(b)
	return string(s)
}

// TestTCPPrinterPaperOut: the job waits while the printer says the paper
// is out, and prints once when it is back.
func TestTCPPrinterPaperOut(t *testing.T) {
	fp := &fakePrinter{paperOut: true}
	addr := fp.listen(t)
	e := runQueue(t, printer.TCPTransport{Address: addr})
	p := paidPayment()
	require.NoError(t, e.q.Receipts(p))
	require.NoError(t, e.q.Receipts(p), "queueing the same receipt again is a no-op")
	e.waitState(t, "paper_out")
	time.Sleep(300 * time.Millisecond)
	assert.Empty(t, fp.jobs(), "nothing printed without paper")

	fp.set(func() { fp.paperOut = false })
	e.waitEmpty(t)
	require.Eventually(t, func() bool { return len(fp.jobs()) == 1 }, 5*time.Second, 10*time.Millisecond)
	want, err := layout(t, 58).Receipt(p, nil, false)
	require.NoError(t, err)
	assert.Equal(t, want, fp.jobs()[0], "exactly the receipt's bytes")
	assert.Equal(t, "ready", e.q.State().State)
	time.Sleep(200 * time.Millisecond)
	assert.Len(t, fp.jobs(), 1, "printed once")
}

// TestHalfPrintedIsReprinted: the printer drops the connection mid-job;
// the next attempt prints the receipt again, marked 重印, and only once.
func TestHalfPrintedIsReprinted(t *testing.T) {
	fp := &fakePrinter{dropAfter: 40}
	addr := fp.listen(t)
	e := runQueue(t, printer.TCPTransport{Address: addr})
	require.NoError(t, e.q.Receipts(paidPayment()))
	e.waitEmpty(t)
	require.Eventually(t, func() bool { return len(fp.jobs()) == 2 }, 5*time.Second, 10*time.Millisecond)
	jobs := fp.jobs()
	assert.Len(t, jobs[0], 40, "the first attempt was cut short")
	assert.NotContains(t, gb(jobs[0]), "重印")
	assert.Contains(t, gb(jobs[1]), "重印", "a receipt that may have been half printed comes again marked")
	assert.Contains(t, gb(jobs[1]), "收款凭证")
}

func TestUnreachablePrinterWaits(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close() // nobody home yet
	e := runQueue(t, printer.TCPTransport{Address: addr})
	require.NoError(t, e.q.Receipts(paidPayment()))
	e.waitState(t, "offline")

	// The printer is switched on: same address.
	fp := &fakePrinter{}
	ln, err = net.Listen("tcp", addr)
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); fp.record(fp.serve(c, nil)) }()
		}
	}()
	e.waitEmpty(t)
	require.Eventually(t, func() bool { return len(fp.jobs()) == 1 }, 5*time.Second, 10*time.Millisecond)
}

// TestSerialPrinter prints through a socat pty playing a serial printer,
// paper out first.
func TestSerialPrinter(t *testing.T) {
	pty := ptytest.New(t)
	fp := &fakePrinter{paperOut: true}
	f, err := os.OpenFile(pty.Feed, os.O_RDWR, 0)
	require.NoError(t, err)
	defer f.Close()
	var mu sync.Mutex
	var all []byte
	go func() {
		job := fp.serve(f, nil)
		mu.Lock()
		all = job
		mu.Unlock()
	}()
	// The fake keeps one stream; read what it has printed so far through
	// its buffer by closing at the end.
	e := runQueue(t, printer.SerialTransport{Port: pty.Scanner, Baud: 9600})
	require.NoError(t, e.q.Receipts(paidPayment()))
	e.waitState(t, "paper_out")
	fp.set(func() { fp.paperOut = false })
	e.waitEmpty(t)
	pty.Unplug()
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(all) > 0 }, 5*time.Second, 10*time.Millisecond)
	want, _ := layout(t, 58).Receipt(paidPayment(), nil, false)
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, 1, bytes.Count(all, want), "printed once")
	assert.Contains(t, gb(all), "收款凭证")
}

func TestFileTransport(t *testing.T) {
	dir := t.TempDir()
	e := runQueue(t, printer.FileTransport{Dir: dir})
	p := paidPayment()
	p.Refunds = []*payflow.Refund{refund()}
	require.NoError(t, e.q.Receipts(p))
	e.waitEmpty(t)
	day := filepath.Join(dir, time.Now().Format(time.DateOnly))
	for _, name := range []string{"payment_pay_abcdefghijklmnop.bin", "payment_pay_abcdefghijklmnop.txt",
		"refund_pay_abcdefghijklmnop_R1.bin", "refund_pay_abcdefghijklmnop_R1.txt"} {
		fi, err := os.Stat(filepath.Join(day, name))
		require.NoError(t, err, name)
		assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	}
	txt, _ := os.ReadFile(filepath.Join(day, "refund_pay_abcdefghijklmnop_R1.txt"))
	assert.Contains(t, string(txt), "退款凭证")

	// A reprint and a test page.
	id, err := e.q.Reprint(p, nil)
	require.NoError(t, err)
	_, err = e.q.TestPage()
	require.NoError(t, err)
	e.waitEmpty(t)
	b, err := os.ReadFile(filepath.Join(day, "reprint_pay_abcdefghijklmnop_"+id[len("reprint/pay_abcdefghijklmnop/"):]+".bin"))
	require.NoError(t, err)
	assert.Contains(t, gb(b), "重印")
}

func TestTransports(t *testing.T) {
	tr, err := printer.NewTransport("tcp", "192.0.2.1", 0)
	require.NoError(t, err)
	assert.Equal(t, "192.0.2.1:9100", tr.Target())
	_, err = printer.NewTransport("windows", "", 0)
	assert.ErrorContains(t, err, "not supported yet")
	_, err = printer.NewTransport("serial", "", 0)
	assert.Error(t, err)
	tr, err = printer.NewTransport("usb", "", 0)
	require.NoError(t, err)
	assert.Equal(t, "/dev/usb/lp0", tr.Target())
	_, err = tr.Open(context.Background(), "x")
	if err != nil {
		assert.Contains(t, err.Error(), "/dev/usb/lp0")
	}
}

// TestPrinterStates: each state the printer reports by DLE EOT reaches
// the device state; only paper near its end still prints.
func TestPrinterStates(t *testing.T) {
	for _, tc := range []struct {
		state  string
		set    func(p *fakePrinter)
		prints bool
	}{
		{"offline", func(p *fakePrinter) { p.offline = true }, false},
		{"cover_open", func(p *fakePrinter) { p.coverOpen = true }, false},
		{"paper_out", func(p *fakePrinter) { p.paperOut = true }, false},
		{"paper_near_end", func(p *fakePrinter) { p.nearEnd = true }, true},
	} {
		t.Run(tc.state, func(t *testing.T) {
			fp := &fakePrinter{}
			tc.set(fp)
			e := runQueue(t, printer.TCPTransport{Address: fp.listen(t)})
			require.NoError(t, e.q.Receipts(paidPayment()))
			e.waitState(t, tc.state)
			if tc.prints {
				e.waitEmpty(t)
				require.Eventually(t, func() bool { return len(fp.jobs()) == 1 }, 5*time.Second, 10*time.Millisecond)
				assert.Equal(t, "paper_near_end", e.q.State().State, "still says so after printing")
				return
			}
			time.Sleep(300 * time.Millisecond)
			assert.Empty(t, fp.jobs(), "nothing printed while %s", tc.state)
			jobs, err := e.st.PendingJobs()
			require.NoError(t, err)
			assert.Len(t, jobs, 1, "the receipt waits")
		})
	}
}

// blockingJobs is a job store whose AddJob waits until released: a
// receipt being journaled when the queue is stopped.
type blockingJobs struct {
	printer.JobStore
	entered chan struct{}
	release chan struct{}
}

func (b *blockingJobs) AddJob(j *printer.Job) (bool, error) {
	close(b.entered)
	<-b.release
	return b.JobStore.AddJob(j)
}

// TestRunWaitsForReceiptsInFlight: Run returns only once a receipt it was
// journaling is journaled, so whoever closes the journal after Run cannot
// cut it off (it used to fail with "database not open" and be reprinted).
func TestRunWaitsForReceiptsInFlight(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "posd.db"))
	require.NoError(t, err)
	defer st.Close()
	jobs := &blockingJobs{JobStore: st, entered: make(chan struct{}), release: make(chan struct{})}
	q := &printer.Queue{Jobs: jobs, Transport: printer.FileTransport{Dir: t.TempDir()}, Layout: layout(t, 58)}
	events := make(chan payflow.Event, 1)
	ctx, cancel := context.WithCancel(context.Background())
	returned := make(chan struct{})
	go func() { q.Run(ctx, events, nil); close(returned) }()
	events <- payflow.Event{Type: "payment", Payment: paidPayment()}
	<-jobs.entered
	cancel()
	select {
	case <-returned:
		t.Fatal("Run returned while a receipt was being journaled")
	case <-time.After(200 * time.Millisecond):
	}
	close(jobs.release)
	select {
	case <-returned:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	has, err := st.HasJob("payment/" + paidPayment().ID)
	require.NoError(t, err)
	assert.True(t, has, "the receipt is journaled")
}

// TestQRSlips: with QRSlips a QR payment's code is printed once when it is
// shown, however many events tell of it; without, never.
func TestQRSlips(t *testing.T) {
	for _, on := range []bool{true, false} {
		st, err := store.Open(filepath.Join(t.TempDir(), "posd.db"))
		require.NoError(t, err)
		dir := t.TempDir()
		q := &printer.Queue{Jobs: st, Transport: printer.FileTransport{Dir: dir}, Layout: layout(t, 58), QRSlips: on}
		events := make(chan payflow.Event, 4)
		ctx, cancel := context.WithCancel(context.Background())
		returned := make(chan struct{})
		go func() { q.Run(ctx, events, nil); close(returned) }()
		p := &payflow.Payment{ID: "pay_qr", OrderID: "Q1", Amount: 1250, State: payflow.StateAwaitingCustomer, Method: payflow.MethodQR,
			QR: &payflow.QR{Code: "https://qr.example/1", ExpiresAt: time.Now().Add(time.Minute)}}
		events <- payflow.Event{Type: payflow.EventPayment, Payment: p}
		events <- payflow.Event{Type: payflow.EventPayment, Payment: p}
		if on {
			require.Eventually(t, func() bool {
				_, err := os.Stat(filepath.Join(dir, time.Now().Format(time.DateOnly), "qr_pay_qr.bin"))
				return err == nil
			}, 10*time.Second, 10*time.Millisecond)
		} else {
			time.Sleep(200 * time.Millisecond)
		}
		cancel()
		<-returned
		files, _ := filepath.Glob(filepath.Join(dir, "*", "*.bin"))
		if on {
			assert.Len(t, files, 1, "one slip: %v", files)
		} else {
			assert.Empty(t, files)
		}
		require.NoError(t, st.Close())
	}
}

// TestFileTransportDays: receipts go to a directory per day, written in a
// spool first; when a day begins, the days past retention go, and nothing
// else in the directory is touched.
func TestFileTransportDays(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 11, 22, 9, 0, 0, 0, time.Local)
	for _, d := range []string{"2026-10-01", "2026-11-01", "2026-11-21"} {
		require.NoError(t, os.MkdirAll(filepath.Join(dir, d), 0o700))
		require.NoError(t, os.WriteFile(filepath.Join(dir, d, "payment_x.bin"), []byte("x"), 0o600))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o600))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, ".spool"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(dir, ".spool", "job-123"), []byte("half"), 0o600))
	tr := printer.FileTransport{Dir: dir, RetentionDays: 30, Now: func() time.Time { return now }}
	c, err := tr.Open(context.Background(), "payment/pay_1")
	require.NoError(t, err)
	_, err = c.Write([]byte("\x1b@hello\n"))
	require.NoError(t, err)
	require.NoError(t, c.Close())
	_, err = os.Stat(filepath.Join(dir, "2026-11-22", "payment_pay_1.bin"))
	assert.NoError(t, err, "today's directory")
	_, err = os.Stat(filepath.Join(dir, "2026-10-01"))
	assert.ErrorIs(t, err, os.ErrNotExist, "past retention: removed")
	for _, keep := range []string{"2026-11-01", "2026-11-21", "notes.txt"} {
		_, err = os.Stat(filepath.Join(dir, keep))
		assert.NoError(t, err, keep)
	}
	spool, _ := os.ReadDir(filepath.Join(dir, ".spool"))
	assert.Empty(t, spool, "a half-written receipt of a dead attempt is cleared")
}

// TestLogoInPrinter: a logo kept in the printer is written into its NV
// memory before the first receipt, and not again for the next ones nor
// after a restart (the journal remembers); it is written again a day
// later, for a new logo and for another printer, and a while after a
// write that failed midway, but not while that failure is recent. Each
// receipt prints the logo by reference.
func TestLogoInPrinter(t *testing.T) {
	fp, other := &fakePrinter{}, &fakePrinter{}
	addr, otherAddr := fp.listen(t), other.listen(t)
	st, err := store.Open(filepath.Join(t.TempDir(), "posd.db"))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })

	var clockMu sync.Mutex
	now := time.Date(2026, 11, 22, 9, 0, 0, 0, time.Local)
	clock := func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return now }
	advance := func(d time.Duration) func() {
		return func() { clockMu.Lock(); now = now.Add(d); clockMu.Unlock() }
	}
	stripes := func(period int) image.Image {
		img := image.NewGray(image.Rect(0, 0, 384, 40))
		for i := range img.Pix {
			img.Pix[i] = uint8(255 * (i / period % 2))
		}
		return img
	}
	withLogo := func(img image.Image) printer.Layout {
		l := layout(t, 58)
		l.Logo, l.LogoInPrinter = img, true
		return l
	}
	logoA, logoB := withLogo(stripes(3)), withLogo(stripes(5))
	defA, err := logoA.LogoDefinition()
	require.NoError(t, err)
	defB, err := logoB.LogoDefinition()
	require.NoError(t, err)
	sumA := sha256.Sum256(defA)

	var q *printer.Queue
	var stop func()
	run := func(l printer.Layout, to string) {
		if stop != nil {
			stop()
		}
		q = &printer.Queue{Jobs: st, Transport: printer.TCPTransport{Address: to}, Layout: l, Now: clock}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { q.Run(ctx, make(chan payflow.Event), nil); close(done) }()
		stop = func() { cancel(); <-done }
	}
	t.Cleanup(func() { stop() })
	n := 0
	// receipt prints one more receipt and returns what the printer got.
	receipt := func(t *testing.T, on *fakePrinter) (got, want []byte) {
		t.Helper()
		n++
		p := paidPayment()
		p.ID = fmt.Sprintf("pay_logo%02d", n)
		before := len(on.jobs())
		require.NoError(t, q.Receipts(p))
		require.Eventually(t, func() bool { return len(on.jobs()) == before+1 }, 10*time.Second, 5*time.Millisecond)
		want, err := q.Layout.Receipt(p, nil, false)
		require.NoError(t, err)
		assert.True(t, bytes.Contains(want[:20], []byte{0x1d, '(', 'L', 6, 0, 48, 69, 'P', 'L', 1, 1}), "the logo printed by reference: % x", want[:20])
		assert.False(t, bytes.Contains(want, []byte{0x1d, 'v', '0'}), "and not sent")
		return on.jobs()[before], want
	}
	for _, step := range []struct {
		name    string
		before  func()
		on      *fakePrinter
		written []byte // the definition sent before the receipt, if any
	}{
		{"first receipt", func() { run(logoA, addr) }, fp, defA},
		{"second receipt", nil, fp, nil},
		{"after a restart", func() { run(logoA, addr) }, fp, nil},
		{"23 hours later", advance(23 * time.Hour), fp, nil},
		{"a day after the write", advance(time.Hour), fp, defA},
		{"a new logo", func() { run(logoB, addr) }, fp, defB},
		{"the new logo again", nil, fp, nil},
		{"another printer", func() { run(logoB, otherAddr) }, other, defB},
		{"back to the first printer and logo", func() { run(logoA, addr) }, fp, defA},
		{"a write that failed midway, just now", func() {
			// As a posd that stopped during the write left it: the queue
			// reads the record when it starts, and is its only writer.
			require.NoError(t, st.SetPrinterLogo(printer.LogoRecord{Printer: "tcp:" + addr, Sum: hex.EncodeToString(sumA[:]), At: clock()}))
			run(logoA, addr)
		}, fp, nil},
		{"2 hours after it", advance(2 * time.Hour), fp, nil},
		{"3 hours after it", advance(time.Hour), fp, defA},
	} {
		t.Run(step.name, func(t *testing.T) {
			if step.before != nil {
				step.before()
			}
			got, want := receipt(t, step.on)
			assert.Equal(t, append(bytes.Clone(step.written), want...), got)
			if step.written != nil {
				rec, err := st.PrinterLogo()
				require.NoError(t, err)
				assert.True(t, rec.Written)
				assert.True(t, rec.At.Equal(clock()), "the write is recorded at its time")
			}
		})
	}
}

// TestLogoWriteFails: the printer goes away while it takes the logo. The
// write was recorded before it was sent, so the retry prints the receipt
// without writing the printer's memory again (Epson asks for under ten
// writes a day); the receipt is printed once, not marked 重印: none of it
// had been sent.
func TestLogoWriteFails(t *testing.T) {
	fp := &fakePrinter{dropAfter: 100}
	addr := fp.listen(t)
	e := runQueue(t, printer.TCPTransport{Address: addr})
	img := image.NewGray(image.Rect(0, 0, 384, 40))
	e.q.Layout.Logo, e.q.Layout.LogoInPrinter = img, true
	def, err := e.q.Layout.LogoDefinition()
	require.NoError(t, err)
	p := paidPayment()
	require.NoError(t, e.q.Receipts(p))
	e.waitEmpty(t)
	require.Eventually(t, func() bool { return len(fp.jobs()) == 2 }, 10*time.Second, 5*time.Millisecond)
	want, err := e.q.Layout.Receipt(p, nil, false)
	require.NoError(t, err)
	jobs := fp.jobs()
	assert.Equal(t, def, jobs[0], "the logo, then the printer went away")
	assert.Equal(t, want, jobs[1], "the receipt alone, once")
	rec, err := e.st.PrinterLogo()
	require.NoError(t, err)
	assert.False(t, rec.Written)
	assert.Equal(t, "tcp:"+addr, rec.Printer)
}
