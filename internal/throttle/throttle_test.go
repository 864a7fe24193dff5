package throttle_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/internal/clock"
	"github.com/rollcall/rollcall/internal/db"
	"github.com/rollcall/rollcall/internal/testkit"
	"github.com/rollcall/rollcall/internal/throttle"
)

func newLimiter(t *testing.T) (*throttle.Limiter, *clock.Manual) {
	t.Helper()
	d, err := db.Open(context.Background(), testkit.DatabaseURL(t))
	require.NoError(t, err)
	t.Cleanup(func() { d.Close() })
	clk := clock.NewManual(testkit.Epoch)
	return throttle.New(d.Client, d.Dialect, clk), clk
}

func TestWindows(t *testing.T) {
	t.Parallel()
	l, clk := newLimiter(t)
	ctx := context.Background()
	r := throttle.Rule{Key: "k", Limit: 2, Window: time.Minute}
	other := throttle.Rule{Key: "other", Limit: 2, Window: time.Minute}

	for range 2 {
		ok, _, err := l.Take(ctx, r)
		require.NoError(t, err)
		require.True(t, ok)
	}
	ok, wait, err := l.Take(ctx, r)
	require.NoError(t, err)
	require.False(t, ok)
	require.Equal(t, time.Minute, wait)

	blocked, _, err := l.Exceeded(ctx, other, r)
	require.NoError(t, err)
	require.True(t, blocked, "any rule over its limit blocks")
	blocked, _, err = l.Exceeded(ctx, other)
	require.NoError(t, err)
	require.False(t, blocked, "keys are independent")

	clk.Advance(time.Minute)
	ok, _, err = l.Take(ctx, r)
	require.NoError(t, err)
	require.True(t, ok, "a new window starts")

	require.NoError(t, l.Record(ctx, r, r))
	require.NoError(t, l.Clear(ctx, "k"))
	blocked, _, err = l.Exceeded(ctx, r)
	require.NoError(t, err)
	require.False(t, blocked, "cleared")

	require.NoError(t, l.Record(ctx, other))
	clk.Advance(2 * time.Minute)
	n, err := l.Prune(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
}

func TestTakeUnderConcurrency(t *testing.T) {
	t.Parallel()
	l, _ := newLimiter(t)
	r := throttle.Rule{Key: "hot", Limit: 7, Window: time.Hour}
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for range 40 {
		wg.Go(func() {
			ok, _, err := l.Take(context.Background(), r)
			require.NoError(t, err)
			if ok {
				mu.Lock()
				allowed++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	require.Equal(t, 7, allowed)
}

func TestRelease(t *testing.T) {
	t.Parallel()
	l, clk := newLimiter(t)
	ctx := context.Background()
	r := throttle.Rule{Key: "reserve", Limit: 5, Window: time.Minute}

	t.Run("takes and releases at once lose no count", func(t *testing.T) {
		// 40 reserve-then-give-back pairs and 5 kept: exactly the 5 stay.
		var wg sync.WaitGroup
		for i := range 45 {
			wg.Go(func() {
				_, _, err := l.Take(ctx, r)
				require.NoError(t, err)
				if i >= 5 {
					require.NoError(t, l.Release(ctx, r))
				}
			})
		}
		wg.Wait()
		ok, _, err := l.Take(ctx, r)
		require.NoError(t, err)
		require.False(t, ok, "the five kept fill the window")
		require.NoError(t, l.Release(ctx, r))
	})

	t.Run("never below zero", func(t *testing.T) {
		for range 10 {
			require.NoError(t, l.Release(ctx, r))
		}
		for range 5 {
			ok, _, err := l.Take(ctx, r)
			require.NoError(t, err)
			require.True(t, ok)
		}
		ok, _, err := l.Take(ctx, r)
		require.NoError(t, err)
		require.False(t, ok)
	})

	t.Run("an ended window has nothing to give back", func(t *testing.T) {
		clk.Advance(time.Minute)
		require.NoError(t, l.Release(ctx, r))
		ok, _, err := l.Take(ctx, r)
		require.NoError(t, err)
		require.True(t, ok, "a new window")
	})
}
