// Package queue is Rollcall's one mechanism for durable work: rows in a table
// that workers on any replica claim under a lease, work, and settle. A claim
// is one statement that skips rows another worker holds (PostgreSQL's
// FOR UPDATE SKIP LOCKED; SQLite has one writer at a time, so its
// conditional UPDATE … RETURNING is atomic on its own) and counts an attempt.
// A worker that stops (kill -9, a lost connection) settles nothing: once its
// lease lapses the rows are claimed again by another worker. Settling (finish,
// retry, delete) is conditional on the lease still being held, and runs in
// the caller's transaction, so work and bookkeeping commit together or not
// at all. Every time (lease ends, due times) comes from the injected clock.
//
// A table worked through a Queue has the columns id (integer), leased_by
// (text, null), lease_expires_at (time, null) and attempts (integer), and,
// when Table.Scheduled, next_attempt_at (time, null: due now).
//
// Users: webhook deliveries and the webhook fan-out cursor
// (internal/webhookout) and password-reset requests (internal/invite). The
// bulk-send engine's claim (internal/bulksend) is specialised and tuned for
// throughput (one statement per unit, batches grouped by template, counters
// moved in the same statement) and keeps its own.
package queue

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/internal/clock"
)

// Table names the work rows and which of them are ready.
type Table struct {
	// Name is the table's SQL name.
	Name string
	// Ready is an SQL condition (a constant of the code, no parameters)
	// every claimable row meets besides its lease and due time, e.g.
	// "status = 'PENDING'"; empty: every row.
	Ready string
	// Scheduled says the table has next_attempt_at: a row is claimed only
	// once it is due.
	Scheduled bool
}

// Queue claims and settles the rows of one table.
type Queue struct {
	client  *ent.Client
	dialect flavor
	clock   clock.Clock
	table   Table
	lease   time.Duration
}

// New returns a queue over t; dia is dialect.Postgres or dialect.SQLite
// (entgo.io/ent/dialect's names); lease is how long a claim lasts unrenewed.
func New(client *ent.Client, dia string, clk clock.Clock, t Table, lease time.Duration) *Queue {
	return &Queue{client: client, dialect: flavorOf(dia), clock: clk, table: t, lease: lease}
}

// Lease is one claim: the rows it took are held until Expires unless
// renewed; only its holder can settle them.
type Lease struct {
	ID      string
	Expires time.Time
}

// Job is one claimed row: its id, and its claims so far (this one
// included), so the first claim is attempt 1.
type Job struct {
	ID      int
	Attempt int
}

// Claim leases up to n ready, due rows that nobody holds (or whose lease
// lapsed), in id order, counting an attempt on each. No rows: a nil slice.
func (q *Queue) Claim(ctx context.Context, n int) (Lease, []Job, error) {
	id, err := newLeaseID()
	if err != nil {
		return Lease{}, nil, err
	}
	now := q.clock.Now()
	l := Lease{ID: id, Expires: now.Add(q.lease)}
	stmt := q.dialect.rebind(q.dialect.claim(q.table.Name, q.due()))
	rows, err := q.client.QueryContext(ctx, stmt, l.ID, l.Expires, now, n)
	if err != nil {
		return Lease{}, nil, fmt.Errorf("claim %s: %w", q.table.Name, err)
	}
	jobs, err := scanJobs(rows)
	if err != nil {
		return Lease{}, nil, fmt.Errorf("claim %s: %w", q.table.Name, err)
	}
	return l, jobs, nil
}

// due is the condition of a claimable row, now being $3.
func (q *Queue) due() string {
	cond := []string{"(lease_expires_at IS NULL OR lease_expires_at < $3)"}
	if q.table.Scheduled {
		cond = append(cond, "(next_attempt_at IS NULL OR next_attempt_at <= $3)")
	}
	if q.table.Ready != "" {
		cond = append(cond, "("+q.table.Ready+")")
	}
	return strings.Join(cond, " AND ")
}

func scanJobs(rows *sql.Rows) ([]Job, error) {
	defer rows.Close()
	var jobs []Job
	for rows.Next() {
		var j Job
		if err := rows.Scan(&j.ID, &j.Attempt); err != nil {
			return nil, err
		}
		jobs = append(jobs, j)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// RETURNING promises no order.
	slices.SortFunc(jobs, func(a, b Job) int { return a.ID - b.ID })
	return jobs, nil
}

// newLeaseID names one claim, so that only its worker settles its rows.
func newLeaseID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("lease id: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// held is the condition of a row l still holds, with $1 the row's id, $2
// the lease's id and $3 now.
const held = `id = $1 AND leased_by = $2 AND lease_expires_at > $3`

// Renew extends l over the rows of ids it still holds, to a full lease
// from now, and returns how many it still holds; l.Expires moves on.
func (q *Queue) Renew(ctx context.Context, l *Lease, ids ...int) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	now := q.clock.Now()
	until := now.Add(q.lease)
	args := []any{until, l.ID, now}
	marks := make([]string, len(ids))
	for i, id := range ids {
		args = append(args, id)
		marks[i] = fmt.Sprintf("$%d", i+4)
	}
	stmt := q.dialect.rebind(`UPDATE ` + q.table.Name + ` SET lease_expires_at = $1
		WHERE leased_by = $2 AND lease_expires_at > $3 AND id IN (` + strings.Join(marks, ", ") + `)`)
	res, err := q.client.ExecContext(ctx, stmt, args...)
	if err != nil {
		return 0, fmt.Errorf("renew lease on %s: %w", q.table.Name, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("renew lease on %s: %w", q.table.Name, err)
	}
	if n > 0 {
		l.Expires = until
	}
	return int(n), nil
}

// Keep renews l over ids every third of a lease (on the clock) until the
// returned function is called, which waits for a renewal in progress; l is
// Keep's to write meanwhile (settle with a copy taken before). A
// worker whose work may outlast a lease keeps it this way; one that stops
// stops renewing, and the rows are taken over once the lease lapses.
func (q *Queue) Keep(ctx context.Context, l *Lease, log *slog.Logger, ids ...int) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := q.clock.NewTicker(q.lease / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C():
			}
			_, err := q.Renew(ctx, l, ids...)
			if err != nil && ctx.Err() == nil {
				log.WarnContext(ctx, "renew lease", slog.String("table", q.table.Name), slog.String("error", err.Error()))
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// Set is what settling a row writes besides its lease: column name (a
// constant of the code) to value.
type Set map[string]any

// ErrLeaseLost is returned by the settling methods when the lease lapsed
// and the row may be another worker's now: nothing was written.
var ErrLeaseLost = errors.New("the lease lapsed before the work was settled")

// Finish ends l's hold on row id and writes set, through client (pass the
// transaction that records the work's outcome). ErrLeaseLost: l no longer
// holds the row and nothing was written.
func (q *Queue) Finish(ctx context.Context, client *ent.Client, l Lease, id int, set Set) error {
	assign, args := settling(set, id, l.ID, q.clock.Now())
	stmt := q.dialect.rebind(`UPDATE ` + q.table.Name + ` SET ` + assign + ` WHERE ` + held)
	return q.one(ctx, client, "settle", id, stmt, args...)
}

// FinishAll is Finish for many rows in one statement: it settles those of
// ids l still holds, writing the same set to each, and returns their ids
// (the others' leases lapsed, and nothing was written to them).
func (q *Queue) FinishAll(ctx context.Context, client *ent.Client, l Lease, ids []int, set Set) ([]int, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	if client == nil {
		client = q.client
	}
	assign, args := settling(set, l.ID, q.clock.Now())
	marks := make([]string, len(ids))
	for i, id := range ids {
		args = append(args, id)
		marks[i] = fmt.Sprintf("$%d", len(args))
	}
	stmt := q.dialect.rebind(`UPDATE ` + q.table.Name + ` SET ` + assign +
		` WHERE leased_by = $1 AND lease_expires_at > $2 AND id IN (` + strings.Join(marks, ", ") + `) RETURNING id`)
	rows, err := client.QueryContext(ctx, stmt, args...)
	if err != nil {
		return nil, fmt.Errorf("settle %d rows of %s: %w", len(ids), q.table.Name, err)
	}
	defer rows.Close()
	var settled []int
	for rows.Next() {
		var id int
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("settle %d rows of %s: %w", len(ids), q.table.Name, err)
		}
		settled = append(settled, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("settle %d rows of %s: %w", len(ids), q.table.Name, err)
	}
	return settled, nil
}

// settling is the SET clause that ends a hold and writes set (in column
// order, for a stable statement), with its arguments after first.
func settling(set Set, first ...any) (string, []any) {
	cols := make([]string, 0, len(set))
	for c := range set {
		cols = append(cols, c)
	}
	slices.Sort(cols)
	assign := []string{"leased_by = NULL", "lease_expires_at = NULL"}
	args := first
	for _, c := range cols {
		args = append(args, set[c])
		assign = append(assign, fmt.Sprintf("%s = $%d", c, len(args)))
	}
	return strings.Join(assign, ", "), args
}

// Retry ends l's hold on row id, to be claimed again at at (the table must
// be Scheduled), writing set too; see Finish.
func (q *Queue) Retry(ctx context.Context, client *ent.Client, l Lease, id int, at time.Time, set Set) error {
	s := Set{"next_attempt_at": at}
	for c, v := range set {
		s[c] = v
	}
	return q.Finish(ctx, client, l, id, s)
}

// Delete removes row id, its work done, if l still holds it; see Finish.
func (q *Queue) Delete(ctx context.Context, client *ent.Client, l Lease, id int) error {
	stmt := q.dialect.rebind(`DELETE FROM ` + q.table.Name + ` WHERE ` + held)
	return q.one(ctx, client, "delete", id, stmt, id, l.ID, q.clock.Now())
}

// one runs a statement meant to touch row id alone.
func (q *Queue) one(ctx context.Context, client *ent.Client, what string, id int, stmt string, args ...any) error {
	if client == nil {
		client = q.client
	}
	res, err := client.ExecContext(ctx, stmt, args...)
	if err != nil {
		return fmt.Errorf("%s %s %d: %w", what, q.table.Name, id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s %s %d: %w", what, q.table.Name, id, err)
	}
	if n != 1 {
		return fmt.Errorf("%s %s %d: %w", what, q.table.Name, id, ErrLeaseLost)
	}
	return nil
}

// NextDue returns when the earliest ready row waiting for its time
// (next_attempt_at, on a Scheduled table) is due; ok is false when none
// waits. Rows whose lease lapses are found by the workers' poll.
func (q *Queue) NextDue(ctx context.Context) (at time.Time, ok bool, err error) {
	if !q.table.Scheduled {
		return time.Time{}, false, nil
	}
	// Rows another worker holds are its business.
	cond := "next_attempt_at IS NOT NULL AND (lease_expires_at IS NULL OR lease_expires_at < $1)"
	if q.table.Ready != "" {
		cond += " AND (" + q.table.Ready + ")"
	}
	// ORDER BY rather than min(): the column keeps its type through the
	// SQLite driver, an aggregate does not.
	rows, err := q.client.QueryContext(ctx, q.dialect.rebind(`SELECT next_attempt_at FROM `+q.table.Name+` WHERE `+cond+` ORDER BY next_attempt_at LIMIT 1`), q.clock.Now())
	if err != nil {
		return time.Time{}, false, fmt.Errorf("next due on %s: %w", q.table.Name, err)
	}
	if rows.Next() {
		err = rows.Scan(&at)
		ok = err == nil
	}
	if err = errors.Join(err, rows.Err(), rows.Close()); err != nil {
		return time.Time{}, false, fmt.Errorf("next due on %s: %w", q.table.Name, err)
	}
	return at, ok, nil
}
