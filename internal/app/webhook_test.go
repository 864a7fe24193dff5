package app_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/ent/delivery"
	"github.com/rollcall/rollcall/ent/schema/enum"
	"github.com/rollcall/rollcall/internal/config"
	"github.com/rollcall/rollcall/internal/fakemailgun"
	"github.com/rollcall/rollcall/internal/testkit"
	"github.com/rollcall/rollcall/internal/webhook"
)

const webhookKey = "whsec-test-key"

// mailgunEvent is a signed Mailgun webhook body.
func mailgunEvent(t *testing.T, key string, at time.Time, token string, data map[string]any) []byte {
	t.Helper()
	ts := strconv.FormatInt(at.Unix(), 10)
	b, err := json.Marshal(map[string]any{
		"signature":  map[string]any{"timestamp": ts, "token": token, "signature": hex.EncodeToString(webhook.Sign(key, ts, token))},
		"event-data": data,
	})
	require.NoError(t, err)
	return b
}

func webhookToken() string { return hex.EncodeToString([]byte(rand.Text())) }

func postWebhook(t *testing.T, s *testkit.Server, body []byte) int {
	status, _ := postWebhookBody(t, s, body)
	return status
}

func postWebhookBody(t *testing.T, s *testkit.Server, body []byte) (int, string) {
	t.Helper()
	res, err := http.Post(s.URL+"/webhooks/mailgun", "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, string(b)
}

func TestMailgunWebhooksAndSuppression(t *testing.T) {
	t.Parallel()
	s, mg := withMailgun(t, func(c *config.Config) { c.Mail.MailgunSigningKey = webhookKey })
	a := signIn(t, s, "acme")
	o := a.org
	people := s.AddPeople(t, o, testkit.Person{Email: "bounce@example.com"}, testkit.Person{Email: "spam@example.com"},
		testkit.Person{Email: "fine@example.com"})
	in := map[string]any{"where": map[string]any{"emailHasSuffix": "@example.com"}}
	a.send(t, in)
	s.WaitDeliveries(t)
	msg := func(to string) fakemailgun.Message {
		got := mg.MessagesTo(to)
		require.Len(t, got, 1)
		return got[0]
	}
	event := func(kind, severity, to string, vars map[string]any) map[string]any {
		m := msg(to)
		return map[string]any{
			"event": kind, "severity": severity, "timestamp": float64(s.Clock.Now().UnixMicro()) / 1e6,
			"recipient": to, "user-variables": vars,
			"message":         map[string]any{"headers": map[string]any{"message-id": m.ID}},
			"delivery-status": map[string]any{"message": "550 mailbox unavailable"},
		}
	}
	now := s.Clock.Now()

	// Refused: a bad signature, a stale timestamp; nothing changes.
	bounce := event("failed", "permanent", "bounce@example.com", map[string]any{"delivery_id": msg("bounce@example.com").Variables["delivery_id"]})
	require.NotEqual(t, http.StatusOK, postWebhook(t, s, mailgunEvent(t, "wrong-key", now, webhookToken(), bounce)))
	require.NotEqual(t, http.StatusOK, postWebhook(t, s, mailgunEvent(t, webhookKey, now.Add(-time.Hour), webhookToken(), bounce)))
	var page userPage
	s.Query(t, a.tok, usersQuery, map[string]any{"where": map[string]any{"lastEmailStatus": "BOUNCED"}}).Decode(t, &page)
	require.Zero(t, page.Users.TotalCount)

	// A report for a delivery whose send is not recorded yet waits: it is
	// refused (Mailgun retries later) and changes nothing.
	fine, err := s.DB.Client.Delivery.Query().Where(delivery.EmailEQ("fine@example.com")).Only(testkit.System())
	require.NoError(t, err)
	// As a worker elsewhere that has sent it holds it: leased, so no worker
	// here claims and sends it again meanwhile.
	require.NoError(t, fine.Update().SetStatus(enum.DeliveryQueued).
		SetLeasedBy("another-replica").SetLeaseExpiresAt(now.Add(time.Hour)).Exec(testkit.System()))
	early := event("delivered", "", "fine@example.com", map[string]any{"delivery_id": msg("fine@example.com").Variables["delivery_id"]})
	require.Equal(t, http.StatusInternalServerError, postWebhook(t, s, mailgunEvent(t, webhookKey, now, webhookToken(), early)))
	fine, err = s.DB.Client.Delivery.Get(testkit.System(), fine.ID)
	require.NoError(t, err)
	require.Equal(t, enum.DeliveryQueued, fine.Status)
	require.NoError(t, fine.Update().SetStatus(enum.DeliverySent).ClearLeasedBy().ClearLeaseExpiresAt().Exec(testkit.System()))

	// Accepted once: found by delivery_id; the replay is refused.
	signed := mailgunEvent(t, webhookKey, now, webhookToken(), bounce)
	require.Equal(t, http.StatusOK, postWebhook(t, s, signed))
	// A replay is answered 200, so Mailgun stops retrying, but not applied.
	status, answer := postWebhookBody(t, s, signed)
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, answer, "already processed", "a replayed token")
	// A batch shares one message id: without delivery_id, the recipient tells them apart.
	complaint := event("complained", "", "spam@example.com", map[string]any{})
	require.Equal(t, http.StatusOK, postWebhook(t, s, mailgunEvent(t, webhookKey, now, webhookToken(), complaint)))
	delivered := event("delivered", "", "fine@example.com", map[string]any{"delivery_id": msg("fine@example.com").Variables["delivery_id"]})
	require.Equal(t, http.StatusOK, postWebhook(t, s, mailgunEvent(t, webhookKey, now, webhookToken(), delivered)))

	for status, want := range map[string]string{"BOUNCED": "bounce@example.com", "COMPLAINED": "spam@example.com", "DELIVERED": "fine@example.com"} {
		s.Query(t, a.tok, usersQuery, map[string]any{"where": map[string]any{"lastEmailStatus": status}}).Decode(t, &page)
		require.Equal(t, 1, page.Users.TotalCount, status)
		require.Equal(t, want, page.Users.Edges[0].Node.Email, status)
	}

	// Later sends skip bounced and complained addresses, saying why…
	again := a.send(t, in).SendInvitations
	require.Equal(t, 1, again.Invitations)
	require.Equal(t, 2, again.Skipped)
	s.WaitDeliveries(t)
	require.Len(t, mg.MessagesTo("bounce@example.com"), 1)

	// …until the address changes.
	resp := s.Query(t, a.tok, `mutation($id: ID!) { updateUser(id: $id, input: {email: "bounce2@example.com"}) { lastEmailStatus } }`,
		map[string]any{"id": people[0].ID})
	require.Empty(t, resp.Errors)
	third := a.send(t, in).SendInvitations
	require.Equal(t, 2, third.Invitations, "the new address is sent to")
	s.WaitDeliveries(t)
	require.Len(t, mg.MessagesTo("bounce2@example.com"), 1)
}
