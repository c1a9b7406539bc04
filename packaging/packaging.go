// Package packaging holds what installs posd as a system service: the
// systemd unit, the udev rules and the default configuration (embedded so
// that 'posd service install' writes the same files the packages carry),
// and the package and installer definitions beside them.
package packaging

import _ "embed"

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
