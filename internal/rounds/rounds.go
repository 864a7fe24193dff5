// Package rounds starts people's reminder rounds afresh when an invitation
// leaves: their schedule (reminder_schedules) goes back to round 0, counted
// from then. The reminder scheduler (internal/reminder) moves it on.
package rounds

import (
	"context"
	"fmt"
	"time"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/reminderschedule"
	"github.com/rollcall/rollcall/internal/auth"
)

// chunk keeps each statement's parameters within both databases' limits.
const chunk = 1000

// Restart puts the people ids of orgID back at round 0 of their reminder
// rounds, the next one counted from at, through tx (the transaction that
// records their invitation).
func Restart(ctx context.Context, tx *ent.Client, orgID int, at time.Time, ids ...int) error {
	ctx = auth.AsSystem(ctx)
	for start := 0; start < len(ids); start += chunk {
		part := ids[start:min(start+chunk, len(ids))]
		creates := make([]*ent.ReminderScheduleCreate, len(part))
		for i, id := range part {
			creates[i] = tx.ReminderSchedule.Create().SetID(id).SetOrganizationID(orgID).SetRound(0).SetAnchorAt(at)
		}
		err := tx.ReminderSchedule.CreateBulk(creates...).
			OnConflictColumns(reminderschedule.FieldID).
			Update(func(u *ent.ReminderScheduleUpsert) { u.SetRound(0).UpdateAnchorAt() }).
			Exec(ctx)
		if err != nil {
			return fmt.Errorf("restart reminder rounds: %w", err)
		}
	}
	return nil
}
