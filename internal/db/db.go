// Package db opens the database named by a URL (SQLite through modernc, or
// PostgreSQL through pgx) and migrates its schema.
package db

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	_ "modernc.org/sqlite"             // registers the "sqlite" driver

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/migrate"
	_ "github.com/rollcall/rollcall/ent/runtime" // privacy policies and defaults
)

// DB is an open database with its ent client.
type DB struct {
	Client  *ent.Client
	SQL     *sql.DB
	Dialect string // dialect.SQLite or dialect.Postgres
}

// Open connects to url: "sqlite:PATH", "sqlite::memory:" or "postgres://…".
func Open(ctx context.Context, rawURL string) (*DB, error) {
	driver, dsn, dia, err := parse(rawURL)
	if err != nil {
		return nil, err
	}
	sqlDB, err := sql.Open(driver, dsn)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	switch {
	case dia == dialect.SQLite && strings.Contains(dsn, ":memory:"):
		// Every connection to :memory: is a database of its own.
		sqlDB.SetMaxOpenConns(1)
	case dia == dialect.SQLite:
		sqlDB.SetMaxOpenConns(8)
	default:
		sqlDB.SetMaxOpenConns(25)
		sqlDB.SetMaxIdleConns(25)
	}
	if err := sqlDB.PingContext(ctx); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	drv := entsql.OpenDB(dia, sqlDB)
	return &DB{Client: ent.NewClient(ent.Driver(drv)), SQL: sqlDB, Dialect: dia}, nil
}

// parse maps a Rollcall database URL to a driver name, its DSN and ent dialect.
func parse(rawURL string) (driver, dsn, dia string, err error) {
	switch {
	case strings.HasPrefix(rawURL, "postgres://"), strings.HasPrefix(rawURL, "postgresql://"):
		return "pgx", rawURL, dialect.Postgres, nil
	case strings.HasPrefix(rawURL, "sqlite:"):
		path := strings.TrimPrefix(rawURL, "sqlite:")
		path = strings.TrimPrefix(path, "file:")
		if path == "" {
			return "", "", "", errors.New("database URL sqlite: needs a path, e.g. sqlite:rollcall.db")
		}
		query := ""
		if i := strings.IndexByte(path, '?'); i >= 0 {
			path, query = path[:i], path[i+1:]
		}
		params := url.Values{}
		params.Add("_pragma", "foreign_keys(1)")
		params.Add("_pragma", "busy_timeout(10000)")
		if path != ":memory:" {
			params.Add("_pragma", "journal_mode(WAL)")
			params.Add("_pragma", "synchronous(NORMAL)")
		}
		// Write transactions take the lock up front, so two of them never
		// deadlock upgrading a read lock.
		params.Set("_txlock", "immediate")
		dsn := "file:" + path + "?" + params.Encode()
		if query != "" {
			dsn += "&" + query
		}
		return "sqlite", dsn, dialect.SQLite, nil
	default:
		return "", "", "", fmt.Errorf("database URL %q: want sqlite:PATH, sqlite::memory: or postgres://", Redact(rawURL))
	}
}

// Close closes the database.
func (d *DB) Close() error { return d.Client.Close() }

// Ping checks that the database answers.
func (d *DB) Ping(ctx context.Context) error { return d.SQL.PingContext(ctx) }

// migrating serialises migrations within this process: ent's migrator
// rewrites the generated, package-level table definitions as it runs, so two
// migrations at once (of two databases, in tests) would race on them.
var migrating sync.Mutex

// Migrate brings the schema up to date. On PostgreSQL it holds an advisory
// lock meanwhile, so replicas starting together migrate one after another
// (the later ones find nothing to do).
func (d *DB) Migrate(ctx context.Context, log *slog.Logger) error {
	migrating.Lock()
	defer migrating.Unlock()
	if d.Dialect != dialect.Postgres {
		if err := d.Client.Schema.Create(ctx); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		return nil
	}
	return d.WithLock(ctx, "rollcall:migrate", func(ctx context.Context) error {
		// pg_trgm serves the case-insensitive search; without it search
		// still works, only slower.
		trigram := true
		if _, err := d.SQL.ExecContext(ctx, `CREATE EXTENSION IF NOT EXISTS pg_trgm`); err != nil {
			trigram = false
			log.WarnContext(ctx, "pg_trgm unavailable; search runs without trigram indexes", slog.String("error", err.Error()))
		}
		if err := d.Client.Schema.Create(ctx); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		// Room on each page lets a worker's claim (which changes no indexed
		// column) update a delivery in place, without new index entries.
		if _, err := d.SQL.ExecContext(ctx, `ALTER TABLE deliveries SET (fillfactor = 70)`); err != nil {
			return fmt.Errorf("tune deliveries: %w", err)
		}
		if !trigram {
			return nil
		}
		for _, col := range []string{"email_normalized", "first_name", "last_name", "username_normalized"} {
			stmt := fmt.Sprintf(`CREATE INDEX IF NOT EXISTS users_%s_trgm ON users USING gin (%s gin_trgm_ops)`, col, col)
			if _, err := d.SQL.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("create trigram index on %s: %w", col, err)
			}
		}
		return nil
	})
}

// WithLock runs fn while holding a PostgreSQL session advisory lock named
// name; on SQLite, whose writers are serialised anyway, it just runs fn.
func (d *DB) WithLock(ctx context.Context, name string, fn func(context.Context) error) (err error) {
	if d.Dialect != dialect.Postgres {
		return fn(ctx)
	}
	conn, err := d.SQL.Conn(ctx)
	if err != nil {
		return fmt.Errorf("lock %s: %w", name, err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(hashtext($1))`, name); err != nil {
		return fmt.Errorf("lock %s: %w", name, err)
	}
	defer func() {
		_, uerr := conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(hashtext($1))`, name)
		err = errors.Join(err, uerr)
	}()
	return fn(ctx)
}

// Redact hides the password of a database URL, for messages and logs.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// InTx runs fn in a transaction of client, committing when fn returns nil
// and rolling back otherwise.
func InTx(ctx context.Context, client *ent.Client, fn func(tx *ent.Client) error) error {
	tx, err := client.Tx(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx.Client()); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// SchemaDigest identifies the schema this binary migrates to (tests key
// their template databases by it). It reads the same package-level table
// definitions migrations rewrite, so it holds the same lock.
func SchemaDigest() string {
	migrating.Lock()
	defer migrating.Unlock()
	h := sha256.New()
	for _, table := range migrate.Tables {
		fmt.Fprintf(h, "%s|", table.Name)
		for _, c := range table.Columns {
			fmt.Fprintf(h, "%s %s %v %v|", c.Name, c.Type, c.Nullable, c.Unique)
		}
		for _, i := range table.Indexes {
			fmt.Fprintf(h, "%s %v|", i.Name, i.Unique)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}
