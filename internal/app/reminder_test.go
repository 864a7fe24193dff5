package app_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	entbulksend "github.com/rollcall/rollcall/ent/bulksend"
	"github.com/rollcall/rollcall/ent/delivery"
	entevent "github.com/rollcall/rollcall/ent/event"
	"github.com/rollcall/rollcall/ent/invitation"
	"github.com/rollcall/rollcall/ent/notification"
	"github.com/rollcall/rollcall/ent/reminderround"
	"github.com/rollcall/rollcall/ent/schema/enum"
	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/config"
	"github.com/rollcall/rollcall/internal/testkit"
)

const policyMutation = `mutation($in: UpdateOrganizationInput!) { updateOrganization(input: $in) {
  name reminders { enabled afterHours expiryWarningHours } } }`

const policyQuery = `{ organization { name reminders { enabled afterHours expiryWarningHours } } }`

type policyAnswer struct {
	Name      string
	Reminders struct {
		Enabled            bool
		AfterHours         []int
		ExpiryWarningHours *int
	}
}

// setPolicy sets the organisation's reminder policy through the API.
func (a *admin) setPolicy(t *testing.T, policy map[string]any) {
	t.Helper()
	var out struct{ UpdateOrganization policyAnswer }
	a.s.Query(t, a.tok, policyMutation, map[string]any{"in": map[string]any{"reminders": policy}}).Decode(t, &out)
	require.Equal(t, policy["enabled"], out.UpdateOrganization.Reminders.Enabled)
}

// fresh signs a in again (sessions end while the clock runs ahead).
func (a *admin) fresh(t *testing.T) *admin {
	t.Helper()
	slug := a.org.Slug
	a.tok = a.s.Login(t, slug, "owner@"+slug+".test", testkit.OwnerPassword)
	return a
}

// at moves the test clock to Epoch + h hours.
func at(s *testkit.Server, h float64) {
	s.Clock.Advance(testkit.Epoch.Add(time.Duration(h * float64(time.Hour))).Sub(s.Clock.Now()))
}

// pass runs one scheduler pass on each server at once, then waits for the
// emails.
func pass(t *testing.T, servers ...*testkit.Server) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, len(servers))
	for i, s := range servers {
		wg.Go(func() { _, errs[i] = s.Reminders.Pass(context.Background()) })
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	servers[0].WaitDeliveries(t)
}

// reminders counts, per address, the reminders that left (SENT and later
// states: not SKIPPED, FAILED or QUEUED).
func reminders(t *testing.T, s *testkit.Server) map[string]int {
	t.Helper()
	ds, err := s.DB.Client.Delivery.Query().
		Where(delivery.ActionEQ(delivery.ActionREMINDER), delivery.SentAtNotNil()).All(testkit.System())
	require.NoError(t, err)
	out := map[string]int{}
	for _, d := range ds {
		out[d.Email]++
	}
	return out
}

func TestReminderPolicyBadInput(t *testing.T) {
	t.Parallel()
	s := testkit.NewServer(t)
	a := signIn(t, s, "policy")
	eleven := make([]int, 11)
	for i := range eleven {
		eleven[i] = 24
	}
	for _, c := range []struct {
		name   string
		policy map[string]any
		field  string
	}{
		{"zero hours", map[string]any{"enabled": true, "afterHours": []int{72, 0}}, "reminders.afterHours"},
		{"over 720 hours", map[string]any{"enabled": true, "afterHours": []int{721}}, "reminders.afterHours"},
		{"negative hours", map[string]any{"enabled": true, "afterHours": []int{-1}}, "reminders.afterHours"},
		{"eleven rounds", map[string]any{"enabled": true, "afterHours": eleven}, "reminders.afterHours"},
		{"warning of zero hours", map[string]any{"enabled": true, "afterHours": []int{72}, "expiryWarningHours": 0}, "reminders.expiryWarningHours"},
		{"warning over 720 hours", map[string]any{"enabled": true, "afterHours": []int{72}, "expiryWarningHours": 721}, "reminders.expiryWarningHours"},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp := s.Query(t, a.tok, policyMutation, map[string]any{"in": map[string]any{"name": "Renamed", "reminders": c.policy}})
			require.Equal(t, "BAD_USER_INPUT", resp.Code(), "%+v", resp.Errors)
			require.Equal(t, c.field, resp.Errors[0].Extensions["field"])
			var out struct{ Organization policyAnswer }
			s.Query(t, a.tok, policyQuery, nil).Decode(t, &out)
			require.Equal(t, "policy", out.Organization.Name, "nothing changed")
			require.False(t, out.Organization.Reminders.Enabled)
			require.Empty(t, out.Organization.Reminders.AfterHours)
		})
	}
	// Ten rounds of 1 and 720 hours are fine, and read back as set.
	ten := []int{1, 720, 1, 720, 1, 720, 1, 720, 1, 720}
	var out struct{ UpdateOrganization policyAnswer }
	s.Query(t, a.tok, policyMutation, map[string]any{"in": map[string]any{"reminders": map[string]any{
		"enabled": true, "afterHours": ten, "expiryWarningHours": 720}}}).Decode(t, &out)
	require.Equal(t, ten, out.UpdateOrganization.Reminders.AfterHours)
	require.Equal(t, 720, *out.UpdateOrganization.Reminders.ExpiryWarningHours)
}

// TestReminderRounds: a policy of [72, 168] reminds those still INVITED at
// 72 h and at 240 h, and never a third time; nobody who accepted, was
// deactivated, revoked or suppressed; an invitation sent again starts the
// rounds over.
func TestReminderRounds(t *testing.T) {
	t.Parallel()
	// The background scheduler does not tick on its own here: each pass
	// is the test's.
	s := testkit.NewServer(t, func(c *config.Config) { c.ReminderInterval = 100_000 * time.Hour })
	a := signIn(t, s, "rounds")
	a.setPolicy(t, map[string]any{"enabled": true, "afterHours": []int{72, 168}})

	people := []string{"ada@example.com", "bob@example.com", "carol@example.com", "eve@example.com", "frank@example.com", "gina@example.com"}
	res, resp := a.invite(t, a.tok, people, "Member", true)
	require.Empty(t, resp.Errors)
	s.AddPeople(t, a.org, testkit.Person{Email: "dave@example.com"}) // never invited
	s.WaitDeliveries(t)
	id := map[string]string{}
	for _, u := range res.InviteUsers.Users {
		id[u.Email] = u.ID
	}
	// eve is deactivated, frank's invitation revoked, gina's address bounced.
	require.Empty(t, s.Query(t, a.tok, `mutation($id: ID!) { deactivateUser(id: $id) { id } }`, map[string]any{"id": id["eve@example.com"]}).Errors)
	require.Empty(t, s.Query(t, a.tok, `mutation($id: ID!) { revokeInvitation(userId: $id) { id } }`, map[string]any{"id": id["frank@example.com"]}).Errors)
	require.NoError(t, s.DB.Client.User.Update().Where(user.EmailNormalized("gina@example.com")).
		SetLastEmailStatus(enum.DeliveryBounced).Exec(testkit.System()))
	notificationsBefore, err := s.DB.Client.Notification.Query().Count(testkit.System())
	require.NoError(t, err)
	first := s.LastEmailTo(t, "bob@example.com").Token()

	at(s, 71.99)
	pass(t, s)
	require.Empty(t, reminders(t, s), "not before 72 hours")

	at(s, 72)
	pass(t, s)
	want := map[string]int{"ada@example.com": 1, "bob@example.com": 1, "carol@example.com": 1}
	require.Equal(t, want, reminders(t, s))
	// Those reminded move on to round 1; the schedules of those no longer
	// waiting are forgotten as they come due.
	require.Equal(t, want, schedules(t, s))
	mail := s.LastEmailTo(t, "ada@example.com")
	require.Contains(t, mail.Subject, "Reminder")
	require.NotEmpty(t, mail.Token())
	// A fresh link, with a fresh expiry; the older one is revoked.
	require.Equal(t, "INVALID_TOKEN", accept(s, t, first, "a long enough passphrase 1").Code())
	ada, err := s.DB.Client.User.Query().Where(user.EmailNormalized("ada@example.com")).Only(testkit.System())
	require.NoError(t, err)
	require.True(t, ada.InviteExpiresAt.Equal(testkit.Epoch.Add((72+168)*time.Hour)), "%v", ada.InviteExpiresAt)
	require.Equal(t, 1, ada.InvitationCount, "a reminder is not another invitation")
	open, err := s.DB.Client.Invitation.Query().Where(invitation.UserID(ada.ID), invitation.RevokedAtIsNil(), invitation.UsedAtIsNil()).Count(testkit.System())
	require.NoError(t, err)
	require.Equal(t, 1, open)

	// bob accepts between the rounds.
	at(s, 100)
	require.Empty(t, accept(s, t, s.LastEmailTo(t, "bob@example.com").Token(), "a long enough passphrase 1").Errors)

	at(s, 239.99)
	pass(t, s)
	require.Equal(t, want, reminders(t, s), "round 2 is 168 hours after round 1")

	at(s, 240)
	pass(t, s)
	want = map[string]int{"ada@example.com": 2, "bob@example.com": 1, "carol@example.com": 2}
	require.Equal(t, want, reminders(t, s))
	require.Equal(t, map[string]int{"ada@example.com": 2, "carol@example.com": 2}, schedules(t, s), "bob accepted")
	// Each reminder that left is an invitation.sent event of kind REMINDER.
	evs, err := s.DB.Client.Event.Query().Where(entevent.Type("invitation.sent")).All(testkit.System())
	require.NoError(t, err)
	kinds := 0
	for _, e := range evs {
		if e.Data["kind"] == "REMINDER" {
			kinds++
		}
	}
	require.Equal(t, 5, kinds)

	at(s, 2000)
	pass(t, s)
	require.Equal(t, want, reminders(t, s), "never a third round")

	// The rounds are bulk sends with trigger REMINDER that nobody started,
	// tell nobody, and are listed in bulkSends.
	var sends struct {
		BulkSends struct {
			Edges []struct {
				Node struct {
					Kind, Trigger, Status string
					Total, Sent           int
					CreatedBy             *struct{ Email string }
				}
			}
		}
	}
	s.Query(t, a.fresh(t).tok, `{ bulkSends(where: {trigger: REMINDER}) { edges { node { kind trigger status total sent createdBy { email } } } } }`, nil).Decode(t, &sends)
	require.Len(t, sends.BulkSends.Edges, 2)
	for i, total := range []int{2, 3} { // newest first
		n := sends.BulkSends.Edges[i].Node
		require.Equal(t, "REMINDER", n.Kind)
		require.Equal(t, "REMINDER", n.Trigger)
		require.Equal(t, "COMPLETED", n.Status)
		require.Equal(t, total, n.Total)
		require.Equal(t, total, n.Sent)
		require.Nil(t, n.CreatedBy)
	}
	notifications, err := s.DB.Client.Notification.Query().Where(notification.KindNEQ("INVITATION_ACCEPTED")).Count(testkit.System())
	require.NoError(t, err)
	require.Equal(t, notificationsBefore, notifications, "rounds tell nobody")

	// An invitation sent again by a person starts carol's rounds over.
	at(s, 250)
	require.Empty(t, s.Query(t, a.tok, `mutation($id: ID!) { resendInvitation(userId: $id) { id } }`, map[string]any{"id": id["carol@example.com"]}).Errors)
	s.WaitDeliveries(t)
	at(s, 250+71.99)
	pass(t, s)
	require.Equal(t, 2, reminders(t, s)["carol@example.com"])
	at(s, 250+72)
	pass(t, s)
	require.Equal(t, 3, reminders(t, s)["carol@example.com"])
	require.Equal(t, 2, reminders(t, s)["ada@example.com"])
}

// schedules returns the round each person with a reminder schedule is at,
// by address.
func schedules(t *testing.T, s *testkit.Server) map[string]int {
	t.Helper()
	rows, err := s.DB.Client.ReminderSchedule.Query().All(testkit.System())
	require.NoError(t, err)
	out := map[string]int{}
	for _, r := range rows {
		u, err := s.DB.Client.User.Get(testkit.System(), r.ID)
		require.NoError(t, err)
		out[u.Email] = r.Round
	}
	return out
}

// TestReminderReplicas: two replicas passing at once, and a replica
// restarted between the rounds, send each round to each person once.
func TestReminderReplicas(t *testing.T) {
	t.Parallel()
	small := func(c *config.Config) { c.ReminderBatch = 7 } // a round is several transactions
	s := testkit.NewServer(t, small)
	a := signIn(t, s, "replicas")
	a.setPolicy(t, map[string]any{"enabled": true, "afterHours": []int{72, 168}})
	var emails []string
	for i := range 40 {
		emails = append(emails, fmt.Sprintf("p%02d@example.com", i))
	}
	_, resp := a.invite(t, a.tok, emails, "Member", true)
	require.Empty(t, resp.Errors)
	s.WaitDeliveries(t)
	r := s.Replica(t, true, small)

	at(s, 72)
	pass(t, s, r, s, r)
	got := reminders(t, s)
	require.Len(t, got, 40)
	for _, e := range emails {
		require.Equal(t, 1, got[e], e)
	}

	// r stops (its scheduler and workers), and comes back as r2: it finds
	// the round-2 people from the database alone.
	r.StopWorkers()
	at(s, 200)
	r2 := s.Replica(t, true, small)
	at(s, 240)
	pass(t, s, r2, r2)
	got = reminders(t, s)
	for _, e := range emails {
		require.Equal(t, 2, got[e], e)
	}
	at(s, 1000)
	pass(t, s, r2)
	require.Equal(t, got, reminders(t, s))
	rounds, err := s.DB.Client.ReminderRound.Query().Where(reminderround.RoundGT(0)).Count(testkit.System())
	require.NoError(t, err)
	require.Equal(t, 80, rounds)
	sends, err := s.DB.Client.BulkSend.Query().Where(entbulksend.TriggerEQ(entbulksend.TriggerREMINDER)).All(testkit.System())
	require.NoError(t, err)
	total := 0
	for _, b := range sends {
		total += b.Total
		require.Zero(t, b.Skipped)
	}
	require.Equal(t, 80, total)
}

// TestReminderExpiryWarning: one reminder expiryWarningHours before a
// pending invitation expires, once per invitation.
func TestReminderExpiryWarning(t *testing.T) {
	t.Parallel()
	s := testkit.NewServer(t, func(c *config.Config) { c.ReminderInterval = 100_000 * time.Hour })
	a := signIn(t, s, "warning")
	a.setPolicy(t, map[string]any{"enabled": true, "afterHours": []int{}, "expiryWarningHours": 24})
	_, resp := a.invite(t, a.tok, []string{"ada@example.com", "bob@example.com"}, "Member", true)
	require.Empty(t, resp.Errors)
	s.WaitDeliveries(t)
	// bob's invitation is sent again a day later: it expires a day later.
	at(s, 24)
	a.fresh(t)
	bob, err := s.DB.Client.User.Query().Where(user.EmailNormalized("bob@example.com")).Only(testkit.System())
	require.NoError(t, err)
	require.Empty(t, s.Query(t, a.tok, `mutation($id: ID!) { resendInvitation(userId: $id) { id } }`, map[string]any{"id": fmt.Sprint(bob.ID)}).Errors)
	s.WaitDeliveries(t)

	at(s, 143.99) // ada's expires at 168 h
	pass(t, s)
	require.Empty(t, reminders(t, s))
	at(s, 144)
	pass(t, s)
	require.Equal(t, map[string]int{"ada@example.com": 1}, reminders(t, s))
	at(s, 168)
	pass(t, s)
	require.Equal(t, map[string]int{"ada@example.com": 1, "bob@example.com": 1}, reminders(t, s))
	// The warning's fresh link expires later; no second warning for the
	// same invitation.
	for _, h := range []float64{200, 300, 320, 400} {
		at(s, h)
		pass(t, s)
	}
	require.Equal(t, map[string]int{"ada@example.com": 1, "bob@example.com": 1}, reminders(t, s))
}

// TestReminderByHand: sendInvitations(kind: REMINDER) reminds INVITED
// people and skips the others.
func TestReminderByHand(t *testing.T) {
	t.Parallel()
	a := signIn(t, testkit.NewServer(t), "byhand")
	s := a.s
	_, resp := a.invite(t, a.tok, []string{"ada@example.com"}, "Member", true)
	require.Empty(t, resp.Errors)
	s.AddPeople(t, a.org, testkit.Person{Email: "dave@example.com"}, testkit.Person{Email: "olga@example.com", Status: user.StatusActive})
	s.WaitDeliveries(t)
	out := a.send(t, map[string]any{"kind": "REMINDER"})
	require.Equal(t, 1, out.SendInvitations.Invitations)
	s.WaitDeliveries(t)
	require.Equal(t, map[string]int{"ada@example.com": 1}, reminders(t, s))
	ds, err := s.DB.Client.Delivery.Query().Where(delivery.ActionEQ(delivery.ActionSKIP)).All(testkit.System())
	require.NoError(t, err)
	var reasons []string
	for _, d := range ds {
		if d.Email != "owner@byhand.test" {
			reasons = append(reasons, d.Email+": "+*d.Error)
		}
	}
	slices.Sort(reasons)
	require.Equal(t, []string{"dave@example.com: not invited", "olga@example.com: already has an account"}, reasons)
	require.True(t, strings.HasPrefix(s.LastEmailTo(t, "ada@example.com").Subject, "Reminder"))
}
