package payflow

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLaneOrder: with the lane full, slots go to the oldest payment
// waiting, whatever order the calls arrived in.
func TestLaneOrder(t *testing.T) {
	l := newLane(SystemClock{}, 1, 1e10)
	require.True(t, l.acquire(context.Background(), time.Unix(0, 0)))
	base := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	var got []int
	var wg sync.WaitGroup
	for _, age := range []int{5, 1, 4, 2, 3} {
		wg.Go(func() {
			require.True(t, l.acquire(context.Background(), base.Add(time.Duration(age)*time.Minute)))
			mu.Lock()
			got = append(got, age)
			mu.Unlock()
			l.release()
		})
	}
	require.Eventually(t, func() bool { l.mu.Lock(); defer l.mu.Unlock(); return len(l.waiters) == 5 }, 5*time.Second, time.Millisecond)
	l.release()
	wg.Wait()
	assert.Equal(t, []int{1, 2, 3, 4, 5}, got)
	assert.Equal(t, 1, l.Peak())
}

// TestLaneCancel: a call that gives up waiting (posd stopping) leaves no
// slot taken, and a slot handed to it as it gave up is passed on.
func TestLaneCancel(t *testing.T) {
	l := newLane(SystemClock{}, 1, 1e10)
	require.True(t, l.acquire(context.Background(), time.Time{}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan bool)
	go func() { done <- l.acquire(ctx, time.Time{}) }()
	require.Eventually(t, func() bool { l.mu.Lock(); defer l.mu.Unlock(); return len(l.waiters) == 1 }, 5*time.Second, time.Millisecond)
	cancel()
	assert.False(t, <-done)
	l.release()
	assert.True(t, l.acquire(context.Background(), time.Time{}), "the slot is free again")
	l.release()
	l.mu.Lock()
	defer l.mu.Unlock()
	assert.Equal(t, 1, l.free)
	assert.Zero(t, l.inFlight)
}

// TestLaneRate: calls are spaced by the rate (a lower bound: it holds on a
// loaded machine).
func TestLaneRate(t *testing.T) {
	l := newLane(SystemClock{}, 4, 100)
	start := time.Now()
	for range 6 {
		require.True(t, l.acquire(context.Background(), time.Time{}))
		l.release()
	}
	assert.GreaterOrEqual(t, time.Since(start), 45*time.Millisecond, "six calls at 100/s take at least 50 ms")
}

// TestLaneCancelStorm: calls giving up at random while slots are handed
// out never leak a slot, never let more than the limit in, and the lane's
// count of calls in flight never falls below the calls that hold a slot
// (a slot handed to a call as it gave up is counted out once, not twice).
func TestLaneCancelStorm(t *testing.T) {
	const limit = 3
	l := newLane(SystemClock{}, limit, 1e10)
	var mu sync.Mutex
	holding := 0
	var wg sync.WaitGroup
	for i := range 400 {
		wg.Go(func() {
			ctx, cancel := context.WithCancel(context.Background())
			if i%2 == 0 {
				go func() { time.Sleep(time.Duration(i%7) * 50 * time.Microsecond); cancel() }()
			} else {
				defer cancel()
			}
			if !l.acquire(ctx, time.Time{}) {
				return
			}
			mu.Lock()
			holding++
			l.mu.Lock()
			inFlight := l.inFlight
			l.mu.Unlock()
			assert.LessOrEqual(t, holding, limit)
			assert.GreaterOrEqual(t, inFlight, holding, "calls in flight counted")
			mu.Unlock()
			time.Sleep(20 * time.Microsecond)
			mu.Lock()
			holding--
			l.release()
			mu.Unlock()
		})
	}
	wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	assert.Equal(t, limit, l.free, "every slot back")
	assert.Zero(t, l.inFlight)
	assert.Empty(t, l.waiters)
	assert.LessOrEqual(t, l.peak, limit)
}
