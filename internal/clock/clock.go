// Package clock lets services read the time and wait through an interface,
// so tests can move time forward instead of sleeping.
package clock

import (
	"slices"
	"sync"
	"time"
)

// Clock tells the current time and makes timers on the same time line.
type Clock interface {
	Now() time.Time
	// After returns a channel that receives the time once d has passed.
	// Prefer NewTimer where the wait may be abandoned: Stop frees it.
	After(d time.Duration) <-chan time.Time
	// NewTimer returns a timer that fires once, after d.
	NewTimer(d time.Duration) Timer
	// NewTicker returns a ticker that fires every d (d > 0); a tick the
	// receiver was not ready for is dropped, as with time.Ticker.
	NewTicker(d time.Duration) Ticker
}

// Timer is a time.Timer of a Clock.
type Timer interface {
	C() <-chan time.Time
	// Stop prevents the timer from firing; it reports whether it did.
	Stop() bool
	// Reset makes the timer fire after d from now, dropping a tick not
	// yet received; it reports whether the timer was active.
	Reset(d time.Duration) bool
}

// Ticker is a time.Ticker of a Clock.
type Ticker interface {
	C() <-chan time.Time
	Stop()
	Reset(d time.Duration)
}

// System is the real clock.
type System struct{}

// Now returns the current time, truncated to microseconds so values survive a
// round trip through either database unchanged.
func (System) Now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// After waits on the real clock.
func (System) After(d time.Duration) <-chan time.Time { return time.After(d) }

// NewTimer returns a real timer.
func (System) NewTimer(d time.Duration) Timer { return systemTimer{time.NewTimer(d)} }

// NewTicker returns a real ticker.
func (System) NewTicker(d time.Duration) Ticker { return systemTicker{time.NewTicker(d)} }

type systemTimer struct{ t *time.Timer }

func (t systemTimer) C() <-chan time.Time        { return t.t.C }
func (t systemTimer) Stop() bool                 { return t.t.Stop() }
func (t systemTimer) Reset(d time.Duration) bool { return t.t.Reset(d) }

type systemTicker struct{ t *time.Ticker }

func (t systemTicker) C() <-chan time.Time   { return t.t.C }
func (t systemTicker) Stop()                 { t.t.Stop() }
func (t systemTicker) Reset(d time.Duration) { t.t.Reset(d) }

// Manual is a clock that only moves when told to; safe for concurrent use.
// Its timers and tickers fire when Advance moves it to or past
// their time; a timer of zero or negative duration fires at once.
type Manual struct {
	mu      sync.Mutex
	now     time.Time
	waiters []*manualTimer
}

// NewManual returns a manual clock set to t.
func NewManual(t time.Time) *Manual { return &Manual{now: t.UTC().Truncate(time.Microsecond)} }

// Now returns the clock's current time.
func (m *Manual) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.now
}

// Advance moves the clock forward by d and fires the timers and tickers
// due by then, in time order (a ticker at most once per Advance).
func (m *Manual) Advance(d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.now = m.now.Add(d)
	m.fireLocked()
}

// Waiters reports how many timers and tickers are armed: a test can wait
// until a service is waiting before it advances the clock.
func (m *Manual) Waiters() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.waiters)
}

// After returns a channel that receives the clock's time once it has
// advanced by d.
func (m *Manual) After(d time.Duration) <-chan time.Time { return m.NewTimer(d).C() }

// NewTimer returns a timer firing once the clock has advanced by d.
func (m *Manual) NewTimer(d time.Duration) Timer {
	t := &manualTimer{m: m, c: make(chan time.Time, 1)}
	t.Reset(d)
	return t
}

// NewTicker returns a ticker firing each time the clock has advanced by d.
func (m *Manual) NewTicker(d time.Duration) Ticker {
	if d <= 0 {
		panic("clock: non-positive interval for NewTicker")
	}
	t := &manualTimer{m: m, c: make(chan time.Time, 1), period: d}
	t.Reset(d)
	return manualTicker{t}
}

// manualTicker is a manualTimer with a period, as a Ticker.
type manualTicker struct{ t *manualTimer }

func (k manualTicker) C() <-chan time.Time   { return k.t.c }
func (k manualTicker) Stop()                 { k.t.Stop() }
func (k manualTicker) Reset(d time.Duration) { k.t.Reset(d) }

// manualTimer is a Manual clock's timer or (with a period) ticker.
type manualTimer struct {
	m      *Manual
	c      chan time.Time
	at     time.Time
	period time.Duration
}

func (t *manualTimer) C() <-chan time.Time { return t.c }

func (t *manualTimer) Stop() bool {
	t.m.mu.Lock()
	defer t.m.mu.Unlock()
	return t.m.removeLocked(t)
}

func (t *manualTimer) Reset(d time.Duration) bool {
	t.m.mu.Lock()
	defer t.m.mu.Unlock()
	active := t.m.removeLocked(t)
	select { // a tick not yet received belongs to the old schedule
	case <-t.c:
	default:
	}
	if t.period > 0 {
		t.period = d
	}
	t.at = t.m.now.Add(d)
	t.m.waiters = append(t.m.waiters, t)
	t.m.fireLocked()
	return active
}

func (m *Manual) removeLocked(t *manualTimer) bool {
	i := slices.Index(m.waiters, t)
	if i < 0 {
		return false
	}
	m.waiters = slices.Delete(m.waiters, i, i+1)
	return true
}

// fireLocked sends to the waiters due by now, earliest first; tickers are
// rescheduled a period after their time (past now if the clock jumped).
func (m *Manual) fireLocked() {
	slices.SortStableFunc(m.waiters, func(a, b *manualTimer) int { return a.at.Compare(b.at) })
	var keep []*manualTimer
	for _, t := range m.waiters {
		if t.at.After(m.now) {
			keep = append(keep, t)
			continue
		}
		select {
		case t.c <- m.now:
		default: // the receiver is behind: the tick is dropped
		}
		if t.period > 0 {
			t.at = t.at.Add(t.period)
			if !t.at.After(m.now) {
				t.at = m.now.Add(t.period)
			}
			keep = append(keep, t)
		}
	}
	m.waiters = keep
}
