package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/tillworks/posd/config"
	"github.com/tillworks/posd/internal/daemon"
	"github.com/tillworks/posd/providers"
)

// cmdProvider runs gateway administration: 'posd provider activate' runs
// the one-time activation of every configured gateway that needs one (or
// of --gateway NAME).
func cmdProvider(args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "activate" {
		return &usageError{"usage: posd provider activate [--gateway NAME] [--config FILE] [--data-dir DIR]"}
	}
	fs := flag.NewFlagSet("provider activate", flag.ContinueOnError)
	cfgPath, dataDir := configFlags(fs)
	only := fs.String("gateway", "", "the gateway to activate (default: each that needs it)")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath, *dataDir)
	if err != nil {
		return err
	}
	if err := daemon.CheckGateways(cfg); err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return err
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	secs, _ := cfg.Gateways()
	done := 0
	for _, sec := range secs {
		t, _ := daemon.GatewayType(sec)
		if t.Activate == nil || sec.Inactive || (*only != "" && sec.Name != *only) {
			continue
		}
		msg, err := t.Activate(ctx, sec, providers.Env{Name: sec.Name, DataDir: cfg.DataDir, TillID: cfg.TillID})
		if err != nil {
			return fmt.Errorf("gateway %s: %w", sec.Name, err)
		}
		fmt.Fprintf(stdout, "gateway %s: %s\n", sec.Name, msg)
		done++
	}
	if done == 0 {
		return &config.Error{Key: "gateways", Msg: "no configured gateway needs activation (shouqianba does)"}
	}
	return nil
}
