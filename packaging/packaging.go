// Package packaging holds what installs posd as a system service: the
// systemd unit, the udev rules and the default configuration (embedded so
// that 'posd service install' writes the same files the packages carry),
// and the package and installer definitions beside them.
package packaging

import (
	_ "embed"
	"strings"
)

// SystemdUnit is posd.service.
//
//go:embed linux/posd.service
var SystemdUnit string

// UdevRules is 70-posd.rules.
//
//go:embed linux/70-posd.rules
var UdevRules string

// DefaultConfig is the commented posd.toml the packages install.
//
//go:embed posd.toml
var DefaultConfig string

// ConfigFor is the default configuration as the service on goos finds it:
// DefaultConfig itself on Linux; on Windows with its data directory
// (dataDir, %ProgramData%\posd) and Windows paths and advice instead of
// the Linux ones, which would make the service die writing its token
// under /var/lib/posd.
func ConfigFor(goos, dataDir string) string {
	if goos != "windows" {
		return DefaultConfig
	}
	cfgPath := dataDir + `\posd.toml`
	r := strings.NewReplacer(
		"# Full reference: /usr/share/doc/posd/configuration.md", "# Full reference: configuration.md in posd's documentation (docs/ in its source)",
		"posd config check --config /etc/posd/posd.toml", `posd config check --config "`+cfgPath+`"`,
		"posd provider activate --config /etc/posd/posd.toml", `posd provider activate --config "`+cfgPath+`"`,
		`data_dir = "/var/lib/posd"`, `data_dir = '`+dataDir+`'`,
		"generated into /var/lib/posd/api-token", `generated into `+dataDir+`\api-token`,
		"see /usr/share/doc/posd/", "see posd's docs/",
		`# port = "/dev/ttyACM0"`, `# port = "COM3"                # the port Device Manager shows; a keyboard-wedge scanner cannot reach a service`,
		`# address = "192.168.1.50:9100"`, `# address = "192.168.1.50:9100" # or COM4 (serial); the Windows spooler is not supported`,
	)
	return r.Replace(DefaultConfig)
}
