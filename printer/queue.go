package printer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tillworks/posd/internal/failpoint"
	"github.com/tillworks/posd/payflow"
)

// JobStore is where the queue journals its jobs; posd's journal
// (*store.Store) is one.
type JobStore interface {
	AddJob(j *Job) (bool, error)
	SaveJob(j *Job) error
	// NextJob is the oldest job not yet printed (nil: none) and how many
	// are waiting.
	NextJob() (*Job, int, error)
	HasJob(id string) (bool, error)
}

// LogoMemory is implemented by job stores that remember which logo the
// printer was last given (posd's journal does), so that a logo kept in the
// printer (Layout.LogoInPrinter) is written into its NV memory once, not
// at every start. Without it the queue remembers only while it runs.
type LogoMemory interface {
	PrinterLogo() (LogoRecord, error)
	SetPrinterLogo(LogoRecord) error
}

// LogoRecord is the last logo written into a printer's NV memory.
type LogoRecord struct {
	Printer string    `json:"printer"` // the transport's kind and target
	Sum     string    `json:"sha256"`  // of the bytes that defined it
	At      time.Time `json:"at"`
	// Written: every byte left for the printer, and a status request
	// after them was answered, or went unanswered (a printer busy writing
	// its memory, or one that never answers), rather than failing.
	Written bool `json:"written"`
}

// How often the logo is written into a printer again: daily, so that a
// printer swapped for another at the same address prints the logo again
// from the next day; and, after a write that failed midway, once the
// printer has had time to come back. Epson asks for under ten NV writes
// a day.
const (
	logoRefresh = 24 * time.Hour
	logoRetry   = 3 * time.Hour
)

// LaterJobs is implemented by job stores that can record a job's state
// with their next write instead of a commit of its own (posd's journal
// does). The queue uses it for a receipt whose printing it can tell again
// after a crash (Witness), and then asks for the next job past those it
// printed.
type LaterJobs interface {
	SaveJobLater(j *Job)
	NextJobAfter(seq uint64) (*Job, int, error)
}

// Witness is implemented by transports that can tell whether a job's
// receipt was printed whole (the file printer: its file is there), so
// that a receipt whose "done" record a crash took is not printed again.
type Witness interface {
	Printed(name string, created time.Time) bool
}

// Wholer is implemented by transports whose receipt appears whole or not at
// all (the file printer): the queue journals no "printing" state for them.
type Wholer interface {
	Atomic() bool
}

// The printer's states, as State.State, events and GET /v1/devices name them.
const (
	StateReady        = "ready"
	StatePrinting     = "printing"
	StateOffline      = "offline"
	StateCoverOpen    = "cover_open"
	StatePaperOut     = "paper_out"
	StatePaperNearEnd = "paper_near_end"
	StateError        = "error"
)

// State is the printer as the queue last saw it.
type State struct {
	State   string    `json:"state"` // ready, printing, offline, cover_open, paper_out, paper_near_end, error
	Detail  string    `json:"detail,omitempty"`
	Since   time.Time `json:"since"`
	Pending int       `json:"pending"`
	Printed int       `json:"printed"`
}

// Queue prints receipts exactly once: each job is journaled before it is
// printed, marked printing before its bytes are sent and done only after
// the printer took every byte; a job found printing at start may have
// been half printed and is printed again, marked 重印.
type Queue struct {
	Jobs      JobStore
	Transport Transport
	Layout    Layout
	Log       *slog.Logger
	// OnState is told of every printer state change (for device events).
	OnState func(State)
	// QRSlips prints a QR payment's code on a slip when it is shown
	// ([printer] print_qr_slips), for tills without a customer display.
	QRSlips bool
	// Now is the queue's clock (nil: time.Now), injected in tests.
	Now func() time.Time

	// lastSeq: the jobs up to it were printed by this queue and are
	// recorded done later (LaterJobs with a Witness transport).
	lastSeq uint64
	started time.Time // jobs queued before it may have been printed by an earlier posd

	logo     LogoRecord // the last logo written (read once from Jobs when it is a LogoMemory)
	logoRead bool
	// logoDef is the layout's logo definition and its sum, made at the
	// first receipt (rasterizing a logo takes milliseconds).
	logoDef, logoSum []byte
	logoMade         bool

	wake chan struct{}
	once sync.Once
	mu   sync.Mutex
	st   State
}

func (q *Queue) init() {
	q.once.Do(func() {
		q.wake = make(chan struct{}, 1)
		if q.Log == nil {
			q.Log = slog.New(slog.DiscardHandler)
		}
		q.started = time.Now()
		q.st = State{State: StateReady, Since: q.started}
	})
}

// maxBackoff caps the wait between attempts on a printer that is away.
const maxBackoff = 30 * time.Second

// Enqueue journals a job unless one with its id was ever queued.
func (q *Queue) Enqueue(id, paymentID, refundID string, data, reprint []byte) (bool, error) {
	q.init()
	now := time.Now()
	added, err := q.Jobs.AddJob(&Job{ID: id, PaymentID: paymentID, RefundID: refundID, State: JobPending,
		Data: data, ReprintData: reprint, CreatedAt: now, UpdatedAt: now})
	if err != nil {
		return false, fmt.Errorf("printer: queueing %s: %w", id, err)
	}
	if added {
		q.Log.Info("receipt queued", "job", id)
		q.poke()
	}
	return added, nil
}

func (q *Queue) poke() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Receipts queues the receipts a payment is owed: one when it is paid and
// one for each refund that is refunded. Safe to call again: queued ids are
// never queued twice.
func (q *Queue) Receipts(p *payflow.Payment) error {
	if p.State == payflow.StatePaid {
		if err := q.receipt("payment/"+p.ID, p, nil); err != nil {
			return err
		}
	}
	for _, r := range p.Refunds {
		if r.State == payflow.RefundRefunded {
			if err := q.receipt("refund/"+p.ID+"/"+r.ID, p, r); err != nil {
				return err
			}
		}
	}
	return nil
}

func (q *Queue) receipt(id string, p *payflow.Payment, r *payflow.Refund) error {
	// Most calls (every refund event, every payment of the start-up
	// backlog) find the receipt queued long ago, often by the journal in
	// the payment's own transaction (DueReceipts): a read answers that,
	// without rendering or a write transaction.
	if queued, err := q.Jobs.HasJob(id); err != nil || queued {
		if queued {
			q.poke() // queued with the payment: print it
		}
		return err
	}
	j, err := q.receiptJob(id, p, r)
	if err != nil {
		return err
	}
	_, err = q.Enqueue(id, p.ID, j.RefundID, j.Data, j.ReprintData)
	return err
}

// receiptJob renders receipt id of payment p (or of its refund r) as a
// job: its bytes, and the same marked 重印.
func (q *Queue) receiptJob(id string, p *payflow.Payment, r *payflow.Refund) (*Job, error) {
	data, err := q.Layout.Receipt(p, r, false)
	if err != nil {
		return nil, err
	}
	again, err := q.Layout.Receipt(p, r, true)
	if err != nil {
		return nil, err
	}
	j := &Job{ID: id, PaymentID: p.ID, State: JobPending, Data: data, ReprintData: again, CreatedAt: time.Now()}
	j.UpdatedAt = j.CreatedAt
	if r != nil {
		j.RefundID = r.ID
	}
	return j, nil
}

// DueJob is a print job a payment's record makes due, rendered only when
// the journal does not have it yet.
type DueJob struct {
	ID     string
	Render func() (*Job, error)
}

// DueReceipts names the receipts payment p is owed (its own once paid, a
// refund's once refunded), for the journal to queue in the transaction
// that records p: the payment and its receipt are durable together, in
// one commit, and no crash falls between them.
func (q *Queue) DueReceipts(p *payflow.Payment) []DueJob {
	var due []DueJob
	if p.State == payflow.StatePaid {
		id := "payment/" + p.ID
		due = append(due, DueJob{ID: id, Render: func() (*Job, error) { return q.receiptJob(id, p, nil) }})
	}
	for _, r := range p.Refunds {
		if r.State == payflow.RefundRefunded {
			id, r := "refund/"+p.ID+"/"+r.ID, r
			due = append(due, DueJob{ID: id, Render: func() (*Job, error) { return q.receiptJob(id, p, r) }})
		}
	}
	return due
}

// qrSlip queues a QR payment's slip once, when its code is first shown.
// Slips are printed from live events only: after a restart a code shown
// before it may have expired, and a new one is never made for it.
func (q *Queue) qrSlip(p *payflow.Payment) error {
	id := "qr/" + p.ID
	if queued, err := q.Jobs.HasJob(id); err != nil || queued {
		return err
	}
	data, err := q.Layout.QRSlip(p)
	if err != nil {
		return err
	}
	_, err = q.Enqueue(id, p.ID, "", data, data)
	return err
}

// Reprint queues a copy of a payment's receipt (or a refund's), marked 重印.
func (q *Queue) Reprint(p *payflow.Payment, r *payflow.Refund) (string, error) {
	data, err := q.Layout.Receipt(p, r, true)
	if err != nil {
		return "", err
	}
	id := fmt.Sprintf("reprint/%s/%d", p.ID, time.Now().UnixNano())
	_, err = q.Enqueue(id, p.ID, "", data, data)
	return id, err
}

// TestPage queues a test page.
func (q *Queue) TestPage() (string, error) {
	data, err := q.Layout.TestPage()
	if err != nil {
		return "", err
	}
	id := fmt.Sprintf("test/%d", time.Now().UnixNano())
	_, err = q.Enqueue(id, "", "", data, data)
	return id, err
}

// State returns the printer's last known state.
func (q *Queue) State() State {
	q.init()
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.st
}

func (q *Queue) setState(state, detail string, pending int) {
	q.mu.Lock()
	changed := q.st.State != state || q.st.Detail != detail
	q.st.Pending = pending
	if changed {
		q.st.State, q.st.Detail, q.st.Since = state, detail, time.Now()
	}
	st := q.st
	q.mu.Unlock()
	if !changed {
		return
	}
	lvl := slog.LevelInfo
	if state != StateReady && state != StatePrinting {
		lvl = slog.LevelWarn
	}
	q.Log.Log(context.Background(), lvl, "printer "+state, "printer", q.Transport.Target(), "detail", detail)
	if q.OnState != nil {
		q.OnState(st)
	}
}

// errNotReady means the printer said it cannot print now.
var errNotReady = errors.New("printer not ready")

// Run queues receipts from the engine's events and prints the queue until
// ctx ends. backlog, if set, lists recent payments first, so that a
// receipt the daemon died before queueing is queued now.
func (q *Queue) Run(ctx context.Context, events <-chan payflow.Event, backlog func() ([]*payflow.Payment, error)) {
	q.init()
	if backlog != nil {
		ps, err := backlog()
		if err != nil {
			q.Log.Error("cannot list recent payments to queue missed receipts", "err", err)
		}
		for _, p := range ps {
			if err := q.Receipts(p); err != nil {
				q.Log.Error("receipt not queued", "payment", p.ID, "err", err)
			}
		}
	}
	// The receipts of new payments are queued beside the printing; Run
	// returns only once that has stopped too.
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-events:
				if !ok {
					return
				}
				if q.QRSlips && ev.Type == payflow.EventPayment && ev.Payment != nil && ev.Payment.State == payflow.StateAwaitingCustomer {
					if err := q.qrSlip(ev.Payment); err != nil {
						q.Log.Error("QR slip not queued", "payment", ev.Payment.ID, "err", err)
					}
				}
				if (ev.Type == payflow.EventPayment || ev.Type == payflow.EventRefund) && ev.Payment != nil {
					if err := q.Receipts(ev.Payment); err != nil {
						q.Log.Error("receipt not queued", "payment", ev.Payment.ID, "err", err)
					}
				}
			}
		}
	})
	backoff := time.Duration(0)
	for ctx.Err() == nil {
		job, pending, err := q.nextJob()
		if err != nil {
			q.Log.Error("cannot read the print queue; trying again", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			continue
		}
		if job == nil {
			q.mu.Lock()
			q.st.Pending = 0
			q.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-q.wake:
			}
			continue
		}
		failpoint.Hit(failpoint.PrintQueued)
		if err := q.print(ctx, job, pending); err != nil {
			if ctx.Err() != nil {
				return
			}
			backoff = min(max(time.Second, 2*backoff), maxBackoff)
			q.Log.Debug("print failed; will retry", "job", job.ID, "in", backoff, "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			continue
		}
		backoff = 0
	}
}

// nextJob is the oldest job waiting that this queue has not printed.
func (q *Queue) nextJob() (*Job, int, error) {
	if lj, ok := q.Jobs.(LaterJobs); ok {
		return lj.NextJobAfter(q.lastSeq)
	}
	return q.Jobs.NextJob()
}

// print sends one job: connect, ask the status where the printer can tell,
// journal the job as printing, send every byte, journal it done.
func (q *Queue) print(ctx context.Context, j *Job, pending int) error {
	witness, _ := q.Transport.(Witness)
	if witness != nil && !j.CreatedAt.After(q.started) && witness.Printed(j.ID, j.CreatedAt) {
		// Printed whole before a crash took its "done" record (a job
		// queued since this queue started has not been printed).
		j.State, j.UpdatedAt = JobDone, time.Now()
		if err := q.Jobs.SaveJob(j); err != nil {
			return err
		}
		q.Log.Info("receipt found printed before posd stopped; not printed again", "job", j.ID)
		return nil
	}
	conn, err := q.Transport.Open(ctx, j.ID)
	if err != nil {
		q.setState(StateOffline, err.Error(), pending)
		return err
	}
	if sc, ok := conn.(StatusConn); ok {
		st, err := sc.Status(ctx)
		switch {
		case errors.Is(err, ErrNoStatus):
			// cannot tell: print and see
		case err != nil:
			conn.Close()
			q.setState(StateOffline, err.Error(), pending)
			return err
		case !st.Ready():
			conn.Close()
			q.setState(st.State(), "the receipt waits until the printer is ready", pending)
			return errNotReady
		case st.PaperNearEnd:
			q.setState(st.State(), "paper is running out: change the roll soon", pending)
		}
	}
	if err := q.storeLogo(ctx, conn); err != nil {
		conn.Close()
		q.setState(StateOffline, err.Error(), pending)
		return err
	}
	data := j.Data
	if j.State == JobPrinting {
		data = j.ReprintData // the last attempt may have printed part of it
	}
	j.State, j.Attempts, j.UpdatedAt = JobPrinting, j.Attempts+1, time.Now()
	if w, ok := q.Transport.(Wholer); !ok || !w.Atomic() {
		// Journaled before the first byte leaves: after a crash from here
		// on, the receipt may be half printed and is printed again marked
		// 重印. A transport whose receipt appears whole needs no record.
		if err := q.Jobs.SaveJob(j); err != nil {
			conn.Close()
			return err
		}
	}
	failpoint.Hit(failpoint.PrintSending)
	if _, err := conn.Write(data); err != nil {
		conn.Close()
		q.setState(StateOffline, err.Error(), pending)
		return err
	}
	// A socket takes bytes the printer may never get; a status answer
	// after them proves it read them all (it answers in order).
	if sc, ok := conn.(StatusConn); ok {
		if _, err := sc.Status(ctx); err != nil && !errors.Is(err, ErrNoStatus) {
			conn.Close()
			q.setState(StateOffline, "the printer went away during the receipt: "+err.Error(), pending)
			return err
		}
	}
	if err := conn.Close(); err != nil {
		q.setState(StateOffline, err.Error(), pending)
		return err
	}
	j.State, j.UpdatedAt = JobDone, time.Now()
	failpoint.Hit(failpoint.PrintDone)
	if lj, ok := q.Jobs.(LaterJobs); ok && witness != nil {
		// The receipt itself says it was printed: its record rides with
		// the journal's next write (a payment's, usually) and needs no
		// commit of its own.
		lj.SaveJobLater(j)
		q.lastSeq = j.Seq
	} else if err := q.Jobs.SaveJob(j); err != nil {
		return err
	}
	q.mu.Lock()
	q.st.Printed++
	q.mu.Unlock()
	if st := q.State(); st.State != StatePaperNearEnd {
		q.setState(StateReady, "", pending-1)
	}
	q.Log.Info("receipt printed", "job", j.ID, "attempts", j.Attempts)
	return nil
}

func (q *Queue) now() time.Time {
	if q.Now != nil {
		return q.Now()
	}
	return time.Now()
}

// storeLogo writes the logo into the printer's NV graphics memory over
// conn, before a job, when the layout keeps it there and the printer is
// not known to hold this logo: first, after a logo or printer change,
// daily, and a while after a write that failed. The write is recorded
// before it is sent, so that a crash or a failing printer never makes
// posd write the memory again and again.
func (q *Queue) storeLogo(ctx context.Context, conn Conn) error {
	if !q.logoMade {
		def, err := q.Layout.LogoDefinition()
		if err != nil {
			return err
		}
		sum := sha256.Sum256(def)
		q.logoDef, q.logoSum, q.logoMade = def, sum[:], true
	}
	def := q.logoDef
	if def == nil {
		return nil
	}
	rec := LogoRecord{Printer: q.Transport.Kind() + ":" + q.Transport.Target(), Sum: hex.EncodeToString(q.logoSum), At: q.now()}
	mem, remembers := q.Jobs.(LogoMemory)
	if remembers && !q.logoRead {
		// Once: from then on this queue is the record's only writer.
		last, err := mem.PrinterLogo()
		if err != nil {
			return err
		}
		q.logo, q.logoRead = last, true
	}
	last := q.logo
	age := rec.At.Sub(last.At)
	if last.Printer == rec.Printer && last.Sum == rec.Sum && age >= 0 && age < logoRefresh && (last.Written || age < logoRetry) {
		return nil
	}
	save := func(r LogoRecord) error {
		q.logo = r
		if remembers {
			return mem.SetPrinterLogo(r)
		}
		return nil
	}
	if err := save(rec); err != nil {
		return err
	}
	if _, err := conn.Write(def); err != nil {
		return fmt.Errorf("printer: writing the logo into the printer: %w", err)
	}
	// The printer answers in order: an answer proves it read the image.
	// It may be busy writing its memory for a while and not answer: that
	// is no failure.
	if sc, ok := conn.(StatusConn); ok {
		if _, err := sc.Status(ctx); err != nil && !errors.Is(err, ErrNoStatus) {
			return fmt.Errorf("printer: the printer went away while taking the logo: %w", err)
		}
	}
	rec.Written = true
	if err := save(rec); err != nil {
		return err
	}
	q.Log.Info("logo written into the printer's memory: receipts print it from there", "printer", rec.Printer, "bytes", len(def))
	return nil
}
