// Package testdb gives each test a real database of its own.
//
// Tests run on SQLite by default. With ROLLCALL_TEST_DATABASE_URL set to a
// postgres:// URL, each test gets its own PostgreSQL database cloned from a
// migrated template; if that server does not answer the test fails, it does
// not skip.
package testdb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/rollcall/rollcall/internal/db"
)

// EnvDatabaseURL names the PostgreSQL server tests use instead of SQLite.
const EnvDatabaseURL = "ROLLCALL_TEST_DATABASE_URL"

// Postgres reports whether tests run against PostgreSQL.
func Postgres() bool { return strings.HasPrefix(os.Getenv(EnvDatabaseURL), "postgres") }

// DatabaseURL returns the URL of a new, migrated database for this test,
// dropped when the test ends.
func DatabaseURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvDatabaseURL)
	if !strings.HasPrefix(base, "postgres") {
		u := "sqlite:" + filepath.Join(t.TempDir(), "rollcall.db")
		migrateURL(t, u)
		return u
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("open %s: %v", EnvDatabaseURL, err)
	}
	defer admin.Close()
	ctx := context.Background()
	template := ensureTemplate(t, admin, base)
	name := "rollcall_test_" + randomHex(6)
	if _, err := admin.ExecContext(ctx, fmt.Sprintf(`CREATE DATABASE %s TEMPLATE %s`, name, template)); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		admin, err := sql.Open("pgx", base)
		if err != nil {
			t.Errorf("drop test database: %v", err)
			return
		}
		defer admin.Close()
		if _, err := admin.ExecContext(context.Background(), fmt.Sprintf(`DROP DATABASE IF EXISTS %s WITH (FORCE)`, name)); err != nil {
			t.Errorf("drop test database: %v", err)
		}
	})
	return withDatabase(t, base, name)
}

// ensureTemplate creates, once per schema version, a migrated template
// database. Test processes of several packages may race here, so creation
// happens under an advisory lock.
func ensureTemplate(t testing.TB, admin *sql.DB, base string) string {
	t.Helper()
	ctx := context.Background()
	name := "rollcall_template_" + db.SchemaDigest()
	conn, err := admin.Conn(ctx)
	if err != nil {
		t.Fatalf("connect to %s: %v (is PostgreSQL running?)", db.Redact(base), err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(hashtext('rollcall:test-template'))`); err != nil {
		t.Fatalf("lock template: %v", err)
	}
	defer conn.ExecContext(ctx, `SELECT pg_advisory_unlock(hashtext('rollcall:test-template'))`) //nolint:errcheck
	var exists bool
	if err := conn.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		t.Fatalf("look up template: %v", err)
	}
	if exists {
		return name
	}
	building := name + "_building"
	if _, err := conn.ExecContext(ctx, fmt.Sprintf(`DROP DATABASE IF EXISTS %s WITH (FORCE)`, building)); err != nil {
		t.Fatalf("drop stale template: %v", err)
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf(`CREATE DATABASE %s`, building)); err != nil {
		t.Fatalf("create template: %v", err)
	}
	migrateURL(t, withDatabase(t, base, building))
	if _, err := conn.ExecContext(ctx, fmt.Sprintf(`ALTER DATABASE %s RENAME TO %s`, building, name)); err != nil {
		t.Fatalf("finish template: %v", err)
	}
	return name
}

func migrateURL(t testing.TB, u string) {
	t.Helper()
	ctx := context.Background()
	d, err := db.Open(ctx, u)
	if err != nil {
		t.Fatalf("open test database: %v", err)
	}
	defer d.Close()
	if err := d.Migrate(ctx, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("migrate test database: %v", err)
	}
}

func withDatabase(t testing.TB, base, name string) string {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse %s: %v", EnvDatabaseURL, err)
	}
	u.Path = "/" + name
	return u.String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
