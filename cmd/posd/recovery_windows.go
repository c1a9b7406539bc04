//go:build windows

package main

import (
	"time"

	"golang.org/x/sys/windows/svc/mgr"
)

// ensureRecovery sets the posd service to restart on failure. The MSI
// cannot (wixl has no ServiceConfig), so the service sets it itself.
func ensureRecovery() error {
	m, err := mgr.Connect()
	if err != nil {
		return err
	}
	defer m.Disconnect()
	s, err := m.OpenService("posd")
	if err != nil {
		return err
	}
	defer s.Close()
	restart := mgr.RecoveryAction{Type: mgr.ServiceRestart, Delay: 5 * time.Second}
	return s.SetRecoveryActions([]mgr.RecoveryAction{restart, restart, restart}, 600)
}
