//go:build !windows

package main

import "errors"

// parentImage is only needed on Windows.
func parentImage() string { return "" }

// runSCM is never needed off Windows: a service manager's child there is
// what kardianos/service takes it for.
func runSCM(name string, prg *program) error {
	return errors.New("no service control manager on this system")
}
