//go:build windows

package main

import (
	"fmt"
	"os"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc/mgr"
)

// ensureRecovery sets the posd service to restart on failure. The MSI
// cannot (wixl has no ServiceConfig), so the service sets it itself.
func ensureRecovery() error {
	return withService(func(s *mgr.Service) error {
		restart := mgr.RecoveryAction{Type: mgr.ServiceRestart, Delay: 5 * time.Second}
		return s.SetRecoveryActions([]mgr.RecoveryAction{restart, restart, restart}, 600)
	})
}

// withService runs f on the installed posd service.
func withService(f func(s *mgr.Service) error) error {
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
	return f(s)
}

// ensureQuotedPath quotes the service's command line where Windows
// Installer left the program's path unquoted (see quoteImagePath). It
// reads and changes the binary path only (QueryServiceConfig,
// ChangeServiceConfig with everything else unchanged).
func ensureQuotedPath() error {
	return withService(func(s *mgr.Service) error {
		var need uint32
		windows.QueryServiceConfig(s.Handle, nil, 0, &need)
		if need == 0 {
			need = 8192
		}
		buf := make([]byte, need)
		qc := (*windows.QUERY_SERVICE_CONFIG)(unsafe.Pointer(&buf[0]))
		if err := windows.QueryServiceConfig(s.Handle, qc, need, &need); err != nil {
			return fmt.Errorf("reading the service's configuration: %w", err)
		}
		line := windows.UTF16PtrToString(qc.BinaryPathName)
		quoted := quoteImagePath(line)
		if quoted == line {
			return nil
		}
		p, err := windows.UTF16PtrFromString(quoted)
		if err != nil {
			return err
		}
		const noChange = windows.SERVICE_NO_CHANGE
		if err := windows.ChangeServiceConfig(s.Handle, noChange, noChange, noChange, p, nil, nil, nil, nil, nil, nil); err != nil {
			return fmt.Errorf("quoting the service's ImagePath: %w", err)
		}
		return nil
	})
}

// quoteImagePath returns a Windows service command line whose program path
// is quoted. Windows Installer (and Wine's) writes the path of the
// installed exe unquoted, so that "C:\Program Files\posd\posd.exe run …"
// would let Windows try C:\Program.exe first (CWE-428). The path is this
// process's own executable when the command line starts with it; a line
// already quoted, or a path without spaces, is returned as it is.
func quoteImagePath(line string) string {
	exe, err := os.Executable()
	if err != nil {
		return line
	}
	return quoteImage(line, exe)
}
