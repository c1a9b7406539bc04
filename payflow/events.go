package payflow

import (
	"sync"
	"time"
)

// EventType names what an Event is about. (An alias: the API's JSON and
// the SSE event names are these strings.)
type EventType = string

// The event types.
const (
	EventPayment EventType = "payment"
	EventRefund  EventType = "refund"
	EventScan    EventType = "scan"
	EventDevice  EventType = "device"
)

// Event is something the cash register may want to know as it happens: a
// payment or refund changed state, a code was scanned, a device came or went.
type Event struct {
	// Seq numbers the bus's events from 1, in the order published: a
	// client that lost some asks for those after the last it saw (Since).
	Seq     uint64       `json:"-"`
	Type    EventType    `json:"type"` // payment | refund | scan | device
	At      time.Time    `json:"at"`
	Payment *Payment     `json:"payment,omitempty"`
	Refund  *Refund      `json:"refund,omitempty"`
	Scan    *ScanEvent   `json:"scan,omitempty"`
	Device  *DeviceEvent `json:"device,omitempty"`
}

// ScanEvent reports a scanned code (masked) and what became of it.
type ScanEvent struct {
	CodeMasked string `json:"code_masked"`
	Channel    string `json:"channel,omitempty"`
	Source     string `json:"source"`
	Accepted   bool   `json:"accepted"`
	PaymentID  string `json:"payment_id,omitempty"`
	Reason     string `json:"reason,omitempty"`
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
type Bus struct {
	mu   sync.Mutex
	subs map[chan Event]struct{}
	seq  uint64
	ring []Event // the last BusHistory events: event n at ring[(n-1) % BusHistory]
}

// BusHistory is how many past events a bus keeps for Since.
const BusHistory = 1024

// Subscribe returns a channel of events and a function that ends the
// subscription and closes the channel.
func (b *Bus) Subscribe(buffer int) (<-chan Event, func()) {
	ch := make(chan Event, buffer)
	b.mu.Lock()
	if b.subs == nil {
		b.subs = make(map[chan Event]struct{})
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
func (b *Bus) Publish(ev Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seq++
	ev.Seq = b.seq
	if len(b.ring) < BusHistory {
		b.ring = append(b.ring, ev)
	} else {
		b.ring[(ev.Seq-1)%BusHistory] = ev
	}
	for ch := range b.subs {
		select {
		case ch <- ev:
		default:
		}
	}
}

// Since returns the events published after seq, oldest first. ok is false
// when some of them are no longer kept (more than BusHistory ago) or seq
// is not one this bus gave: the client must read the state afresh.
func (b *Bus) Since(seq uint64) (events []Event, ok bool) {
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
		events = append(events, b.ring[(n-1)%BusHistory])
	}
	return events, true
}

// Seq is the number of the last event published.
func (b *Bus) Seq() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.seq
}
