package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/tillworks/posd/internal/daemon"
	"github.com/tillworks/posd/localapi"
)

// cmdToken prints the API token a cash-register UI needs (posd token), or
// replaces it (--rotate) and tells the running daemon, which refuses the
// old one from then on.
func cmdToken(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	cfgPath, dataDir := configFlags(fs)
	rotate := fs.Bool("rotate", false, "replace the token; the running daemon takes the new one at once")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath, *dataDir)
	if err != nil {
		return err
	}
	if cfg.API.Token != "" {
		if *rotate {
			return &usageError{"the token is api.token in the configuration: change it there, then 'posd service reload'"}
		}
		fmt.Fprintln(stdout, cfg.API.Token)
		return nil
	}
	path := filepath.Join(cfg.DataDir, daemon.TokenFile)
	if !*rotate {
		b, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("no token yet in %s: posd generates it at its first start", path)
		}
		if err != nil {
			return fmt.Errorf("reading the token (as the service's user, root or Administrator?): %w", err)
		}
		fmt.Fprintln(stdout, strings.TrimSpace(string(b)))
		return nil
	}
	old, _ := os.ReadFile(path)
	var b [24]byte
	rand.Read(b[:])
	t := hex.EncodeToString(b[:])
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(t+"\n"), 0o600); err != nil {
		return fmt.Errorf("writing the new token: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("replacing the token: %w", err)
	}
	fmt.Fprintln(stdout, t)
	if len(old) == 0 {
		return nil
	}
	// Tell the running daemon, with the token it still holds.
	c, err := newAPIClient("", strings.TrimSpace(string(old)), *cfgPath, *dataDir)
	if err != nil {
		return nil
	}
	var res localapi.ReloadResult
	if err := c.do("POST", "/v1/config/reload", nil, &res); err != nil {
		fmt.Fprintf(os.Stderr, "posd: the new token is saved; the daemon did not take it now (%v): it will at its next start or 'posd service reload'\n", err)
	}
	return nil
}

// cmdPair opens a pairing code on the running daemon: a kiosk's UI trades
// it, once and within five minutes, for the token (POST /v1/pair).
func cmdPair(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("pair", flag.ContinueOnError)
	cfgPath, dataDir := configFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	c, err := newAPIClient("", "", *cfgPath, *dataDir)
	if err != nil {
		return err
	}
	var pc localapi.PairCode
	if err := c.do("POST", "/v1/pair/code", nil, &pc); err != nil {
		return fmt.Errorf("pair: %w", err)
	}
	fmt.Fprintf(stdout, "Pairing code: %s\nEnter it in the cash register's set-up before %s; it works once (5 wrong tries close it).\n",
		pc.Code, pc.ExpiresAt.Local().Format("15:04:05"))
	return nil
}
