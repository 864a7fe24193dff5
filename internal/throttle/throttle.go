// Package throttle counts attempts per key in fixed windows, in the database,
// so every replica sees the same counts. It guards public operations such as
// login against guessing.
package throttle

import (
	"context"
	"fmt"
	"time"

	"entgo.io/ent/dialect/sql"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/privacy"
	entthrottle "github.com/rollcall/rollcall/ent/throttle"
	"github.com/rollcall/rollcall/internal/clock"
)

// Rule limits a key to Limit recorded attempts per Window.
type Rule struct {
	Key    string
	Limit  int
	Window time.Duration
}

// Limiter records attempts and tells when a key is over its limit.
type Limiter struct {
	client *ent.Client
	clock  clock.Clock
}

// New returns a limiter over the database behind client.
func New(client *ent.Client, clk clock.Clock) *Limiter {
	return &Limiter{client: client, clock: clk}
}

// Exceeded reports whether any rule's key has used up its window, and how long
// until the latest of those windows ends.
func (l *Limiter) Exceeded(ctx context.Context, rules ...Rule) (bool, time.Duration, error) {
	ctx = privacy.DecisionContext(ctx, privacy.Allow)
	now := l.clock.Now()
	keys := make([]string, len(rules))
	for i, r := range rules {
		keys[i] = r.Key
	}
	rows, err := l.client.Throttle.Query().
		Where(entthrottle.KeyIn(keys...), entthrottle.WindowEndsAtGT(now)).All(ctx)
	if err != nil {
		return false, 0, fmt.Errorf("read throttles: %w", err)
	}
	var blocked bool
	var wait time.Duration
	for _, row := range rows {
		for _, r := range rules {
			if r.Key == row.Key && row.Count >= r.Limit {
				blocked = true
				wait = max(wait, row.WindowEndsAt.Sub(now))
			}
		}
	}
	return blocked, wait, nil
}

// Record counts one attempt against each rule's key, starting a new window
// where the previous one has ended. One statement per key, so concurrent
// attempts are all counted.
func (l *Limiter) Record(ctx context.Context, rules ...Rule) error {
	ctx = privacy.DecisionContext(ctx, privacy.Allow)
	now := l.clock.Now()
	for _, r := range rules {
		end := now.Add(r.Window)
		err := l.client.Throttle.Create().
			SetKey(r.Key).SetCount(1).SetWindowEndsAt(end).
			OnConflict(
				sql.ConflictColumns(entthrottle.FieldKey),
				sql.ResolveWith(func(u *sql.UpdateSet) {
					expired := func(b *sql.Builder) {
						b.WriteString("CASE WHEN ").Ident(entthrottle.Table).WriteByte('.').
							Ident(entthrottle.FieldWindowEndsAt).WriteString(" <= ").Arg(now)
					}
					u.Set(entthrottle.FieldCount, sql.ExprFunc(func(b *sql.Builder) {
						expired(b)
						b.WriteString(" THEN 1 ELSE ").Ident(entthrottle.Table).WriteByte('.').
							Ident(entthrottle.FieldCount).WriteString(" + 1 END")
					}))
					u.Set(entthrottle.FieldWindowEndsAt, sql.ExprFunc(func(b *sql.Builder) {
						expired(b)
						b.WriteString(" THEN ").Arg(end).WriteString(" ELSE ").Ident(entthrottle.Table).WriteByte('.').
							Ident(entthrottle.FieldWindowEndsAt).WriteString(" END")
					}))
				}),
			).Exec(ctx)
		if err != nil {
			return fmt.Errorf("record attempt: %w", err)
		}
	}
	return nil
}

// Take counts one attempt against r and reports whether it is within the
// limit. Counting first makes it safe under concurrency: each attempt's
// increment is atomic, so at most Limit attempts per window are let through
// however many arrive at once.
func (l *Limiter) Take(ctx context.Context, r Rule) (bool, time.Duration, error) {
	if err := l.Record(ctx, r); err != nil {
		return false, 0, err
	}
	row, err := l.client.Throttle.Query().Where(entthrottle.Key(r.Key)).
		Only(privacy.DecisionContext(ctx, privacy.Allow))
	if err != nil {
		return false, 0, fmt.Errorf("read throttle: %w", err)
	}
	if row.Count > r.Limit {
		return false, row.WindowEndsAt.Sub(l.clock.Now()), nil
	}
	return true, 0, nil
}

// Clear forgets the attempts of keys (after a successful login, say).
func (l *Limiter) Clear(ctx context.Context, keys ...string) error {
	ctx = privacy.DecisionContext(ctx, privacy.Allow)
	if _, err := l.client.Throttle.Delete().Where(entthrottle.KeyIn(keys...)).Exec(ctx); err != nil {
		return fmt.Errorf("clear throttles: %w", err)
	}
	return nil
}

// Prune deletes windows that ended before now; run it from time to time.
func (l *Limiter) Prune(ctx context.Context) (int, error) {
	ctx = privacy.DecisionContext(ctx, privacy.Allow)
	return l.client.Throttle.Delete().Where(entthrottle.WindowEndsAtLTE(l.clock.Now())).Exec(ctx)
}
