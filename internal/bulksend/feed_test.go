package bulksend

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/ent/bulksend"
	"github.com/rollcall/rollcall/internal/events"
)

// Watchers of one send share its feed: one subscription, the newest progress
// kept even when events arrive out of order, and gone with the last watcher.
func TestFeedsShareOneSubscriptionPerSend(t *testing.T) {
	bus := events.NewLocal()
	defer bus.Close()
	fs := feeds{bus: bus, m: map[int]*feed{}}
	a, leaveA := fs.join(7)
	b, leaveB := fs.join(7)
	other, leaveOther := fs.join(8)
	require.Same(t, a, b)
	require.NotSame(t, a, other)

	publish := func(p progress) {
		changed := a.changed.wait()
		payload, err := json.Marshal(p)
		require.NoError(t, err)
		require.NoError(t, bus.Publish(context.Background(), events.Event{Topic: ProgressTopic(7), Payload: payload}))
		select {
		case <-changed:
		case <-time.After(5 * time.Second):
			t.Fatal("no change heard")
		}
	}
	publish(progress{Status: bulksend.StatusRUNNING, Sent: 5})
	publish(progress{Status: bulksend.StatusRUNNING, Sent: 3}) // a slower worker's older count
	got, ok := b.after(progress{Status: bulksend.StatusRUNNING, Sent: 4})
	require.True(t, ok)
	require.Equal(t, 5, got.Sent)
	_, ok = b.after(got)
	require.False(t, ok, "nothing later than the newest")
	_, ok = other.after(progress{})
	require.False(t, ok, "another send's feed heard nothing")

	leaveA()
	require.Len(t, fs.m, 2, "b still watches send 7")
	leaveB()
	leaveOther()
	require.Empty(t, fs.m)
	select {
	case <-a.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the feed's subscription did not end")
	}
}
