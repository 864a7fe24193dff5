package events

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func newLocal(t *testing.T) *Local {
	t.Helper()
	bus := NewLocal()
	t.Cleanup(func() { require.NoError(t, bus.Close()) })
	return bus
}

func TestLocalFanOut(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	bus := newLocal(t)
	var subs []<-chan Event
	for range 3 {
		ch, cancel := bus.Subscribe(ctx, "bulksend:1")
		t.Cleanup(cancel)
		subs = append(subs, ch)
	}
	other, cancel := bus.Subscribe(ctx, "bulksend:2")
	t.Cleanup(cancel)
	prefix, cancel := bus.Subscribe(ctx, "bulksend:")
	t.Cleanup(cancel)

	require.NoError(t, bus.Publish(ctx, Event{Topic: "bulksend:1", Payload: json.RawMessage(`{"sent": 3}`)}))
	for _, ch := range subs {
		require.Equal(t, Event{Topic: "bulksend:1", Payload: json.RawMessage(`{"sent":3}`)}, receive(t, ch))
		requireEmpty(t, ch)
	}
	requireEmpty(t, other)
	requireEmpty(t, prefix) // topics match exactly, not by prefix

	require.NoError(t, bus.Publish(ctx, Event{Topic: "bulksend:2"}))
	require.Equal(t, Event{Topic: "bulksend:2"}, receive(t, other))
	for _, ch := range subs {
		requireEmpty(t, ch)
	}
}

func TestLocalCancel(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	bus := newLocal(t)
	ch, cancel := bus.Subscribe(ctx, "user:1")
	stay, cancelStay := bus.Subscribe(ctx, "user:1")
	t.Cleanup(cancelStay)

	require.NoError(t, bus.Publish(ctx, Event{Topic: "user:1"}))
	cancel()
	requireClosed(t, ch)
	cancel() // a second cancel does nothing
	require.NoError(t, bus.Publish(ctx, Event{Topic: "user:1", Payload: json.RawMessage(`2`)}))
	_, ok := <-ch
	require.False(t, ok, "no delivery after cancel")

	require.Equal(t, Event{Topic: "user:1"}, receive(t, stay))
	require.Equal(t, Event{Topic: "user:1", Payload: json.RawMessage(`2`)}, receive(t, stay))
	cancelStay()
	requireClosed(t, stay)
	require.Empty(t, subscribers(bus.hub), "cancelled subscribers are forgotten")
}

func TestLocalContextEnds(t *testing.T) {
	t.Parallel()
	bus := newLocal(t)
	ctx, cancel := context.WithCancel(t.Context())
	ch, unsubscribe := bus.Subscribe(ctx, "user:1")
	defer unsubscribe()
	cancel()
	requireClosed(t, ch)
	require.Eventually(t, func() bool { return subscribers(bus.hub) == 0 }, 5*time.Second, time.Millisecond)
	require.ErrorIs(t, bus.Publish(ctx, Event{Topic: "user:1"}), context.Canceled)
	require.NoError(t, bus.Publish(t.Context(), Event{Topic: "user:1"}), "the bus still works")

	// A context that is already done closes the channel at once.
	done, _ := bus.Subscribe(ctx, "user:1")
	requireClosed(t, done)
}

func TestLocalSlowSubscriberCoalesces(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	bus := newLocal(t)
	slow, cancel := bus.Subscribe(ctx, "bulksend:1") // never read while publishing
	t.Cleanup(cancel)

	const n = 10_000
	start := time.Now()
	for i := range n {
		if err := bus.Publish(ctx, Event{Topic: "bulksend:1", Payload: fmt.Appendf(nil, `{"n":%d}`, i)}); err != nil {
			t.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	t.Logf("published %d events in %v to a subscriber that never read", n, elapsed)
	require.Less(t, elapsed, time.Second, "a full subscriber must not slow publishing")

	var got []int
	for len(slow) > 0 {
		var p struct{ N int }
		require.NoError(t, json.Unmarshal(receive(t, slow).Payload, &p))
		got = append(got, p.N)
	}
	require.Len(t, got, buffer)
	require.IsIncreasing(t, got)
	require.Equal(t, n-1, got[len(got)-1], "the newest event is never the one dropped")
}

func TestLocalConcurrent(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	bus := newLocal(t)
	const publishers, events, subs = 8, 500, 8
	final := Event{Topic: "t", Payload: json.RawMessage(`"final"`)}

	var readers sync.WaitGroup
	for i := range subs {
		ch, cancel := bus.Subscribe(ctx, "t")
		readers.Go(func() {
			defer cancel()
			for e := range ch {
				if string(e.Payload) == string(final.Payload) {
					return
				}
				if i%2 == 0 {
					time.Sleep(10 * time.Microsecond) // a slow reader
				}
			}
			t.Error("channel closed before the final event")
		})
	}
	// Subscribers come and go meanwhile.
	var churn sync.WaitGroup
	for range 4 {
		churn.Go(func() {
			for range events {
				ch, cancel := bus.Subscribe(ctx, "t")
				cancel()
				for range ch {
				}
			}
		})
	}
	var pubs sync.WaitGroup
	for p := range publishers {
		pubs.Go(func() {
			for i := range events {
				if err := bus.Publish(ctx, Event{Topic: "t", Payload: fmt.Appendf(nil, `[%d,%d]`, p, i)}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	pubs.Wait()
	churn.Wait()
	require.NoError(t, bus.Publish(ctx, final))
	readers.Wait() // every reader sees the newest event, however slow
}

// TestLocalClose runs alone: it checks that nothing of the bus outlives Close.
func TestLocalClose(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx, cancelCtx := context.WithCancel(context.Background())
	defer cancelCtx()
	bus := NewLocal()
	a, cancelA := bus.Subscribe(ctx, "a")
	b, _ := bus.Subscribe(ctx, "b")
	b2, _ := bus.Subscribe(context.Background(), "b")
	require.NoError(t, bus.Publish(ctx, Event{Topic: "a"}))

	require.NoError(t, bus.Close())
	for _, ch := range []<-chan Event{a, b, b2} {
		requireClosed(t, ch)
	}
	require.NoError(t, bus.Close(), "Close is idempotent")
	require.ErrorIs(t, bus.Publish(ctx, Event{Topic: "a"}), ErrClosed)
	cancelA() // cancel after Close does nothing
	late, cancelLate := bus.Subscribe(ctx, "a")
	requireClosed(t, late)
	cancelLate()
	cancelCtx() // a context ending after Close does nothing either
}

// subscribers counts h's subscribers.
func subscribers(h *hub) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, subs := range h.topics {
		n += len(subs)
	}
	return n
}
