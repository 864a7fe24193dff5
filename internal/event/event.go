// Package event is the event outbox: a change writes its Event rows in its
// own transaction, and every reader (the events log, the live subscription,
// outbound webhooks) reads those rows in commit order and nothing else.
//
// Commit order: on PostgreSQL ids are handed out when rows are inserted, not
// when their transaction commits, so a reader paging by id alone would skip an
// event whose transaction commits after a later id was read. Each row keeps
// its transaction's id (txid), and readers only read the transactions below
// the horizon: older than every transaction still writing in this database
// (see horizon). Everything below that line is final, so paging by (txid, id)
// never skips a row. A long transaction in this database holds later events
// back until it ends; other databases of the server do not. On SQLite one
// writer at a time makes ids commit-ordered; txid is 0 there.
package event

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"entgo.io/ent/dialect"
	"github.com/jackc/pgx/v5"

	"github.com/rollcall/rollcall/ent"
	entevent "github.com/rollcall/rollcall/ent/event"
	"github.com/rollcall/rollcall/ent/predicate"
	"github.com/rollcall/rollcall/ent/privacy"
	"github.com/rollcall/rollcall/internal/clock"
	"github.com/rollcall/rollcall/internal/events"
	"github.com/rollcall/rollcall/internal/viewer"
)

// Event is one change to record.
type Event struct {
	Type string
	Data map[string]any
	// Org is the organisation the change belongs to: RecordEach files
	// each event under its own; Record files them all under its orgID.
	Org int
}

// Log writes and reads the outbox.
type Log struct {
	client  *ent.Client
	clock   clock.Clock
	dialect string
	bus     events.Bus // nil: commits wake nobody
	log     *slog.Logger
}

// Option configures a Log.
type Option func(*Log)

// WithBus announces every commit that wrote events on bus (see Wake), so
// readers on every replica read at once instead of at their next poll.
func WithBus(bus events.Bus) Option { return func(l *Log) { l.bus = bus } }

// WithLogger logs what goes wrong in the background (a failed
// announcement, a failed prune) to log.
func WithLogger(log *slog.Logger) Option { return func(l *Log) { l.log = log } }

// New returns the log over client; dia is dialect.Postgres or dialect.SQLite.
func New(client *ent.Client, clk clock.Clock, dia string, opts ...Option) *Log {
	l := &Log{client: client, clock: clk, dialect: dia, log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(l)
	}
	return l
}

// Record appends events of organisation orgID through client: pass the
// change's transaction client so the events commit or roll back with it.
// Through a transaction of ent's Client.Tx, the commit announces itself
// (see Wake); through a client outside any transaction, the insert does;
// through any other transaction, call Committed after it commits.
func (l *Log) Record(ctx context.Context, client *ent.Client, orgID int, list ...Event) error {
	for i := range list {
		list[i].Org = orgID
	}
	return l.RecordEach(ctx, client, list...)
}

// RecordEach is Record for events of several organisations, each filed under
// its own Event.Org: on PostgreSQL one statement however many events, on
// SQLite one multi-row insert per thousand.
func (l *Log) RecordEach(ctx context.Context, client *ent.Client, list ...Event) error {
	if len(list) == 0 {
		return nil
	}
	var orgs []int
	for _, e := range list {
		if e.Org == 0 {
			return fmt.Errorf("record event %s: no organisation", e.Type)
		}
		if !slices.Contains(orgs, e.Org) {
			orgs = append(orgs, e.Org)
		}
	}
	// Through the same privacy rules as any write of an Event: a viewer
	// records events of its own organisation only.
	check := client.Event.Create().SetOrganizationID(orgs[0]).SetType(list[0].Type).
		SetOccurredAt(l.clock.Now()).SetData(map[string]any{})
	if err := l.mayRecord(ctx, orgs); err != nil {
		return err
	}
	var err error
	if l.dialect == dialect.Postgres {
		err = l.insertPostgres(ctx, client, list)
	} else {
		err = l.insert(ctx, client, list)
	}
	if err != nil {
		return err
	}
	l.announceOnCommit(ctx, check.Mutation(), orgs)
	return nil
}

// mayRecord applies the tenancy rule of writes (ent/schema's
// sameTenantOnCreate) to events of orgs, which are written without ent's
// builders: the system may record any organisation's, a viewer its own.
func (l *Log) mayRecord(ctx context.Context, orgs []int) error {
	if decision, ok := privacy.DecisionFromContext(ctx); ok && decision == nil { // allowed
		return nil
	}
	v := viewer.FromContext(ctx)
	for _, org := range orgs {
		if v == nil || v.OrgID != org {
			return fmt.Errorf("record events of organisation %d: %w", org, privacy.Denyf("organization does not match the viewer's"))
		}
	}
	return nil
}

// insertPostgres writes list in one INSERT of arrays: parsed and planned
// once, whatever the number of rows (a multi-row VALUES of thousands of
// parameters costs PostgreSQL several times the rows' own work).
func (l *Log) insertPostgres(ctx context.Context, client *ent.Client, list []Event) error {
	orgs := make([]int64, len(list))
	types := make([]string, len(list))
	data := make([]string, len(list))
	for i, e := range list {
		raw, err := marshal(e)
		if err != nil {
			return err
		}
		orgs[i], types[i], data[i] = int64(e.Org), e.Type, string(raw)
	}
	_, err := client.ExecContext(ctx, `INSERT INTO `+entevent.Table+` (`+entevent.FieldOrganizationID+`, `+entevent.FieldType+`, `+
		entevent.FieldOccurredAt+`, `+entevent.FieldData+`)
		SELECT o, t, $4, d::jsonb FROM unnest($1::bigint[], $2::text[], $3::text[]) AS e(o, t, d)`,
		orgs, types, data, l.clock.Now())
	if err != nil {
		return fmt.Errorf("record %d events: %w", len(list), err)
	}
	return nil
}

// insert writes list through ent, a thousand rows a statement.
func (l *Log) insert(ctx context.Context, client *ent.Client, list []Event) error {
	now := l.clock.Now()
	creates := make([]*ent.EventCreate, len(list))
	for i, e := range list {
		data := e.Data
		if data == nil {
			data = map[string]any{}
		}
		creates[i] = client.Event.Create().SetOrganizationID(e.Org).SetType(e.Type).SetOccurredAt(now).SetData(data)
	}
	for start := 0; start < len(creates); start += 1000 {
		end := min(start+1000, len(creates))
		if err := client.Event.CreateBulk(creates[start:end]...).Exec(ctx); err != nil {
			return fmt.Errorf("record events: %w", err)
		}
	}
	return nil
}

// marshal is e's data as JSON ({} for none).
func marshal(e Event) ([]byte, error) {
	data := e.Data
	if data == nil {
		data = map[string]any{}
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return nil, fmt.Errorf("event %s: %w", e.Type, err)
	}
	return raw, nil
}

// Position is a place in the log, in commit order: the zero Position is
// before the first event.
type Position struct {
	Tx int64
	ID int
}

// Of returns the position of e.
func Of(e *ent.Event) Position { return Position{Tx: e.Txid, ID: e.ID} }

// String writes p for messages.
func (p Position) String() string { return fmt.Sprintf("(tx %d, event %d)", p.Tx, p.ID) }

// After returns up to limit settled events after p, in commit order, that
// match every predicate (add entevent.OrganizationID to scope a tenant;
// privacy rules apply as usual to the ctx's viewer).
func (l *Log) After(ctx context.Context, p Position, limit int, where ...predicate.Event) ([]*ent.Event, error) {
	q := l.client.Event.Query().
		Where(after(p)).
		Where(where...).
		Order(ent.Asc(entevent.FieldTxid), ent.Asc(entevent.FieldID)).
		Limit(limit)
	if err := l.settled(ctx, q); err != nil {
		return nil, err
	}
	events, err := q.All(ctx)
	if err != nil {
		return nil, fmt.Errorf("read events after %s: %w", p, err)
	}
	return events, nil
}

// settled keeps q to the events below the horizon (on PostgreSQL).
func (l *Log) settled(ctx context.Context, q *ent.EventQuery) error {
	if l.dialect != dialect.Postgres {
		return nil
	}
	h, err := l.horizon(ctx)
	if err != nil {
		return err
	}
	q.Where(entevent.TxidLT(h))
	return nil
}

// horizonQuery is the first transaction id a transaction of this database
// may still be writing with: the least of the snapshot's xmax (every id
// below it was handed out before the statement began) and the ids of the
// transactions of this database still running (pg_stat_activity's
// backend_xid, 32 bits, widened with the snapshot's epoch). It reads the
// snapshot before the activity, so a transaction below the horizon has
// ended before the statement that reads the rows begins: run that one
// after this one, not in the same statement. Other databases of the server
// (a long migration elsewhere, tests running side by side) do not hold it
// back. Transactions prepared for two-phase commit are not seen: Rollcall
// uses none.
const horizonQuery = `WITH s AS (SELECT txid_snapshot_xmax(txid_current_snapshot()) AS x)
	SELECT LEAST(s.x, COALESCE((SELECT min(s.x - ((s.x - a.backend_xid::text::bigint) % 4294967296 + 4294967296) % 4294967296)
		FROM pg_stat_activity a WHERE a.datname = current_database() AND a.backend_xid IS NOT NULL), s.x)) FROM s`

// horizon runs horizonQuery: every event of a transaction below it has
// committed (or never will), and shows to a statement begun afterwards.
func (l *Log) horizon(ctx context.Context) (int64, error) {
	rows, err := l.client.QueryContext(ctx, horizonQuery)
	if err != nil {
		return 0, fmt.Errorf("read the events horizon: %w", err)
	}
	defer rows.Close()
	var h int64
	if !rows.Next() {
		return 0, fmt.Errorf("read the events horizon: no row: %w", rows.Err())
	}
	if err := rows.Scan(&h); err != nil {
		return 0, fmt.Errorf("read the events horizon: %w", err)
	}
	return h, rows.Err()
}

// Head returns the position after the last settled event (the zero Position
// for an empty log): a live reader starts there.
func (l *Log) Head(ctx context.Context) (Position, error) {
	q := l.client.Event.Query().
		Order(ent.Desc(entevent.FieldTxid), ent.Desc(entevent.FieldID)).Limit(1)
	if err := l.settled(ctx, q); err != nil {
		return Position{}, err
	}
	e, err := q.First(ctx)
	switch {
	case ent.IsNotFound(err):
		return Position{}, nil
	case err != nil:
		return Position{}, fmt.Errorf("read the events head: %w", err)
	}
	return Of(e), nil
}

// Unsettled reports whether events after p have committed but are still
// held back from readers because an older transaction of this database is
// running (always false on SQLite): a reader that found nothing new should
// then read again soon, since that transaction's end may write no event and
// so announce nothing.
func (l *Log) Unsettled(ctx context.Context, p Position) (bool, error) {
	if l.dialect != dialect.Postgres {
		return false, nil
	}
	ok, err := l.client.Event.Query().Where(after(p)).Exist(ctx)
	if err != nil {
		return false, fmt.Errorf("look for unsettled events after %s: %w", p, err)
	}
	return ok, nil
}

// after selects the events after p.
func after(p Position) predicate.Event {
	return entevent.Or(entevent.TxidGT(p.Tx), entevent.And(entevent.Txid(p.Tx), entevent.IDGT(p.ID)))
}

// Prune deletes the events that occurred before cutoff, batch rows per
// statement, and returns how many went. It runs as whoever ctx says: the
// retention job passes the system's context.
func (l *Log) Prune(ctx context.Context, cutoff time.Time, batch int) (int, error) {
	total := 0
	for {
		ids, err := l.client.Event.Query().Where(entevent.OccurredAtLT(cutoff)).Limit(batch).IDs(ctx)
		if err != nil {
			return total, fmt.Errorf("find events before %s: %w", cutoff.Format(time.RFC3339), err)
		}
		if len(ids) == 0 {
			return total, nil
		}
		n, err := l.client.Event.Delete().Where(entevent.IDIn(ids...)).Exec(ctx)
		if err != nil {
			return total, fmt.Errorf("delete %d events: %w", len(ids), err)
		}
		total += n
		if len(ids) < batch {
			return total, nil
		}
	}
}

// CopyFrom writes the events next yields, until it reports false, with one
// PostgreSQL COPY on conn, inside the transaction the change has open on
// conn: for changes of so many people (an import) that building every
// event first would hold them all in memory. It returns how many it wrote.
// Call Committed after the transaction commits.
func (l *Log) CopyFrom(ctx context.Context, conn *pgx.Conn, next func() (Event, bool)) (int64, error) {
	now := l.clock.Now()
	n, err := conn.CopyFrom(ctx, pgx.Identifier{entevent.Table},
		[]string{entevent.FieldOrganizationID, entevent.FieldType, entevent.FieldOccurredAt, entevent.FieldData},
		pgx.CopyFromFunc(func() ([]any, error) {
			e, ok := next()
			if !ok {
				return nil, nil
			}
			if e.Org == 0 {
				return nil, fmt.Errorf("event %s: no organisation", e.Type)
			}
			raw, err := marshal(e)
			if err != nil {
				return nil, err
			}
			return []any{e.Org, e.Type, now, json.RawMessage(raw)}, nil
		}))
	if err != nil {
		return n, fmt.Errorf("copy events: %w", err)
	}
	return n, nil
}
