package bulksend

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/db"
	"github.com/rollcall/rollcall/internal/testdb"
)

// TestClaimTakesWhatWasQueuedByNow: a worker reads the clock before its
// claim; a delivery queued after that reading is left to a worker that read
// the clock later, so its link and lease never count from before it was
// queued.
func TestClaimTakesWhatWasQueuedByNow(t *testing.T) {
	t.Parallel()
	d := testdb.Open(t)
	sys := testdb.System()
	o := testdb.NewOrg(t, d.Client, "claims")
	p := o.Person(t, "ada@example.com", "Member", user.StatusNotInvited)
	queued := time.Date(2026, 3, 5, 9, 0, 0, 0, time.UTC)
	b := d.Client.BulkSend.Create().SetOrganizationID(o.ID).SetKind("REMINDER").SetTotal(1).SaveX(sys)
	dl := d.Client.Delivery.Create().SetOrganizationID(o.ID).SetBulkSendID(b.ID).SetUserID(p.ID).SetEmail(p.Email).
		SetAction("REMINDER").SetCreatedAt(queued).SetUpdatedAt(queued).SaveX(sys)
	st := newStore(d.Dialect)
	claim := func(now time.Time) []*claimed {
		var got []*claimed
		require.NoError(t, db.InTx(sys, d.Client, func(tx *ent.Client) error {
			var err error
			got, err = st.claim(sys, tx, claimQuery{n: 10, now: now, leaseEnds: now.Add(30 * time.Second), replica: "r"})
			return err
		}))
		return got
	}
	require.Empty(t, claim(queued.Add(-36*time.Second)), "read the clock before it was queued")
	got := claim(queued)
	require.Len(t, got, 1)
	require.Equal(t, dl.ID, got[0].id)
}
