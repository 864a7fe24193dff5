package tracing

import (
	"context"
	stdsql "database/sql"
	"errors"
	"strings"
	"unicode"

	"entgo.io/ent/dialect"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// Driver wraps ent's driver with a client span for each statement, in and
// out of transactions. pgx's CopyFrom (imports) and LISTEN (the event bus)
// use their own connections and are not traced.
type Driver struct {
	dialect.Driver
	tracer trace.Tracer
}

// WrapDriver returns drv with its statements traced by t.
func WrapDriver(drv dialect.Driver, t trace.Tracer) *Driver {
	return &Driver{Driver: drv, tracer: t}
}

func startQuery(ctx context.Context, t trace.Tracer, dia, query string) (context.Context, trace.Span) {
	// The first word, without splitting the whole statement (this runs for
	// every statement).
	verb := strings.TrimLeftFunc(query, unicode.IsSpace)
	if i := strings.IndexFunc(verb, unicode.IsSpace); i >= 0 {
		verb = verb[:i]
	}
	if verb == "" {
		verb = "query"
	}
	system := dia
	if dia == dialect.Postgres {
		system = "postgresql"
	} else if dia == dialect.SQLite {
		system = "sqlite"
	}
	return t.Start(ctx, "db "+strings.ToUpper(verb), trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("db.system.name", system), attribute.String("db.query.text", query)))
}

// Exec runs a statement in a span.
func (d *Driver) Exec(ctx context.Context, query string, args, v any) error {
	ctx, span := startQuery(ctx, d.tracer, d.Dialect(), query)
	err := d.Driver.Exec(ctx, query, args, v)
	End(span, err)
	return err
}

// Query runs a query in a span.
func (d *Driver) Query(ctx context.Context, query string, args, v any) error {
	ctx, span := startQuery(ctx, d.tracer, d.Dialect(), query)
	err := d.Driver.Query(ctx, query, args, v)
	End(span, err)
	return err
}

// Tx starts a transaction whose statements are traced.
func (d *Driver) Tx(ctx context.Context) (dialect.Tx, error) {
	tx, err := d.Driver.Tx(ctx)
	if err != nil {
		return nil, err
	}
	return &Tx{Tx: tx, tracer: d.tracer, dialect: d.Dialect()}, nil
}

// BeginTx starts a transaction with options, when the driver can.
func (d *Driver) BeginTx(ctx context.Context, opts *stdsql.TxOptions) (dialect.Tx, error) {
	b, ok := d.Driver.(interface {
		BeginTx(context.Context, *stdsql.TxOptions) (dialect.Tx, error)
	})
	if !ok {
		return nil, errors.New("the driver cannot begin a transaction with options")
	}
	tx, err := b.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &Tx{Tx: tx, tracer: d.tracer, dialect: d.Dialect()}, nil
}

// ExecContext passes ent's ExecContext (raw statements) through, traced.
func (d *Driver) ExecContext(ctx context.Context, query string, args ...any) (stdsql.Result, error) {
	return execContext(ctx, d.Driver, d.tracer, d.Dialect(), query, args...)
}

// QueryContext passes ent's QueryContext (raw queries) through, traced.
func (d *Driver) QueryContext(ctx context.Context, query string, args ...any) (*stdsql.Rows, error) {
	return queryContext(ctx, d.Driver, d.tracer, d.Dialect(), query, args...)
}

// Tx is a transaction whose statements are traced.
type Tx struct {
	dialect.Tx
	tracer  trace.Tracer
	dialect string
}

// Exec runs a statement in a span.
func (t *Tx) Exec(ctx context.Context, query string, args, v any) error {
	ctx, span := startQuery(ctx, t.tracer, t.dialect, query)
	err := t.Tx.Exec(ctx, query, args, v)
	End(span, err)
	return err
}

// Query runs a query in a span.
func (t *Tx) Query(ctx context.Context, query string, args, v any) error {
	ctx, span := startQuery(ctx, t.tracer, t.dialect, query)
	err := t.Tx.Query(ctx, query, args, v)
	End(span, err)
	return err
}

// ExecContext passes ent's ExecContext through, traced.
func (t *Tx) ExecContext(ctx context.Context, query string, args ...any) (stdsql.Result, error) {
	return execContext(ctx, t.Tx, t.tracer, t.dialect, query, args...)
}

// QueryContext passes ent's QueryContext through, traced.
func (t *Tx) QueryContext(ctx context.Context, query string, args ...any) (*stdsql.Rows, error) {
	return queryContext(ctx, t.Tx, t.tracer, t.dialect, query, args...)
}

func execContext(ctx context.Context, inner any, t trace.Tracer, dia, query string, args ...any) (stdsql.Result, error) {
	ex, ok := inner.(interface {
		ExecContext(context.Context, string, ...any) (stdsql.Result, error)
	})
	if !ok {
		return nil, errors.New("ExecContext is not supported by the driver")
	}
	ctx, span := startQuery(ctx, t, dia, query)
	res, err := ex.ExecContext(ctx, query, args...)
	End(span, err)
	return res, err
}

func queryContext(ctx context.Context, inner any, t trace.Tracer, dia, query string, args ...any) (*stdsql.Rows, error) {
	q, ok := inner.(interface {
		QueryContext(context.Context, string, ...any) (*stdsql.Rows, error)
	})
	if !ok {
		return nil, errors.New("QueryContext is not supported by the driver")
	}
	ctx, span := startQuery(ctx, t, dia, query)
	rows, err := q.QueryContext(ctx, query, args...)
	End(span, err)
	return rows, err
}
