package app_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/delivery"
	"github.com/rollcall/rollcall/ent/schema/enum"
	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/config"
	"github.com/rollcall/rollcall/internal/fakemailgun"
	"github.com/rollcall/rollcall/internal/testkit"
)

const resendMutation = `mutation($id: ID!, $force: Boolean) {
	resendInvitation(userId: $id, force: $force) { status invitationCount lastEmailStatus } }`

type resent struct {
	ResendInvitation struct {
		Status          string
		InvitationCount int
		LastEmailStatus *string
	}
}

// deliveriesTo reads the deliveries to an address, oldest first.
func deliveriesTo(t *testing.T, s *testkit.Server, address string) []*ent.Delivery {
	t.Helper()
	ds, err := s.DB.Client.Delivery.Query().Where(delivery.EmailEQ(address)).Order(delivery.ByID()).All(testkit.System())
	require.NoError(t, err)
	return ds
}

// reportEvent posts a signed Mailgun report of kind about m.
func reportEvent(t *testing.T, s *testkit.Server, m fakemailgun.Message, kind, severity string) int {
	t.Helper()
	data := map[string]any{
		"event": kind, "severity": severity, "timestamp": float64(s.Clock.Now().UnixMicro()) / 1e6,
		"recipient": m.To, "user-variables": map[string]any{"delivery_id": m.Variables["delivery_id"]},
		"message":         map[string]any{"headers": map[string]any{"message-id": m.ID}},
		"delivery-status": map[string]any{"message": "550 mailbox unavailable"},
	}
	return postWebhook(t, s, mailgunEvent(t, webhookKey, s.Clock.Now(), webhookToken(), data))
}

// TestSingleResendIsADelivery: a resent invitation is a delivery of the
// engine with no bulk send, answered with the person INVITED; its bounce,
// reported by a signed webhook, suppresses the address, so the next plain
// resend is CONFLICT naming the reason, and force: true sends it anyway.
func TestSingleResendIsADelivery(t *testing.T) {
	t.Parallel()
	s, mg := withMailgun(t, func(c *config.Config) { c.Mail.MailgunSigningKey = webhookKey })
	a := signIn(t, s, "acme")
	ada := s.AddPeople(t, a.org, testkit.Person{Email: "ada@example.com"})[0]
	vars := map[string]any{"id": ada.ID}

	var out resent
	s.Query(t, a.tok, resendMutation, vars).Decode(t, &out)
	require.Equal(t, "INVITED", out.ResendInvitation.Status, "the answer shows the email gone")
	require.Equal(t, 1, out.ResendInvitation.InvitationCount)
	require.Equal(t, "SENT", *out.ResendInvitation.LastEmailStatus)

	ds := deliveriesTo(t, s, "ada@example.com")
	require.Len(t, ds, 1)
	require.Nil(t, ds[0].BulkSendID, "one person's email has no send")
	require.Equal(t, delivery.ActionINVITATION, ds[0].Action)
	require.Equal(t, enum.DeliverySent, ds[0].Status)
	require.Equal(t, a.org.Owner.ID, *ds[0].RequestedByID)
	msgs := mg.MessagesTo("ada@example.com")
	require.Len(t, msgs, 1)
	require.Equal(t, fmt.Sprint(ds[0].ID), msgs[0].Variables["delivery_id"])

	require.Equal(t, http.StatusOK, reportEvent(t, s, msgs[0], "failed", "permanent"))
	u, err := s.DB.Client.User.Get(testkit.System(), ada.ID)
	require.NoError(t, err)
	require.Equal(t, enum.DeliveryBounced, *u.LastEmailStatus)
	d, err := s.DB.Client.Delivery.Get(testkit.System(), ds[0].ID)
	require.NoError(t, err)
	require.Equal(t, enum.DeliveryBounced, d.Status)
	require.Contains(t, *d.Error, "550 mailbox unavailable")

	resp := s.Query(t, a.tok, resendMutation, vars)
	require.Equal(t, "CONFLICT", resp.Code())
	require.Contains(t, resp.Errors[0].Message, "bounced")
	require.Len(t, mg.MessagesTo("ada@example.com"), 1, "nothing sent")
	require.Len(t, deliveriesTo(t, s, "ada@example.com"), 1, "nothing queued")

	s.Query(t, a.tok, resendMutation, map[string]any{"id": ada.ID, "force": true}).Decode(t, &out)
	require.Equal(t, 2, out.ResendInvitation.InvitationCount)
	require.Equal(t, "SENT", *out.ResendInvitation.LastEmailStatus)
	require.Len(t, mg.MessagesTo("ada@example.com"), 2, "forced")
	ds = deliveriesTo(t, s, "ada@example.com")
	require.Len(t, ds, 2)
	require.True(t, ds[1].Force)
	require.Equal(t, enum.DeliverySent, ds[1].Status)
}

// TestPasswordResetIsADelivery: reset instructions and the invitation a
// reset request sends an INVITED person are deliveries of the engine, and
// provider reports apply to them.
func TestPasswordResetIsADelivery(t *testing.T) {
	t.Parallel()
	s, mg := withMailgun(t, func(c *config.Config) { c.Mail.MailgunSigningKey = webhookKey })
	acme := s.CreateOrg(t, "acme")
	people := s.AddPeople(t, acme,
		testkit.Person{Email: "ada@example.com", Status: user.StatusActive, Password: "ada-old-password"},
		testkit.Person{Email: "bob@example.com", Status: user.StatusInvited})
	requestReset(t, s, "acme", "ada@example.com")
	requestReset(t, s, "acme", "bob@example.com")
	s.WaitResets(t)
	s.WaitDeliveries(t)

	for _, c := range []struct {
		email  string
		action delivery.Action
	}{{"ada@example.com", delivery.ActionPASSWORD_RESET}, {"bob@example.com", delivery.ActionINVITATION}} {
		ds := deliveriesTo(t, s, c.email)
		require.Len(t, ds, 1, c.email)
		require.Nil(t, ds[0].BulkSendID)
		require.Nil(t, ds[0].RequestedByID, "the system asked")
		require.Equal(t, c.action, ds[0].Action)
		require.Equal(t, enum.DeliverySent, ds[0].Status)
		require.Len(t, mg.MessagesTo(c.email), 1)
	}
	bob, err := s.DB.Client.User.Get(testkit.System(), people[1].ID)
	require.NoError(t, err)
	require.Equal(t, 1, bob.InvitationCount, "INVITED as the email left")
	require.Equal(t, http.StatusOK, reportEvent(t, s, mg.MessagesTo("ada@example.com")[0], "delivered", ""))
	ada, err := s.DB.Client.User.Get(testkit.System(), people[0].ID)
	require.NoError(t, err)
	require.Equal(t, enum.DeliveryDelivered, *ada.LastEmailStatus)

	// A bounced address gets no more reset emails: the request leaves a
	// SKIPPED delivery saying why.
	require.Equal(t, http.StatusOK, reportEvent(t, s, mg.MessagesTo("ada@example.com")[0], "failed", "permanent"))
	requestReset(t, s, "acme", "ada@example.com")
	s.WaitResets(t)
	s.WaitDeliveries(t)
	ds := deliveriesTo(t, s, "ada@example.com")
	require.Len(t, ds, 2)
	require.Equal(t, enum.DeliverySkipped, ds[1].Status)
	require.Contains(t, *ds[1].Error, "bounced")
	require.Len(t, mg.MessagesTo("ada@example.com"), 1)
}

// TestEmailChangedNoticeIsADelivery: the notice to an active account's old
// address is a delivery queued with the change, naming the new address; it
// leaves the person's lastEmailStatus (their new address's) alone. Two
// notices worked in one unit go out as one Mailgun batch, each to its own
// old address.
func TestEmailChangedNoticeIsADelivery(t *testing.T) {
	t.Parallel()
	s, mg := withMailgun(t)
	s.StopWorkers() // both notices wait, then go in one unit
	a := signIn(t, s, "acme")
	people := s.AddPeople(t, a.org,
		testkit.Person{Email: "ada@example.com", Status: user.StatusActive, Password: "ada-old-password"},
		testkit.Person{Email: "bob@example.com", Status: user.StatusActive, Password: "bob-old-password"})
	for _, p := range people {
		resp := s.Query(t, a.tok, `mutation($id: ID!, $email: String!) { updateUser(id: $id, input: {email: $email}) { email } }`,
			map[string]any{"id": p.ID, "email": strings.Replace(p.Email, "@", "@new.", 1)})
		require.Empty(t, resp.Errors)
	}
	n, err := s.BulkSends.WorkDue(context.Background())
	require.NoError(t, err)
	require.Equal(t, 2, n)
	var ids []string
	for _, p := range people {
		ds := deliveriesTo(t, s, p.Email)
		require.Len(t, ds, 1)
		require.Equal(t, delivery.ActionEMAIL_CHANGED, ds[0].Action)
		require.Nil(t, ds[0].BulkSendID)
		newAddress := strings.Replace(p.Email, "@", "@new.", 1)
		require.Equal(t, newAddress, *ds[0].NewEmail)
		require.Equal(t, enum.DeliverySent, ds[0].Status)
		msgs := mg.MessagesTo(p.Email)
		require.Len(t, msgs, 1)
		require.Contains(t, msgs[0].Text, newAddress)
		require.Equal(t, fmt.Sprint(ds[0].ID), msgs[0].Variables["delivery_id"])
		require.Empty(t, mg.MessagesTo(newAddress))
		ids = append(ids, msgs[0].ID)
		u, err := s.DB.Client.User.Get(testkit.System(), p.ID)
		require.NoError(t, err)
		require.Nil(t, u.LastEmailStatus, "the notice went to the old address")
	}
	require.Equal(t, ids[0], ids[1], "one batch")
}

// TestSingleSendWaitsForAWorker: a resend on a replica whose workers are
// down answers after the configured wait, its email queued; a replica that
// starts sends it and the person becomes INVITED.
func TestSingleSendWaitsForAWorker(t *testing.T) {
	t.Parallel()
	wait := func(c *config.Config) { c.Mail.SingleWait = 10 * time.Millisecond }
	s := testkit.NewServer(t, wait)
	s.StopWorkers()
	a := signIn(t, s, "acme")
	ada := s.AddPeople(t, a.org, testkit.Person{Email: "ada@example.com"})[0]
	var out resent
	s.Query(t, a.tok, resendMutation, map[string]any{"id": ada.ID}).Decode(t, &out)
	require.Equal(t, "NOT_INVITED", out.ResendInvitation.Status, "not sent yet")
	ds := deliveriesTo(t, s, "ada@example.com")
	require.Len(t, ds, 1)
	require.Equal(t, enum.DeliveryQueued, ds[0].Status)

	s.Replica(t, true, wait)
	s.WaitDeliveries(t)
	require.Len(t, s.EmailsTo(t, "ada@example.com"), 1)
	u, err := s.DB.Client.User.Get(testkit.System(), ada.ID)
	require.NoError(t, err)
	require.Equal(t, user.StatusInvited, u.Status)
	require.Equal(t, 1, u.InvitationCount)
}

// TestTakenOverDeliveriesBatch: deliveries a dead replica held are taken
// over once their lease lapses by the test clock, not before, and go out as
// a first try does (one Mailgun batch), not one call each like a retry.
func TestTakenOverDeliveriesBatch(t *testing.T) {
	t.Parallel()
	s, mg := withMailgun(t)
	s.StopWorkers()
	a := signIn(t, s, "acme")
	s.AddPeople(t, a.org, testkit.Person{Email: "ada@example.com"}, testkit.Person{Email: "bob@example.com"},
		testkit.Person{Email: "cy@example.com"})
	a.send(t, map[string]any{"where": map[string]any{"emailHasSuffix": "@example.com"}})
	// As a replica that claimed them and died.
	now := s.Clock.Now()
	n, err := s.DB.Client.Delivery.Update().Where(delivery.StatusEQ(enum.DeliveryQueued)).
		SetLeasedBy("dead-replica").SetLeaseExpiresAt(now.Add(30 * time.Second)).SetAttempts(1).Save(testkit.System())
	require.NoError(t, err)
	require.Equal(t, 3, n)

	ctx := context.Background()
	s.Clock.Advance(29 * time.Second)
	got, err := s.BulkSends.WorkDue(ctx)
	require.NoError(t, err)
	require.Zero(t, got, "still leased")
	s.Clock.Advance(2 * time.Second)
	got, err = s.BulkSends.WorkDue(ctx)
	require.NoError(t, err)
	require.Equal(t, 3, got, "taken over")
	msgs := mg.Messages()
	require.Len(t, msgs, 3)
	for _, m := range msgs {
		require.Equal(t, msgs[0].ID, m.ID, "one batch")
	}
}

// TestSingleResendIsRetried: one person's email refused for now by the
// provider is retried like a bulk send's, when the test clock reaches its
// retry time; the answer came back at once, with the person not yet INVITED.
func TestSingleResendIsRetried(t *testing.T) {
	t.Parallel()
	s, mg := withMailgun(t)
	a := signIn(t, s, "acme")
	ada := s.AddPeople(t, a.org, testkit.Person{Email: "ada@example.com"})[0]
	mg.Fail(1, http.StatusServiceUnavailable)
	var out resent
	s.Query(t, a.tok, resendMutation, map[string]any{"id": ada.ID}).Decode(t, &out)
	require.Equal(t, "NOT_INVITED", out.ResendInvitation.Status, "refused for now: not sent yet")
	ds := deliveriesTo(t, s, "ada@example.com")
	require.Len(t, ds, 1)
	require.Equal(t, enum.DeliveryQueued, ds[0].Status)
	require.NotNil(t, ds[0].NextAttemptAt)
	require.Contains(t, *ds[0].Error, "503")

	s.Clock.Advance(ds[0].NextAttemptAt.Sub(s.Clock.Now()))
	s.WaitDeliveries(t)
	d, err := s.DB.Client.Delivery.Get(testkit.System(), ds[0].ID)
	require.NoError(t, err)
	require.Equal(t, enum.DeliverySent, d.Status)
	require.Equal(t, 2, d.Attempts)
	require.Len(t, mg.MessagesTo("ada@example.com"), 1)
	u, err := s.DB.Client.User.Get(testkit.System(), ada.ID)
	require.NoError(t, err)
	require.Equal(t, user.StatusInvited, u.Status)
	require.Equal(t, enum.DeliverySent, *u.LastEmailStatus)
}
