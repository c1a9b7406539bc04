package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/tillworks/posd/config"
	"github.com/tillworks/posd/providers/shouqianba"
)

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
