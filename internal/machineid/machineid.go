// Package machineid reads the operating system's stable identifier of
// this machine (systemd's /etc/machine-id, Windows' MachineGuid), for
// defaults that must differ from one till to the next without anyone
// configuring them. Callers hash it before use: the raw id is not theirs
// to send anywhere.
package machineid

import (
	"errors"
	"strings"
)

// ErrUnavailable is returned where the system keeps no machine id.
var ErrUnavailable = errors.New("this system has no machine id")

// ID returns the machine's id, trimmed.
func ID() (string, error) {
	id, err := read()
	if err != nil {
		return "", err
	}
	id = strings.TrimSpace(id)
	if id == "" {
		return "", ErrUnavailable
	}
	return id, nil
}
