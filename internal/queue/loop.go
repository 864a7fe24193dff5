package queue

import (
	"context"
	"log/slog"
	"time"

	"github.com/rollcall/rollcall/internal/clock"
)

// Waker wakes a Loop without blocking: wake-ups that arrive while it works
// are kept as one.
type Waker chan struct{}

// NewWaker returns a Waker.
func NewWaker() Waker { return make(Waker, 1) }

// Wake wakes the loop (now, or as soon as it next waits).
func (w Waker) Wake() {
	select {
	case w <- struct{}{}:
	default:
	}
}

// Loop runs one worker's rounds: at start, whenever woken, every Poll, and
// when Next says work falls due, all on Clock (a test moving a manual clock
// past a due time or a lapsed lease wakes idle workers without sleeping).
type Loop struct {
	Name  string
	Clock clock.Clock
	Poll  time.Duration
	Wake  Waker
	// Work does one round; more asks for another round at once (it
	// claimed a full batch).
	Work func(ctx context.Context) (more bool, err error)
	// Next (optional) tells when the earliest work waiting for its time
	// is due, to wake then rather than at the next poll.
	Next func(ctx context.Context) (time.Time, bool, error)
	Log  *slog.Logger
}

// Run works until ctx ends.
func (l Loop) Run(ctx context.Context) {
	timer := l.Clock.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.Wake:
		case <-timer.C():
		}
		failed := false
		for ctx.Err() == nil {
			more, err := l.Work(ctx)
			if err != nil {
				if ctx.Err() == nil {
					l.Log.ErrorContext(ctx, l.Name, slog.String("error", err.Error()))
				}
				failed = true
				break
			}
			if !more {
				break
			}
		}
		wait := l.Poll
		// After a failure the loop waits a whole poll, whatever is due.
		if l.Next != nil && !failed && ctx.Err() == nil {
			at, ok, err := l.Next(ctx)
			switch {
			case err != nil && ctx.Err() == nil:
				l.Log.WarnContext(ctx, l.Name, slog.String("error", err.Error()))
			case ok:
				wait = max(min(wait, at.Sub(l.Clock.Now())), 0)
			}
		}
		timer.Reset(wait)
	}
}
