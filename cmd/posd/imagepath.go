package main

import (
	"os"
	"strings"
)

// quoteImagePath returns a Windows service command line whose program path
// is quoted. Windows Installer (and Wine's) writes the path of the
// installed exe unquoted, so that "C:\Program Files\posd\posd.exe run …"
// would let Windows try C:\Program.exe first (CWE-428). The path is this
// process's own executable when the command line starts with it; a line
// already quoted, or a path without spaces, is returned as it is.
func quoteImagePath(line string) string {
	exe, err := os.Executable()
	if err != nil {
		return line
	}
	return quoteImage(line, exe)
}

func quoteImage(line, exe string) string {
	if strings.HasPrefix(line, `"`) || !strings.Contains(exe, " ") || !strings.HasPrefix(strings.ToLower(line), strings.ToLower(exe)) {
		return line
	}
	return `"` + line[:len(exe)] + `"` + line[len(exe):]
}
