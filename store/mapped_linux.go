package store

import "golang.org/x/sys/unix"

// dropMapped advises the kernel that the n bytes mapped at addr (the
// journal's read-only shared mapping) are not needed: they leave posd's
// resident set and are read again from the page cache when next touched.
func dropMapped(addr uintptr, n int64) {
	if addr == 0 || n <= 0 {
		return
	}
	unix.Syscall(unix.SYS_MADVISE, addr, uintptr(n), unix.MADV_DONTNEED)
}
