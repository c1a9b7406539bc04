//go:build !failpoints

// Package failpoint names the instants at which the crash tests stop posd.
// In a normal build every point is a no-op that the compiler removes; a build
// with -tags failpoints stops the process at the point named by the
// POSD_FAILPOINT environment variable (see failpoint_on.go).
package failpoint

// Hit marks the named instant. It does nothing in a normal build.
func Hit(name string) {}
