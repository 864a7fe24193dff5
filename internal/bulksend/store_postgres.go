package bulksend

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/delivery"
	"github.com/rollcall/rollcall/ent/schema/enum"
)

// postgresStore is the engine's statements on PostgreSQL: set-based, one per
// unit of work, with no parameter limit (rows travel as arrays).
type postgresStore struct{}

func (postgresStore) locks() bool { return true }

func (postgresStore) rebind(query string) string { return query }

func (postgresStore) insertDeliveries(ctx context.Context, tx *ent.Client, b *ent.BulkSend, people []*recipient, now time.Time) error {
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

// claim picks the rows FOR UPDATE SKIP LOCKED: concurrent claimers on other
// replicas take other rows instead of waiting.
func (postgresStore) claim(ctx context.Context, tx *ent.Client, q claimQuery) ([]*claimed, error) {
	rows, err := tx.QueryContext(ctx, `WITH picked AS (
			SELECT id FROM deliveries WHERE `+q.due()+` ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED)
		UPDATE deliveries d SET leased_by = $3, lease_expires_at = $4, attempts = d.attempts + 1, updated_at = $1
		FROM picked WHERE d.id = picked.id
		RETURNING d.`+strings.Join(claimedColumns, ", d."),
		q.now, q.n, q.replica, q.leaseEnds)
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	return scanClaimed(rows)
}

func (postgresStore) setSent(ctx context.Context, tx *ent.Client, now time.Time, ids []int, messageIDs []string) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := tx.ExecContext(ctx, `UPDATE deliveries d SET status = 'SENT', provider_message_id = v.mid,
		sent_at = $1, updated_at = $1, leased_by = NULL, lease_expires_at = NULL, error = NULL
		FROM unnest($2::bigint[], $3::text[]) AS v(id, mid) WHERE d.id = v.id AND d.id = ANY($2)`, now, int64s(ids), messageIDs)
	if err != nil {
		return fmt.Errorf("record sent: %w", err)
	}
	return nil
}

func (postgresStore) setTemporaryPasswords(ctx context.Context, tx *ent.Client, now time.Time, userIDs []int, hashes []string) error {
	if len(userIDs) == 0 {
		return nil
	}
	_, err := tx.ExecContext(ctx, `UPDATE users u SET status = 'ACTIVE', must_change_password = true,
			invite_expires_at = NULL, updated_at = $1, password_hash = v.hash
		FROM unnest($2::bigint[], $3::text[]) AS v(id, hash)
		WHERE u.id = v.id AND u.id = ANY($2) AND u.status IN ('NOT_INVITED', 'INVITED')`, now, int64s(userIDs), hashes)
	if err != nil {
		return fmt.Errorf("set temporary passwords: %w", err)
	}
	return nil
}

// int64s converts ids for a bigint[] parameter.
func int64s(ids []int) []int64 {
	out := make([]int64, len(ids))
	for i, id := range ids {
		out[i] = int64(id)
	}
	return out
}
