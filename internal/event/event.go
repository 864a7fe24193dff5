// Package event is the event outbox: a change writes its Event rows in its
// own transaction, and every reader (the events log, the live subscription,
// outbound webhooks) reads those rows in commit order and nothing else.
//
// Commit order: on PostgreSQL ids are handed out when rows are inserted, not
// when their transaction commits, so a reader paging by id alone would skip an
// event whose transaction commits after a later id was read. Each row keeps
// its transaction's id (txid), and readers only see transactions older than
// every transaction still running (the snapshot's xmin): everything below
// that line is final, so paging by (txid, id) never skips a row. A long
// transaction holds later events back until it ends. On SQLite one writer at a
// time makes ids commit-ordered; txid is 0 there.
package event

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"github.com/rollcall/rollcall/ent"
	entevent "github.com/rollcall/rollcall/ent/event"
	"github.com/rollcall/rollcall/ent/predicate"
	"github.com/rollcall/rollcall/internal/clock"
)

// Event is one change to record.
type Event struct {
	Type string
	Data map[string]any
}

// Log writes and reads the outbox.
type Log struct {
	client  *ent.Client
	clock   clock.Clock
	dialect string
}

// New returns the log over client; dia is dialect.Postgres or dialect.SQLite.
func New(client *ent.Client, clk clock.Clock, dia string) *Log {
	return &Log{client: client, clock: clk, dialect: dia}
}

// Record appends events of organisation orgID through client: pass the
// change's transaction client so the events commit or roll back with it.
func (l *Log) Record(ctx context.Context, client *ent.Client, orgID int, events ...Event) error {
	if len(events) == 0 {
		return nil
	}
	now := l.clock.Now()
	creates := make([]*ent.EventCreate, len(events))
	for i, e := range events {
		data := e.Data
		if data == nil {
			data = map[string]any{}
		}
		creates[i] = client.Event.Create().SetOrganizationID(orgID).
			SetType(e.Type).SetOccurredAt(now).SetData(data)
	}
	for start := 0; start < len(creates); start += 1000 {
		end := min(start+1000, len(creates))
		if err := client.Event.CreateBulk(creates[start:end]...).Exec(ctx); err != nil {
			return fmt.Errorf("record events: %w", err)
		}
	}
	return nil
}

// Position is a place in the log, in commit order: the zero Position is
// before the first event.
type Position struct {
	Tx int64
	ID int
}

// Of returns the position of e.
func Of(e *ent.Event) Position { return Position{Tx: e.Txid, ID: e.ID} }

// String encodes p opaquely for a cursor.
func (p Position) String() string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(p.Tx))
	binary.BigEndian.PutUint64(b[8:], uint64(p.ID))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// ErrBadPosition is a cursor that is not one this package wrote.
var ErrBadPosition = errors.New("not an events cursor")

// ParsePosition decodes what String wrote.
func ParsePosition(s string) (Position, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != 16 {
		return Position{}, ErrBadPosition
	}
	p := Position{Tx: int64(binary.BigEndian.Uint64(b[:8])), ID: int(binary.BigEndian.Uint64(b[8:]))}
	if p.Tx < 0 || p.ID < 0 {
		return Position{}, ErrBadPosition
	}
	return p, nil
}

// After returns up to limit settled events after p, in commit order, that
// match every predicate (add entevent.OrganizationID to scope a tenant;
// privacy rules apply as usual to the ctx's viewer).
func (l *Log) After(ctx context.Context, p Position, limit int, where ...predicate.Event) ([]*ent.Event, error) {
	q := l.client.Event.Query().
		Where(entevent.Or(
			entevent.TxidGT(p.Tx),
			entevent.And(entevent.Txid(p.Tx), entevent.IDGT(p.ID)),
		)).
		Where(where...).
		Order(ent.Asc(entevent.FieldTxid), ent.Asc(entevent.FieldID)).
		Limit(limit)
	if l.dialect == dialect.Postgres {
		q = q.Where(settled)
	}
	events, err := q.All(ctx)
	if err != nil {
		return nil, fmt.Errorf("read events after %s: %w", p, err)
	}
	return events, nil
}

// settled keeps the rows of transactions older than every running one.
func settled(s *entsql.Selector) {
	s.Where(entsql.ExprP(s.C(entevent.FieldTxid) + " < txid_snapshot_xmin(txid_current_snapshot())"))
}

// Head returns the position after the last settled event (the zero Position
// for an empty log): a live reader starts there.
func (l *Log) Head(ctx context.Context) (Position, error) {
	q := l.client.Event.Query().
		Order(ent.Desc(entevent.FieldTxid), ent.Desc(entevent.FieldID)).Limit(1)
	if l.dialect == dialect.Postgres {
		q = q.Where(settled)
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
