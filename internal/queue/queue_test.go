package queue_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/internal/clock"
	"github.com/rollcall/rollcall/internal/db"
	"github.com/rollcall/rollcall/internal/queue"
	"github.com/rollcall/rollcall/internal/testdb"
)

var epoch = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

const lease = 30 * time.Second

// bundle is a table of work rows, of the shape internal/queue works, in a
// fresh database (SQLite, or PostgreSQL with ROLLCALL_TEST_DATABASE_URL).
type bundle struct {
	db  *db.DB
	clk *clock.Manual
	q   *queue.Queue
}

func setup(t *testing.T) *bundle {
	t.Helper()
	ctx := context.Background()
	d, err := db.Open(ctx, testdb.DatabaseURL(t))
	require.NoError(t, err)
	t.Cleanup(func() { d.Close() })
	id, ts := "integer PRIMARY KEY AUTOINCREMENT", "datetime"
	if d.Dialect == dialect.Postgres {
		id, ts = "bigserial PRIMARY KEY", "timestamptz"
	}
	_, err = d.SQL.ExecContext(ctx, `CREATE TABLE jobs (id `+id+`, status text NOT NULL DEFAULT 'PENDING',
		attempts integer NOT NULL DEFAULT 0, next_attempt_at `+ts+` NULL, leased_by text NULL, lease_expires_at `+ts+` NULL)`)
	require.NoError(t, err)
	clk := clock.NewManual(epoch)
	return &bundle{db: d, clk: clk,
		q: queue.New(d.Client, d.Dialect, clk, queue.Table{Name: "jobs", Ready: "status = 'PENDING'", Scheduled: true}, lease)}
}

func (b *bundle) add(t *testing.T, n int) {
	t.Helper()
	for range n {
		_, err := b.db.SQL.ExecContext(context.Background(), `INSERT INTO jobs (status) VALUES ('PENDING')`)
		require.NoError(t, err)
	}
}

func (b *bundle) status(t *testing.T, id int) (status string, attempts int) {
	t.Helper()
	q := `SELECT status, attempts FROM jobs WHERE id = $1`
	if b.db.Dialect != dialect.Postgres {
		q = `SELECT status, attempts FROM jobs WHERE id = ?`
	}
	require.NoError(t, b.db.SQL.QueryRowContext(context.Background(), q, id).Scan(&status, &attempts))
	return status, attempts
}

func ids(jobs []queue.Job) []int {
	out := make([]int, len(jobs))
	for i, j := range jobs {
		out[i] = j.ID
	}
	return out
}

// TestClaimAndSettle walks rows through the queue: claimed in id order once
// each, settled only by their lease's holder, retried when due, taken over
// when a lease lapses, and counted at each claim.
func TestClaimAndSettle(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.add(t, 5)

	l1, got, err := b.q.Claim(ctx, 3)
	require.NoError(t, err)
	require.Equal(t, []int{1, 2, 3}, ids(got))
	require.Equal(t, 1, got[0].Attempt)
	require.Equal(t, epoch.Add(lease), l1.Expires)
	l2, got, err := b.q.Claim(ctx, 3)
	require.NoError(t, err)
	require.Equal(t, []int{4, 5}, ids(got), "held rows are not claimed twice")
	_, got, err = b.q.Claim(ctx, 3)
	require.NoError(t, err)
	require.Empty(t, got)

	require.ErrorIs(t, b.q.Finish(ctx, nil, l2, 1, nil), queue.ErrLeaseLost, "only the holder settles")
	require.NoError(t, b.q.Finish(ctx, nil, l1, 1, queue.Set{"status": "DONE"}))
	status, attempts := b.status(t, 1)
	require.Equal(t, "DONE", status)
	require.Equal(t, 1, attempts)
	require.NoError(t, b.q.Retry(ctx, nil, l1, 2, b.clk.Now().Add(time.Minute), nil))
	require.NoError(t, b.q.Delete(ctx, nil, l1, 3))
	require.ErrorIs(t, b.q.Delete(ctx, nil, l1, 3), queue.ErrLeaseLost)

	at, ok, err := b.q.NextDue(ctx)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, epoch.Add(time.Minute), at.UTC())

	// Rows 4 and 5 were never settled: their worker stopped. Once the
	// lease lapses they are claimed again, with their second attempt.
	b.clk.Advance(lease)
	_, got, err = b.q.Claim(ctx, 10)
	require.NoError(t, err)
	require.Empty(t, got, "a lease lapses after its end, not at it")
	b.clk.Advance(time.Second)
	l3, got, err := b.q.Claim(ctx, 10)
	require.NoError(t, err)
	require.Equal(t, []int{4, 5}, ids(got))
	require.Equal(t, 2, got[0].Attempt)
	require.ErrorIs(t, b.q.Finish(ctx, nil, l2, 4, nil), queue.ErrLeaseLost, "a lapsed lease settles nothing")

	// Row 2 is due a minute after its retry was set.
	b.clk.Advance(29 * time.Second)
	_, got, err = b.q.Claim(ctx, 10)
	require.NoError(t, err)
	require.Equal(t, []int{2}, ids(got))
	require.Equal(t, 2, got[0].Attempt)

	// Settling in a transaction that rolls back leaves the row held.
	tx, err := b.db.Client.Tx(ctx)
	require.NoError(t, err)
	require.NoError(t, b.q.Finish(ctx, tx.Client(), l3, 4, queue.Set{"status": "DONE"}))
	require.NoError(t, tx.Rollback())
	status, _ = b.status(t, 4)
	require.Equal(t, "PENDING", status)
	require.NoError(t, b.q.Finish(ctx, nil, l3, 4, queue.Set{"status": "DONE"}))
}

// TestFinishAll settles in one statement the rows its lease still holds,
// and names them; a row another worker took over is left alone.
func TestFinishAll(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.add(t, 3)
	l1, got, err := b.q.Claim(ctx, 3)
	require.NoError(t, err)
	require.Len(t, got, 3)
	b.clk.Advance(20 * time.Second)
	_, err = b.q.Renew(ctx, &l1, 1, 2)
	require.NoError(t, err)
	b.clk.Advance(11 * time.Second) // row 3's lease lapsed
	l2, got, err := b.q.Claim(ctx, 3)
	require.NoError(t, err)
	require.Equal(t, []int{3}, ids(got))

	settled, err := b.q.FinishAll(ctx, nil, l1, []int{1, 2, 3}, queue.Set{"status": "DONE"})
	require.NoError(t, err)
	require.ElementsMatch(t, []int{1, 2}, settled)
	for id, want := range map[int]string{1: "DONE", 2: "DONE", 3: "PENDING"} {
		status, _ := b.status(t, id)
		require.Equal(t, want, status, "row %d", id)
	}
	settled, err = b.q.FinishAll(ctx, nil, l1, []int{1, 2}, queue.Set{"status": "AGAIN"})
	require.NoError(t, err)
	require.Empty(t, settled, "settled already: no longer held")
	settled, err = b.q.FinishAll(ctx, nil, l2, []int{3}, nil)
	require.NoError(t, err)
	require.Equal(t, []int{3}, settled)
}

// TestRenew: a renewed lease outlives its first end; an unrenewed one
// lapses and the row goes to the next claimer.
func TestRenew(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.add(t, 2)
	l, got, err := b.q.Claim(ctx, 2)
	require.NoError(t, err)
	require.Len(t, got, 2)
	b.clk.Advance(20 * time.Second)
	n, err := b.q.Renew(ctx, &l, 1)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Equal(t, b.clk.Now().Add(lease), l.Expires)
	b.clk.Advance(20 * time.Second) // 40 s after the claim
	_, got, err = b.q.Claim(ctx, 2)
	require.NoError(t, err)
	require.Equal(t, []int{2}, ids(got), "row 1 renewed, row 2 lapsed")
	n, err = b.q.Renew(ctx, &l, 2)
	require.NoError(t, err)
	require.Zero(t, n, "a lapsed lease cannot be renewed")
}

// TestKeep renews on the clock until stopped.
func TestKeep(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.add(t, 1)
	l, got, err := b.q.Claim(ctx, 1)
	require.NoError(t, err)
	first := l.Expires
	stop := b.q.Keep(ctx, &l, testLogger(), got[0].ID)
	// Move past a third of the lease: the renewal runs in Keep's
	// goroutine; wait for it to land in the row.
	b.clk.Advance(lease/3 + time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for {
		b.clk.Advance(lease - 2*time.Second) // past the first end: a row not renewed would be free
		_, stolen, err := b.q.Claim(ctx, 1)
		require.NoError(t, err)
		if len(stolen) == 0 {
			break
		}
		require.True(t, time.Now().Before(deadline), "never renewed")
	}
	stop()
	require.True(t, b.clk.Now().After(first))
}

// TestConcurrentClaims: workers racing over the same rows take each once.
func TestConcurrentClaims(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.add(t, 200)
	var mu sync.Mutex
	seen := map[int]int{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				_, got, err := b.q.Claim(context.Background(), 7)
				if !assertNoError(t, err) || len(got) == 0 {
					return
				}
				mu.Lock()
				for _, j := range got {
					seen[j.ID]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	require.Len(t, seen, 200)
	for id, n := range seen {
		require.Equal(t, 1, n, "row %d", id)
	}
}

// TestLoop: a loop works at start, when woken, and when work falls due on
// the clock.
func TestLoop(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	worked := make(chan []int, 10)
	wake := queue.NewWaker()
	loop := queue.Loop{Name: "test", Clock: b.clk, Poll: time.Hour, Wake: wake, Log: testLogger(), Next: b.q.NextDue,
		Work: func(ctx context.Context) (bool, error) {
			l, got, err := b.q.Claim(ctx, 10)
			if err != nil || len(got) == 0 {
				return false, err
			}
			for _, j := range got {
				if j.Attempt == 1 {
					if err := b.q.Retry(ctx, nil, l, j.ID, b.clk.Now().Add(10*time.Second), nil); err != nil {
						return false, err
					}
				} else if err := b.q.Finish(ctx, nil, l, j.ID, queue.Set{"status": "DONE"}); err != nil {
					return false, err
				}
			}
			worked <- ids(got)
			return false, nil
		}}
	done := make(chan struct{})
	go func() { defer close(done); loop.Run(ctx) }()

	b.add(t, 1)
	wake.Wake()
	require.Equal(t, []int{1}, <-worked, "woken")
	// The retry is due in 10 s: the loop waits for that, not the hour.
	// The clock moves a second at a time until the loop has worked (its
	// timer may be armed after any given move).
	moved := time.Duration(0)
	for again := true; again; {
		b.clk.Advance(time.Second)
		moved += time.Second
		require.Less(t, moved, 10*time.Minute, "the loop never woke for the retry")
		select {
		case got := <-worked:
			require.Equal(t, []int{1}, got)
			again = false
		case <-time.After(5 * time.Millisecond):
		}
	}
	require.GreaterOrEqual(t, moved, 10*time.Second)
	cancel()
	<-done
}

func assertNoError(t *testing.T, err error) bool {
	t.Helper()
	if err != nil {
		t.Error(err)
		return false
	}
	return true
}

func testLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
