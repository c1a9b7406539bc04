package main

import (
	"bufio"
	"io"

	"rsc.io/qr"
)

// writeTerminalQR draws text as a QR code with Unicode half blocks, two
// module rows per line, for 'posd pay --qr' on a till without a customer
// display. Light modules are drawn (the blocks), dark ones left as the
// terminal's background: on the usual dark terminal that is a QR code the
// right way round, and phone wallets read the inverse too.
func writeTerminalQR(w io.Writer, text string) error {
	c, err := qr.Encode(text, qr.L)
	if err != nil {
		return err
	}
	const quiet = 2
	light := func(x, y int) bool {
		if x < 0 || y < 0 || x >= c.Size || y >= c.Size {
			return true
		}
		return !c.Black(x, y)
	}
	bw := bufio.NewWriter(w)
	for y := -quiet; y < c.Size+quiet; y += 2 {
		for x := -quiet; x < c.Size+quiet; x++ {
			top, bottom := light(x, y), light(x, y+1) || y+1 >= c.Size+quiet
			switch {
			case top && bottom:
				bw.WriteString("█")
			case top:
				bw.WriteString("▀")
			case bottom:
				bw.WriteString("▄")
			default:
				bw.WriteString(" ")
			}
		}
		bw.WriteString("\n")
	}
	return bw.Flush()
}
