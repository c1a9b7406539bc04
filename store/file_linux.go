package store

import (
	"os"

	"golang.org/x/sys/unix"
)

// datasync makes f's data durable: fdatasync, which skips the inode's
// times (what bbolt uses too).
func datasync(f *os.File) error { return unix.Fdatasync(int(f.Fd())) }
