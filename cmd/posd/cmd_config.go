package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/tillworks/posd/config"
	"github.com/tillworks/posd/internal/daemon"
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
	if err := daemon.CheckGateways(cfg); err != nil {
		return err
	}
	if args[0] == "show" {
		return showConfig(cfg, stdout)
	}
	if _, err := daemon.BuildScanners(cfg); err != nil {
		return err
	}
	if _, err := daemon.PrinterLayout(cfg); err != nil {
		return err
	}
	secs, routes := cfg.Gateways()
	var names []string
	for _, s := range secs {
		if !s.Inactive {
			names = append(names, s.Name+" ("+s.Type+")")
		}
	}
	fmt.Fprintf(stdout, "%s: ok (gateways %s, new payments to %s, API on %s, %d scanner(s), data in %s)\n", *cfgPath, strings.Join(names, ", "), routes.Default, cfg.API.Listen, len(cfg.Scanners), cfg.DataDir)
	if hint := cfg.NewFormHint(); hint != "" {
		fmt.Fprintf(stdout, "note: %s\n", hint)
	}
	return nil
}

// showConfig prints the effective configuration, each gateway's table as
// its package reads it, secrets blanked.
func showConfig(cfg *config.Config, w io.Writer) error {
	shown := *cfg
	if shown.API.Token != "" {
		shown.API.Token = "(set)"
	}
	shown.RawGateways, shown.RawProvider, shown.Routing = nil, nil, nil
	secs, routes := cfg.Gateways()
	gws := map[string]any{}
	for _, sec := range secs {
		if sec.Inactive {
			continue
		}
		t, _ := daemon.GatewayType(sec)
		v, err := t.Show(sec)
		if err != nil {
			return err
		}
		gws[sec.Name] = v
	}
	routing := map[string]string{"default": routes.Default}
	if routes.Fallback != "" {
		routing["fallback"] = routes.Fallback
	}
	for k, v := range routes.ByChannel {
		routing[k] = v
	}
	if err := toml.NewEncoder(w).Encode(shown); err != nil {
		return err
	}
	return toml.NewEncoder(w).Encode(map[string]any{"gateways": gws, "routing": routing})
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	l.UnmarshalText([]byte(level))
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}
