//go:build !linux && !windows

package machineid

// read has no source on this system.
func read() (string, error) { return "", ErrUnavailable }
