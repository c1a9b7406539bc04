// Package ptytest makes virtual serial cables for tests: a socat pty pair
// whose one end posd opens as a scanner's port while the test writes into
// the other as the scanner would.
package ptytest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Pair is one cable. Scanner is the port posd opens; Feed is the end the
// test writes to.
type Pair struct {
	t       testing.TB
	Scanner string
	Feed    string
	cmd     *exec.Cmd
}

// New plugs a cable in, or skips the test when socat is missing (.ci/run
// installs it).
func New(t testing.TB) *Pair {
	t.Helper()
	if _, err := exec.LookPath("socat"); err != nil {
		t.Skip("socat is not installed (.ci/run installs it)")
	}
	// Not t.TempDir: test names put commas in it, and socat splits its
	// address options at commas.
	dir, err := os.MkdirTemp("", "posd-pty")
	if err != nil {
		t.Fatal(err)
	}
	p := &Pair{t: t, Scanner: filepath.Join(dir, "scanner"), Feed: filepath.Join(dir, "feed")}
	t.Cleanup(func() { p.Unplug(); os.RemoveAll(dir) })
	p.Plug()
	return p
}

// Plug starts socat and waits for both ends to exist.
func (p *Pair) Plug() {
	p.t.Helper()
	p.cmd = exec.Command("socat", "pty,raw,echo=0,link="+p.Scanner, "pty,raw,echo=0,link="+p.Feed)
	if err := p.cmd.Start(); err != nil {
		p.t.Fatalf("starting socat: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		_, e1 := os.Stat(p.Scanner)
		_, e2 := os.Stat(p.Feed)
		if e1 == nil && e2 == nil {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	p.t.Fatal("socat did not create the pty pair")
}

// Unplug ends socat: the port disappears as an unplugged USB scanner's does.
func (p *Pair) Unplug() {
	if p.cmd != nil && p.cmd.Process != nil {
		p.cmd.Process.Kill()
		p.cmd.Wait()
		p.cmd = nil
		os.Remove(p.Scanner)
		os.Remove(p.Feed)
	}
}

// Write sends chunks into the cable with a pause after each.
func (p *Pair) Write(pause time.Duration, chunks ...string) {
	p.t.Helper()
	f, err := os.OpenFile(p.Feed, os.O_WRONLY, 0)
	if err != nil {
		p.t.Fatalf("opening the feed end: %v", err)
	}
	defer f.Close()
	for _, c := range chunks {
		if _, err := f.Write([]byte(c)); err != nil {
			p.t.Fatalf("writing to the feed end: %v", err)
		}
		time.Sleep(pause)
	}
}
