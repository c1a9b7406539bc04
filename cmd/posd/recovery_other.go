//go:build !windows

package main

// ensureRecovery is for Windows; systemd's unit says Restart=on-failure.
func ensureRecovery() error { return nil }
