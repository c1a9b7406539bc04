//go:build unix && !linux

package store

import "os"

// datasync makes f's data durable (fsync: posd relies on no fdatasync
// on these systems).
func datasync(f *os.File) error { return f.Sync() }
