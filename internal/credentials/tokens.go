package credentials

import (
	"context"
	"fmt"
	"time"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/invitation"
	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/apperr"
	"github.com/rollcall/rollcall/internal/auth"
	"github.com/rollcall/rollcall/internal/token"
)

// Errors of a token that cannot be used.
var (
	ErrInvalid = apperr.New(apperr.InvalidToken, "this link is not valid: it was used, replaced by a newer one, or cancelled")
	ErrExpired = apperr.New(apperr.TokenExpired, "this link has expired: ask for a new one")
)

// Issued is a token handed to one person.
type Issued struct {
	UserID  int
	Plain   string
	Expires time.Time
}

// Issue revokes every open token of kind held by userIDs and records a new
// one for each, lasting ttl from now, in the transaction behind tx. It
// returns the plain tokens, in the order of userIDs.
func Issue(ctx context.Context, tx *ent.Client, now time.Time, orgID int, kind invitation.Kind, ttl time.Duration, createdBy *int, userIDs ...int) ([]Issued, error) {
	ctx = auth.AsSystem(ctx)
	if err := Revoke(ctx, tx, now, kind, userIDs...); err != nil {
		return nil, err
	}
	out := make([]Issued, len(userIDs))
	creates := make([]*ent.InvitationCreate, len(userIDs))
	for i, id := range userIDs {
		plain, hash := token.New()
		out[i] = Issued{UserID: id, Plain: plain, Expires: now.Add(ttl)}
		creates[i] = tx.Invitation.Create().SetOrganizationID(orgID).SetUserID(id).SetKind(kind).
			SetTokenHash(hash).SetExpiresAt(now.Add(ttl)).SetNillableCreatedByID(createdBy).
			SetCreatedAt(now).SetUpdatedAt(now)
	}
	for start := 0; start < len(creates); start += 1000 {
		end := min(start+1000, len(creates))
		if err := tx.Invitation.CreateBulk(creates[start:end]...).Exec(ctx); err != nil {
			return nil, fmt.Errorf("issue tokens: %w", err)
		}
	}
	return out, nil
}

// Revoke revokes the open tokens of kind (every kind when kind is "") held
// by userIDs, through client (a transaction's, usually).
func Revoke(ctx context.Context, client *ent.Client, now time.Time, kind invitation.Kind, userIDs ...int) error {
	for start := 0; start < len(userIDs); start += 1000 {
		end := min(start+1000, len(userIDs))
		q := client.Invitation.Update().
			Where(invitation.UserIDIn(userIDs[start:end]...), invitation.UsedAtIsNil(), invitation.RevokedAtIsNil())
		if kind != "" {
			q = q.Where(invitation.KindEQ(kind))
		}
		if _, err := q.SetRevokedAt(now).SetUpdatedAt(now).Save(auth.AsSystem(ctx)); err != nil {
			return fmt.Errorf("revoke tokens: %w", err)
		}
	}
	return nil
}

// Lookup finds the open token tok of kind at now, with its person, role and
// organisation. It never spends the token: ErrInvalid when tok is unknown,
// used, revoked, of another kind or its person deactivated; ErrExpired when
// it has run out.
func Lookup(ctx context.Context, client *ent.Client, now time.Time, tok string, kind invitation.Kind) (*ent.Invitation, error) {
	if !token.WellFormed(tok) {
		return nil, ErrInvalid
	}
	inv, err := client.Invitation.Query().Where(invitation.TokenHash(token.Hash(tok))).
		WithUser(func(q *ent.UserQuery) { q.WithRole().WithOrganization() }).
		Only(auth.AsSystem(ctx))
	if ent.IsNotFound(err) {
		return nil, ErrInvalid
	}
	if err != nil {
		return nil, fmt.Errorf("find token: %w", err)
	}
	switch {
	case inv.Kind != kind, inv.UsedAt != nil, inv.RevokedAt != nil, inv.Edges.User.Status == user.StatusDeactivated:
		return nil, ErrInvalid
	case !inv.ExpiresAt.After(now):
		return nil, ErrExpired
	}
	return inv, nil
}

// Spend marks the token id used if, and only if, it is still open at now;
// ErrInvalid otherwise (another request spent it first).
func Spend(ctx context.Context, tx *ent.Client, id int, now time.Time) error {
	n, err := tx.Invitation.Update().
		Where(invitation.ID(id), invitation.UsedAtIsNil(), invitation.RevokedAtIsNil(), invitation.ExpiresAtGT(now)).
		SetUsedAt(now).SetUpdatedAt(now).Save(ctx)
	if err != nil {
		return fmt.Errorf("spend token: %w", err)
	}
	if n != 1 {
		return ErrInvalid
	}
	return nil
}
