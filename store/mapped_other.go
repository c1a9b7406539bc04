//go:build !linux

package store

// dropMapped does nothing here: Windows trims a process's working set
// itself under memory pressure.
func dropMapped(addr uintptr, n int64) {}
