package payflow

import (
	"time"

	"github.com/tillworks/posd/events"
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
	Seq     uint64              `json:"-"`
	Type    EventType           `json:"type"` // payment | refund | scan | device
	At      time.Time           `json:"at"`
	Payment *Payment            `json:"payment,omitempty"`
	Refund  *Refund             `json:"refund,omitempty"`
	Scan    *ScanEvent          `json:"scan,omitempty"`
	Device  *events.DeviceEvent `json:"device,omitempty"`
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

// WithSeq returns e numbered n: the bus numbers events as it publishes them.
func (e Event) WithSeq(n uint64) Event { e.Seq = n; return e }

// Bus is the engine's event bus.
type Bus = events.Bus[Event]

// BusHistory is how many past events a bus keeps.
const BusHistory = events.History
