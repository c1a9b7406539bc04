package events_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillworks/posd/events"
)

type item struct{ seq uint64 }

func (i item) WithSeq(n uint64) item { i.seq = n; return i }

// TestSince: events are numbered; those after a number are replayed while
// the bus keeps them, and a number too old or never given says so.
func TestSince(t *testing.T) {
	var b events.Bus[item]
	ch, stop := b.Subscribe(4)
	defer stop()
	for i := 0; i < events.History+10; i++ {
		b.Publish(item{})
	}
	assert.Equal(t, uint64(1), (<-ch).seq, "a subscriber gets them numbered")
	assert.Equal(t, uint64(events.History+10), b.Seq())
	evs, ok := b.Since(uint64(events.History + 5))
	assert.True(t, ok)
	require.Len(t, evs, 5)
	assert.Equal(t, uint64(events.History+6), evs[0].seq)
	_, ok = b.Since(3)
	assert.False(t, ok, "more than History ago")
	evs, ok = b.Since(10)
	assert.True(t, ok, "the oldest kept is 11")
	require.Len(t, evs, events.History)
	assert.Equal(t, uint64(11), evs[0].seq)
	_, ok = b.Since(uint64(events.History + 99))
	assert.False(t, ok, "a number this bus never gave")
	evs, ok = b.Since(b.Seq())
	assert.True(t, ok)
	assert.Empty(t, evs)
}

// TestSlowSubscriber: a subscriber that falls behind loses events; the
// publisher never waits for it.
func TestSlowSubscriber(t *testing.T) {
	var b events.Bus[item]
	ch, stop := b.Subscribe(1)
	for i := 0; i < 10; i++ {
		b.Publish(item{})
	}
	assert.Len(t, ch, 1)
	stop()
	stop() // twice is harmless
	b.Publish(item{})
}
