//go:build !linux && !windows

package store

import (
	"os"
	"strconv"
	"syscall"
)

// datasync makes f's data durable (fsync: these systems have no
// fdatasync posd relies on).
func datasync(f *os.File) error { return f.Sync() }

// lockFile takes an exclusive lock on f, waiting up to a second for
// another process to let it go.
func lockFile(f *os.File) (unlock func(), err error) {
	for i := 0; ; i++ {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err != syscall.EWOULDBLOCK || i == 20 {
			break
		}
		sleepLock()
	}
	if err != nil {
		return nil, err
	}
	return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }, nil
}

// initialMmap is how much address space bbolt maps from the start:
// mapping past a file's end costs nothing here, and a commit that must
// remap waits for the checkpoint's pin (see Store.commit).
var initialMmap = 1 << 30 * (strconv.IntSize / 64)
