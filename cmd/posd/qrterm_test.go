package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"rsc.io/qr"
)

// TestTerminalQR reads the half blocks back into modules: every module of
// the code is drawn where it belongs, inside a light quiet zone.
func TestTerminalQR(t *testing.T) {
	const text = "https://qr.shouqianba.com/7894259200000001"
	var b bytes.Buffer
	require.NoError(t, writeTerminalQR(&b, text))
	c, err := qr.Encode(text, qr.L)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	const quiet = 2
	require.Len(t, lines, (c.Size+2*quiet+1)/2)
	for i, line := range lines {
		cells := []rune(line)
		require.Len(t, cells, c.Size+2*quiet, "line %d", i)
		for x, r := range cells {
			top := r == '█' || r == '▀'
			bottom := r == '█' || r == '▄'
			for dy, lit := range []bool{top, bottom} {
				mx, my := x-quiet, 2*i+dy-quiet
				if my >= c.Size+quiet {
					continue
				}
				want := mx < 0 || my < 0 || mx >= c.Size || my >= c.Size || !c.Black(mx, my)
				if !assert.Equal(t, want, lit, "module %d,%d", mx, my) {
					return
				}
			}
		}
	}
}
