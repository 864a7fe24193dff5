package app_test

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/ent"
	entbulksend "github.com/rollcall/rollcall/ent/bulksend"
	"github.com/rollcall/rollcall/ent/delivery"
	"github.com/rollcall/rollcall/ent/schema/enum"
	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/config"
	"github.com/rollcall/rollcall/internal/db"
	"github.com/rollcall/rollcall/internal/invite"
	"github.com/rollcall/rollcall/internal/testkit"
	"github.com/rollcall/rollcall/internal/viewer"
)

const sendMutation = `mutation($in: SendInvitationsInput!) { sendInvitations(input: $in) {
  bulkSend { id status kind total sent failed skipped finishedAt createdBy { email } }
  total invitations passwordResets temporaryPasswords skipped } }`

type bulkSend struct {
	ID, Status, Kind             string
	Total, Sent, Failed, Skipped int
	FinishedAt                   *time.Time
	CreatedBy                    struct{ Email string }
}

type sendPayload struct {
	SendInvitations struct {
		BulkSend                                                        *bulkSend
		Total, Invitations, PasswordResets, TemporaryPasswords, Skipped int
	}
}

// send calls sendInvitations and returns its payload, failing on errors.
func (a *admin) send(t *testing.T, in map[string]any) sendPayload {
	t.Helper()
	resp := a.s.Query(t, a.tok, sendMutation, map[string]any{"in": in})
	require.Empty(t, resp.Errors, "%+v", resp.Errors)
	var out sendPayload
	resp.Decode(t, &out)
	return out
}

// bulkSendByID reads a send through the API.
func (a *admin) bulkSendByID(t *testing.T, id string) bulkSend {
	t.Helper()
	var out struct{ BulkSend bulkSend }
	a.s.Query(t, a.tok, `query($id: ID!) { bulkSend(id: $id) { id status kind total sent failed skipped finishedAt } }`,
		map[string]any{"id": id}).Decode(t, &out)
	return out.BulkSend
}

// awaitSend follows send id's progress through the engine's own feed (what
// the bulkSendProgress subscription streams), as a's viewer, until done
// holds, and returns that state. It fails if the send finishes first, or
// after 30 seconds.
func (a *admin) awaitSend(t *testing.T, id string, done func(*ent.BulkSend) bool) *ent.BulkSend {
	t.Helper()
	v, err := a.s.Auth.Authenticate(context.Background(), a.tok)
	require.NoError(t, err)
	n, err := strconv.Atoi(id)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(viewer.NewContext(context.Background(), v), 30*time.Second)
	defer cancel()
	states, err := a.s.BulkSends.Watch(ctx, n)
	require.NoError(t, err)
	var last *ent.BulkSend
	for b := range states {
		if done(b) {
			return b
		}
		last = b
	}
	t.Fatalf("send %s: the condition never held (%v); last state %+v", id, ctx.Err(), last)
	return nil
}

// sent says a send has sent at least one email.
func sent(b *ent.BulkSend) bool { return b.Sent > 0 }

// seedMix adds one person of each kind AUTO tells apart.
func seedMix(t *testing.T, a *admin) map[string]int {
	t.Helper()
	people := a.s.AddPeople(t, a.org,
		testkit.Person{Email: "new@example.com", FirstName: "Nell"},
		testkit.Person{Email: "pending@example.com", Status: user.StatusInvited},
		testkit.Person{Email: "active@example.com", Status: user.StatusActive, Password: "active-password-1"},
		testkit.Person{Email: "gone@example.com", Status: user.StatusDeactivated},
		testkit.Person{Email: "bounced@example.com", LastEmailStatus: enum.DeliveryBounced},
	)
	ids := map[string]int{}
	for _, p := range people {
		ids[p.Email] = p.ID
	}
	return ids
}

func TestSendInvitationsAuto(t *testing.T) {
	t.Parallel()
	a := newAdmin(t)
	s := a.s
	seedMix(t, a)
	everyone := map[string]any{"where": map[string]any{"emailHasSuffix": "@example.com"}}

	dry := a.send(t, map[string]any{"where": everyone["where"], "dryRun": true})
	require.Nil(t, dry.SendInvitations.BulkSend)
	require.Equal(t, 5, dry.SendInvitations.Total)
	require.Equal(t, 2, dry.SendInvitations.Invitations, "NOT_INVITED and INVITED")
	require.Equal(t, 1, dry.SendInvitations.PasswordResets, "ACTIVE")
	require.Equal(t, 2, dry.SendInvitations.Skipped, "DEACTIVATED and a bounced address")
	require.Empty(t, s.Outbox(t), "a dry run sends nothing")
	n, err := s.DB.Client.Delivery.Query().Count(testkit.System())
	require.NoError(t, err)
	require.Zero(t, n, "a dry run writes nothing")

	res := a.send(t, everyone).SendInvitations
	require.NotNil(t, res.BulkSend)
	require.Equal(t, "AUTO", res.BulkSend.Kind)
	require.Equal(t, "owner@acme.test", res.BulkSend.CreatedBy.Email)
	s.WaitDeliveries(t)

	b := a.bulkSendByID(t, res.BulkSend.ID)
	require.Equal(t, "COMPLETED", b.Status)
	require.Equal(t, 5, b.Total)
	require.Equal(t, 3, b.Sent)
	require.Equal(t, 2, b.Skipped)
	require.Zero(t, b.Failed)
	require.NotNil(t, b.FinishedAt)
	require.Equal(t, b.Total, b.Sent+b.Failed+b.Skipped)

	invite := s.LastEmailTo(t, "new@example.com")
	require.Contains(t, invite.Text, "Nell", "greeted by first name")
	var info struct{ Invitation *struct{ Email string } }
	s.Query(t, "", `query($t: String!) { invitation(token: $t) { email } }`, map[string]any{"t": invite.Token()}).Decode(t, &info)
	require.NotNil(t, info.Invitation, "the emailed link is valid")
	require.Len(t, s.EmailsTo(t, "pending@example.com"), 1)
	reset := s.LastEmailTo(t, "active@example.com")
	require.Contains(t, reset.Links()[0], "/password/reset?token=")
	require.Empty(t, s.EmailsTo(t, "gone@example.com"))
	require.Empty(t, s.EmailsTo(t, "bounced@example.com"), "a bounced address is suppressed")

	u, err := s.DB.Client.User.Query().Where(user.EmailNormalized("new@example.com")).Only(testkit.System())
	require.NoError(t, err)
	require.Equal(t, user.StatusInvited, u.Status)
	require.Equal(t, 1, u.InvitationCount)
	require.Equal(t, enum.DeliverySent, *u.LastEmailStatus)
	require.NotNil(t, u.InviteExpiresAt)

	skipped, err := s.DB.Client.Delivery.Query().Where(delivery.StatusEQ(enum.DeliverySkipped)).All(testkit.System())
	require.NoError(t, err)
	require.Len(t, skipped, 2)
	for _, d := range skipped {
		require.NotEmpty(t, *d.Error, "a skip says why")
	}

	var feed struct {
		Notifications struct {
			Edges []struct {
				Node struct {
					Kind, Message string
					Read          bool
					BulkSend      struct{ ID string }
				}
			}
		}
	}
	s.Query(t, a.tok, `{ notifications(first: 10) { edges { node { kind message read bulkSend { id } } } } }`, nil).Decode(t, &feed)
	require.Len(t, feed.Notifications.Edges, 1)
	note := feed.Notifications.Edges[0].Node
	require.Equal(t, "3 invitations or password reset instructions sent, 0 failed, 2 skipped", note.Message)
	require.Equal(t, res.BulkSend.ID, note.BulkSend.ID)
	require.False(t, note.Read)
	var marked struct{ MarkNotificationsRead int }
	s.Query(t, a.tok, `mutation { markNotificationsRead }`, nil).Decode(t, &marked)
	require.Equal(t, 1, marked.MarkNotificationsRead)
	s.Query(t, a.tok, `{ notifications(first: 10, unreadOnly: true) { edges { node { kind } } } }`, nil).Decode(t, &feed)
	require.Empty(t, feed.Notifications.Edges)
}

func TestSendInvitationsSelection(t *testing.T) {
	t.Parallel()
	a := newAdmin(t)
	s := a.s
	ids := seedMix(t, a)
	hr := s.AddPeople(t, a.org, testkit.Person{Email: "hr1@example.com", Role: "HR"}, testkit.Person{Email: "hr2@example.com", Role: "HR"})
	gid := func(id int) string { return fmt.Sprint(id) }

	byID := a.send(t, map[string]any{"userIds": []string{gid(ids["new@example.com"]), gid(ids["gone@example.com"])}, "dryRun": true}).SendInvitations
	require.Equal(t, 2, byID.Total)
	require.Equal(t, 1, byID.Invitations)
	require.Equal(t, 1, byID.Skipped)

	byFilter := a.send(t, map[string]any{"where": map[string]any{"status": "NOT_INVITED"}, "dryRun": true}).SendInvitations
	require.Equal(t, 4, byFilter.Total, "new, bounced and the two HR people")

	byRole := a.send(t, map[string]any{"roleIds": []string{a.roleID("HR")}, "dryRun": true}).SendInvitations
	require.Equal(t, 2, byRole.Total)

	both := a.send(t, map[string]any{"userIds": []string{gid(hr[0].ID), gid(ids["new@example.com"])}, "roleIds": []string{a.roleID("HR")}, "dryRun": true}).SendInvitations
	require.Equal(t, 1, both.Total, "ids narrowed by role")

	resets := a.send(t, map[string]any{"kind": "PASSWORD_RESET", "dryRun": true}).SendInvitations
	require.Equal(t, 2, resets.PasswordResets, "the active person and the owner")
	invitations := a.send(t, map[string]any{"kind": "INVITATION", "dryRun": true}).SendInvitations
	require.Equal(t, 4, invitations.Invitations, "new, pending and the HR people; not the bounced address")

	// A foreign id is NOT_FOUND and changes nothing.
	other := s.CreateOrg(t, "other")
	stranger := s.AddPeople(t, other, testkit.Person{Email: "stranger@example.com"})[0]
	resp := s.Query(t, a.tok, sendMutation, map[string]any{"in": map[string]any{"userIds": []string{gid(ids["new@example.com"]), gid(stranger.ID)}}})
	require.Equal(t, "NOT_FOUND", resp.Code())
	resp = s.Query(t, a.tok, sendMutation, map[string]any{"in": map[string]any{"roleIds": []string{fmt.Sprint(other.Roles["HR"].ID)}}})
	require.Equal(t, "NOT_FOUND", resp.Code())
	// Huge and malformed inputs are refused whole, naming the field.
	huge := make([]string, 100_001)
	for i := range huge {
		huge[i] = fmt.Sprint(i + 1)
	}
	resp = s.Query(t, a.tok, sendMutation, map[string]any{"in": map[string]any{"userIds": huge}})
	require.Equal(t, "BAD_USER_INPUT", resp.Code())
	require.Equal(t, "userIds", resp.Errors[0].Extensions["field"])
	resp = s.Query(t, a.tok, sendMutation, map[string]any{"in": map[string]any{"idempotencyKey": strings.Repeat("k", 201)}})
	require.Equal(t, "idempotencyKey", resp.Errors[0].Extensions["field"])
	resp = s.Query(t, a.tok, sendMutation, map[string]any{"in": map[string]any{"kind": "EVERYTHING"}})
	require.Equal(t, "BAD_USER_INPUT", resp.Code())
	n, err := s.DB.Client.BulkSend.Query().Count(testkit.System())
	require.NoError(t, err)
	require.Zero(t, n)
	require.Empty(t, s.Outbox(t))
}

func TestSendInvitationsPermissionsAndIdempotency(t *testing.T) {
	t.Parallel()
	a := newAdmin(t)
	s := a.s
	ids := seedMix(t, a)
	s.AddPeople(t, a.org,
		testkit.Person{Email: "hr@acme.test", Role: "HR", Status: user.StatusActive, Password: "hr-password-123"},
		testkit.Person{Email: "member@acme.test", Status: user.StatusActive, Password: "member-password-1"})
	hrTok := s.Login(t, "acme", "hr@acme.test", "hr-password-123")
	memberTok := s.Login(t, "acme", "member@acme.test", "member-password-1")
	one := []string{fmt.Sprint(ids["new@example.com"])}

	require.Equal(t, "FORBIDDEN", s.Query(t, memberTok, sendMutation, map[string]any{"in": map[string]any{"userIds": one}}).Code())
	require.Equal(t, "FORBIDDEN", s.Query(t, hrTok, sendMutation, map[string]any{"in": map[string]any{"userIds": one, "kind": "TEMPORARY_PASSWORD"}}).Code(),
		"temporary passwords need credentials.manage")
	require.Empty(t, s.Query(t, hrTok, sendMutation, map[string]any{"in": map[string]any{"userIds": one, "dryRun": true}}).Errors)

	// A double-clicked button: the same key returns the same send, once.
	in := map[string]any{"userIds": one, "idempotencyKey": "click-1"}
	var first, second sendPayload
	var wg sync.WaitGroup
	for _, out := range []*sendPayload{&first, &second} {
		wg.Go(func() { *out = a.send(t, in) })
	}
	wg.Wait()
	require.Equal(t, first.SendInvitations.BulkSend.ID, second.SendInvitations.BulkSend.ID)
	require.Equal(t, 1, second.SendInvitations.Invitations)
	s.WaitDeliveries(t)
	require.Len(t, s.EmailsTo(t, "new@example.com"), 1, "sent once")
	again := a.send(t, in)
	require.Equal(t, first.SendInvitations.BulkSend.ID, again.SendInvitations.BulkSend.ID)

	resp := s.Query(t, a.tok, sendMutation, map[string]any{"in": map[string]any{"userIds": []string{fmt.Sprint(ids["pending@example.com"])}, "idempotencyKey": "click-1"}})
	require.Equal(t, "CONFLICT", resp.Code(), "the same key for another request")
	resp = s.Query(t, a.tok, sendMutation, map[string]any{"in": map[string]any{"where": map[string]any{"status": "INVITED"}, "idempotencyKey": "click-1"}})
	require.Equal(t, "CONFLICT", resp.Code())

	// The key is the viewer's own: another admin's same key is a new send.
	hrSend := s.Query(t, hrTok, sendMutation, map[string]any{"in": in})
	require.Empty(t, hrSend.Errors)
	var hrOut sendPayload
	hrSend.Decode(t, &hrOut)
	require.NotEqual(t, first.SendInvitations.BulkSend.ID, hrOut.SendInvitations.BulkSend.ID)

	// After 24 hours the key is free again.
	s.WaitDeliveries(t)
	s.Clock.Advance(25 * time.Hour)
	a.tok = s.Login(t, "acme", "owner@acme.test", testkit.OwnerPassword)
	later := a.send(t, in)
	require.NotEqual(t, first.SendInvitations.BulkSend.ID, later.SendInvitations.BulkSend.ID)
	s.WaitDeliveries(t)
}

func TestSendTemporaryPasswords(t *testing.T) {
	t.Parallel()
	a := newAdmin(t)
	s := a.s
	ids := seedMix(t, a)
	pendingUntil := s.Clock.Now().Add(time.Hour)
	require.NoError(t, s.DB.Client.User.UpdateOneID(ids["pending@example.com"]).SetInviteExpiresAt(pendingUntil).Exec(testkit.System()))
	res := a.send(t, map[string]any{"kind": "TEMPORARY_PASSWORD"}).SendInvitations
	require.Equal(t, 2, res.TemporaryPasswords, "new and pending; the owner, active, deactivated and bounced people are skipped")
	s.WaitDeliveries(t)

	msg := s.LastEmailTo(t, "new@example.com")
	var password string
	for _, line := range strings.Split(msg.Text, "\n") {
		for _, f := range strings.Fields(line) {
			if len(f) == 27 && strings.Count(f, "-") == 3 {
				password = f
			}
		}
	}
	require.NotEmpty(t, password, "the email carries the password: %s", msg.Text)
	u, err := s.DB.Client.User.Query().Where(user.EmailNormalized("new@example.com")).Only(testkit.System())
	require.NoError(t, err)
	require.Equal(t, user.StatusActive, u.Status)
	require.True(t, u.MustChangePassword)
	require.NotContains(t, *u.PasswordHash, password, "only a hash is stored")

	pending, err := s.DB.Client.User.Get(testkit.System(), ids["pending@example.com"])
	require.NoError(t, err)
	require.Equal(t, user.StatusActive, pending.Status)
	require.Nil(t, pending.InviteExpiresAt, "as setTemporaryPassword: no invitation pending")

	tok := s.Login(t, "acme", "new@example.com", password)
	var v struct {
		Viewer struct{ MustChangePassword bool }
	}
	s.Query(t, tok, `{ viewer { mustChangePassword } }`, nil).Decode(t, &v)
	require.True(t, v.Viewer.MustChangePassword)
}

func TestCancelBulkSend(t *testing.T) {
	t.Parallel()
	s := testkit.NewServer(t, func(c *config.Config) { c.Mail.SendRate = 20 })
	a := signIn(t, s, "acme")
	o := a.org
	var people []testkit.Person
	for i := range 200 {
		people = append(people, testkit.Person{Email: fmt.Sprintf("p%03d@example.com", i)})
	}
	s.AddPeople(t, o, people...)
	res := a.send(t, map[string]any{"where": map[string]any{"status": "NOT_INVITED"}}).SendInvitations
	require.Equal(t, 200, res.Total)
	a.awaitSend(t, res.BulkSend.ID, sent) // they leave at 20 a second

	var out struct{ CancelBulkSend bulkSend }
	s.Query(t, a.tok, `mutation($id: ID!) { cancelBulkSend(id: $id) { status sent skipped total } }`,
		map[string]any{"id": res.BulkSend.ID}).Decode(t, &out)
	require.Equal(t, "CANCELLED", out.CancelBulkSend.Status)
	s.WaitDeliveries(t)
	b := a.bulkSendByID(t, res.BulkSend.ID)
	require.Equal(t, "CANCELLED", b.Status)
	require.NotNil(t, b.FinishedAt)
	require.Equal(t, 200, b.Sent+b.Failed+b.Skipped, "counts add up")
	require.Less(t, b.Sent, 200, "the rest were not sent")
	require.Len(t, s.Outbox(t), b.Sent, "exactly the sent ones left")
}

func TestBulkSendMailgunBatchesAndRetries(t *testing.T) {
	t.Parallel()
	s, mg := withMailgun(t, func(c *config.Config) {
		c.Mail.SendLease = time.Hour // the test clock races ahead; leases must not lapse
	})
	a := signIn(t, s, "acme")
	o := a.org
	var people []testkit.Person
	for i := range 30 {
		people = append(people, testkit.Person{Email: fmt.Sprintf("p%02d@example.com", i), FirstName: fmt.Sprintf("P<%d>", i)})
	}
	people = append(people, testkit.Person{Email: "noname@example.com"})
	s.AddPeople(t, o, people...)

	res := a.send(t, map[string]any{"where": map[string]any{"status": "NOT_INVITED"}}).SendInvitations
	require.Equal(t, 31, res.Total)
	s.WaitDeliveries(t)
	b := a.bulkSendByID(t, res.BulkSend.ID)
	require.Equal(t, 31, b.Sent)
	msgs := mg.Messages()
	require.Equal(t, 31, len(msgs), "one message per recipient")
	require.Equal(t, 2, mg.Calls(), "one batch per shape: with a first name, without")
	seen := map[string]bool{}
	for _, m := range msgs {
		require.NotContains(t, m.To, ",")
		require.NotContains(t, m.Text, "%recipient")
		require.NotContains(t, m.HTML, "%recipient")
		require.NotEmpty(t, m.Variables["delivery_id"])
		require.False(t, seen[m.Variables["delivery_id"]], "each message has its own delivery id")
		seen[m.Variables["delivery_id"]] = true
		if m.To == "p07@example.com" {
			require.Contains(t, m.Text, "Hi P<7>,", "plain text keeps the value")
			require.Contains(t, m.HTML, "Hi P&lt;7&gt;,", "HTML escapes it")
			require.NotContains(t, m.HTML, "P<7>")
		}
		if m.To == "noname@example.com" {
			require.NotContains(t, m.Text, "Hi ,", "no first name, no empty greeting")
		}
	}

	// 429s are retried (one by one); a permanent refusal fails that
	// recipient only.
	mg.Reset()
	s.AddPeople(t, o, testkit.Person{Email: "retry@example.com"}, testkit.Person{Email: "other@example.com"},
		testkit.Person{Email: "reject@example.com", FirstName: "Rex"})
	mg.FailAddress("reject@example.com", http.StatusBadRequest)
	mg.Fail(2, http.StatusTooManyRequests)
	res = a.send(t, map[string]any{"where": map[string]any{"status": "NOT_INVITED"}}).SendInvitations
	require.Equal(t, 3, res.Total)
	// Retries wait by the test clock: move it until the send is done.
	require.Eventually(t, func() bool {
		s.Clock.Advance(time.Minute)
		return a.bulkSendByID(t, res.BulkSend.ID).FinishedAt != nil
	}, 30*time.Second, 50*time.Millisecond)
	b = a.bulkSendByID(t, res.BulkSend.ID)
	require.Equal(t, 2, b.Sent, "429s were retried")
	require.Equal(t, 1, b.Failed)
	d, err := s.DB.Client.Delivery.Query().Where(delivery.EmailEQ("reject@example.com")).Only(testkit.System())
	require.NoError(t, err)
	require.Equal(t, enum.DeliveryFailed, d.Status)
	require.Contains(t, *d.Error, "400")
	retried, err := s.DB.Client.Delivery.Query().Where(delivery.EmailEQ("retry@example.com")).Only(testkit.System())
	require.NoError(t, err)
	require.Greater(t, retried.Attempts, 1)
	require.Len(t, mg.MessagesTo("retry@example.com"), 1)

	// Each recipient's own link, from the batch, works.
	for _, m := range msgs {
		if m.To != "p03@example.com" && m.To != "noname@example.com" {
			continue
		}
		tok := testkit.Email{Text: m.Text}.Token()
		require.NotEmpty(t, tok, m.To)
		require.Empty(t, accept(s, t, tok, "a-long-password-123").Errors, m.To)
	}
}

func TestEraseDuringSend(t *testing.T) {
	t.Parallel()
	s := testkit.NewServer(t, func(c *config.Config) { c.Mail.SendRate = 40 })
	owner := signIn(t, s, "acme")
	o := owner.org
	sender := s.AddPeople(t, o, testkit.Person{Email: "admin@acme.test", Role: "Admin", Status: user.StatusActive, Password: "admin-password-1"})[0]
	var people []testkit.Person
	for i := range 80 {
		people = append(people, testkit.Person{Email: fmt.Sprintf("p%02d@example.com", i)})
	}
	added := s.AddPeople(t, o, people...)
	a := &admin{s: s, org: o, tok: s.Login(t, "acme", "admin@acme.test", "admin-password-1")}
	res := a.send(t, map[string]any{"where": map[string]any{"status": "NOT_INVITED"}}).SendInvitations
	require.Equal(t, 80, res.Total)

	// Mid-send, erase the send's creator and a recipient still queued.
	owner.awaitSend(t, res.BulkSend.ID, sent)
	for _, id := range []int{sender.ID, added[79].ID} {
		resp := s.Query(t, owner.tok, `mutation($id: ID!) { deleteUser(id: $id) }`, map[string]any{"id": id})
		require.Empty(t, resp.Errors, "%+v", resp.Errors)
	}
	s.WaitDeliveries(t)
	var out struct{ BulkSend bulkSend }
	s.Query(t, owner.tok, `query($id: ID!) { bulkSend(id: $id) { status total sent failed skipped createdBy { email } } }`,
		map[string]any{"id": res.BulkSend.ID}).Decode(t, &out)
	b := out.BulkSend
	require.Equal(t, "COMPLETED", b.Status)
	require.Equal(t, 80, b.Sent+b.Failed+b.Skipped, "counts add up without the erased person")
	require.Equal(t, 1, b.Skipped)
	require.Equal(t, "owner@acme.test", b.CreatedBy.Email, "the send passes to whoever erased its creator")
	require.Empty(t, s.EmailsTo(t, "p79@example.com"))
	d, err := s.DB.Client.Delivery.Query().Where(delivery.StatusEQ(enum.DeliverySkipped)).Only(testkit.System())
	require.NoError(t, err)
	require.Nil(t, d.UserID)
	require.NotContains(t, d.Email, "p79", "the erased address is gone from the delivery too")
}

func TestBatchesKeepEachSendsInviter(t *testing.T) {
	t.Parallel()
	s, mg := withMailgun(t)
	o := s.CreateOrg(t, "acme")
	admin := s.AddPeople(t, o, testkit.Person{Email: "adam@acme.test", FirstName: "Adam", LastName: "Admin", Role: "Admin", Status: user.StatusActive})[0]
	people := s.AddPeople(t, o, testkit.Person{Email: "p1@example.com"}, testkit.Person{Email: "p2@example.com"},
		testkit.Person{Email: "p3@example.com"}, testkit.Person{Email: "p4@example.com"})
	// Two sends committed together, so one worker's unit holds both.
	ctx := testkit.System()
	var sends []*ent.BulkSend
	require.NoError(t, db.InTx(ctx, s.DB.Client, func(tx *ent.Client) error {
		for _, q := range []struct {
			by    int
			users []int
		}{{o.Owner.ID, []int{people[0].ID, people[1].ID}}, {admin.ID, []int{people[2].ID, people[3].ID}}} {
			b, err := s.BulkSends.Queue(ctx, tx, o.ID, invite.Requester{UserID: q.by}, entbulksend.KindINVITATION, entbulksend.TriggerMANUAL, q.users)
			if err != nil {
				return err
			}
			sends = append(sends, b)
		}
		return nil
	}))
	for _, b := range sends {
		s.BulkSends.Queued(ctx, b.Unwrap())
	}
	s.WaitDeliveries(t)
	for to, inviter := range map[string]string{"p1@example.com": "owner@acme.test", "p2@example.com": "owner@acme.test",
		"p3@example.com": "Adam Admin", "p4@example.com": "Adam Admin"} {
		got := mg.MessagesTo(to)
		require.Len(t, got, 1, to)
		require.Contains(t, got[0].Text, inviter+" invited you", to)
	}
}
