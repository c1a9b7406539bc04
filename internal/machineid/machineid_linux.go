package machineid

import (
	"fmt"
	"os"
)

// read reads systemd's machine id, or D-Bus's where systemd has none.
func read() (string, error) {
	for _, p := range []string{"/etc/machine-id", "/var/lib/dbus/machine-id"} {
		if b, err := os.ReadFile(p); err == nil && len(b) > 0 {
			return string(b), nil
		}
	}
	return "", fmt.Errorf("%w: neither /etc/machine-id nor /var/lib/dbus/machine-id is readable", ErrUnavailable)
}
