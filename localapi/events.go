package localapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tillworks/posd/payflow"
)

// heartbeat keeps idle event streams (and the proxies between) open.
const heartbeat = 15 * time.Second

// events streams the engine's events as Server-Sent Events: each with an
// "id:" (this daemon's run and the event's number), an "event:" line
// naming the type (payment, refund, scan, device) and one "data:" line of
// JSON. A client reconnecting with Last-Event-ID (EventSource sends it by
// itself) gets the events it missed, while the daemon still has them;
// otherwise, and on a first connection, it gets a "snapshot" of the open
// payments, after a "refetch" event when what it missed is lost (too old,
// or the daemon restarted).
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	bus := s.eng.Bus()
	ch, stop := bus.Subscribe(256)
	defer stop()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 3000\n: posd events\n\n")
	var sent uint64 // the last event written; live ones up to it are skipped
	write := func(ev payflow.Event) {
		b, err := json.Marshal(ev)
		if err != nil {
			return
		}
		fmt.Fprintf(w, "id: %s.%d\nevent: %s\ndata: %s\n\n", s.epoch, ev.Seq, ev.Type, b)
		sent = ev.Seq
	}
	// catchUp writes what was published after seq, or says it is lost.
	catchUp := func(seq uint64, why string) bool {
		evs, ok := bus.Since(seq)
		if !ok {
			fmt.Fprintf(w, "event: refetch\ndata: {\"reason\":%q}\n\n", why)
			return false
		}
		sent = seq
		for _, ev := range evs {
			write(ev)
		}
		return true
	}
	last := r.Header.Get("Last-Event-ID")
	if last == "" {
		last = r.URL.Query().Get("last_event_id")
	}
	caught := false
	if last != "" {
		if seq, ok := s.eventSeq(last); ok {
			caught = catchUp(seq, "the events since "+last+" are no longer kept: read the payments again")
		} else {
			fmt.Fprintf(w, "event: refetch\ndata: {\"reason\":%q}\n\n", "posd restarted since event "+last+": read the payments again")
		}
	}
	if !caught {
		seq := bus.Seq()
		open, err := s.eng.Open()
		if err != nil {
			open = nil
		}
		if open == nil {
			open = []*payflow.Payment{}
		}
		b, _ := json.Marshal(Snapshot{Payments: open})
		fmt.Fprintf(w, "id: %s.%d\nevent: snapshot\ndata: %s\n\n", s.epoch, seq, b)
		sent = seq
	}
	if err := rc.Flush(); err != nil {
		return
	}
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
			fmt.Fprint(w, ": ping\n\n")
		case ev, ok := <-ch:
			if !ok {
				return
			}
			switch {
			case ev.Seq <= sent:
				continue
			case ev.Seq > sent+1:
				// This stream fell behind and the bus dropped some: fill
				// the gap from its history, or tell the client.
				if !catchUp(sent, "events were lost while this client was slow: read the payments again") {
					sent = ev.Seq - 1
				}
				if ev.Seq <= sent {
					continue
				}
			}
			write(ev)
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}

// Snapshot is the data of the "snapshot" event: the payments still open
// when the stream (re)started.
type Snapshot struct {
	Payments []*payflow.Payment `json:"payments"`
}

// eventSeq reads an event id this daemon gave ("<run>.<number>").
func (s *Server) eventSeq(id string) (uint64, bool) {
	run, n, ok := strings.Cut(id, ".")
	if !ok || run != s.epoch {
		return 0, false
	}
	seq, err := strconv.ParseUint(n, 10, 64)
	return seq, err == nil
}
