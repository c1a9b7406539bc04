package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillworks/posd/events"
	"github.com/tillworks/posd/internal/ptytest"
	"github.com/tillworks/posd/localapi"
	"github.com/tillworks/posd/payflow"
	"github.com/tillworks/posd/scanner"
)

// TestScannerEndToEnd: the daemon on the demo gateway with a serial
// scanner on a socat pty; a code written into the cable pays the waiting
// payment, and the scanner survives being unplugged and plugged back in.
func TestScannerEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon")
	}
	pty := ptytest.New(t)
	e := newCrashEnv(t)
	e.addConfig(fmt.Sprintf("[[scanner]]\nname = \"front\"\ntype = \"serial\"\nport = %q\nsuffix = \"cr\"\n", pty.Scanner))
	d := e.start("")

	device := func() events.DeviceStatus {
		var l localapi.DeviceList
		require.Equal(t, 200, d.request("GET", "/v1/devices", nil, &l))
		for _, dev := range l.Devices {
			if dev.Name == "front" {
				return dev
			}
		}
		t.Fatalf("no scanner front in %+v", l.Devices)
		return events.DeviceStatus{}
	}
	require.Eventually(t, func() bool { return device().State == scanner.StateConnected }, 10*time.Second, 10*time.Millisecond)

	// Device events arrive on the event stream.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.api+"/v1/events?access_token="+crashToken, nil)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	events := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				events <- v
			}
		}
	}()

	var p payflow.Payment
	require.Equal(t, 201, d.request("POST", "/v1/payments", map[string]any{"order_id": "S1", "amount": 300}, &p))
	pty.Write(0, "134567890123456789\r")
	p = *d.settled("S1")
	assert.Equal(t, payflow.StatePaid, p.State)
	assert.Equal(t, "1345**********6789", p.AuthCodeMasked)

	// Garbage and a scan with no payment waiting: reported, nothing paid.
	pty.Write(0, "hello\r", "284567890123456789\r")
	waitEvent(t, events, `"reason":"not a payment code`)
	waitEvent(t, events, `"reason":"no payment is waiting for a scan"`)

	pty.Unplug()
	require.Eventually(t, func() bool { return device().State == scanner.StateDisconnected }, 10*time.Second, 10*time.Millisecond)
	waitEvent(t, events, `"state":"disconnected"`)

	pty.Plug()
	back := time.Now()
	require.Eventually(t, func() bool { return device().State == scanner.StateConnected }, 10*time.Second, 10*time.Millisecond)
	assert.Less(t, time.Since(back), 2*time.Second)
	waitEvent(t, events, `"state":"connected"`)

	require.Equal(t, 201, d.request("POST", "/v1/payments", map[string]any{"order_id": "S2", "amount": 400}, nil))
	pty.Write(0, "304567890123456789\r") // not the code of 1.5 s ago: that one would be debounced
	assert.Equal(t, payflow.StatePaid, d.settled("S2").State)
	assert.Equal(t, 4, device().Scans)
}

func waitEvent(t *testing.T, events <-chan string, fragment string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case ev := <-events:
			if strings.Contains(ev, fragment) {
				return
			}
		case <-deadline:
			t.Fatalf("no event with %s", fragment)
		}
	}
}
