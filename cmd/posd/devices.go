package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"runtime"
	"strings"

	"github.com/tillworks/posd/scanner"
)

// cmdDevices lists what an installer can configure as a scanner: this
// machine's serial ports and HID devices, and the configured scanners.
func cmdDevices(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("devices", flag.ContinueOnError)
	cfgPath, dataDir := configFlags(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath, *dataDir)
	if err != nil {
		return err
	}
	ports, perr := scanner.SerialPorts()
	hids, herr := scanner.HIDDevices()
	if *asJSON {
		out := map[string]any{"serial_ports": ports, "hid_devices": hids, "configured": cfg.Scanners}
		if perr != nil {
			out["serial_error"] = perr.Error()
		}
		if herr != nil {
			out["hid_error"] = herr.Error()
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	fmt.Fprintln(stdout, "Serial ports (configure as [[scanner]] type = \"serial\", port = NAME or usb = VID:PID):")
	switch {
	case perr != nil:
		fmt.Fprintf(stdout, "  cannot list: %v\n", perr)
	case len(ports) == 0:
		fmt.Fprintln(stdout, "  none")
	}
	for _, p := range ports {
		fmt.Fprintf(stdout, "  %-16s usb %-9s serial %-12s %s\n", p.Name, orDash(p.USB), orDash(p.Serial), p.Product)
	}
	fmt.Fprintln(stdout, "USB HID devices (configure as [[scanner]] type = \"hid\", usb = VID:PID):")
	switch {
	case herr != nil:
		fmt.Fprintf(stdout, "  %v\n", herr)
	case len(hids) == 0:
		fmt.Fprintln(stdout, "  none (on Linux, check the udev rule in docs/scanners.md)")
	}
	for _, h := range hids {
		fmt.Fprintf(stdout, "  %s  %-28s serial %-12s interface %d  %s\n", h.USB, h.Manufacturer+" "+h.Product, orDash(h.Serial), h.Interface, h.Kind)
		if h.Note != "" {
			fmt.Fprintf(stdout, "      !! %s\n", h.Note)
		}
	}
	if runtime.GOOS == "linux" && herr == nil {
		fmt.Fprintln(stdout, "  (Linux does not tell keyboard-wedge from HID POS here: set format = \"keyboard\" or \"pos\", or leave \"auto\")")
	}
	fmt.Fprintf(stdout, "Configured scanners: %d\n", len(cfg.Scanners))
	for i, s := range cfg.Scanners {
		where := s.Port
		if s.USB != "" {
			where = strings.TrimSpace(where + " usb " + s.USB)
		}
		fmt.Fprintf(stdout, "  [%d] %-8s %-6s %s\n", i, orDash(s.Name), s.Type, where)
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
