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
	"slices"
	"strings"
	"sync"

	atlas "ariga.io/atlas/sql/schema"
	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"entgo.io/ent/dialect/sql/schema"
	"entgo.io/ent/dialect/sql/sqljson"
	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	_ "modernc.org/sqlite"             // registers the "sqlite" driver

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/migrate"
	"github.com/rollcall/rollcall/ent/predicate"
	"github.com/rollcall/rollcall/ent/privacy"
	"github.com/rollcall/rollcall/ent/role"
	_ "github.com/rollcall/rollcall/ent/runtime" // privacy policies and defaults
	"github.com/rollcall/rollcall/internal/perm"
)

// DB is an open database with its ent client.
type DB struct {
	Client  *ent.Client
	SQL     *sql.DB
	Dialect string // dialect.SQLite or dialect.Postgres
}

// Open connects to url: "sqlite:PATH", "sqlite::memory:" or "postgres://…".
//
// Each wrap, when given, wraps ent's driver (tracing).
func Open(ctx context.Context, rawURL string, wrap ...func(dialect.Driver) dialect.Driver) (*DB, error) {
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
	var drv dialect.Driver = entsql.OpenDB(dia, sqlDB)
	for _, w := range wrap {
		drv = w(drv)
	}
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
		if err := d.prepareData(ctx); err != nil {
			return err
		}
		if err := d.Client.Schema.Create(ctx); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		if err := d.upgradeData(ctx); err != nil {
			return err
		}
		return d.dropRetiredIndexes(ctx)
	}
	return d.WithLock(ctx, "rollcall:migrate", func(ctx context.Context) error {
		// pg_trgm serves the case-insensitive search; without it search
		// still works, only slower.
		trigram := true
		if _, err := d.SQL.ExecContext(ctx, `CREATE EXTENSION IF NOT EXISTS pg_trgm`); err != nil {
			trigram = false
			log.WarnContext(ctx, "pg_trgm unavailable; search runs without trigram indexes", slog.String("error", err.Error()))
		}
		if err := d.prepareData(ctx); err != nil {
			return err
		}
		if err := d.Client.Schema.Create(ctx, schema.WithDiffHook(withoutForeignKeys(serviceKeptKeys...))); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		// Room on each page lets a worker's claim (which changes no indexed
		// column) update a delivery in place, without new index entries.
		if _, err := d.SQL.ExecContext(ctx, `ALTER TABLE deliveries SET (fillfactor = 70)`); err != nil {
			return fmt.Errorf("tune deliveries: %w", err)
		}
		if err := d.upgradeData(ctx); err != nil {
			return err
		}
		if err := d.dropRetiredIndexes(ctx); err != nil {
			return err
		}
		if !trigram {
			return nil
		}
		return d.createSearchIndex(ctx)
	})
}

// prepareData readies rows written by earlier versions for today's schema,
// before it is migrated. Before templates had a locale, the one unique index
// on (organisation, kind, role) let an organisation-wide template (role
// NULL: NULLs are distinct in unique indexes) be saved twice; the partial
// indexes that replace it refuse such twins, so of each the one saved last
// stays (the one emails went out with is not known: the older code read
// whichever came first). It runs only while templates have no locale column.
func (d *DB) prepareData(ctx context.Context) error {
	cols, err := d.columns(ctx, "email_templates")
	if err != nil {
		return err
	}
	if len(cols) == 0 || slices.Contains(cols, "locale") {
		return nil // a new database, or one migrated already
	}
	_, err = d.SQL.ExecContext(ctx, `DELETE FROM email_templates WHERE role_id IS NULL AND EXISTS (
		SELECT 1 FROM email_templates o WHERE o.organization_id = email_templates.organization_id
			AND o.kind = email_templates.kind AND o.role_id IS NULL
			AND (o.updated_at > email_templates.updated_at OR (o.updated_at = email_templates.updated_at AND o.id > email_templates.id)))`)
	if err != nil {
		return fmt.Errorf("keep one organisation-wide template per kind: %w", err)
	}
	return nil
}

// columns lists the columns of table, none when it does not exist.
func (d *DB) columns(ctx context.Context, table string) ([]string, error) {
	q := `SELECT name FROM pragma_table_info(?)`
	if d.Dialect == dialect.Postgres {
		q = `SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1`
	}
	rows, err := d.SQL.QueryContext(ctx, q, table)
	if err != nil {
		return nil, fmt.Errorf("read columns of %s: %w", table, err)
	}
	var out []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read columns of %s: %w", table, err)
		}
		out = append(out, c)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("read columns of %s: %w", table, err)
	}
	return out, nil
}

// upgradeData brings rows written by earlier versions up to today's rules:
// every audit event names its actor ("system" where none was recorded), every
// built-in Owner role holds every permission (permissions added since, such
// as scim.provision, included), and a send's report counters (delivered, bounced, complained) count its
// deliveries in those states, reported before the counters existed. A send
// with a counter set is already counted (reports move them atomically), so
// this touches only sends never counted and costs an index probe each.
// Reminder schedules move out of the people's rows (moveReminderSchedules).
func (d *DB) upgradeData(ctx context.Context) error {
	if _, err := d.SQL.ExecContext(ctx, `UPDATE audit_events SET actor_label = 'system' WHERE actor_label = ''`); err != nil {
		return fmt.Errorf("label audit actors: %w", err)
	}
	if err := d.completeOwners(ctx); err != nil {
		return err
	}
	if err := d.moveReminderSchedules(ctx); err != nil {
		return err
	}
	count := func(status string) string {
		return `(SELECT count(*) FROM deliveries d WHERE d.bulk_send_id = bulk_sends.id AND d.status = '` + status + `')`
	}
	_, err := d.SQL.ExecContext(ctx, `UPDATE bulk_sends SET delivered = `+count("DELIVERED")+`,
		bounced = `+count("BOUNCED")+`, complained = `+count("COMPLAINED")+`
		WHERE sent > 0 AND delivered = 0 AND bounced = 0 AND complained = 0 AND EXISTS (SELECT 1 FROM deliveries d
			WHERE d.bulk_send_id = bulk_sends.id AND d.status IN ('DELIVERED', 'BOUNCED', 'COMPLAINED'))`)
	if err != nil {
		return fmt.Errorf("count delivery reports: %w", err)
	}
	return nil
}

// completeOwners gives every built-in Owner role that lacks one of today's
// permissions all of them: the Owner role always holds every permission. One
// statement; an up-to-date database changes nothing.
func (d *DB) completeOwners(ctx context.Context) error {
	lacking := make([]predicate.Role, 0, len(perm.All()))
	for _, p := range perm.All() {
		lacking = append(lacking, func(s *entsql.Selector) {
			s.Where(entsql.Not(sqljson.ValueContains(role.FieldPermissions, p)))
		})
	}
	err := d.Client.Role.Update().
		Where(role.Builtin(true), role.Name(perm.Owner), role.Or(lacking...)).
		SetPermissions(perm.All()).
		Exec(privacy.DecisionContext(ctx, privacy.Allow))
	if err != nil {
		return fmt.Errorf("give Owner roles every permission: %w", err)
	}
	return nil
}

// createSearchIndex creates one trigram index over everything search
// matches, rather than one per column: one index to maintain per person
// written, not four. Its name carries a digest of the expression, so a
// changed expression gets a new index and the old one goes.
func (d *DB) createSearchIndex(ctx context.Context) error {
	text := UserSearchText(func(col string) string { return col })
	sum := sha256.Sum256([]byte(text))
	name := "users_search_trgm_" + hex.EncodeToString(sum[:4])
	if _, err := d.SQL.ExecContext(ctx, fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %s ON users USING gin ((%s) gin_trgm_ops)`, name, text)); err != nil {
		return fmt.Errorf("create search index: %w", err)
	}
	rows, err := d.SQL.QueryContext(ctx, `SELECT indexname FROM pg_indexes
		WHERE schemaname = current_schema() AND tablename = 'users' AND indexname LIKE 'users\_search\_trgm%' AND indexname <> $1`, name)
	if err != nil {
		return fmt.Errorf("find old search indexes: %w", err)
	}
	var old []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return fmt.Errorf("find old search indexes: %w", err)
		}
		old = append(old, n)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fmt.Errorf("find old search indexes: %w", err)
	}
	for _, n := range old {
		if _, err := d.SQL.ExecContext(ctx, `DROP INDEX IF EXISTS `+pgx.Identifier{n}.Sanitize()); err != nil {
			return fmt.Errorf("drop old search index: %w", err)
		}
	}
	return nil
}

// retiredIndexes are indexes earlier versions created, which ent's migrator
// leaves in place: per-column trigram indexes (one now covers all columns),
// the full index on invitation expiry (now partial, under its own name),
// deliveries by send and status (now ending with the id), and templates
// unique by kind and role (now four partial indexes with the locale), the
// people's reminder rounds (now in reminder_schedules), and the funnel's
// expiries (now with revoked_at).
var retiredIndexes = []string{
	"users_email_normalized_trgm", "users_first_name_trgm", "users_last_name_trgm", "users_username_normalized_trgm",
	"user_organization_id_status_invite_expires_at", "delivery_bulk_send_id_status",
	"emailtemplate_organization_id_kind_role_id", "user_reminder_due", "invitation_organization_id_expires_at_kind",
}

// moveReminderSchedules gives the people still INVITED a reminder schedule
// when there is none at all: a database from before reminder rounds (they
// count from the invitation), or from the version that kept the rounds in
// users.reminder_round and round_anchor_at (they go on from there). Those
// two columns are left in place, unread, so that replicas of that version
// still running during a rolling upgrade keep working.
func (d *DB) moveReminderSchedules(ctx context.Context) error {
	var some int
	err := d.SQL.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT 1 FROM reminder_schedules LIMIT 1) s`).Scan(&some)
	if err != nil {
		return fmt.Errorf("read reminder schedules: %w", err)
	}
	if some > 0 {
		return nil
	}
	cols, err := d.columns(ctx, "users")
	if err != nil {
		return err
	}
	round, anchor := "0", "invited_at"
	if slices.Contains(cols, "round_anchor_at") {
		round, anchor = "reminder_round", "COALESCE(round_anchor_at, invited_at)"
	}
	_, err = d.SQL.ExecContext(ctx, `INSERT INTO reminder_schedules (id, organization_id, round, anchor_at)
		SELECT id, organization_id, `+round+`, `+anchor+` FROM users WHERE status = 'INVITED' AND invited_at IS NOT NULL`)
	if err != nil {
		return fmt.Errorf("move reminder schedules: %w", err)
	}
	return nil
}

func (d *DB) dropRetiredIndexes(ctx context.Context) error {
	for _, name := range retiredIndexes {
		if _, err := d.SQL.ExecContext(ctx, `DROP INDEX IF EXISTS `+name); err != nil {
			return fmt.Errorf("drop index %s: %w", name, err)
		}
	}
	return nil
}

// serviceKeptKeys are foreign keys PostgreSQL does not enforce on the tables
// written in bulk, because checking them (a trigger and a row lock per row)
// costs more than everything else in an import, and a tenth of a bulk send;
// the services keep them right themselves: organisations are never deleted,
// and erasing a person removes their import links (people.Admin.Delete).
// SQLite keeps them, as it cannot drop a constraint in place.
var serviceKeptKeys = []string{
	"users_organizations_organization", "user_import_user_id", "user_import_user_import_id",
	"deliveries_organizations_organization", "invitations_organizations_organization",
	"reminder_schedules_organizations_organization", "reminder_rounds_organizations_organization",
}

// withoutForeignKeys leaves the named foreign keys out of the schema ent
// migrates to, dropping them where they exist.
func withoutForeignKeys(symbols ...string) schema.DiffHook {
	return func(next schema.Differ) schema.Differ {
		return schema.DiffFunc(func(current, desired *atlas.Schema) ([]atlas.Change, error) {
			for _, t := range desired.Tables {
				t.ForeignKeys = slices.DeleteFunc(t.ForeignKeys, func(fk *atlas.ForeignKey) bool {
					return slices.Contains(symbols, fk.Symbol)
				})
			}
			return next.Diff(current, desired)
		})
	}
}

// UserSearchText is the SQL text a people search looks in: email, names and
// username, space-separated, with column names given by col (qualified in a
// query, bare in the index). Query and index must spell it the same way for
// PostgreSQL to use the index.
func UserSearchText(col func(string) string) string {
	return fmt.Sprintf(`(%s || ' ' || coalesce(%s || ' ', '') || coalesce(%s || ' ', '') || coalesce(%s, ''))`,
		col("email_normalized"), col("first_name"), col("last_name"), col("username_normalized"))
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

// Rebind writes query's $N parameters the way the database of dialectName
// takes them: PostgreSQL's as they are, SQLite's as ?N (its numbered
// parameters, so an argument may be used more than once).
func Rebind(dialectName, query string) string {
	if dialectName == dialect.Postgres {
		return query
	}
	return strings.ReplaceAll(query, "$", "?")
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
			if i.Annotation != nil {
				fmt.Fprintf(h, "where %s|", i.Annotation.Where)
			}
		}
	}
	// What Migrate does beyond ent's schema.
	fmt.Fprintf(h, "%v|%s", serviceKeptKeys, UserSearchText(func(col string) string { return col }))
	return hex.EncodeToString(h.Sum(nil))[:12]
}
