package sdnotify_test

import (
	"net"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillworks/posd/internal/sdnotify"
)

func TestNotify(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	sent, err := sdnotify.Notify(sdnotify.Ready)
	assert.False(t, sent)
	assert.NoError(t, err)

	path := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	require.NoError(t, err)
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", path)
	sent, err = sdnotify.Notify(sdnotify.Ready + "\nSTATUS=serving")
	require.NoError(t, err)
	assert.True(t, sent)
	buf := make([]byte, 128)
	n, err := conn.Read(buf)
	require.NoError(t, err)
	assert.Equal(t, "READY=1\nSTATUS=serving", string(buf[:n]))
}
