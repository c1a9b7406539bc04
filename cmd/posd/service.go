package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/kardianos/service"

	"github.com/tillworks/posd/config"
	"github.com/tillworks/posd/internal/daemon"
	"github.com/tillworks/posd/localapi"
	"github.com/tillworks/posd/packaging"
)

// Exit codes of 'posd service status', as LSB init scripts use them.
const (
	exitStopped      = 3
	exitNotInstalled = 4
)

// defaultServiceConfig is where the installed service reads its
// configuration.
func defaultServiceConfig() string {
	if runtime.GOOS == "windows" {
		return filepath.Join(config.DefaultDataDir(true), "posd.toml")
	}
	return "/etc/posd/posd.toml"
}

// serviceDefinition describes posd to the system's service manager. On
// Linux the systemd unit is posd's own (packaging/linux/posd.service); on
// Windows the service restarts on failure.
func serviceDefinition(cfgPath string) (*service.Config, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	c := &service.Config{
		Name:        "posd",
		DisplayName: "posd till payments",
		Description: "Reads customers' payment codes, charges them through the payment gateway and prints receipts.",
		Arguments:   []string{"run", "--config", cfgPath},
		Executable:  exe,
		Option:      service.KeyValue{},
	}
	switch runtime.GOOS {
	case "linux":
		unit := strings.Replace(packaging.SystemdUnit, "ExecStart=/usr/bin/posd run --config /etc/posd/posd.toml",
			"ExecStart="+exe+" run --config "+cfgPath, 1)
		c.Option["SystemdScript"] = unit
	case "windows":
		c.Option["StartType"] = "automatic"
		c.Option["OnFailure"] = "restart"
		c.Option["OnFailureDelayDuration"] = "5s"
		c.Option["OnFailureResetPeriod"] = 600
	}
	return c, nil
}

// program runs the daemon under the service manager: Stop cancels its
// context and waits, bounded, for the journal to settle.
type program struct {
	cfg    *config.Config
	log    *slog.Logger
	cancel context.CancelFunc
	done   chan error
}

func (p *program) Start(s service.Service) error {
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel, p.done = cancel, make(chan error, 1)
	go func() {
		err := daemon.Run(ctx, p.cfg, p.log)
		p.done <- err
		if err != nil && ctx.Err() == nil {
			// Failed on its own: exit non-zero so the manager restarts it.
			p.log.Error("posd stopped", "err", err)
			code := exitFailure
			var ce *config.Error
			if errors.As(err, &ce) {
				code = exitBadConfig
			}
			os.Exit(code)
		}
	}()
	return nil
}

// stopTimeout bounds a stop: the journal write in flight finishes well
// within it.
const stopTimeout = 20 * time.Second

func (p *program) Stop(s service.Service) error {
	if p.cancel == nil {
		return nil
	}
	p.cancel()
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		p.log.Error("posd did not stop in time; open payments are recovered at the next start")
	}
	return nil
}

// runService runs the daemon under a service manager (Windows SCM; on
// Linux, systemd's signals through the same path).
func runService(cfg *config.Config, stderr io.Writer) error {
	prg := &program{cfg: cfg}
	def, err := serviceDefinition("")
	if err != nil {
		return err
	}
	s, err := service.New(prg, def)
	if err != nil {
		return err
	}
	prg.log = newLogger(stderr, cfg.LogLevel)
	if runtime.GOOS == "windows" {
		if el, err := s.SystemLogger(nil); err == nil {
			prg.log = slog.New(newEventLogHandler(el, cfg.LogLevel))
		}
		if err := ensureRecovery(); err != nil {
			prg.log.Warn("cannot set the service to restart on failure", "err", err)
		}
		if err := ensureQuotedPath(); err != nil {
			prg.log.Warn("the service's ImagePath is not quoted, and posd could not quote it: a path with spaces lets Windows run another program first (CWE-428)", "err", err)
		}
		if service.Interactive() {
			// services.exe started posd, but not in session 0 (Wine, Windows
			// containers): kardianos/service would not answer the SCM.
			return runSCM(def.Name, prg)
		}
	}
	return s.Run()
}

func cmdService(args []string, stdout io.Writer) (int, error) {
	usage := &usageError{"usage: posd service install|uninstall|start|stop|restart|reload|status [--config FILE]"}
	if len(args) == 0 {
		return 0, usage
	}
	verb := args[0]
	fs := flag.NewFlagSet("service "+verb, flag.ContinueOnError)
	cfgPath := fs.String("config", defaultServiceConfig(), "the configuration the service runs with")
	if err := parseFlags(fs, args[1:]); err != nil {
		return 0, err
	}
	def, err := serviceDefinition(*cfgPath)
	if err != nil {
		return 0, err
	}
	s, err := service.New(&program{}, def)
	if err != nil {
		return 0, err
	}
	switch verb {
	case "install":
		if err := prepareInstall(*cfgPath, stdout); err != nil {
			return 0, err
		}
		if err := s.Install(); err != nil {
			return 0, fmt.Errorf("installing the service (as root / Administrator?): %w", err)
		}
		fmt.Fprintf(stdout, "installed; start it with 'posd service start'\n")
	case "uninstall":
		s.Stop()
		if err := s.Uninstall(); err != nil {
			return 0, fmt.Errorf("uninstalling the service: %w", err)
		}
		fmt.Fprintln(stdout, "uninstalled; the configuration and the journal are kept")
	case "start", "stop", "restart":
		var err error
		switch verb {
		case "start":
			err = s.Start()
		case "stop":
			err = s.Stop()
		case "restart":
			err = s.Restart()
		}
		if err != nil {
			return 0, fmt.Errorf("%s: %w", verb, err)
		}
		fmt.Fprintf(stdout, "%s: done\n", verb)
	case "reload":
		// Through the running daemon's API, on every system alike (the
		// token is found through the service's configuration).
		c, err := newAPIClient("", "", *cfgPath, "")
		if err != nil {
			return 0, err
		}
		var res localapi.ReloadResult
		if err := c.do("POST", "/v1/config/reload", nil, &res); err != nil {
			return 0, fmt.Errorf("reload: %w", err)
		}
		fmt.Fprintln(stdout, res.Reloaded)
	case "status":
		st, err := s.Status()
		switch {
		case errors.Is(err, service.ErrNotInstalled):
			fmt.Fprintln(stdout, "not installed")
			return exitNotInstalled, nil
		case err != nil:
			return 0, fmt.Errorf("status: %w", err)
		case st == service.StatusRunning:
			fmt.Fprintln(stdout, "running")
			return exitOK, nil
		case st == service.StatusStopped:
			fmt.Fprintln(stdout, "stopped")
			return exitStopped, nil
		}
		fmt.Fprintln(stdout, "unknown")
		return exitFailure, nil
	default:
		return 0, usage
	}
	return exitOK, nil
}

// prepareInstall puts in place what the service needs besides its
// definition: the configuration (if there is none), and on Linux the posd
// user and the udev rules. The packages do the same in their scripts.
func prepareInstall(cfgPath string, stdout io.Writer) error {
	if _, err := os.Stat(cfgPath); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(cfgPath), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(cfgPath, []byte(packaging.ConfigFor(runtime.GOOS, config.DefaultDataDir(true))), 0o640); err != nil {
			return fmt.Errorf("writing %s: %w", cfgPath, err)
		}
		fmt.Fprintf(stdout, "wrote the default configuration to %s\n", cfgPath)
	}
	if runtime.GOOS != "linux" {
		return nil
	}
	if _, err := user.Lookup("posd"); err != nil {
		out, err := exec.Command("useradd", "--system", "--user-group", "--home-dir", "/var/lib/posd", "--no-create-home",
			"--shell", "/usr/sbin/nologin", "--comment", "posd till payments", "posd").CombinedOutput()
		if err != nil {
			return fmt.Errorf("creating the posd user: %v: %s", err, out)
		}
		fmt.Fprintln(stdout, "created the posd system user")
	}
	exec.Command("chgrp", "posd", cfgPath).Run()
	const rules = "/etc/udev/rules.d/70-posd.rules"
	if _, err := os.Stat(rules); errors.Is(err, os.ErrNotExist) {
		if err := os.WriteFile(rules, []byte(packaging.UdevRules), 0o644); err == nil {
			exec.Command("udevadm", "control", "--reload").Run()
			fmt.Fprintf(stdout, "wrote %s\n", rules)
		}
	}
	return nil
}
