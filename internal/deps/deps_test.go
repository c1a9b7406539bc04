// Package deps holds the test that pins which of posd's packages may
// import which (docs/architecture.md draws the same): dependencies point
// one way, from the command line through the daemon's assembly down to the engine, and a gateway or
// the API never drags in drivers it does not use.
package deps

import (
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/tillworks/posd/"

// forbidden lists, for each package (and its sub-packages), what it must
// not import, directly or through another package.
var forbidden = map[string][]string{
	"payflow":         {"config", "store", "printer", "scanner", "paycode", "providers", "localapi", "internal/daemon", "cmd", "go.bug.st/serial", "github.com/karalabe/hid", "go.etcd.io/bbolt"},
	"paycode":         {"config", "store", "printer", "scanner", "providers", "localapi", "internal/daemon", "cmd"},
	"store":           {"config", "scanner", "providers", "localapi", "internal/daemon", "cmd"},
	"printer":         {"config", "store", "scanner", "providers", "localapi", "internal/daemon", "cmd", "go.etcd.io/bbolt"},
	"scanner":         {"config", "payflow", "paycode", "store", "printer", "providers", "localapi", "internal/daemon", "cmd"},
	"events":          {"config", "payflow", "paycode", "store", "printer", "scanner", "providers", "localapi", "internal/daemon", "cmd", "internal"},
	"providers":       {"store", "printer", "scanner", "localapi", "internal/daemon", "cmd", "go.bug.st/serial", "github.com/karalabe/hid", "go.etcd.io/bbolt"},
	"localapi":        {"config", "store", "scanner", "providers", "internal/daemon", "cmd", "github.com/karalabe/hid", "go.etcd.io/bbolt"}, // the printer brings the serial driver (serial printers)
	"config":          {"payflow", "store", "printer", "scanner", "paycode", "providers", "localapi", "internal/daemon", "cmd"},
	"internal/daemon": {"cmd"},
	"internal/origin": {"config", "payflow", "store", "printer", "scanner", "providers", "localapi", "internal/daemon", "cmd"},
}

// TestDependencies fails on an import the architecture does not allow.
func TestDependencies(t *testing.T) {
	for pkg, bad := range forbidden {
		list, err := exec.Command("go", "list", "-f", "{{.ImportPath}}", "../../"+pkg+"/...").Output()
		if err != nil {
			t.Fatalf("go list %s: %v", pkg, err)
		}
		for _, p := range strings.Fields(string(list)) {
			deps, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", p).Output()
			if err != nil {
				t.Fatalf("go list -deps %s: %v", p, err)
			}
			for _, d := range strings.Fields(string(deps)) {
				for _, b := range bad {
					target := b
					if !strings.Contains(b, ".") {
						target = mod + b
					}
					if d == target || strings.HasPrefix(d, target+"/") {
						t.Errorf("%s imports %s (through its dependencies); docs/architecture.md says it must not", strings.TrimPrefix(p, mod), strings.TrimPrefix(d, mod))
					}
				}
			}
		}
	}
}
