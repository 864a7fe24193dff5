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
	id, bulkSendID, userID, orgID, attempts int
	action                                  delivery.Action
	secret                                  string // the plain token or generated password
	hash                                    []byte
}

// claim leases up to n due deliveries to this replica and writes each one's
// token hash, in the same statement on PostgreSQL (rows locked by another
// claimer are skipped, not waited for). The i-th row claimed, in id order,
// gets tokens[i].
func (s *Service) claim(ctx context.Context, tx *ent.Client, n int, now time.Time, tokens []secret) ([]*claimed, error) {
	leaseEnds := now.Add(s.cfg.Lease)
	due := `status = 'QUEUED' AND (lease_expires_at IS NULL OR lease_expires_at < $1)
		AND (next_attempt_at IS NULL OR next_attempt_at <= $1)`
	var out []*claimed
	scan := func(query string, args ...any) error {
		rows, err := tx.QueryContext(ctx, query, args...)
		if err != nil {
			return fmt.Errorf("claim deliveries: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var c claimed
			var userID sql.NullInt64 // NULL once the person is erased
			if err := rows.Scan(&c.id, &c.bulkSendID, &userID, &c.orgID, &c.action, &c.attempts); err != nil {
				return fmt.Errorf("claim deliveries: %w", err)
			}
			c.userID = int(userID.Int64)
			out = append(out, &c)
		}
		return rows.Err()
	}
	if s.db.Dialect == dialectPostgres {
		hashes := make([][]byte, n)
		for i := range n {
			hashes[i] = tokens[i].hash
		}
		err := scan(`WITH picked AS (
				SELECT id FROM deliveries WHERE `+due+` ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED),
			numbered AS (SELECT id, row_number() OVER (ORDER BY id) AS n FROM picked)
			UPDATE deliveries d SET leased_by = $3, lease_expires_at = $4, attempts = d.attempts + 1, updated_at = $1,
				token_hash = ($5::bytea[])[numbered.n]
			FROM numbered
			WHERE d.id = numbered.id
			RETURNING d.id, d.bulk_send_id, d.user_id, d.organization_id, d.action, d.attempts`,
			now, n, s.replicaID, leaseEnds, hashes)
		if err != nil {
			return nil, err
		}
	} else {
		// SQLite has one writer at a time: the transaction already holds
		// the database, so nobody can claim the same rows.
		err := scan(sqlite(`UPDATE deliveries SET leased_by = $3, lease_expires_at = $4, attempts = attempts + 1, updated_at = $1
			WHERE id IN (SELECT id FROM deliveries WHERE `+due+` ORDER BY id LIMIT $2)
			RETURNING id, bulk_send_id, user_id, organization_id, action, attempts`),
			now, n, s.replicaID, leaseEnds)
		if err != nil {
			return nil, err
		}
	}
	// PostgreSQL gave the i-th row by id the i-th hash; SQLite gets them now.
	sortByID(out)
	for i, c := range out {
		c.secret, c.hash = tokens[i].plain, tokens[i].hash
	}
	if s.db.Dialect != dialectPostgres {
		if err := s.setTokenHashes(ctx, tx, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// setTokenHashes records each claimed delivery's hash: one statement on
// PostgreSQL, a statement a row on in-process SQLite.
func (s *Service) setTokenHashes(ctx context.Context, tx *ent.Client, cs []*claimed) error {
	if len(cs) == 0 {
		return nil
	}
	if s.db.Dialect == dialectPostgres {
		ids, hashes := make([]int64, len(cs)), make([][]byte, len(cs))
		for i, c := range cs {
			ids[i], hashes[i] = int64(c.id), c.hash
		}
		_, err := tx.ExecContext(ctx, `UPDATE deliveries d SET token_hash = v.hash
			FROM unnest($1::bigint[], $2::bytea[]) AS v(id, hash) WHERE d.id = v.id AND d.id = ANY($1)`, ids, hashes)
		if err != nil {
			return fmt.Errorf("record token hashes: %w", err)
		}
		return nil
	}
	for _, c := range cs {
		if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET token_hash = ? WHERE id = ?`, c.hash, c.id); err != nil {
			return fmt.Errorf("record token hashes: %w", err)
		}
	}
	return nil
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
