package providers

import (
	"context"
	"log/slog"

	"github.com/tillworks/posd/config"
	"github.com/tillworks/posd/payflow"
)

// Type is a kind of gateway posd speaks. Each gateway package declares
// its own, with its configuration keys and their checks; the daemon lists
// the types it is built with, one line each.
type Type struct {
	// Check decodes and validates a gateway's section, touching nothing
	// else: posd config check.
	Check func(sec config.GatewaySection) error
	// Open builds the gateway's client for the daemon; ctx bounds
	// anything it runs beside it (the demo's in-process simulator).
	Open func(ctx context.Context, sec config.GatewaySection, env Env) (payflow.Provider, error)
	// Show returns the section's effective settings with secrets blanked:
	// posd config show.
	Show func(sec config.GatewaySection) (any, error)
	// Activate, for gateways that need a one-time activation (posd
	// provider activate), returns what to tell the installer. Nil: none.
	Activate func(ctx context.Context, sec config.GatewaySection, env Env) (string, error)
}

// Env is what a gateway may use of the daemon's surroundings.
type Env struct {
	Name    string // the gateway's configured name
	DataDir string // for its own files (keys, state), named after it
	TillID  string
	Log     *slog.Logger
	// Go runs f in a goroutine its caller waits for before it stops (the
	// daemon's): what a gateway runs in the background (the demo's
	// simulator) goes through it. Nil: a plain goroutine.
	Go func(f func())
}

// Run runs f as Env.Go says.
func (e Env) Run(f func()) {
	if e.Go != nil {
		e.Go(f)
		return
	}
	go f()
}
