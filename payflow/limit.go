package payflow

import (
	"container/heap"
	"context"
	"sync"
	"time"
)

// Gateway call limits. A restart may find thousands of payments in doubt;
// asking about all of them at once overloads the gateway (and this
// process), calls time out, and payments past their window would then be
// cancelled although charged. So the work resumed at start goes through a
// lane of its own per gateway: at most GatewayConcurrency calls at a time,
// GatewayRate calls a second, oldest payment first. The cashiers' new
// payments never queue behind it.
const (
	DefaultGatewayConcurrency = 8
	DefaultGatewayRate        = 50 // calls per second
)

// lane bounds the resumed work's calls to one gateway: slots handed out
// oldest payment first, spaced at least interval apart. A call's own
// time-out starts only once it has its slot, so waiting here never makes
// a call fail.
type lane struct {
	clock    Clock
	interval time.Duration

	mu      sync.Mutex
	free    int
	waiters waitHeap
	next    time.Time // when the next call may start
	seq     uint64
	// inFlight and peak count the resumed calls in flight, so that the
	// lane's tests can hold it to its limit (nothing else reads them).
	inFlight, peak int
}

func newLane(clock Clock, concurrency int, rate float64) *lane {
	if concurrency < 1 {
		concurrency = DefaultGatewayConcurrency
	}
	if rate <= 0 {
		rate = DefaultGatewayRate
	}
	return &lane{clock: clock, free: concurrency, interval: time.Duration(float64(time.Second) / rate)}
}

type waiter struct {
	oldest time.Time // the payment's creation: older goes first
	seq    uint64    // then first come
	ready  chan struct{}
	index  int
}

type waitHeap []*waiter

func (h waitHeap) Len() int { return len(h) }
func (h waitHeap) Less(i, j int) bool {
	if !h[i].oldest.Equal(h[j].oldest) {
		return h[i].oldest.Before(h[j].oldest)
	}
	return h[i].seq < h[j].seq
}
func (h waitHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i]; h[i].index = i; h[j].index = j }
func (h *waitHeap) Push(x any)   { w := x.(*waiter); w.index = len(*h); *h = append(*h, w) }
func (h *waitHeap) Pop() any {
	old := *h
	w := old[len(old)-1]
	*h = old[:len(old)-1]
	w.index = -1
	return w
}
func (h *waitHeap) remove(w *waiter) {
	if w.index >= 0 {
		heap.Remove(h, w.index)
	}
}

// acquire waits for a resumed call's slot, then for its turn under the
// rate; it returns false when ctx ends first.
func (l *lane) acquire(ctx context.Context, oldest time.Time) bool {
	l.mu.Lock()
	if l.free > 0 && len(l.waiters) == 0 {
		l.free--
	} else {
		l.seq++
		w := &waiter{oldest: oldest, seq: l.seq, ready: make(chan struct{})}
		heap.Push(&l.waiters, w)
		l.mu.Unlock()
		select {
		case <-w.ready:
		case <-ctx.Done():
			l.mu.Lock()
			select {
			case <-w.ready:
				// Handed a slot as ctx ended: pass it on (release counts
				// it out of the calls in flight, so count it in first).
				l.inFlight++
				l.mu.Unlock()
				l.release()
			default:
				l.waiters.remove(w)
				l.mu.Unlock()
			}
			return false
		}
		l.mu.Lock()
	}
	now := l.clock.Now()
	start := l.next
	if start.Before(now) {
		start = now
	}
	l.next = start.Add(l.interval)
	l.inFlight++
	l.peak = max(l.peak, l.inFlight)
	l.mu.Unlock()
	if wait := start.Sub(now); wait > 0 {
		select {
		case <-l.clock.After(wait):
		case <-ctx.Done():
			l.release()
			return false
		}
	}
	return true
}

// release gives a slot back: to the oldest waiter, or to the pool.
func (l *lane) release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.inFlight > 0 {
		l.inFlight--
	}
	if len(l.waiters) > 0 {
		w := heap.Pop(&l.waiters).(*waiter)
		close(w.ready)
		return
	}
	l.free++
}

// Peak is the most resumed calls that were in flight at once.
func (l *lane) Peak() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.peak
}

// lane returns gateway's lane, made on first use.
func (e *Engine) lane(gateway string) *lane {
	e.lanesMu.Lock()
	defer e.lanesMu.Unlock()
	l := e.lanes[gateway]
	if l == nil {
		l = newLane(e.clock, e.cfg.GatewayConcurrency, e.cfg.GatewayRate)
		e.lanes[gateway] = l
	}
	return l
}

// resumedSince reports whether payment id is work resumed at start, and
// since when it exists (its lane's order).
func (e *Engine) resumedSince(id string) (time.Time, bool) {
	e.lanesMu.Lock()
	defer e.lanesMu.Unlock()
	t, ok := e.resumed[id]
	return t, ok
}

// forgetResumed takes payment id out of the resumed work once it settles:
// a later refund of it is the cashiers' own work again.
func (e *Engine) forgetResumed(id string) {
	e.lanesMu.Lock()
	defer e.lanesMu.Unlock()
	delete(e.resumed, id)
}
