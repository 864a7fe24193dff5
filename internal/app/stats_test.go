package app_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/delivery"
	"github.com/rollcall/rollcall/ent/funnelday"
	"github.com/rollcall/rollcall/ent/schema/enum"
	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/testkit"
	"github.com/rollcall/rollcall/internal/webhook"
)

const statsQuery = `query($where: UserWhereInput, $search: String, $by: [PeopleDimension!]!) {
  peopleStats(where: $where, search: $search, groupBy: $by) {
    status role { name } lastEmailStatus import { filename } invitationCount locale count } }`

type statsRow struct {
	Status          *string
	Role            *struct{ Name string }
	LastEmailStatus *string
	Import          *struct{ Filename string }
	InvitationCount *int
	Locale          *string
	Count           int
}

// key writes a row as "dimension values=count", for comparing with counts
// made by hand.
func (r statsRow) key() string {
	var parts []string
	str := func(p *string) string {
		if p == nil {
			return "-"
		}
		return *p
	}
	if r.Status != nil {
		parts = append(parts, *r.Status)
	}
	if r.Role != nil {
		parts = append(parts, r.Role.Name)
	}
	if r.Import != nil {
		parts = append(parts, r.Import.Filename)
	}
	parts = append(parts, str(r.LastEmailStatus), str(r.Locale))
	if r.InvitationCount != nil {
		parts = append(parts, fmt.Sprint(*r.InvitationCount))
	}
	return strings.Join(parts, " ") + fmt.Sprintf("=%d", r.Count)
}

func (a *admin) stats(t *testing.T, vars map[string]any) []string {
	t.Helper()
	var out struct{ PeopleStats []statsRow }
	a.s.Query(t, a.tok, statsQuery, vars).Decode(t, &out)
	keys := make([]string, len(out.PeopleStats))
	for i, r := range out.PeopleStats {
		keys[i] = r.key()
	}
	slices.Sort(keys)
	return keys
}

// TestPeopleStats checks peopleStats against counts made by hand from a
// seeded population, under the users filters.
func TestPeopleStats(t *testing.T) {
	t.Parallel()
	s := testkit.NewServer(t)
	a := signIn(t, s, "stats")
	other := s.CreateOrg(t, "elsewhere")
	s.AddPeople(t, other, testkit.Person{Email: "x1@example.com"}, testkit.Person{Email: "x2@example.com", Status: user.StatusInvited})
	ppl := s.AddPeople(t, a.org,
		testkit.Person{Email: "n1@example.com"},
		testkit.Person{Email: "n2@example.com"},
		testkit.Person{Email: "n3@example.com", Locale: "de"},
		testkit.Person{Email: "i1@example.com", Status: user.StatusInvited, Role: "HR", LastEmailStatus: enum.DeliverySent, Locale: "de"},
		testkit.Person{Email: "i2@example.com", Status: user.StatusInvited, Role: "HR", LastEmailStatus: enum.DeliverySent, Locale: "de"},
		testkit.Person{Email: "i3@example.com", Status: user.StatusInvited, LastEmailStatus: enum.DeliveryBounced},
		testkit.Person{Email: "ann.active@example.com", Status: user.StatusActive, Role: "Admin", Locale: "fr"},
		testkit.Person{Email: "bo.active@example.com", Status: user.StatusActive, Role: "Admin", Locale: "fr"},
		testkit.Person{Email: "gone@example.com", Status: user.StatusDeactivated},
	)
	// Invitation counts: the invited were invited 1, 2 and 3 times.
	for i, n := range []int{1, 2, 3} {
		require.NoError(t, s.DB.Client.User.UpdateOne(ppl[3+i]).SetInvitationCount(n).Exec(testkit.System()))
	}
	// Two imports that overlap: n1 and n2 in the first, n2 and i1 in the second.
	ctx := testkit.System()
	for _, imp := range []struct {
		file string
		who  []int
	}{{"first.csv", []int{ppl[0].ID, ppl[1].ID}}, {"second.csv", []int{ppl[1].ID, ppl[3].ID}}} {
		created, err := s.DB.Client.UserImport.Create().SetOrganizationID(a.org.ID).SetFilename(imp.file).Save(ctx)
		require.NoError(t, err)
		for _, id := range imp.who {
			require.NoError(t, s.DB.Client.User.UpdateOneID(id).AddImportIDs(created.ID).Exec(ctx))
		}
	}

	// By status and role; the owner is ACTIVE Owner.
	require.Equal(t, []string{
		"ACTIVE Admin - -=2", "ACTIVE Owner - -=1", "DEACTIVATED Member - -=1",
		"INVITED HR - -=2", "INVITED Member - -=1", "NOT_INVITED Member - -=3",
	}, a.stats(t, map[string]any{"by": []string{"STATUS", "ROLE"}}))

	require.Equal(t, []string{"- -=5", "- de=3", "- fr=2"}, a.stats(t, map[string]any{"by": []string{"LOCALE"}}))
	require.Equal(t, []string{"BOUNCED -=1", "SENT -=2"},
		a.stats(t, map[string]any{"by": []string{"LAST_EMAIL_STATUS"}, "where": map[string]any{"status": "INVITED"}}))
	require.Equal(t, []string{"- - 0=7", "- - 1=1", "- - 2=1", "- - 3=1"}, a.stats(t, map[string]any{"by": []string{"INVITATION_COUNT"}}))
	// Search, as users searches: "active" matches ann and bo.
	require.Equal(t, []string{"ACTIVE - -=2"}, a.stats(t, map[string]any{"by": []string{"STATUS"}, "search": "active"}))
	// A person counts once per import that touched them; the never imported once.
	require.Equal(t, []string{"- -=7", "first.csv - -=2", "second.csv - -=2"}, a.stats(t, map[string]any{"by": []string{"IMPORT"}}))
	require.Equal(t, []string{"INVITED second.csv - -=1", "NOT_INVITED first.csv - -=2", "NOT_INVITED second.csv - -=1"},
		a.stats(t, map[string]any{"by": []string{"IMPORT", "STATUS"}, "where": map[string]any{"hasImport": true}}))
	// No dimension: one row, everyone.
	require.Equal(t, []string{"- -=10"}, a.stats(t, map[string]any{"by": []string{}}))

	// An unknown dimension is refused, naming it.
	resp := s.Query(t, a.tok, statsQuery, map[string]any{"by": []string{"SHOE_SIZE"}})
	require.Equal(t, "BAD_USER_INPUT", resp.Code(), "%+v", resp.Errors)
	require.Contains(t, resp.Errors[0].Message, "SHOE_SIZE")
	// people.read is needed.
	member := s.AddPeople(t, a.org, testkit.Person{Email: "member@example.com", Status: user.StatusActive, Password: testkit.OwnerPassword})[0]
	tok := s.Login(t, "stats", member.Email, testkit.OwnerPassword)
	require.Equal(t, "FORBIDDEN", s.Query(t, tok, statsQuery, map[string]any{"by": []string{"STATUS"}}).Code())
}

const funnelQuery = `query($from: Time!, $to: Time!, $interval: FunnelInterval!, $where: UserWhereInput) {
  invitationFunnel(from: $from, to: $to, interval: $interval, where: $where) { start invited delivered bounced accepted expired } }`

type bucket struct {
	Start                                          time.Time
	Invited, Delivered, Bounced, Accepted, Expired int
}

func (a *admin) funnel(t *testing.T, vars map[string]any) []bucket {
	t.Helper()
	var out struct{ InvitationFunnel []bucket }
	a.s.Query(t, a.tok, funnelQuery, vars).Decode(t, &out)
	return out.InvitationFunnel
}

// TestInvitationFunnel runs invitations through the real pipeline on the
// test clock and checks the funnel, and a send's acceptances, against what
// happened when.
func TestInvitationFunnel(t *testing.T) {
	t.Parallel()
	s := testkit.NewServer(t)
	a := signIn(t, s, "funnel")
	day := func(d float64) { at(s, d*24) }
	// Monday 2 March 2026, 09:00 UTC: five invitations.
	require.Equal(t, time.Monday, testkit.Epoch.Weekday())
	emails := []string{"a@example.com", "b@example.com", "c@example.com", "d@example.com", "e@example.com"}
	res, resp := a.invite(t, a.tok, emails, "Member", true)
	require.Empty(t, resp.Errors)
	s.WaitDeliveries(t)
	report := func(email string, st enum.DeliveryStatus) {
		d, err := s.DB.Client.Delivery.Query().Where(delivery.Email(email)).Order(delivery.ByID()).All(testkit.System())
		require.NoError(t, err)
		last := d[len(d)-1]
		require.NoError(t, s.BulkSends.ApplyDeliveryEvent(context.Background(), webhook.Event{DeliveryID: fmt.Sprint(last.ID), Status: st, At: s.Clock.Now()}))
	}
	// Tuesday: a, b and c delivered, d bounced.
	day(1)
	for _, e := range emails[:3] {
		report(e, enum.DeliveryDelivered)
	}
	report("d@example.com", enum.DeliveryBounced)
	// Wednesday: a accepts. Thursday: b's invitation is sent again (her
	// first link is replaced, not expired). Friday: c accepts.
	day(2)
	require.Empty(t, accept(s, t, s.LastEmailTo(t, "a@example.com").Token(), "a long enough passphrase 1").Errors)
	day(3)
	id := ""
	for _, u := range res.InviteUsers.Users {
		if u.Email == "b@example.com" {
			id = u.ID
		}
	}
	require.Empty(t, s.Query(t, a.fresh(t).tok, `mutation($id: ID!) { resendInvitation(userId: $id) { id } }`, map[string]any{"id": id}).Errors)
	s.WaitDeliveries(t)
	day(4)
	require.Empty(t, accept(s, t, s.LastEmailTo(t, "c@example.com").Token(), "a long enough passphrase 1").Errors)
	// d's and e's links expire on Monday 9 March, b's second on Thursday
	// 12 March at 09:00; now is the evening before.
	day(9.5)
	a.fresh(t)

	d := func(n int) time.Time { return time.Date(2026, 3, 2+n, 0, 0, 0, 0, time.UTC) }
	days := a.funnel(t, map[string]any{"from": d(0), "to": d(14), "interval": "DAY"})
	require.Len(t, days, 14)
	want := make([]bucket, 14)
	for i := range want {
		want[i].Start = d(i)
	}
	want[0].Invited = 5
	want[1].Delivered, want[1].Bounced = 3, 1
	want[2].Accepted = 1
	want[3].Invited = 1
	want[4].Accepted = 1
	want[7].Expired = 2 // b's second link expires after now
	for i := range days {
		days[i].Start = days[i].Start.UTC()
	}
	require.Equal(t, want, days)

	// The days that ended (2 to 10 March; now is the 11th) were counted
	// once and kept, and are read back, not counted again.
	kept, err := s.DB.Client.FunnelDay.Query().Order(ent.Asc(funnelday.FieldDay)).All(testkit.System())
	require.NoError(t, err)
	require.Len(t, kept, 9)
	for i, k := range kept {
		require.True(t, k.Day.Equal(d(i)), "%v", k.Day)
		require.Equal(t, want[i], bucket{Start: want[i].Start, Invited: k.Invited, Delivered: k.Delivered, Bounced: k.Bounced, Accepted: k.Accepted, Expired: k.Expired})
	}
	addInvited := func(n int) {
		_, err := s.DB.SQL.ExecContext(context.Background(), fmt.Sprintf(`UPDATE funnel_days SET invited = invited + %d WHERE id = %d`, n, kept[0].ID))
		require.NoError(t, err)
	}
	addInvited(100)
	require.Equal(t, 105, a.funnel(t, map[string]any{"from": d(0), "to": d(14), "interval": "DAY"})[0].Invited)
	addInvited(-100)
	// Kept days and the counted edges agree with a funnel counted from the
	// emails and links alone (a where selecting everyone), whatever the
	// edges.
	for _, vars := range []map[string]any{
		{"from": d(0), "to": d(14), "interval": "DAY"},
		{"from": d(1).Add(13 * time.Hour), "to": d(9).Add(5 * time.Hour), "interval": "DAY"},
		{"from": d(0).Add(9 * time.Hour), "to": d(14), "interval": "WEEK"},
	} {
		got := a.funnel(t, vars)
		vars["where"] = map[string]any{"emailIn": emails}
		require.Equal(t, a.funnel(t, vars), got, "%v", vars)
	}

	// Weeks start on Monday, whatever day from is.
	weeks := a.funnel(t, map[string]any{"from": d(0), "to": d(14), "interval": "WEEK"})
	require.Len(t, weeks, 2)
	require.True(t, weeks[0].Start.Equal(d(0)))
	require.Equal(t, []int{6, 3, 1, 2, 0}, []int{weeks[0].Invited, weeks[0].Delivered, weeks[0].Bounced, weeks[0].Accepted, weeks[0].Expired})
	require.Equal(t, []int{0, 0, 0, 0, 2}, []int{weeks[1].Invited, weeks[1].Delivered, weeks[1].Bounced, weeks[1].Accepted, weeks[1].Expired})
	mid := a.funnel(t, map[string]any{"from": d(1), "to": d(8), "interval": "WEEK"})
	require.True(t, mid[0].Start.Equal(d(0)), "the Monday before")

	// where narrows to the people it selects: a and b.
	ab := a.funnel(t, map[string]any{"from": d(0), "to": d(14), "interval": "WEEK",
		"where": map[string]any{"emailIn": []string{"a@example.com", "b@example.com"}}})
	require.Equal(t, []int{3, 2, 0, 1, 0}, []int{ab[0].Invited, ab[0].Delivered, ab[0].Bounced, ab[0].Accepted, ab[0].Expired})

	// The first send: a and c accepted, after 2 and 4 days.
	var sends struct {
		BulkSends struct {
			Edges []struct {
				Node struct {
					Accepted              int
					MedianSecondsToAccept *int
				}
			}
		}
	}
	s.Query(t, a.tok, `{ bulkSends { edges { node { accepted medianSecondsToAccept } } } }`, nil).Decode(t, &sends)
	require.Len(t, sends.BulkSends.Edges, 1)
	require.Equal(t, 2, sends.BulkSends.Edges[0].Node.Accepted)
	require.Equal(t, 3*86400, *sends.BulkSends.Edges[0].Node.MedianSecondsToAccept)

	// More than two years, or an empty range, is refused naming the field.
	for _, vars := range []map[string]any{
		{"from": d(0), "to": d(0).AddDate(2, 0, 1), "interval": "DAY"},
		{"from": d(3), "to": d(2), "interval": "WEEK"},
	} {
		resp := s.Query(t, a.tok, funnelQuery, vars)
		require.Equal(t, "BAD_USER_INPUT", resp.Code(), "%+v", resp.Errors)
		require.Equal(t, "to", resp.Errors[0].Extensions["field"])
	}
	require.Len(t, a.funnel(t, map[string]any{"from": d(0), "to": d(0).AddDate(2, 0, 0), "interval": "WEEK"}), 105)
}
