package queue

import (
	"entgo.io/ent/dialect"

	"github.com/rollcall/rollcall/internal/db"
)

// flavor holds what differs between the databases: the claim statement and
// how parameters are written. Everything else is the same SQL on both.
type flavor interface {
	// claim returns the statement that leases up to $4 rows of table
	// meeting due (which uses $3, now) to lease $1 until $2, counting an
	// attempt, RETURNING id and attempts.
	claim(table, due string) string
	// rebind writes $N parameters the database's way.
	rebind(query string) string
}

func flavorOf(name string) flavor {
	if name == dialect.Postgres {
		return postgres{}
	}
	return sqlite{}
}

// postgres skips the rows another claimer has locked, so concurrent claims
// never wait on each other nor take the same row.
type postgres struct{}

func (postgres) claim(table, due string) string {
	return `WITH picked AS (
			SELECT id FROM ` + table + ` WHERE ` + due + ` ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED)
		UPDATE ` + table + ` t SET leased_by = $1, lease_expires_at = $2, attempts = t.attempts + 1
		FROM picked WHERE t.id = picked.id
		RETURNING t.id, t.attempts`
}

func (postgres) rebind(query string) string { return query }

// sqlite has one writer at a time: the statement alone is atomic.
type sqlite struct{}

func (sqlite) claim(table, due string) string {
	return `UPDATE ` + table + ` SET leased_by = $1, lease_expires_at = $2, attempts = attempts + 1
		WHERE id IN (SELECT id FROM ` + table + ` WHERE ` + due + ` ORDER BY id LIMIT $4)
		RETURNING id, attempts`
}

// rebind turns $N into ?N, SQLite's numbered parameters.
func (sqlite) rebind(query string) string { return db.Rebind(dialect.SQLite, query) }
