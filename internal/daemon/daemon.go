// Package daemon assembles posd: it opens the journal, builds the gateways,
// the engine, the print queue, the scanners and the local API from a
// configuration, and runs them until its context ends. cmd/posd is the
// command line around it; tests and the Windows service wrapper call Run
// the same way main does.
package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tillworks/posd/config"
	"github.com/tillworks/posd/events"
	"github.com/tillworks/posd/internal/sdnotify"
	"github.com/tillworks/posd/localapi"
	"github.com/tillworks/posd/paycode"
	"github.com/tillworks/posd/payflow"
	"github.com/tillworks/posd/printer"
	"github.com/tillworks/posd/scanner"
	"github.com/tillworks/posd/store"
)

// version is set at build time with
// -ldflags "-X github.com/tillworks/posd/internal/daemon.version=...".
var version = ""

// Version returns the build's version: the one stamped at build time, else
// the module version Go recorded, else "dev".
func Version() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// TokenFile is where a generated API token is kept in the data directory.
const TokenFile = "api-token"

// APIToken returns the configured token, or the one generated into the
// data directory at first start (0600).
func APIToken(cfg *config.Config) (string, error) {
	if cfg.API.Token != "" {
		return cfg.API.Token, nil
	}
	path := filepath.Join(cfg.DataDir, TokenFile)
	if b, err := os.ReadFile(path); err == nil {
		if err := tighten(path, 0o600); err != nil {
			return "", err
		}
		if t := strings.TrimSpace(string(b)); len(t) >= 16 {
			return t, nil
		}
		return "", fmt.Errorf("%s holds no usable token: delete it and restart to generate a new one", path)
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("reading the API token: %w", err)
	}
	if err := tighten(path, 0o600); err != nil {
		return "", err
	}
	var b [24]byte
	rand.Read(b[:])
	t := hex.EncodeToString(b[:])
	if err := os.WriteFile(path, []byte(t+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("writing the API token to %s: %w", path, err)
	}
	return t, nil
}

// prepareDataDir creates the data directory, or tightens an existing one
// that others can read (a directory made by hand, or by an older posd):
// it holds the journal and the API token.
func prepareDataDir(dir string) error {
	if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
		return &config.Error{Key: "data_dir", Msg: fmt.Sprintf("%s is a file, not a directory", dir)}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating the data directory %s: %w", dir, err)
	}
	if err := tighten(dir, 0o700); err != nil {
		return err
	}
	return secureDataDir(dir)
}

// tighten takes away from path any permission beyond mode (Unix modes;
// on Windows the data directory's ACL does this). A path posd cannot
// tighten is an error: it would leave payments or the token readable.
func tighten(path string, mode os.FileMode) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode().Perm()&^mode == 0 {
		return nil
	}
	if err := os.Chmod(path, fi.Mode().Perm()&mode); err != nil {
		return fmt.Errorf("%s is readable by others (mode %04o) and posd cannot change that (%v): run 'chmod %04o %s' as its owner", path, fi.Mode().Perm(), err, mode, path)
	}
	return nil
}

// Run is the daemon: it opens the journal, recovers open payments, serves
// the API until ctx ends, then shuts down in order: stop accepting, let
// the journal write in flight finish, leave open payments for recovery.
func Run(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	if err := prepareDataDir(cfg.DataDir); err != nil {
		return err
	}
	token, err := APIToken(cfg)
	if err != nil {
		return err
	}
	started := time.Now()
	st, rep, err := store.OpenChecked(JournalFile(cfg.DataDir))
	if err != nil {
		return err
	}
	defer st.Close()
	for _, w := range rep.Warnings {
		log.Warn("journal: "+w, "journal", st.Path())
	}
	if rep.Size > 0 && !rep.Sealed {
		log.Info("journal: not as posd last closed it (a crash, a power cut, a restored or copied file): every page was checked before the start",
			"journal", st.Path(), "bytes", rep.Size, "took", time.Since(started).Round(time.Millisecond))
	}
	if rep.Replayed > 0 {
		log.Info("journal: applied the writes a crash left in its log", "journal", st.Path(), "writes", rep.Replayed,
			"checkpoint_restored", rep.Restored)
	}

	ctx, cancel := context.WithCancel(ctx)
	// Every goroutine Run starts is waited for before the journal closes
	// (deferred above): a receipt being written when posd stops is
	// written, not failed against a closed journal and reprinted.
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	gws, err := buildGateways(ctx, cfg, log, wg.Go)
	if err != nil {
		return err
	}
	bus := &payflow.Bus{}
	mets := newMetrics()
	eng := payflow.NewEngine(payflow.Config{
		TillID:              cfg.TillID,
		PollInterval:        cfg.Payflow.PollInterval.Duration,
		PayTimeout:          cfg.Payflow.PayTimeout.Duration,
		CancelRetryInterval: cfg.Payflow.CancelRetryInterval.Duration,
		CancelAttempts:      cfg.Payflow.CancelAttempts,
		ScanTimeout:         cfg.Payflow.ScanTimeout.Duration,
		RefundAttempts:      cfg.Payflow.RefundAttempts,
		GatewayConcurrency:  cfg.Payflow.GatewayConcurrency,
		GatewayRate:         cfg.Payflow.GatewayRate,
	}, st, gws, payflow.Options{Logger: log, Classify: paycode.Classifier, Bus: bus, ObserveCall: mets.observeCall})

	queue, err := newPrinter(cfg, st, log)
	if err != nil {
		return err
	}
	// A paid payment's receipt is queued in the transaction that records
	// it paid: one commit for both.
	st.SetJobsDue(queue.DueReceipts)
	queue.OnState = func(ps printer.State) {
		bus.Publish(payflow.Event{Type: payflow.EventDevice, At: ps.Since, Device: &events.DeviceEvent{Name: "printer", Kind: "printer", State: ps.State, Detail: ps.Detail}})
	}
	printed, stopPrinted := bus.Subscribe(1024)
	defer stopPrinted()

	if err := eng.Start(ctx); err != nil {
		return err
	}
	defer eng.Close()
	wg.Go(func() { queue.Run(ctx, printed, func() ([]*payflow.Payment, error) { return recentPayments(st) }) })

	sources, err := BuildScanners(cfg)
	if err != nil {
		return err
	}
	scanners := scanner.NewManager(sources,
		func(code, device string) {
			if _, err := eng.Scan(code, device); err != nil {
				log.Warn("scan not used", "scanner", device, "code", payflow.MaskCode(code), "reason", err)
			}
		},
		func(st events.DeviceStatus) {
			bus.Publish(payflow.Event{Type: payflow.EventDevice, At: st.Since, Device: &events.DeviceEvent{Name: st.Name, Kind: st.Kind, State: st.State, Detail: st.Detail}})
		}, log)
	wg.Go(func() { scanners.Run(ctx) })
	devices := func() []events.DeviceStatus {
		ps := queue.State()
		detail := queue.Transport.Target()
		if ps.Detail != "" {
			detail += ": " + ps.Detail
		}
		return append(scanners.Devices(), events.DeviceStatus{Name: "printer", Kind: "printer", Type: queue.Transport.Kind(),
			State: ps.State, Detail: detail, Since: ps.Since, Printed: ps.Printed})
	}

	mets.watch(eng, st, devices, queue, Version())

	ln, err := net.Listen("tcp", cfg.API.Listen)
	if err != nil {
		return fmt.Errorf("cannot listen on %s (api.listen): %w; is another posd running?", cfg.API.Listen, err)
	}
	api := localapi.New(localapi.Options{
		Engine: eng, Token: token, AllowedOrigins: cfg.API.AllowedOrigins, AllowRemote: cfg.API.AllowRemote,
		Version: Version(), Provider: gws.Default, TillID: cfg.TillID, JournalCheck: st.Check, Logger: log,
		Gateways: eng.GatewayStatus,
		Devices:  devices, Printer: queue, Backup: st.Backup, Metrics: mets.handler(),
	})
	reload := func() (string, error) {
		n := cfg
		if cfg.Source != "" {
			var err error
			if n, err = config.Load(cfg.Source); err != nil {
				return "", err
			}
		}
		n.DataDir = cfg.DataDir // where this daemon keeps its data does not move under it
		tok, err := APIToken(n)
		if err != nil {
			return "", err
		}
		if err := api.SetAllowedOrigins(n.API.AllowedOrigins); err != nil {
			return "", err
		}
		api.SetToken(tok)
		log.Info("configuration reloaded", "file", cfg.Source, "allowed_origins", n.API.AllowedOrigins)
		return fmt.Sprintf("%s: api.allowed_origins now %q, the API token re-read; other changes take effect at the next restart", orEmbedded(cfg.Source), n.API.AllowedOrigins), nil
	}
	api.SetReload(reload)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if _, err := reload(); err != nil {
					log.Error("configuration not reloaded (SIGHUP); nothing changed", "err", err)
				}
			}
		}
	})
	srv := &http.Server{
		Handler: api, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10,
		// Request bodies have their own deadline (localapi's BodyTimeout):
		// ReadTimeout would also end event streams and long polls.
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		// Requests end with the daemon, so event streams and long polls
		// do not hold up a shutdown.
		BaseContext: func(net.Listener) context.Context { return ctx },
	}
	served := make(chan error, 1)
	wg.Go(func() { served <- srv.Serve(ln) })
	wg.Go(func() { pruneDaily(ctx, st, cfg, log) })
	log.Info("posd ready", "version", Version(), "api", "http://"+ln.Addr().String(), "gateway", gws.Default,
		"data_dir", cfg.DataDir, "token_file", tokenSource(cfg), "printer", queue.Transport.Kind()+" "+queue.Transport.Target())

	if ok, err := sdnotify.Notify(sdnotify.Ready + "\nSTATUS=serving on " + ln.Addr().String()); err != nil {
		log.Warn("cannot tell systemd posd is ready", "err", err)
	} else if ok {
		log.Debug("told systemd posd is ready")
	}

	select {
	case <-ctx.Done():
	case err := <-served:
		return fmt.Errorf("API server stopped: %w", err)
	}
	sdnotify.Notify(sdnotify.Stopping)
	log.Info("shutting down: open payments are left for recovery at next start")
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	eng.Close()
	return nil
}

// orEmbedded names where a configuration came from.
func orEmbedded(file string) string {
	if file == "" {
		return "the embedded defaults"
	}
	return file
}

// tokenSource says where the API token is kept, for the start-up log line.
func tokenSource(cfg *config.Config) string {
	if cfg.API.Token != "" {
		return "(api.token in the configuration)"
	}
	return filepath.Join(cfg.DataDir, TokenFile)
}
