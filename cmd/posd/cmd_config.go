package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/BurntSushi/toml"

	"github.com/tillworks/posd/config"
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
