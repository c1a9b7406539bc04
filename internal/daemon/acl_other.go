//go:build !windows

package daemon

// secureDataDir is a no-op off Windows: the directory is created 0700 and
// the journal 0600.
func secureDataDir(dir string) error { return nil }
