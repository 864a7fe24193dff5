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
	client  *ent.Client
	dialect string
	clock   clock.Clock
}

// New returns a limiter over the database behind client, whose SQL dialect
// is dialect (entgo.io/ent/dialect's names).
func New(client *ent.Client, dialect string, clk clock.Clock) *Limiter {
	return &Limiter{client: client, dialect: dialect, clock: clk}
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

// Record counts one attempt against each rule's key.
func (l *Limiter) Record(ctx context.Context, rules ...Rule) error {
	for _, r := range rules {
		if _, _, err := l.hit(ctx, r); err != nil {
			return err
		}
	}
	return nil
}

// Take counts one attempt against r and reports whether it is within the
// limit, and if not, how long until the window ends. The increment and the
// count it returns are one statement, so however many attempts arrive at
// once, exactly Limit of them are let through per window.
func (l *Limiter) Take(ctx context.Context, r Rule) (bool, time.Duration, error) {
	count, ends, err := l.hit(ctx, r)
	if err != nil {
		return false, 0, err
	}
	if count > r.Limit {
		return false, ends.Sub(l.clock.Now()), nil
	}
	return true, 0, nil
}

// Release gives back one attempt that Take counted against r (an attempt
// that turned out not to be a failure), while r's window is still open; a
// window that has ended has nothing to give back. It is one conditional
// statement, so releases and takes running at once never lose a count and the
// count never drops below zero.
func (l *Limiter) Release(ctx context.Context, r Rule) error {
	ctx = privacy.DecisionContext(ctx, privacy.Allow)
	_, err := l.client.Throttle.Update().
		Where(entthrottle.Key(r.Key), entthrottle.WindowEndsAtGT(l.clock.Now()), entthrottle.CountGT(0)).
		AddCount(-1).Save(ctx)
	if err != nil {
		return fmt.Errorf("release attempt: %w", err)
	}
	return nil
}

// hit increments r's counter, starting a new window where the previous one
// has ended, and returns the count including this attempt.
func (l *Limiter) hit(ctx context.Context, r Rule) (int, time.Time, error) {
	now := l.clock.Now()
	end := now.Add(r.Window)
	column := func(b *sql.Builder, name string) {
		b.Ident(entthrottle.Table).WriteByte('.').Ident(name)
	}
	expired := func(b *sql.Builder) {
		b.WriteString("CASE WHEN ")
		column(b, entthrottle.FieldWindowEndsAt)
		b.WriteString(" <= ").Arg(now)
	}
	query, args := sql.Dialect(l.dialect).Insert(entthrottle.Table).
		Columns(entthrottle.FieldKey, entthrottle.FieldCount, entthrottle.FieldWindowEndsAt).
		Values(r.Key, 1, end).
		OnConflict(
			sql.ConflictColumns(entthrottle.FieldKey),
			sql.ResolveWith(func(u *sql.UpdateSet) {
				u.Set(entthrottle.FieldCount, sql.ExprFunc(func(b *sql.Builder) {
					expired(b)
					b.WriteString(" THEN 1 ELSE ")
					column(b, entthrottle.FieldCount)
					b.WriteString(" + 1 END")
				}))
				u.Set(entthrottle.FieldWindowEndsAt, sql.ExprFunc(func(b *sql.Builder) {
					expired(b)
					b.WriteString(" THEN ").Arg(end).WriteString(" ELSE ")
					column(b, entthrottle.FieldWindowEndsAt)
					b.WriteString(" END")
				}))
			}),
		).
		Returning(entthrottle.FieldCount, entthrottle.FieldWindowEndsAt).
		Query()
	rows, err := l.client.QueryContext(ctx, query, args...)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("count attempt: %w", err)
	}
	defer rows.Close()
	var count int
	var ends time.Time
	if !rows.Next() {
		return 0, time.Time{}, fmt.Errorf("count attempt: no row returned")
	}
	if err := rows.Scan(&count, &ends); err != nil {
		return 0, time.Time{}, fmt.Errorf("count attempt: %w", err)
	}
	return count, ends, rows.Err()
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
