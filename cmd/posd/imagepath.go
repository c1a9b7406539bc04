package main

import "strings"

// quoteImage quotes exe at the start of a Windows service command line
// (see quoteImagePath).
func quoteImage(line, exe string) string {
	if strings.HasPrefix(line, `"`) || !strings.Contains(exe, " ") || !strings.HasPrefix(strings.ToLower(line), strings.ToLower(exe)) {
		return line
	}
	return `"` + line[:len(exe)] + `"` + line[len(exe):]
}
