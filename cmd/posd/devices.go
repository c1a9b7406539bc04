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
		fmt.Fprintln(stdout, "  none")
	}
	for _, h := range hids {
		fmt.Fprintf(stdout, "  %s  %-28s serial %-12s interface %d  %s\n", h.USB, h.Manufacturer+" "+h.Product, orDash(h.Serial), h.Interface, h.Kind)
		if h.Note != "" {
			fmt.Fprintf(stdout, "      !! %s\n", h.Note)
		}
	}
	for _, l := range deviceAdvice(runtime.GOOS) {
		fmt.Fprintln(stdout, l)
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

// deviceAdvice is what an installer on goos needs to know to make a
// scanner visible to posd.
func deviceAdvice(goos string) []string {
	switch goos {
	case "windows":
		return []string{
			"On Windows:",
			"  - A scanner in virtual-COM (USB CDC) mode is a serial port: Device Manager shows it under",
			"    Ports (COM & LPT) as COMn; configure type = \"serial\", port = \"COM3\" (or usb = VID:PID).",
			"  - A scanner in HID POS (USB-HID POS) mode is read directly: type = \"hid\", usb = VID:PID.",
			"  - A keyboard-wedge scanner types into the focused window: Windows gives no program, and",
			"    no service, access to a keyboard, so it cannot feed posd. Scan the maker's configuration",
			"    barcode for HID POS or virtual COM (docs/scanners.md).",
		}
	case "linux":
		return []string{
			"On Linux:",
			"  - The service user needs access to the device: the udev rule in docs/scanners.md.",
			"  - Linux does not tell keyboard-wedge from HID POS here: set format = \"keyboard\" or \"pos\", or leave \"auto\".",
		}
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
