package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"

	"github.com/tillworks/posd/config"
	"github.com/tillworks/posd/internal/daemon"
	"github.com/tillworks/posd/packaging"
)

func cmdRun(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	cfgPath, dataDir := configFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	asService := runningAsService()
	if asService && *cfgPath != "" {
		if err := writeDefaultConfig(*cfgPath); err != nil {
			return err
		}
	}
	cfg, err := loadConfig(*cfgPath, *dataDir)
	if err != nil {
		return err
	}
	if asService {
		// Started by the service manager (Windows SCM, systemd).
		if *dataDir == "" && cfg.DataDir == config.DefaultDataDir(false) {
			cfg.DataDir = config.DefaultDataDir(true)
		}
		return runService(cfg, stderr)
	}
	log := newLogger(stderr, cfg.LogLevel)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return daemon.Run(ctx, cfg, log)
}

// writeDefaultConfig writes the commented default configuration where a
// service expects one and finds none (the Windows MSI installs none, so
// that uninstalling never takes an edited one away).
func writeDefaultConfig(path string) error {
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		return nil
	}
	text := packaging.ConfigFor(runtime.GOOS, config.DefaultDataDir(true))
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		return fmt.Errorf("writing the default configuration to %s: %w", path, err)
	}
	return nil
}
