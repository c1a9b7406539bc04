package main

import (
	"path"
	"strings"

	"github.com/kardianos/service"
)

// runningAsService reports whether a service manager started posd:
// kardianos/service's check (Windows: the process runs in session 0;
// systemd: no terminal), or, on Windows, a parent process that is the
// service control manager. Under Wine and in Windows containers
// services.exe does not run in session 0, so the session check alone
// answers "interactive" and the service never reports to the SCM (start
// times out with error 1053); .NET adopted the parent rule for the same
// reason.
func runningAsService() bool {
	return !service.Interactive() || isServiceManager(parentImage())
}

// isServiceManager reports whether an executable's name is the Windows
// service control manager's.
func isServiceManager(image string) bool {
	return strings.EqualFold(path.Base(strings.ReplaceAll(image, `\`, "/")), "services.exe")
}
