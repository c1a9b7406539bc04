package store

import "golang.org/x/sys/windows"

// dropMapped takes the n bytes mapped at addr (the journal's read-only
// view) out of posd's working set: VirtualUnlock on pages that are not
// locked releases them from the working set, as Windows documents (it
// then reports ERROR_NOT_LOCKED, which is the expected answer). The pages
// stay in the file cache and are mapped again when next read.
func dropMapped(addr uintptr, n int64) {
	if addr == 0 || n <= 0 {
		return
	}
	windows.VirtualUnlock(addr, uintptr(n))
}
