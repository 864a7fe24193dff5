package bulksend

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/delivery"
	"github.com/rollcall/rollcall/ent/schema/enum"
	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/auth"
)

// sqliteStore is the engine's statements on SQLite: row by row where
// PostgreSQL's are set-based (in-process, a statement costs microseconds),
// and without row locks (one writer at a time: a transaction that writes
// holds the whole database).
type sqliteStore struct{}

func (sqliteStore) locks() bool { return false }

func (sqliteStore) rebind(query string) string { return sqlite(query) }

func (sqliteStore) insertDeliveries(ctx context.Context, tx *ent.Client, b *ent.BulkSend, people []*recipient, now time.Time) error {
	const chunk = 2000 // 11 columns: well under SQLite's 32,766 parameters
	for start := 0; start < len(people); start += chunk {
		part := people[start:min(start+chunk, len(people))]
		creates := make([]*ent.DeliveryCreate, len(part))
		for i, p := range part {
			c := tx.Delivery.Create().SetOrganizationID(b.OrganizationID).SetBulkSendID(b.ID).SetUserID(p.ID).
				SetEmail(p.Email).SetAction(p.action).SetCreatedAt(now).SetUpdatedAt(now)
			if p.action == delivery.ActionSKIP {
				c.SetStatus(enum.DeliverySkipped).SetError(p.reason)
			}
			creates[i] = c
		}
		if err := tx.Delivery.CreateBulk(creates...).Exec(ctx); err != nil {
			return fmt.Errorf("queue deliveries: %w", err)
		}
	}
	return nil
}

func (sqliteStore) claim(ctx context.Context, tx *ent.Client, q claimQuery) ([]*claimed, error) {
	rows, err := tx.QueryContext(ctx, sqlite(`UPDATE deliveries SET leased_by = $3, lease_expires_at = $4, attempts = attempts + 1, updated_at = $1
		WHERE id IN (SELECT id FROM deliveries WHERE `+q.due()+` ORDER BY id LIMIT $2)
		RETURNING `+strings.Join(claimedColumns, ", ")),
		q.now, q.n, q.replica, q.leaseEnds)
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	return scanClaimed(rows)
}

func (sqliteStore) setSent(ctx context.Context, tx *ent.Client, now time.Time, ids []int, messageIDs []string) error {
	for i, id := range ids {
		err := tx.Delivery.UpdateOneID(id).SetStatus(enum.DeliverySent).SetProviderMessageID(messageIDs[i]).
			SetSentAt(now).SetUpdatedAt(now).ClearLeasedBy().ClearLeaseExpiresAt().ClearError().Exec(auth.AsSystem(ctx))
		if err != nil {
			return fmt.Errorf("record sent: %w", err)
		}
	}
	return nil
}

func (sqliteStore) setTemporaryPasswords(ctx context.Context, tx *ent.Client, now time.Time, userIDs []int, hashes []string) error {
	for i, id := range userIDs {
		err := tx.User.Update().Where(user.ID(id), user.StatusIn(user.StatusNotInvited, user.StatusInvited)).
			SetStatus(user.StatusActive).SetMustChangePassword(true).ClearInviteExpiresAt().SetUpdatedAt(now).
			SetPasswordHash(hashes[i]).Exec(auth.AsSystem(ctx))
		if err != nil {
			return fmt.Errorf("set temporary passwords: %w", err)
		}
	}
	return nil
}
