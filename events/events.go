// Package events is posd's event bus and what devices report on it: the
// engine publishes payments and refunds, the scanners and the printer their
// state, and the API's event stream and the print queue subscribe. It
// depends on no other posd package, so that each of them can use it.
package events

import (
	"sync"
	"time"
)

// Numbered is what a bus carries: values it can number as it publishes
// them (WithSeq returns the value with its number).
type Numbered[T any] interface {
	WithSeq(n uint64) T
}

// DeviceEvent reports a scanner or printer state change.
type DeviceEvent struct {
	Name   string `json:"name"`
	Kind   string `json:"kind"` // scanner | printer
	State  string `json:"state"`
	Detail string `json:"detail,omitempty"`
}

// DeviceStatus is a scanner or the printer as GET /v1/devices shows it.
type DeviceStatus struct {
	Name       string    `json:"name"`
	Kind       string    `json:"kind"` // scanner | printer
	Type       string    `json:"type"` // serial | hid; file | tcp | serial | usb
	State      string    `json:"state"`
	Detail     string    `json:"detail,omitempty"`
	Since      time.Time `json:"since"`
	Scans      int       `json:"scans"`
	LastScanAt time.Time `json:"last_scan_at,omitzero"`
	Printed    int       `json:"printed,omitempty"` // printers: receipts printed since start
}

// Bus fans events out to subscribers. A subscriber that falls behind loses
// events rather than stalling the engine; it can re-read state from the API.
type Bus[T Numbered[T]] struct {
	mu   sync.Mutex
	subs map[chan T]struct{}
	seq  uint64
	ring []T // the last History events: event n at ring[(n-1) % History]
}

// History is how many past events a bus keeps for Since.
const History = 1024

// Subscribe returns a channel of events and a function that ends the
// subscription and closes the channel.
func (b *Bus[T]) Subscribe(buffer int) (<-chan T, func()) {
	ch := make(chan T, buffer)
	b.mu.Lock()
	if b.subs == nil {
		b.subs = make(map[chan T]struct{})
	}
	b.subs[ch] = struct{}{}
	b.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			b.mu.Lock()
			delete(b.subs, ch)
			b.mu.Unlock()
			close(ch)
		})
	}
}

// Publish delivers ev to every subscriber that has room for it.
func (b *Bus[T]) Publish(ev T) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seq++
	ev = ev.WithSeq(b.seq)
	if len(b.ring) < History {
		b.ring = append(b.ring, ev)
	} else {
		b.ring[(b.seq-1)%History] = ev
	}
	for ch := range b.subs {
		select {
		case ch <- ev:
		default:
		}
	}
}

// Since returns the events published after seq, oldest first. ok is false
// when some of them are no longer kept (more than History ago) or seq
// is not one this bus gave: the client must read the state afresh.
func (b *Bus[T]) Since(seq uint64) (events []T, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if seq > b.seq {
		return nil, false
	}
	if seq == b.seq {
		return nil, true
	}
	oldest := b.seq - uint64(len(b.ring)) + 1
	if seq+1 < oldest {
		return nil, false
	}
	for n := seq + 1; n <= b.seq; n++ {
		events = append(events, b.ring[(n-1)%History])
	}
	return events, true
}

// Seq is the number of the last event published.
func (b *Bus[T]) Seq() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.seq
}
