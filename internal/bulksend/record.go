package bulksend

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/bulksend"
	"github.com/rollcall/rollcall/ent/delivery"
	"github.com/rollcall/rollcall/ent/schema/enum"
	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/auth"
	"github.com/rollcall/rollcall/internal/credentials"
	"github.com/rollcall/rollcall/internal/db"
	"github.com/rollcall/rollcall/internal/event"
	"github.com/rollcall/rollcall/internal/notify"
	"github.com/rollcall/rollcall/internal/rounds"
)

// record writes a unit's results in one transaction: the deliveries, the
// people's fields, the sends' counters, and the end of any send it
// completes. Only deliveries this replica still holds are written, so a
// claim another replica took over after a lapsed lease is counted once.
func (s *Service) record(ctx context.Context, u *unit) error {
	now := s.clock.Now()
	var touched []*ent.BulkSend
	err := db.InTx(ctx, s.client, func(tx *ent.Client) error {
		sys := auth.AsSystem(ctx)
		held, err := s.held(sys, tx, u)
		if err != nil {
			return err
		}
		var jobs []*job
		for _, j := range u.jobs {
			if held[j.id] {
				jobs = append(jobs, j)
			}
		}
		cancelled, err := s.cancelledAmong(sys, tx, u)
		if err != nil {
			return err
		}
		for _, j := range jobs {
			if j.result.kind == retry && cancelled[j.bulkSendID] {
				j.result = result{kind: skipped, reason: "cancelled"}
			}
		}
		if err := s.writeDeliveries(sys, tx, now, jobs); err != nil {
			return err
		}
		if err := s.writePeople(sys, tx, now, jobs); err != nil {
			return err
		}
		// One insert for the unit's events.
		if err := s.events.RecordEach(sys, tx, outcomeEvents(jobs)...); err != nil {
			return err
		}
		touched, err = s.count(ctx, tx, now, jobs)
		return err
	})
	if err != nil {
		return fmt.Errorf("record unit: %w", err)
	}
	for _, b := range touched {
		s.published(ctx, b)
	}
	return nil
}

// held returns which of the unit's deliveries are still leased to this
// replica, locking them on PostgreSQL.
func (s *Service) held(ctx context.Context, tx *ent.Client, u *unit) (map[int]bool, error) {
	ids := make([]int, len(u.jobs))
	for i, j := range u.jobs {
		ids[i] = j.id
	}
	q := tx.Delivery.Query().Where(delivery.IDIn(ids...), delivery.LeasedBy(s.replicaID), delivery.StatusEQ(enum.DeliveryQueued))
	if s.store.locks() {
		q = q.ForUpdate()
	}
	got, err := q.IDs(ctx)
	if err != nil {
		return nil, fmt.Errorf("check leases: %w", err)
	}
	held := make(map[int]bool, len(got))
	for _, id := range got {
		held[id] = true
	}
	return held, nil
}

// cancelledAmong returns which of the unit's sends were cancelled.
func (s *Service) cancelledAmong(ctx context.Context, tx *ent.Client, u *unit) (map[int]bool, error) {
	ids := make([]int, 0, len(u.sends))
	for id := range u.sends {
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	got, err := tx.BulkSend.Query().Where(bulksend.IDIn(ids...), bulksend.StatusEQ(bulksend.StatusCANCELLED)).IDs(ctx)
	if err != nil {
		return nil, fmt.Errorf("read bulk sends: %w", err)
	}
	out := map[int]bool{}
	for _, id := range got {
		out[id] = true
	}
	return out, nil
}

// writeDeliveries records each job's result on its delivery: one statement
// per kind of result (per reason or retry time where those differ).
func (s *Service) writeDeliveries(ctx context.Context, tx *ent.Client, now time.Time, jobs []*job) error {
	var sentIDs []int
	var messageIDs []string
	type key struct {
		kind    resultKind
		reason  string
		retryAt time.Time
	}
	groups := map[key][]int{}
	for _, j := range jobs {
		r := j.result
		if r.kind == sent {
			sentIDs = append(sentIDs, j.id)
			messageIDs = append(messageIDs, r.messageID)
			continue
		}
		groups[key{r.kind, r.reason, r.retryAt}] = append(groups[key{r.kind, r.reason, r.retryAt}], j.id)
	}
	if err := s.store.setSent(ctx, tx, now, sentIDs, messageIDs); err != nil {
		return err
	}
	for k, ids := range groups {
		q := tx.Delivery.Update().Where(delivery.IDIn(ids...)).
			ClearLeasedBy().ClearLeaseExpiresAt().SetUpdatedAt(now)
		switch k.kind {
		case failed:
			q.SetStatus(enum.DeliveryFailed).SetError(k.reason)
		case bounced:
			q.SetStatus(enum.DeliveryBounced).SetError(k.reason).SetReportedAt(now)
		case skipped:
			q.SetStatus(enum.DeliverySkipped).SetError(k.reason)
		case retry:
			q.SetNextAttemptAt(k.retryAt).SetError(k.reason)
		case released, pending:
			q.AddAttempts(-1)
		}
		if err := q.Exec(ctx); err != nil {
			return fmt.Errorf("record deliveries: %w", err)
		}
	}
	return nil
}

// writePeople updates the people whose email left, failed or bounced:
// invited people become INVITED with their expiry, temporary passwords take
// effect, and everyone's lastEmailStatus follows. It is the one place that
// decides what a person becomes when their email leaves, for one person's
// emails and bulk sends alike.
func (s *Service) writePeople(ctx context.Context, tx *ent.Client, now time.Time, jobs []*job) error {
	invited := map[time.Time][]int{}  // by expiry
	reminded := map[time.Time][]int{} // by expiry
	restart := map[int][]int{}        // by organisation
	var resets, failedIDs, tempUsers []int
	var temp []*job
	for _, j := range jobs {
		switch {
		case !personal(j.action):
			// The old address's notice: the person's own address is not
			// the one it went to.
		case j.result.kind == failed:
			failedIDs = append(failedIDs, j.userID)
		case j.result.kind == bounced:
			// Refused by the recipient's server, as a provider's bounce
			// report is recorded: only while the person still has the
			// address, which later sends then skip.
			err := tx.User.Update().Where(user.ID(j.userID), user.EmailNormalized(strings.ToLower(j.email))).
				SetLastEmailStatus(enum.DeliveryBounced).Exec(ctx)
			if err != nil {
				return fmt.Errorf("record bounce: %w", err)
			}
		case j.result.kind != sent:
		case j.action == delivery.ActionINVITATION:
			invited[j.expires] = append(invited[j.expires], j.userID)
			restart[j.org.ID] = append(restart[j.org.ID], j.userID)
		case j.action == delivery.ActionREMINDER:
			reminded[j.expires] = append(reminded[j.expires], j.userID)
		case j.action == delivery.ActionPASSWORD_RESET:
			resets = append(resets, j.userID)
		case j.action == delivery.ActionTEMPORARY_PASSWORD:
			tempUsers = append(tempUsers, j.userID)
			temp = append(temp, j)
		}
	}
	for expires, ids := range invited {
		err := tx.User.Update().Where(user.IDIn(ids...), user.StatusIn(user.StatusNotInvited, user.StatusInvited)).
			SetStatus(user.StatusInvited).SetInvitedAt(now).SetInviteExpiresAt(expires).AddInvitationCount(1).
			SetLastEmailStatus(enum.DeliverySent).SetUpdatedAt(now).Exec(ctx)
		if err != nil {
			return fmt.Errorf("mark invited: %w", err)
		}
	}
	for orgID, ids := range restart {
		// An invitation starts the reminder rounds again.
		if err := rounds.Restart(ctx, tx, orgID, now, ids...); err != nil {
			return err
		}
	}
	for expires, ids := range reminded {
		// A reminder renews the link of a pending invitation; the rounds
		// were counted when the scheduler started them.
		err := tx.User.Update().Where(user.IDIn(ids...), user.StatusEQ(user.StatusInvited)).
			SetInviteExpiresAt(expires).SetLastEmailStatus(enum.DeliverySent).SetUpdatedAt(now).Exec(ctx)
		if err != nil {
			return fmt.Errorf("mark reminded: %w", err)
		}
	}
	hashes := make([]string, len(temp))
	for i, j := range temp {
		hashes[i] = auth.FastHash(j.secret)
	}
	if err := s.store.setTemporaryPasswords(ctx, tx, now, tempUsers, hashes); err != nil {
		return err
	}
	if len(tempUsers) > 0 {
		// A password replaces any open link.
		if err := credentials.Revoke(ctx, tx, now, "", tempUsers...); err != nil {
			return err
		}
	}
	for _, st := range []struct {
		status enum.DeliveryStatus
		ids    []int
	}{{enum.DeliverySent, slices.Concat(resets, tempUsers)}, {enum.DeliveryFailed, failedIDs}} {
		if len(st.ids) == 0 {
			continue
		}
		if err := tx.User.Update().Where(user.IDIn(st.ids...)).SetLastEmailStatus(st.status).Exec(ctx); err != nil {
			return fmt.Errorf("record email status: %w", err)
		}
	}
	return nil
}

// count moves the counters of the sends jobs belong to and finishes those
// that are complete. It returns the sends as they now stand.
func (s *Service) count(ctx context.Context, tx *ent.Client, now time.Time, jobs []*job) ([]*ent.BulkSend, error) {
	type tally struct{ sent, failed, skipped, bounced int }
	tallies := map[int]*tally{}
	var ids []int
	for _, j := range jobs {
		if single(j.claimed) {
			continue // one person's email: no send to count
		}
		t, ok := tallies[j.bulkSendID]
		if !ok {
			t = &tally{}
			tallies[j.bulkSendID] = t
			ids = append(ids, j.bulkSendID)
		}
		switch j.result.kind {
		case sent:
			t.sent++
		case failed:
			t.failed++
		case bounced: // could not be sent, and the server's refusal is a bounce
			t.failed++
			t.bounced++
		case skipped:
			t.skipped++
		}
	}
	sys := auth.AsSystem(ctx)
	slices.Sort(ids) // every unit locks sends in the same order
	var finished []int
	for _, id := range ids {
		t := tallies[id]
		done, err := s.tally(sys, tx, now, id, t.sent, t.failed, t.skipped, t.bounced)
		if err != nil {
			return nil, err
		}
		if done {
			finished = append(finished, id)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	sends, err := tx.BulkSend.Query().Where(bulksend.IDIn(ids...)).Order(ent.Asc(bulksend.FieldID)).All(sys)
	if err != nil {
		return nil, fmt.Errorf("read bulk sends: %w", err)
	}
	for _, b := range sends {
		if slices.Contains(finished, b.ID) {
			if err := s.finished(ctx, tx, b); err != nil {
				return nil, err
			}
		}
	}
	return sends, nil
}

// tally adds a unit's outcomes to send id's counters in one statement
// (bounced ones are among the failed), starting it (QUEUED becomes RUNNING)
// and, when this makes every delivery settled, ending it (COMPLETED unless
// CANCELLED, finished now). It reports whether it ended the send.
func (s *Service) tally(ctx context.Context, tx *ent.Client, now time.Time, id, sent, failed, skipped, bounced int) (bool, error) {
	n := sent + failed + skipped
	rows, err := tx.QueryContext(ctx, s.store.rebind(`UPDATE bulk_sends SET
			sent = sent + $2, failed = failed + $3, skipped = skipped + $4, bounced = bounced + $7, updated_at = $1,
			status = CASE WHEN finished_at IS NULL AND sent + failed + skipped + $5 >= total
				THEN (CASE WHEN status = 'CANCELLED' THEN status ELSE 'COMPLETED' END)
				WHEN status = 'QUEUED' THEN 'RUNNING' ELSE status END,
			finished_at = CASE WHEN finished_at IS NULL AND sent + failed + skipped + $5 >= total
				THEN $1 ELSE finished_at END
		WHERE id = $6
		RETURNING finished_at IS NOT NULL AND sent + failed + skipped - $5 < total`), now, sent, failed, skipped, n, id, bounced)
	if err != nil {
		return false, fmt.Errorf("count bulk send: %w", err)
	}
	defer rows.Close()
	var done bool
	for rows.Next() {
		if err := rows.Scan(&done); err != nil {
			return false, fmt.Errorf("count bulk send: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return false, fmt.Errorf("count bulk send: %w", err)
	}
	return done, nil
}

// finish ends a send whose every delivery is settled and tells its creator.
func (s *Service) finish(ctx context.Context, tx *ent.Client, id int) (*ent.BulkSend, error) {
	sys := auth.AsSystem(ctx)
	now := s.clock.Now() // after the unit's other writes: the end is now
	b, err := tx.BulkSend.Get(sys, id)
	if err != nil {
		return nil, fmt.Errorf("read bulk send: %w", err)
	}
	up := b.Update().SetFinishedAt(now).SetUpdatedAt(now)
	if b.Status != bulksend.StatusCANCELLED {
		up.SetStatus(bulksend.StatusCOMPLETED)
	}
	if b, err = up.Save(sys); err != nil {
		return nil, fmt.Errorf("finish bulk send: %w", err)
	}
	return b, s.finished(ctx, tx, b)
}

// outcomeEvents are the events of the jobs' outcomes, as writePeople
// leaves the people: invitation.sent for each invitation or temporary
// password that left, email.failed for each email that failed for good,
// email.bounced for each the recipient's server refused (SMTP's 5xx to RCPT).
func outcomeEvents(jobs []*job) []event.Event {
	var out []event.Event
	for _, j := range jobs {
		var send *int
		if !single(j.claimed) {
			send = &j.bulkSendID
		}
		switch {
		case j.result.kind == sent && (j.action == delivery.ActionINVITATION || j.action == delivery.ActionREMINDER || j.action == delivery.ActionTEMPORARY_PASSWORD):
			var expires *time.Time
			if j.action != delivery.ActionTEMPORARY_PASSWORD {
				expires = &j.expires
			}
			out = append(out, event.Sent(j.orgID, personAfter(j), string(j.action), j.id, send, j.createdBy, expires))
		case j.result.kind == failed || j.result.kind == bounced:
			typ := event.EmailFailed
			if j.result.kind == bounced {
				typ = event.EmailBounced
			}
			out = append(out, event.EmailEvent(typ, event.Email{OrgID: j.orgID, DeliveryID: j.id,
				BulkSendID: send, Kind: string(j.action), To: j.email, Person: personOf(j.user), Reason: j.result.reason}))
		}
	}
	return out
}

// personAfter is the person of a job that left as writePeople leaves them:
// INVITED after an invitation, ACTIVE after a temporary password, if they
// were NOT_INVITED or INVITED.
func personAfter(j *job) any {
	if j.user == nil { // erased meanwhile
		return map[string]any{"id": event.ID(j.userID)}
	}
	u := *j.user
	if u.Status == user.StatusNotInvited || u.Status == user.StatusInvited {
		switch j.action {
		case delivery.ActionINVITATION:
			u.Status = user.StatusInvited
		case delivery.ActionTEMPORARY_PASSWORD:
			u.Status, u.MustChangePassword = user.StatusActive, true
		}
	}
	return personOf(&u)
}

// personOf is what events say of u (read with its role), nil for nobody.
func personOf(u *ent.User) *event.PersonData {
	if u == nil {
		return nil
	}
	role := ""
	if u.Edges.Role != nil {
		role = u.Edges.Role.Name
	}
	return event.Person(u, role)
}

// finished records bulk_send.completed for b, a send that has just ended,
// and tells its creator its summary.
func (s *Service) finished(ctx context.Context, tx *ent.Client, b *ent.BulkSend) error {
	if err := s.events.Record(auth.AsSystem(ctx), tx, b.OrganizationID, event.Completed(b)); err != nil {
		return err
	}
	if b.CreatedByID == nil { // the system's or an API key's send: nobody to tell
		return nil
	}
	_, err := s.notify.Create(ctx, tx, b.OrganizationID, *b.CreatedByID, notify.KindBulkSendFinished, Summary(b), &b.ID)
	return err
}
