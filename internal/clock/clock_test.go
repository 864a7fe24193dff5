package clock_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/internal/clock"
)

var epoch = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func fired(c <-chan time.Time) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func TestManualTimers(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		run  func(t *testing.T, m *clock.Manual)
	}{
		{"a timer fires once the clock reaches it", func(t *testing.T, m *clock.Manual) {
			tm := m.NewTimer(10 * time.Second)
			m.Advance(9 * time.Second)
			require.False(t, fired(tm.C()))
			m.Advance(time.Second)
			require.True(t, fired(tm.C()))
			m.Advance(time.Hour)
			require.False(t, fired(tm.C()), "once")
			require.Zero(t, m.Waiters())
		}},
		{"a zero timer fires at once", func(t *testing.T, m *clock.Manual) {
			require.True(t, fired(m.NewTimer(0).C()))
			require.True(t, fired(m.After(-time.Second)))
		}},
		{"a stopped timer never fires", func(t *testing.T, m *clock.Manual) {
			tm := m.NewTimer(time.Second)
			require.Equal(t, 1, m.Waiters())
			require.True(t, tm.Stop())
			require.False(t, tm.Stop())
			m.Advance(time.Minute)
			require.False(t, fired(tm.C()))
			require.Zero(t, m.Waiters())
		}},
		{"reset moves the deadline and drops a pending tick", func(t *testing.T, m *clock.Manual) {
			tm := m.NewTimer(time.Second)
			m.Advance(time.Second) // fired, not received
			require.False(t, tm.Reset(5*time.Second))
			require.False(t, fired(tm.C()))
			m.Advance(4 * time.Second)
			require.False(t, fired(tm.C()))
			m.Advance(time.Second)
			require.True(t, fired(tm.C()))
		}},
		{"a ticker fires every period, dropping ticks nobody took", func(t *testing.T, m *clock.Manual) {
			tk := m.NewTicker(10 * time.Second)
			m.Advance(10 * time.Second)
			require.True(t, fired(tk.C()))
			m.Advance(25 * time.Second) // two periods: one tick kept
			require.True(t, fired(tk.C()))
			require.False(t, fired(tk.C()))
			tk.Reset(time.Second)
			m.Advance(time.Second)
			require.True(t, fired(tk.C()))
			tk.Stop()
			m.Advance(time.Minute)
			require.False(t, fired(tk.C()))
		}},
		{"timers fire in time order with the clock's time", func(t *testing.T, m *clock.Manual) {
			late, early := m.NewTimer(2*time.Second), m.NewTimer(time.Second)
			m.Advance(3 * time.Second)
			require.Equal(t, epoch.Add(3*time.Second), <-early.C())
			require.Equal(t, epoch.Add(3*time.Second), <-late.C())
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t, clock.NewManual(epoch))
		})
	}
}

// TestManualWakesWaiter: a goroutine blocked on a timer is released by
// Advance, with no sleeping.
func TestManualWakesWaiter(t *testing.T) {
	t.Parallel()
	m := clock.NewManual(epoch)
	done := make(chan time.Time)
	tm := m.NewTimer(time.Minute)
	go func() { done <- <-tm.C() }()
	m.Advance(time.Minute)
	require.Equal(t, epoch.Add(time.Minute), <-done)
}

func TestSystemTimers(t *testing.T) {
	t.Parallel()
	var c clock.Clock = clock.System{}
	<-c.After(0)
	<-c.NewTimer(time.Millisecond).C()
	tk := c.NewTicker(time.Millisecond)
	<-tk.C()
	tk.Stop()
}
