//go:build race

package daemon

// raceEnabled: the race detector slows everything several times over.
const raceEnabled = true
