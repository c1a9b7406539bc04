package store

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
)

// A seal is what a clean Close leaves beside the journal (<journal>.sealed):
// the file's size, modification time and both meta pages as posd closed
// it. A start that finds the journal exactly as sealed knows no write
// has touched it since a posd that had checked it closed it, and skips
// the page-by-page check, which reads the whole file (half a second at
// 150 000 payments, and as many seconds from a cold disk). Any commit,
// torn or whole, rewrites a meta page and the modification time, and a
// restored or copied file is not the sealed one: those get the full
// start check. What a seal cannot see is a disk that later damages a page
// by itself; posd journal check reads every page for that.
type seal struct {
	Size    int64  `json:"size"`
	ModTime int64  `json:"mtime_unix_nano"`
	Metas   string `json:"metas_sha256"`
}

// sealFile is where the seal of the journal at path is kept.
func sealFile(path string) string { return path + ".sealed" }

// sealOf describes the journal at path as it is now.
func sealOf(path string) (seal, error) {
	f, err := os.Open(path)
	if err != nil {
		return seal{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return seal{}, err
	}
	_, pageSize, _, problem := readMetas(path, fi.Size())
	if problem != "" {
		return seal{}, errors.New(problem)
	}
	h := sha256.New()
	for _, off := range []int64{0, int64(pageSize)} {
		if _, err := io.Copy(h, io.NewSectionReader(f, off, minReadBytes)); err != nil {
			return seal{}, err
		}
	}
	return seal{Size: fi.Size(), ModTime: fi.ModTime().UnixNano(), Metas: hex.EncodeToString(h.Sum(nil))}, nil
}

// writeSeal seals the journal at path, which posd has just closed.
func writeSeal(path string) error {
	s, err := sealOf(path)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(s)
	tmp := sealFile(path) + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, sealFile(path))
}

// sealed reports whether the journal at path is as a clean Close sealed
// it. A seal that cannot be read, or does not match, is no seal.
func sealed(path string) bool {
	b, err := os.ReadFile(sealFile(path))
	if err != nil {
		return false
	}
	var want seal
	if err := json.Unmarshal(b, &want); err != nil || want.Metas == "" {
		return false
	}
	now, err := sealOf(path)
	return err == nil && now == want
}

// unseal removes the seal before the journal is opened for writing. A
// seal left behind (a removal lost to a crash, a read-only directory)
// does no harm: the first commit changes what it describes.
func unseal(path string) { os.Remove(sealFile(path)) }
