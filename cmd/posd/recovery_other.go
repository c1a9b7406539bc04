//go:build !windows

package main

// ensureRecovery is for Windows; systemd's unit says Restart=on-failure.
func ensureRecovery() error { return nil }

// ensureQuotedPath is for Windows services only.
func ensureQuotedPath() error { return nil }
