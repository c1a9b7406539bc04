package main

import (
	"os"
	"unsafe"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"
)

// parentImage is the executable name of posd's parent process, or "".
func parentImage() string {
	snap, err := windows.CreateToolhelp32Snapshot(windows.TH32CS_SNAPPROCESS, 0)
	if err != nil {
		return ""
	}
	defer windows.CloseHandle(snap)
	names := map[uint32]string{}
	var parent uint32
	self := uint32(os.Getpid())
	var e windows.ProcessEntry32
	e.Size = uint32(unsafe.Sizeof(e))
	for err = windows.Process32First(snap, &e); err == nil; err = windows.Process32Next(snap, &e) {
		names[e.ProcessID] = windows.UTF16ToString(e.ExeFile[:])
		if e.ProcessID == self {
			parent = e.ParentProcessID
		}
	}
	return names[parent]
}

// runSCM runs prg under the service control manager when kardianos/service
// takes the process for an interactive one (its check wants the SCM in
// session 0, which Wine and Windows containers do not have) though
// services.exe started it.
func runSCM(name string, prg *program) error {
	return svc.Run(name, scmHandler{prg})
}

// scmHandler answers the SCM for prg: running once started, stopped
// after a stop or shutdown request.
type scmHandler struct{ prg *program }

// Execute is the service's life as the SCM sees it.
func (h scmHandler) Execute(args []string, r <-chan svc.ChangeRequest, changes chan<- svc.Status) (bool, uint32) {
	changes <- svc.Status{State: svc.StartPending}
	if err := h.prg.Start(nil); err != nil {
		return true, 1
	}
	changes <- svc.Status{State: svc.Running, Accepts: svc.AcceptStop | svc.AcceptShutdown}
	for c := range r {
		switch c.Cmd {
		case svc.Interrogate:
			changes <- c.CurrentStatus
		case svc.Stop, svc.Shutdown:
			changes <- svc.Status{State: svc.StopPending}
			h.prg.Stop(nil)
			return false, 0
		}
	}
	return false, 0
}
