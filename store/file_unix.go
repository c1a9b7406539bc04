//go:build unix

package store

import (
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// lockFile takes an exclusive lock on f, waiting up to a second for
// another process to let it go.
func lockFile(f *os.File) (unlock func(), err error) {
	for i := 0; ; i++ {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err != unix.EWOULDBLOCK || i == 20 {
			break
		}
		sleepLock()
	}
	if err != nil {
		return nil, err
	}
	return func() { unix.Flock(int(f.Fd()), unix.LOCK_UN) }, nil
}

// initialMmap is how much address space bbolt maps from the start:
// mapping past a file's end costs nothing here, and a commit that must
// remap waits for the checkpoint's pin (see Store.commit).
var initialMmap = 1 << 30 * (strconv.IntSize / 64)
