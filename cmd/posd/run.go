package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/kardianos/service"

	"github.com/tillworks/posd/config"
	"github.com/tillworks/posd/internal/sdnotify"
	"github.com/tillworks/posd/localapi"
	"github.com/tillworks/posd/packaging"
	"github.com/tillworks/posd/payflow"
	"github.com/tillworks/posd/printer"
	"github.com/tillworks/posd/providers/demo"
	"github.com/tillworks/posd/providers/shouqianba"
	"github.com/tillworks/posd/scanner"
	"github.com/tillworks/posd/store"
)

type configError = config.Error

// loadConfig reads --config and applies --data-dir over it.
func loadConfig(path, dataDir string) (*config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	if dataDir != "" {
		cfg.DataDir = dataDir
	}
	return cfg, nil
}

func configFlags(fs *flag.FlagSet) (cfgPath, dataDir *string) {
	return fs.String("config", "", "configuration file (TOML); none: embedded defaults"),
		fs.String("data-dir", "", "data directory (overrides data_dir)")
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		return &usageError{fmt.Sprintf("%s: %v", fs.Name(), err)}
	}
	return nil
}

func cmdConfig(args []string, stdout io.Writer) error {
	if len(args) == 0 || (args[0] != "check" && args[0] != "show") {
		return &usageError{"usage: posd config check --config FILE | posd config show [--config FILE]"}
	}
	fs := flag.NewFlagSet("config "+args[0], flag.ContinueOnError)
	cfgPath, dataDir := configFlags(fs)
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if args[0] == "check" && *cfgPath == "" {
		return &usageError{"config check needs --config FILE"}
	}
	cfg, err := loadConfig(*cfgPath, *dataDir)
	if err != nil {
		return err
	}
	if args[0] == "show" {
		shown := *cfg
		for _, secret := range []*string{&shown.API.Token, &shown.Provider.Shouqianba.TerminalKey, &shown.Provider.Shouqianba.VendorKey} {
			if *secret != "" {
				*secret = "(set)"
			}
		}
		return toml.NewEncoder(stdout).Encode(shown)
	}
	if _, err := buildScanners(cfg); err != nil {
		return err
	}
	if _, err := printerLayout(cfg); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: ok (provider %s, API on %s, %d scanner(s), data in %s)\n", *cfgPath, cfg.Provider.Name, cfg.API.Listen, len(cfg.Scanners), cfg.DataDir)
	return nil
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	l.UnmarshalText([]byte(level))
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}

func cmdRun(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	cfgPath, dataDir := configFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if !service.Interactive() && *cfgPath != "" {
		if err := writeDefaultConfig(*cfgPath); err != nil {
			return err
		}
	}
	cfg, err := loadConfig(*cfgPath, *dataDir)
	if err != nil {
		return err
	}
	if !service.Interactive() {
		// Started by the service manager (Windows SCM, systemd).
		if *dataDir == "" && cfg.DataDir == config.DefaultDataDir(false) {
			cfg.DataDir = config.DefaultDataDir(true)
		}
		return runService(cfg, stderr)
	}
	log := newLogger(stderr, cfg.LogLevel)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Run(ctx, cfg, log)
}

// writeDefaultConfig writes the commented default configuration where a
// service expects one and finds none (the Windows MSI installs none, so
// that uninstalling never takes an edited one away).
func writeDefaultConfig(path string) error {
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		return nil
	}
	text := packaging.DefaultConfig
	if runtime.GOOS == "windows" {
		text = strings.Replace(text, `data_dir = "/var/lib/posd"`, `# data_dir: %ProgramData%\posd when posd runs as the service`, 1)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		return fmt.Errorf("writing the default configuration to %s: %w", path, err)
	}
	return nil
}

// tokenFile is where a generated API token is kept in the data directory.
const tokenFile = "api-token"

// apiToken returns the configured token, or the one generated into the
// data directory at first start (0600).
func apiToken(cfg *config.Config) (string, error) {
	if cfg.API.Token != "" {
		return cfg.API.Token, nil
	}
	path := filepath.Join(cfg.DataDir, tokenFile)
	if b, err := os.ReadFile(path); err == nil {
		if t := strings.TrimSpace(string(b)); len(t) >= 16 {
			return t, nil
		}
		return "", fmt.Errorf("%s holds no usable token: delete it and restart to generate a new one", path)
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("reading the API token: %w", err)
	}
	var b [24]byte
	rand.Read(b[:])
	t := hex.EncodeToString(b[:])
	if err := os.WriteFile(path, []byte(t+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("writing the API token to %s: %w", path, err)
	}
	return t, nil
}

// Run is the daemon: it opens the journal, recovers open payments, serves
// the API until ctx ends, then shuts down in order: stop accepting, let
// the journal write in flight finish, leave open payments for recovery.
func Run(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("creating the data directory %s: %w", cfg.DataDir, err)
	}
	if err := secureDataDir(cfg.DataDir); err != nil {
		return err
	}
	token, err := apiToken(cfg)
	if err != nil {
		return err
	}
	st, err := store.Open(filepath.Join(cfg.DataDir, "posd.db"))
	if err != nil {
		return err
	}
	defer st.Close()
	prune(st, cfg, log)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	prov, err := newProvider(ctx, cfg, log)
	if err != nil {
		return err
	}
	bus := &payflow.Bus{}
	eng := payflow.NewEngine(payflow.Config{
		TillID:              cfg.TillID,
		PollInterval:        cfg.Payflow.PollInterval.Duration,
		PayTimeout:          cfg.Payflow.PayTimeout.Duration,
		CancelRetryInterval: cfg.Payflow.CancelRetryInterval.Duration,
		CancelAttempts:      cfg.Payflow.CancelAttempts,
		ScanTimeout:         cfg.Payflow.ScanTimeout.Duration,
	}, st, prov, payflow.Options{Logger: log, Classify: scanner.Classifier, Bus: bus})

	queue, err := newPrinter(cfg, st, log)
	if err != nil {
		return err
	}
	queue.OnState = func(ps printer.State) {
		bus.Publish(payflow.Event{Type: "device", At: ps.Since, Device: &payflow.DeviceEvent{Name: "printer", Kind: "printer", State: ps.State, Detail: ps.Detail}})
	}
	printed, stopPrinted := bus.Subscribe(1024)
	defer stopPrinted()

	if err := eng.Start(ctx); err != nil {
		return err
	}
	defer eng.Close()
	go queue.Run(ctx, printed, func() ([]*payflow.Payment, error) { return recentPayments(st) })

	sources, err := buildScanners(cfg)
	if err != nil {
		return err
	}
	scanners := scanner.NewManager(sources,
		func(code, device string) {
			if _, err := eng.Scan(code, device); err != nil {
				log.Warn("scan not used", "scanner", device, "code", payflow.MaskCode(code), "reason", err)
			}
		},
		func(st payflow.DeviceStatus) {
			bus.Publish(payflow.Event{Type: "device", At: st.Since, Device: &payflow.DeviceEvent{Name: st.Name, Kind: st.Kind, State: st.State, Detail: st.Detail}})
		}, log)
	go scanners.Run(ctx)
	devices := func() []payflow.DeviceStatus {
		ps := queue.State()
		detail := queue.Transport.Target()
		if ps.Detail != "" {
			detail += ": " + ps.Detail
		}
		return append(scanners.Devices(), payflow.DeviceStatus{Name: "printer", Kind: "printer", Type: queue.Transport.Kind(),
			State: ps.State, Detail: detail, Since: ps.Since, Printed: ps.Printed})
	}

	ln, err := net.Listen("tcp", cfg.API.Listen)
	if err != nil {
		return fmt.Errorf("cannot listen on %s (api.listen): %w; is another posd running?", cfg.API.Listen, err)
	}
	api := localapi.New(localapi.Options{
		Engine: eng, Token: token, AllowedOrigins: cfg.API.AllowedOrigins, AllowRemote: cfg.API.AllowRemote,
		Version: Version(), Provider: cfg.Provider.Name, TillID: cfg.TillID, JournalCheck: st.Check, Logger: log,
		Devices: devices, Printer: queue,
	})
	srv := &http.Server{
		Handler: api, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		// Requests end with the daemon, so event streams and long polls
		// do not hold up a shutdown.
		BaseContext: func(net.Listener) context.Context { return ctx },
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	go pruneDaily(ctx, st, cfg, log)
	log.Info("posd ready", "version", Version(), "api", "http://"+ln.Addr().String(), "provider", cfg.Provider.Name,
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

// newPrinter builds the receipt queue for the configured printer.
func newPrinter(cfg *config.Config, st *store.Store, log *slog.Logger) (*printer.Queue, error) {
	layout, err := printerLayout(cfg)
	if err != nil {
		return nil, err
	}
	target := cfg.Printer.Address
	if cfg.Printer.Type == "file" {
		target = cfg.Printer.Dir
		if target == "" {
			target = filepath.Join(cfg.DataDir, "receipts")
		}
	}
	tr, err := printer.NewTransport(cfg.Printer.Type, target, cfg.Printer.Baud)
	if err != nil {
		return nil, &config.Error{Key: "printer", Msg: err.Error()}
	}
	if ft, ok := tr.(printer.FileTransport); ok {
		ft.Columns = layout.Paper.Columns
		tr = ft
	}
	return &printer.Queue{Jobs: st, Transport: tr, Layout: layout, Log: log}, nil
}

func printerLayout(cfg *config.Config) (printer.Layout, error) {
	paper, err := printer.PaperFor(cfg.Printer.WidthMM)
	if err != nil {
		return printer.Layout{}, &config.Error{Key: "printer.width_mm", Msg: err.Error()}
	}
	cs, err := printer.LookupCharset(cfg.Printer.Encoding)
	if err != nil {
		return printer.Layout{}, &config.Error{Key: "printer.encoding", Msg: err.Error()}
	}
	l := printer.Layout{Paper: paper, Charset: cs, StoreName: cfg.Printer.StoreName, TillID: cfg.TillID,
		Header: cfg.Printer.Header, Footer: cfg.Printer.Footer, Drawer: cfg.Printer.Drawer}
	if cfg.Printer.Logo != "" {
		if l.Logo, err = printer.LoadLogo(cfg.Printer.Logo, paper); err != nil {
			return l, &config.Error{Key: "printer.logo", Msg: err.Error()}
		}
	}
	return l, nil
}

// buildScanners makes the configured [[scanner]] sources; a mistake is a
// configuration error naming the scanner.
func buildScanners(cfg *config.Config) ([]scanner.Source, error) {
	var out []scanner.Source
	for i, sc := range cfg.Scanners {
		var src scanner.Source
		var err error
		switch sc.Type {
		case "serial":
			src, err = scanner.NewSerial(scanner.SerialConfig{
				Name: sc.Name, Port: sc.Port, USB: sc.USB, Serial: sc.Serial, Baud: sc.Baud, DataBits: sc.DataBits,
				Parity: sc.Parity, StopBits: sc.StopBits, Suffix: scanner.Suffix(sc.Suffix), Gap: sc.Gap.Duration,
				StripPrefix: sc.StripPrefix, StripSuffix: sc.StripSuffix,
			})
		case "hid":
			iface := -1
			if sc.Interface != nil {
				iface = *sc.Interface
			}
			src, err = scanner.NewHID(scanner.HIDConfig{Name: sc.Name, USB: sc.USB, Serial: sc.Serial, Interface: iface, Format: sc.Format})
		}
		if err != nil {
			return nil, &config.Error{Key: fmt.Sprintf("scanner[%d]", i), Msg: err.Error()}
		}
		out = append(out, src)
	}
	return out, nil
}

// recentPayments are yesterday's and today's: those whose receipts a crash
// may have kept from printing.
func recentPayments(st *store.Store) ([]*payflow.Payment, error) {
	now := time.Now()
	var all []*payflow.Payment
	for _, d := range []time.Time{now.AddDate(0, 0, -1), now} {
		ps, err := st.Day(d.Format(time.DateOnly))
		if err != nil {
			return all, err
		}
		all = append(all, ps...)
	}
	return all, nil
}

func tokenSource(cfg *config.Config) string {
	if cfg.API.Token != "" {
		return "(api.token in the configuration)"
	}
	return filepath.Join(cfg.DataDir, tokenFile)
}

// newProvider builds the configured gateway client.
func newProvider(ctx context.Context, cfg *config.Config, log *slog.Logger) (payflow.Provider, error) {
	switch cfg.Provider.Name {
	case "demo":
		url := cfg.Provider.Demo.GatewayURL
		if url == "" {
			gw, err := demo.NewGateway(filepath.Join(cfg.DataDir, "demo-gateway.json"), cfg.Provider.Demo.Delay.Duration)
			if err != nil {
				return nil, err
			}
			if url, err = demo.Serve(ctx, gw, log); err != nil {
				return nil, err
			}
			log.Info("demo gateway simulator running", "url", url)
		}
		return demo.NewClient(url, 10*time.Second), nil
	case "shouqianba":
		q := cfg.Provider.Shouqianba
		c, err := shouqianba.New(shouqianba.Options{
			BaseURL: q.BaseURL, DeviceID: q.DeviceID, TillID: cfg.TillID,
			PayTimeout: q.PayRequestTimeout.Duration, CallTimeout: q.CallTimeout.Duration,
			Terminal: sqbTerminalFile(cfg), Initial: shouqianba.Terminal{SN: q.TerminalSN, Key: q.TerminalKey},
			Logger: log,
		})
		if errors.Is(err, shouqianba.ErrNotActivated) {
			return nil, &config.Error{Key: "provider.shouqianba", Msg: err.Error()}
		}
		return c, err
	}
	return nil, &config.Error{Key: "provider.name", Msg: fmt.Sprintf("%q is not available in this build", cfg.Provider.Name)}
}

// sqbTerminalFile is where the Shouqianba terminal's rotating key lives.
func sqbTerminalFile(cfg *config.Config) shouqianba.TerminalFile {
	return shouqianba.TerminalFile{Path: filepath.Join(cfg.DataDir, "shouqianba-terminal.json")}
}

// cmdProvider runs provider administration: 'posd provider activate'.
func cmdProvider(args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "activate" {
		return &usageError{"usage: posd provider activate [--config FILE] [--data-dir DIR]"}
	}
	fs := flag.NewFlagSet("provider activate", flag.ContinueOnError)
	cfgPath, dataDir := configFlags(fs)
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath, *dataDir)
	if err != nil {
		return err
	}
	if cfg.Provider.Name != "shouqianba" {
		return &config.Error{Key: "provider.name", Msg: fmt.Sprintf("is %q; activation is for shouqianba", cfg.Provider.Name)}
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return err
	}
	q := cfg.Provider.Shouqianba
	device := q.DeviceID
	if device == "" {
		device = cfg.TillID
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	file := sqbTerminalFile(cfg)
	t, err := shouqianba.Activate(ctx, nil, shouqianba.Activation{
		BaseURL: q.BaseURL, VendorSN: q.VendorSN, VendorKey: q.VendorKey, AppID: q.AppID,
		Code: q.ActivationCode, DeviceID: device,
	}, file, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "activated: terminal %s; its key is saved in %s (0600).\nRemove activation_code and vendor_key from the configuration, then start posd.\n", t.SN, file.Path)
	return nil
}

func prune(st *store.Store, cfg *config.Config, log *slog.Logger) {
	cutoff := time.Now().AddDate(0, 0, -cfg.Store.RetentionDays)
	n, err := st.Prune(cutoff)
	if err != nil {
		log.Error("pruning old payments failed", "err", err)
	} else if n > 0 {
		log.Info("pruned settled payments past retention", "count", n, "before", cutoff.Format(time.DateOnly))
	}
}

func pruneDaily(ctx context.Context, st *store.Store, cfg *config.Config, log *slog.Logger) {
	t := time.NewTicker(24 * time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			prune(st, cfg, log)
		}
	}
}
