// Command posd is the till payment daemon and its command-line client;
// 'posd help' prints every command (the usage text below is the list).
//
//	posd run [--config FILE] [--data-dir DIR]   run the daemon
//	posd config check|show                      validate or print a configuration
//	posd provider activate [--gateway N]        a gateway's one-time activation
//	posd devices                                serial ports and HID devices, for scanners
//	posd token [--rotate] · posd pair           the API token a UI needs; a pairing code for a kiosk
//	posd journal check | recover | backup FILE
//	posd service install|uninstall|start|stop|restart|reload|status
//	posd version
//	posd pay --amount 1250 --order A1 [--code C | --qr] [--wait]
//	posd status [ID] [--wait] · posd cancel ID · posd scan CODE
//	posd refund ID --amount N --refund-id R [--reason TEXT]
//	posd report [--date YYYY-MM-DD] · posd receipt ID · posd printer test
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/tillworks/posd/internal/daemon"
	"github.com/tillworks/posd/store"
)

// Exit codes.
const (
	exitOK        = 0
	exitFailure   = 1 // runtime failure, or the API refused the request
	exitBadConfig = 2 // bad configuration or usage: fix it, do not restart
	// exitJournalDamaged: the journal is damaged and was left untouched;
	// restarting cannot help (posd journal check / recover).
	exitJournalDamaged = 3
	exitNotPaid        = 4 // a payment ended but not paid (pay --wait, status --wait)
)

// usageError marks a mistake in the command line: exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `posd: the till payment daemon

Usage:
  posd run [--config FILE] [--data-dir DIR]      run the daemon (defaults: demo gateway, API on 127.0.0.1:8421)
  posd config check --config FILE               validate a configuration file
  posd config show [--config FILE]              print the effective configuration
  posd provider activate [--gateway N] [--config FILE]  run a gateway's one-time activation (shouqianba: activation_code for a terminal)
  posd devices [--config FILE] [--json]         list serial ports and HID devices, to configure scanners
  posd token [--rotate] [--config FILE]         print the API token a cash-register UI needs; --rotate replaces it (the daemon takes it at once)
  posd pair [--config FILE]                      a 6-digit code a kiosk's UI trades once for the token (POST /v1/pair)
  posd journal check|recover [--file F]         check the journal; copy what can be read of a damaged one into a new one
  posd journal backup FILE                      a consistent copy of the journal (from the running daemon, or the file)
  posd service install|uninstall|start|stop|restart|reload|status [--config FILE]
                                                 the system service (status exits 0 running, 3 stopped, 4 not installed)
  posd version                                   print the version

Client commands (talk to a running daemon; --config/--data-dir find its address and token,
or give --api URL and --token T):
  posd pay --amount FEN --order ID [--code CODE | --qr [--channel W] [--expires S]] [--subject S] [--operator O] [--wait]
  posd status [PAYMENT_ID] [--wait]             a payment; without one, the daemon's health and its gateways
  posd cancel PAYMENT_ID
  posd scan CODE
  posd refund PAYMENT_ID --amount FEN --refund-id ID [--reason TEXT]
  posd report [--date YYYY-MM-DD]
  posd receipt PAYMENT_ID [--refund-id ID] [--png FILE | --escpos FILE] [--reprint]
  posd printer test
`

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitBadConfig
	}
	var err error
	code := exitOK
	switch args[0] {
	case "run":
		err = cmdRun(args[1:], stderr)
	case "config":
		err = cmdConfig(args[1:], stdout)
	case "provider":
		err = cmdProvider(args[1:], stdout)
	case "devices":
		err = cmdDevices(args[1:], stdout)
	case "token":
		err = cmdToken(args[1:], stdout)
	case "pair":
		err = cmdPair(args[1:], stdout)
	case "journal":
		code, err = cmdJournal(args[1:], stdout)
	case "service":
		code, err = cmdService(args[1:], stdout)
	case "version", "--version", "-v":
		fmt.Fprintf(stdout, "posd %s\n", daemon.Version())
	case "pay", "status", "cancel", "scan", "refund", "report", "receipt", "printer":
		code, err = cmdClient(args[0], args[1:], stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		err = &usageError{fmt.Sprintf("unknown command %q; run 'posd help'", args[0])}
	}
	if err == nil {
		return code
	}
	fmt.Fprintf(stderr, "posd: %v\n", err)
	var ue *usageError
	var ce *configError
	var de *store.DamagedError
	switch {
	case errors.As(err, &ue) || errors.As(err, &ce):
		return exitBadConfig
	case errors.As(err, &de):
		return exitJournalDamaged
	}
	return exitFailure
}
