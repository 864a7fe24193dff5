package credentials

import (
	"context"
	"fmt"
	"time"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/auth"
)

// ActivateTemporary gives the person userID the temporary password hash in
// the transaction behind tx: they become ACTIVE, must choose their own
// password at the next sign-in, and every open token of theirs is revoked (a
// password replaces any link). Ending their sessions is the caller's. The
// bulk-send engine does the same for many people at once in its store, only
// for people still NOT_INVITED or INVITED.
func ActivateTemporary(ctx context.Context, tx *ent.Client, now time.Time, userID int, hash string) error {
	if err := Revoke(ctx, tx, now, "", userID); err != nil {
		return err
	}
	err := tx.User.UpdateOneID(userID).SetStatus(user.StatusActive).SetPasswordHash(hash).
		SetMustChangePassword(true).ClearInviteExpiresAt().SetUpdatedAt(now).Exec(auth.AsSystem(ctx))
	if err != nil {
		return fmt.Errorf("set temporary password: %w", err)
	}
	return nil
}
