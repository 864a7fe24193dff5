package bulksend

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"entgo.io/ent/dialect"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/internal/db"
)

// store holds the engine's statements that differ between the databases, as
// River's driver does: the rest of the package reads as plain flow and calls
// these. PostgreSQL's are set-based — one statement per unit of work, rows
// travelling as arrays through unnest, claims skipping rows another claimer
// holds — and SQLite's go row by row, which in-process costs microseconds,
// under SQLite's one writer at a time (so it needs no row locks). Every
// statement names rows by id or by the organisation, so tenancy stays
// explicit outside ent's privacy layer. tx is always a transaction's client.
type store interface {
	// insertDeliveries writes b's deliveries, one per person: QUEUED, or
	// SKIPPED with the reason.
	insertDeliveries(ctx context.Context, tx *ent.Client, b *ent.BulkSend, people []*recipient, now time.Time) error
	// claim leases up to q.n due deliveries (only those without a send,
	// with q.singles) to q.replica until q.leaseEnds, counting an attempt,
	// and returns them in id order.
	claim(ctx context.Context, tx *ent.Client, q claimQuery) ([]*claimed, error)
	// setSent marks deliveries ids sent with their provider message ids,
	// ending their leases.
	setSent(ctx context.Context, tx *ent.Client, now time.Time, ids []int, messageIDs []string) error
	// setTemporaryPasswords gives each of userIDs its password hash and
	// makes those still NOT_INVITED or INVITED ACTIVE with a password to
	// change.
	setTemporaryPasswords(ctx context.Context, tx *ent.Client, now time.Time, userIDs []int, hashes []string) error
	// locks says whether reads that precede a write must lock their rows
	// (SELECT … FOR UPDATE): PostgreSQL's, not SQLite's.
	locks() bool
	// rebind writes a query's $N parameters the database's way.
	rebind(query string) string
}

// newStore returns the statements of the database dialect names.
func newStore(name string) store {
	if name == dialect.Postgres {
		return postgresStore{}
	}
	return sqliteStore{}
}

// claimQuery is what a claim asks for.
type claimQuery struct {
	n         int
	now       time.Time
	leaseEnds time.Time
	replica   string
	singles   bool
}

// due is the condition of a claimable delivery, now being $1.
//
// A claim takes only what was queued by its now: the clock is read before
// the claim runs, and a delivery queued meanwhile (the clock having moved
// on) would otherwise get a link and an expiry counted from before it was
// queued, and a lease that may have lapsed already, for another worker to
// claim and send it again. The worker woken by that queueing reads the
// clock after it and takes it.
func (q claimQuery) due() string {
	due := `status = 'QUEUED' AND created_at <= $1 AND (lease_expires_at IS NULL OR lease_expires_at < $1)
		AND (next_attempt_at IS NULL OR next_attempt_at <= $1)`
	if q.singles {
		due += ` AND bulk_send_id IS NULL`
	}
	return due
}

// claimedColumns are what a claim returns, in scanClaimed's order.
var claimedColumns = []string{"id", "bulk_send_id", "user_id", "organization_id", "action", "attempts", "email",
	"requested_by_id", "requested_by_key_id IS NOT NULL", "new_email", "force", "next_attempt_at IS NOT NULL"}

// scanClaimed reads claimed rows, sorted by id (RETURNING promises no order).
func scanClaimed(rows *sql.Rows) ([]*claimed, error) {
	defer rows.Close()
	var out []*claimed
	for rows.Next() {
		var c claimed
		var sendID, userID, requestedBy sql.NullInt64 // user_id is NULL once the person is erased
		var newEmail sql.NullString
		err := rows.Scan(&c.id, &sendID, &userID, &c.orgID, &c.action, &c.attempts, &c.email, &requestedBy, &c.byKey, &newEmail, &c.force, &c.retried)
		if err != nil {
			return nil, fmt.Errorf("claim deliveries: %w", err)
		}
		c.bulkSendID, c.userID, c.newEmail = int(sendID.Int64), int(userID.Int64), newEmail.String
		if requestedBy.Valid {
			id := int(requestedBy.Int64)
			c.requestedBy = &id
		}
		out = append(out, &c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	sortByID(out)
	return out, nil
}

// sqlite rewrites PostgreSQL's $N parameters as SQLite's ?N.
func sqlite(query string) string { return db.Rebind(dialect.SQLite, query) }
