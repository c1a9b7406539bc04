package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"time"

	"github.com/tillworks/posd/internal/daemon"
	"github.com/tillworks/posd/store"
)

const journalUsage = "usage: posd journal check [--file F] | posd journal recover [--file F] | posd journal backup FILE  (each with --config FILE / --data-dir DIR)"

// cmdJournal checks, recovers and backs up the journal.
func cmdJournal(args []string, stdout io.Writer) (int, error) {
	if len(args) == 0 {
		return exitBadConfig, &usageError{journalUsage}
	}
	fs := flag.NewFlagSet("journal "+args[0], flag.ContinueOnError)
	cfgPath, dataDir := configFlags(fs)
	file := fs.String("file", "", "the journal file (default: posd.db in the data directory)")
	apiURL := fs.String("api", "", "daemon API base URL, for backup (default: from the configuration)")
	token := fs.String("token", "", "API token, for backup")
	if err := parseFlags(fs, args[1:]); err != nil {
		return exitBadConfig, err
	}
	// Flags may also follow the one argument (backup FILE --config C).
	var positional []string
	for fs.NArg() > 0 {
		positional = append(positional, fs.Arg(0))
		if err := parseFlags(fs, fs.Args()[1:]); err != nil {
			return exitBadConfig, err
		}
	}
	path := *file
	if path == "" {
		cfg, err := loadConfig(*cfgPath, *dataDir)
		if err != nil {
			return exitBadConfig, err
		}
		path = daemon.JournalFile(cfg.DataDir)
	}
	if args[0] != "backup" && len(positional) > 0 {
		return exitBadConfig, &usageError{journalUsage}
	}
	switch args[0] {
	case "check":
		return journalCheck(path, stdout)
	case "recover":
		return journalRecover(path, stdout)
	case "backup":
		if len(positional) != 1 {
			return exitBadConfig, &usageError{"usage: posd journal backup FILE"}
		}
		return exitOK, journalBackup(path, positional[0], *apiURL, *token, *cfgPath, *dataDir, stdout)
	}
	return exitBadConfig, &usageError{journalUsage}
}

func journalCheck(path string, stdout io.Writer) (int, error) {
	rep, err := store.Verify(path, true)
	for _, w := range rep.Warnings {
		fmt.Fprintf(stdout, "warning: %s\n", w)
	}
	var de *store.DamagedError
	if errors.As(err, &de) {
		fmt.Fprintf(stdout, "%s: DAMAGED (%d bytes)\n", path, rep.Size)
		for _, p := range de.Problems {
			fmt.Fprintf(stdout, "  - %s\n", p)
		}
		fmt.Fprintf(stdout, "Stop posd and run 'posd journal recover' to copy every readable payment into a new journal, or restore a backup (docs/journal.md).\n")
		return exitJournalDamaged, nil
	}
	if err != nil {
		return exitFailure, err
	}
	fmt.Fprintf(stdout, "%s: ok (%d bytes, %d payments, %d open, %d receipts)\n", path, rep.Size, rep.Payments, rep.Open, rep.Jobs)
	return exitOK, nil
}

func journalRecover(path string, stdout io.Writer) (int, error) {
	stamp := time.Now().Format("20060102-150405")
	out := path + ".recovered-" + stamp
	rep, err := store.Recover(path, out)
	if err != nil {
		os.Remove(out)
		return exitFailure, err
	}
	kept := path + ".damaged-" + stamp
	if err := os.Rename(path, kept); err != nil {
		return exitFailure, fmt.Errorf("the recovered journal is %s, but the damaged one could not be moved aside (%v): move %s away and rename %s to %s by hand", out, err, path, out, path)
	}
	// The damaged journal's log goes with it (recover applied what it
	// held); the new journal starts a log of its own.
	if err := os.Rename(store.LogFile(path), store.LogFile(kept)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return exitFailure, fmt.Errorf("the recovered journal is %s, but the damaged journal's log could not be moved aside (%v): move %s away and rename %s to %s by hand", out, err, store.LogFile(path), out, path)
	}
	if err := os.Rename(out, path); err != nil {
		return exitFailure, fmt.Errorf("moving the recovered journal %s into place: %w", out, err)
	}
	os.Remove(store.LogFile(out))
	os.Remove(out + ".sealed")
	fmt.Fprintf(stdout, "recovered %d payments and %d receipts into %s; the damaged journal is kept as %s\n", rep.Payments, rep.Jobs, path, kept)
	for _, l := range rep.Lost {
		fmt.Fprintf(stdout, "  not recovered: %s\n", l)
	}
	if len(rep.Lost) > 0 {
		fmt.Fprintf(stdout, "Some records could not be read: compare today's and recent payments with the gateway's merchant console.\n")
	}
	fmt.Fprintf(stdout, "Start posd again; it resumes every open payment it recovered.\n")
	return exitOK, nil
}

// journalBackup writes a consistent copy of the journal to dst: from the
// running daemon (GET /v1/journal/backup) when it answers, else from the
// file itself. The copy is checked before it is reported good.
func journalBackup(path, dst, apiURL, token, cfgPath, dataDir string, stdout io.Writer) error {
	tmp := dst + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	from := "the running posd"
	n, err := backupFromDaemon(f, apiURL, token, cfgPath, dataDir)
	if errors.Is(err, errNoDaemon) {
		from = path
		if _, serr := f.Seek(0, io.SeekStart); serr != nil {
			f.Close()
			return serr
		}
		n, err = store.BackupFile(path, f)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("backing up the journal: %w", err)
	}
	rep, err := store.Verify(tmp, true)
	if err != nil {
		return fmt.Errorf("the copy does not check out, so it was not kept: %w", err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %d bytes from %s, %d payments, checked ok\n", dst, n, from, rep.Payments)
	return nil
}

var errNoDaemon = errors.New("no daemon answered")

func backupFromDaemon(w io.Writer, apiURL, token, cfgPath, dataDir string) (int64, error) {
	c, err := newAPIClient(apiURL, token, cfgPath, dataDir)
	if err != nil {
		return 0, errNoDaemon
	}
	req, err := http.NewRequest(http.MethodGet, c.base+"/v1/journal/backup", nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, errNoDaemon
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return 0, fmt.Errorf("posd answered HTTP %d: %s", resp.StatusCode, b)
	}
	return io.Copy(w, resp.Body)
}
