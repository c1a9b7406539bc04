//go:build failpoints

// Package failpoint names the instants at which the crash tests stop posd.
// This build stops at the point named by POSD_FAILPOINT: it prints
// "failpoint reached: NAME" on stderr and then blocks forever, so that the
// test can kill -9 the process exactly there.
package failpoint

import (
	"fmt"
	"os"
	"strings"
)

var armed = strings.Split(os.Getenv("POSD_FAILPOINT"), ",")

// Hit blocks forever when name is armed, after telling the test so.
func Hit(name string) {
	for _, a := range armed {
		if a == name {
			fmt.Fprintf(os.Stderr, "failpoint reached: %s\n", name)
			select {}
		}
	}
}
