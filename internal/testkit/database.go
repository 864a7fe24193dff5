// Package testkit gives tests real databases and a running Rollcall server.
package testkit

import (
	"testing"

	"github.com/rollcall/rollcall/internal/testdb"
)

// EnvDatabaseURL names the PostgreSQL server tests use instead of SQLite.
const EnvDatabaseURL = testdb.EnvDatabaseURL

// Postgres reports whether tests run against PostgreSQL.
func Postgres() bool { return testdb.Postgres() }

// DatabaseURL returns the URL of a fresh, migrated database for t.
func DatabaseURL(t testing.TB) string { return testdb.DatabaseURL(t) }
