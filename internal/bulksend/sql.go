package bulksend

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"entgo.io/ent/dialect"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/delivery"
	"github.com/rollcall/rollcall/ent/schema/enum"
	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/auth"
)

// The statements on the hot path are hand-written and set-based: one per unit
// of work, not one per recipient. Every one names rows by id or by the
// organisation, so tenancy stays explicit outside ent's privacy layer.

const dialectPostgres = dialect.Postgres

// copyDeliveries inserts every delivery of a send in one statement on
// PostgreSQL, the rows travelling as arrays (no 65,535-parameter limit).
func copyDeliveries(ctx context.Context, tx *ent.Client, b *ent.BulkSend, people []*recipient, now time.Time) error {
	users := make([]int64, len(people))
	emails := make([]string, len(people))
	actions := make([]string, len(people))
	statuses := make([]string, len(people))
	reasons := make([]string, len(people))
	for i, p := range people {
		users[i], emails[i], actions[i], reasons[i] = int64(p.ID), p.Email, string(p.action), p.reason
		statuses[i] = string(enum.DeliveryQueued)
		if p.action == delivery.ActionSKIP {
			statuses[i] = string(enum.DeliverySkipped)
		}
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO deliveries
		(organization_id, bulk_send_id, user_id, email, action, status, attempts, error, created_at, updated_at)
		SELECT $1, $2, u, e, a, s, 0, NULLIF(r, ''), $3, $3
		FROM unnest($4::bigint[], $5::text[], $6::text[], $7::text[], $8::text[]) AS t(u, e, a, s, r)`,
		b.OrganizationID, b.ID, now, users, emails, actions, statuses, reasons)
	if err != nil {
		return fmt.Errorf("queue deliveries: %w", err)
	}
	return nil
}

// claimed is a delivery a worker holds.
type claimed struct {
	id, userID, orgID, attempts int
	bulkSendID                  int // 0 for one person's email
	action                      delivery.Action
	email                       string // the address it goes to
	requestedBy                 *int   // one person's email: who asked
	newEmail                    string // EMAIL_CHANGED: the new address
	force                       bool   // sent even to a suppressed address
	retried                     bool   // the provider refused it for now before (not merely claimed before)
	secret                      string // the plain token or generated password
	hash                        []byte
}

// claim leases up to n due deliveries to this replica (only one person's
// emails with singles), in one statement (on PostgreSQL, rows locked by
// another claimer are skipped, not waited for). It returns them in id order.
func (s *Service) claim(ctx context.Context, tx *ent.Client, n int, now time.Time, singles bool) ([]*claimed, error) {
	leaseEnds := now.Add(s.cfg.Lease)
	due := `status = 'QUEUED' AND (lease_expires_at IS NULL OR lease_expires_at < $1)
		AND (next_attempt_at IS NULL OR next_attempt_at <= $1)`
	if singles {
		due += ` AND bulk_send_id IS NULL`
	}
	const returning = `id, bulk_send_id, user_id, organization_id, action, attempts, email, requested_by_id, new_email, force, next_attempt_at IS NOT NULL`
	query := `WITH picked AS (
			SELECT id FROM deliveries WHERE ` + due + ` ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED)
		UPDATE deliveries d SET leased_by = $3, lease_expires_at = $4, attempts = d.attempts + 1, updated_at = $1
		FROM picked WHERE d.id = picked.id
		RETURNING d.` + strings.ReplaceAll(returning, ", ", ", d.")
	if s.db.Dialect != dialectPostgres {
		// SQLite has one writer at a time: the transaction already holds
		// the database, so nobody can claim the same rows.
		query = sqlite(`UPDATE deliveries SET leased_by = $3, lease_expires_at = $4, attempts = attempts + 1, updated_at = $1
			WHERE id IN (SELECT id FROM deliveries WHERE ` + due + ` ORDER BY id LIMIT $2)
			RETURNING ` + returning)
	}
	rows, err := tx.QueryContext(ctx, query, now, n, s.replicaID, leaseEnds)
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	defer rows.Close()
	var out []*claimed
	for rows.Next() {
		var c claimed
		var sendID, userID, requestedBy sql.NullInt64 // user_id is NULL once the person is erased
		var newEmail sql.NullString
		err := rows.Scan(&c.id, &sendID, &userID, &c.orgID, &c.action, &c.attempts, &c.email, &requestedBy, &newEmail, &c.force, &c.retried)
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

// setSent marks deliveries sent with their provider message ids, in one
// statement on PostgreSQL.
func (s *Service) setSent(ctx context.Context, tx *ent.Client, now time.Time, ids []int, messageIDs []string) error {
	if len(ids) == 0 {
		return nil
	}
	if s.db.Dialect == dialectPostgres {
		ids64 := make([]int64, len(ids))
		for i, id := range ids {
			ids64[i] = int64(id)
		}
		_, err := tx.ExecContext(ctx, `UPDATE deliveries d SET status = 'SENT', provider_message_id = v.mid,
			sent_at = $1, updated_at = $1, leased_by = NULL, lease_expires_at = NULL, error = NULL
			FROM unnest($2::bigint[], $3::text[]) AS v(id, mid) WHERE d.id = v.id AND d.id = ANY($2)`, now, ids64, messageIDs)
		if err != nil {
			return fmt.Errorf("record sent: %w", err)
		}
		return nil
	}
	// SQLite is in-process: a statement per row costs microseconds.
	for i, id := range ids {
		err := tx.Delivery.UpdateOneID(id).SetStatus(enum.DeliverySent).SetProviderMessageID(messageIDs[i]).
			SetSentAt(now).SetUpdatedAt(now).ClearLeasedBy().ClearLeaseExpiresAt().ClearError().Exec(auth.AsSystem(ctx))
		if err != nil {
			return fmt.Errorf("record sent: %w", err)
		}
	}
	return nil
}

// setTemporaryPasswords gives each job's person the job's generated
// password and makes them ACTIVE with a password to change: one statement on
// PostgreSQL, a statement a row on in-process SQLite.
func (s *Service) setTemporaryPasswords(ctx context.Context, tx *ent.Client, now time.Time, jobs []*job) error {
	if len(jobs) == 0 {
		return nil
	}
	ids, hashes := make([]int64, len(jobs)), make([]string, len(jobs))
	for i, j := range jobs {
		ids[i], hashes[i] = int64(j.userID), auth.FastHash(j.secret)
	}
	if s.db.Dialect == dialectPostgres {
		_, err := tx.ExecContext(ctx, `UPDATE users u SET status = 'ACTIVE', must_change_password = true,
				invite_expires_at = NULL, updated_at = $1, password_hash = v.hash
			FROM unnest($2::bigint[], $3::text[]) AS v(id, hash)
			WHERE u.id = v.id AND u.id = ANY($2) AND u.status IN ('NOT_INVITED', 'INVITED')`, now, ids, hashes)
		if err != nil {
			return fmt.Errorf("set temporary passwords: %w", err)
		}
		return nil
	}
	for i, id := range ids {
		err := tx.User.Update().Where(user.ID(int(id)), user.StatusIn(user.StatusNotInvited, user.StatusInvited)).
			SetStatus(user.StatusActive).SetMustChangePassword(true).ClearInviteExpiresAt().SetUpdatedAt(now).
			SetPasswordHash(hashes[i]).Exec(auth.AsSystem(ctx))
		if err != nil {
			return fmt.Errorf("set temporary passwords: %w", err)
		}
	}
	return nil
}

// sqlite rewrites PostgreSQL's $N parameters as SQLite's ?N.
func sqlite(query string) string { return strings.ReplaceAll(query, "$", "?") }
