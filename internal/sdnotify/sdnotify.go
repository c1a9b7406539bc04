// Package sdnotify tells systemd about the service's state (sd_notify):
// one datagram to the socket named by $NOTIFY_SOCKET. Outside systemd it
// does nothing.
package sdnotify

import (
	"net"
	"os"
)

// Messages systemd understands.
const (
	Ready    = "READY=1"
	Stopping = "STOPPING=1"
)

// Notify sends state (lines like "READY=1\nSTATUS=...") and reports
// whether a socket was there to take it.
func Notify(state string) (bool, error) {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return false, nil
	}
	if path[0] == '@' {
		path = "\x00" + path[1:] // abstract namespace
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return false, err
	}
	defer c.Close()
	if _, err := c.Write([]byte(state)); err != nil {
		return false, err
	}
	return true, nil
}
