//go:build !linux && !windows

package store

// dropMapped does nothing here (macOS, the BSDs: systems posd is not
// packaged for).
func dropMapped(addr uintptr, n int64) {}
