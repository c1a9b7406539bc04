package store

import (
	"os"

	"golang.org/x/sys/windows"
)

// datasync makes f's data durable (FlushFileBuffers).
func datasync(f *os.File) error { return f.Sync() }

// lockFile takes an exclusive lock on f, waiting up to a second for
// another process to let it go.
func lockFile(f *os.File) (unlock func(), err error) {
	h := windows.Handle(f.Fd())
	for i := 0; ; i++ {
		err = windows.LockFileEx(h, windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, &windows.Overlapped{})
		if err == nil || i == 20 {
			break
		}
		sleepLock()
	}
	if err != nil {
		return nil, err
	}
	return func() { windows.UnlockFileEx(h, 0, 1, 0, &windows.Overlapped{}) }, nil
}

// initialMmap is how much bbolt maps from the start. On Windows the file
// is grown to the mapping's size, so it is only 4 MiB: a new journal's
// first thousand or so payments need no remap (each waits for the
// checkpoint's pin, see Store.commit), and each doubling after that one.
var initialMmap = 4 << 20
