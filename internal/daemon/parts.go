package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/tillworks/posd/config"
	"github.com/tillworks/posd/payflow"
	"github.com/tillworks/posd/printer"
	"github.com/tillworks/posd/scanner"
	"github.com/tillworks/posd/store"
)

// newPrinter builds the receipt queue for the configured printer.
func newPrinter(cfg *config.Config, st *store.Store, log *slog.Logger) (*printer.Queue, error) {
	layout, err := PrinterLayout(cfg)
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
		ft.Columns, ft.RetentionDays = layout.Paper.Columns, cfg.Store.RetentionDays
		tr = ft
	}
	return &printer.Queue{Jobs: st, Transport: tr, Layout: layout, Log: log, QRSlips: cfg.Printer.PrintQRSlips}, nil
}

// PrinterLayout is the receipt layout the [printer] section describes, its
// profile's limits checked: config check and the daemon use the same one.
func PrinterLayout(cfg *config.Config) (printer.Layout, error) {
	prof, err := printer.LookupProfile(cfg.Printer.Profile)
	if err != nil {
		return printer.Layout{}, &config.Error{Key: "printer.profile", Msg: err.Error()}
	}
	paper, err := prof.Paper(cfg.Printer.WidthMM)
	if err != nil {
		return printer.Layout{}, &config.Error{Key: "printer.width_mm", Msg: err.Error()}
	}
	cs, err := printer.LookupCharset(cfg.Printer.Encoding)
	if err != nil {
		return printer.Layout{}, &config.Error{Key: "printer.encoding", Msg: err.Error()}
	}
	if err := prof.Check(cs, cfg.Printer.Drawer, cfg.Printer.FourByte, cfg.Printer.QR); err != nil {
		return printer.Layout{}, &config.Error{Key: "printer", Msg: err.Error()}
	}
	cs = prof.Charset(cs, cfg.Printer.FourByte)
	l := printer.Layout{Paper: paper, Charset: cs, StoreName: cfg.Printer.StoreName, TillID: cfg.TillID,
		Header: cfg.Printer.Header, Footer: cfg.Printer.Footer, Drawer: cfg.Printer.Drawer, Profile: prof, QR: cfg.Printer.QR}
	if cfg.Printer.Logo != "" {
		if l.Logo, err = printer.LoadLogo(cfg.Printer.Logo, paper); err != nil {
			return l, &config.Error{Key: "printer.logo", Msg: err.Error()}
		}
	}
	if cfg.Printer.LogoInPrinter {
		switch {
		case cfg.Printer.Logo == "":
			return l, &config.Error{Key: "printer.logo_in_printer", Msg: "there is no logo to keep in the printer: set logo, or remove logo_in_printer"}
		case !prof.NVGraphics:
			return l, &config.Error{Key: "printer.logo_in_printer", Msg: fmt.Sprintf("the %s profile (%s) is not known to keep images in NV memory (GS ( L): remove logo_in_printer, and the logo is sent with every receipt", prof.Name, prof.Models)}
		case cfg.Printer.Type == "" || cfg.Printer.Type == "file":
			return l, &config.Error{Key: "printer.logo_in_printer", Msg: "receipts written to files carry their logo: logo_in_printer is for a printer (tcp, serial or usb)"}
		}
		l.LogoInPrinter = true
		if _, err := l.LogoDefinition(); err != nil {
			return l, &config.Error{Key: "printer.logo", Msg: err.Error()}
		}
	}
	return l, nil
}

// BuildScanners makes the configured [[scanner]] sources; a mistake is a
// configuration error naming the scanner.
func BuildScanners(cfg *config.Config) ([]scanner.Source, error) {
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
			src, err = scanner.NewHID(scanner.HIDConfig{Name: sc.Name, USB: sc.USB, Serial: sc.Serial, Interface: iface, Format: sc.Format, Layout: sc.HIDLayout})
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

// prune deletes the settled payments past retention_days, in small
// transactions, while posd serves.
func prune(ctx context.Context, st *store.Store, cfg *config.Config, log *slog.Logger) {
	cutoff := time.Now().AddDate(0, 0, -cfg.Store.RetentionDays)
	start := time.Now()
	n, err := st.Prune(ctx, cutoff)
	switch {
	case err != nil && ctx.Err() == nil:
		log.Error("pruning old payments failed", "err", err)
	case n > 0:
		log.Info("pruned settled payments past retention", "count", n, "before", cutoff.Format(time.DateOnly), "took", time.Since(start).Round(time.Millisecond))
	}
}

// pruneDaily prunes once the daemon serves, then every day: a start with
// a large backlog (retention lowered, a till off for months) is healthy at
// once, the pruning going on behind it.
func pruneDaily(ctx context.Context, st *store.Store, cfg *config.Config, log *slog.Logger) {
	prune(ctx, st, cfg, log)
	t := time.NewTicker(24 * time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			prune(ctx, st, cfg, log)
		}
	}
}

// JournalFile is the journal's path in a data directory.
func JournalFile(dataDir string) string { return filepath.Join(dataDir, "posd.db") }
