package app_test

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/internal/app"
	"github.com/rollcall/rollcall/internal/clock"
	"github.com/rollcall/rollcall/internal/config"
	"github.com/rollcall/rollcall/internal/locale"
	"github.com/rollcall/rollcall/internal/testkit"
)

// The subjects of the built-in invitation in each shipped locale, for acme.
var invitationSubjects = map[string]string{
	"en": "acme invited you to join",
	"de": "Ihre Einladung zu acme",
	"fr": "Invitation à rejoindre acme",
	"es": "Invitación para unirse a acme",
}

// TestEmailsSpeakThePersonsLocale: each person's email uses the template of
// their locale, else of its language (fr-CA: fr), else of the
// organisation's default (pt: es), with dates written for it; people
// imported with a locale keep it in canonical form.
func TestEmailsSpeakThePersonsLocale(t *testing.T) {
	t.Parallel()
	a := newAdmin(t)
	s := a.s
	var org struct {
		UpdateOrganization struct{ DefaultLocale string }
	}
	s.Query(t, a.tok, `mutation { updateOrganization(input: {defaultLocale: "ES"}) { defaultLocale } }`, nil).Decode(t, &org)
	require.Equal(t, "es", org.UpdateOrganization.DefaultLocale, "stored canonical")

	out, resp := a.importCSV(t, a.tok, "email,first name,language\n"+
		"dora@example.com,Dora,de\n"+
		"celine@example.com,Céline,fr-CA\n"+
		"joao@example.com,João,pt\n"+
		"nina@example.com,Nina,\n"+
		"bruno@example.com,Bruno,pt-br\n"+
		"emma@example.com,Emma,en-GB\n", map[string]any{"sendInvitations": true})
	require.Empty(t, resp.Errors)
	require.Equal(t, 6, out.ImportUsers.Created)
	require.Equal(t, 6, out.ImportUsers.Invited)

	expires := s.Clock.Now().Add(7 * 24 * time.Hour)
	for email, want := range map[string]struct{ loc, greeting, expiry string }{
		"dora@example.com":   {"de", "Guten Tag Dora,", "Die Einladung ist 7 Tage lang gültig, bis " + locale.Date("de", expires) + "."},
		"celine@example.com": {"fr", "Bonjour Céline,", "Cette invitation est valable 7 jours, jusqu’au " + locale.Date("fr", expires) + "."},
		"joao@example.com":   {"es", "Hola, João:", "Esta invitación es válida durante 7 días, hasta el " + locale.Date("es", expires) + "."},
		"nina@example.com":   {"es", "Hola, Nina:", "Esta invitación es válida durante 7 días, hasta el " + locale.Date("es", expires) + "."},
		"bruno@example.com":  {"es", "Hola, Bruno:", "válida durante 7 días"},
		"emma@example.com":   {"en", "Hi Emma,", "This invitation expires on " + locale.Date("en", expires) + " (7 days)."},
	} {
		mail := s.LastEmailTo(t, email)
		require.Equal(t, invitationSubjects[want.loc], mail.Subject, email)
		require.Contains(t, mail.Text, want.greeting, email)
		require.Contains(t, mail.Text, want.expiry, email)
		require.Contains(t, mail.HTML, `<html lang="`+want.loc+`">`, email)
	}

	var people struct {
		Users struct {
			Edges []struct {
				Node struct {
					Email  string
					Locale *string
				}
			}
		}
	}
	s.Query(t, a.tok, `{ users(where: {localeNotNil: true}, orderBy: {field: EMAIL}) { edges { node { email locale } } } }`, nil).Decode(t, &people)
	got := map[string]string{}
	for _, e := range people.Users.Edges {
		got[e.Node.Email] = *e.Node.Locale
	}
	require.Equal(t, map[string]string{"dora@example.com": "de", "celine@example.com": "fr-CA", "joao@example.com": "pt",
		"bruno@example.com": "pt-BR", "emma@example.com": "en-GB"}, got)

	// A person given a language gets their next email in it; cleared, the
	// organisation's default again.
	nina := userID(t, a, "nina@example.com")
	var upd struct{ UpdateUser struct{ Locale *string } }
	s.Query(t, a.tok, `mutation($id: ID!) { updateUser(id: $id, input: {locale: "de-at"}) { locale } }`, map[string]any{"id": nina}).Decode(t, &upd)
	require.Equal(t, "de-AT", *upd.UpdateUser.Locale)
	require.Empty(t, s.Query(t, a.tok, `mutation($id: ID!) { resendInvitation(userId: $id) { id } }`, map[string]any{"id": nina}).Errors)
	require.Equal(t, invitationSubjects["de"], s.LastEmailTo(t, "nina@example.com").Subject)
	s.Query(t, a.tok, `mutation($id: ID!) { updateUser(id: $id, input: {locale: ""}) { locale } }`, map[string]any{"id": nina}).Decode(t, &upd)
	require.Nil(t, upd.UpdateUser.Locale)

	// inviteUsers gives its locale to everyone it invites.
	var inv struct {
		InviteUsers struct {
			Users []struct{ Email, Locale string }
		}
	}
	s.Query(t, a.tok, `mutation($in: InviteUsersInput!) { inviteUsers(input: $in) { users { email locale } } }`,
		map[string]any{"in": map[string]any{"emails": []string{"fritz@example.com", "franz@example.com"}, "roleId": a.roleID("Member"), "locale": "de"}}).Decode(t, &inv)
	require.Len(t, inv.InviteUsers.Users, 2)
	for _, u := range inv.InviteUsers.Users {
		require.Equal(t, "de", u.Locale)
		require.Equal(t, invitationSubjects["de"], s.LastEmailTo(t, u.Email).Subject)
	}
}

// userID returns the id of the person with email, through the API.
func userID(t *testing.T, a *admin, email string) string {
	t.Helper()
	var out struct {
		Users struct {
			Edges []struct{ Node struct{ ID string } }
		}
	}
	a.s.Query(t, a.tok, `query($e: String!) { users(where: {email: $e}) { edges { node { id } } } }`, map[string]any{"e": email}).Decode(t, &out)
	require.Len(t, out.Users.Edges, 1, email)
	return out.Users.Edges[0].Node.ID
}

const updateTemplate = `mutation($in: UpdateEmailTemplateInput!) { updateEmailTemplate(input: $in) { id kind locale role { name } subject } }`

// saveTemplate saves an invitation override whose subject is subject, for
// role (nil: every role) and loc (nil: every language).
func saveTemplate(t *testing.T, a *admin, kind string, role, loc any, subject string) *testkit.Response {
	t.Helper()
	return a.s.Query(t, a.tok, updateTemplate, map[string]any{"in": map[string]any{
		"kind": kind, "roleId": role, "locale": loc, "subject": subject,
		"html": "<p>" + subject + " {{.ActionURL}}</p>", "text": subject + " {{.ActionURL}}",
	}})
}

// TestOverridesByRoleAndLocale: role and locale beat locale, which beats
// role, which beats the kind, which beats the built-in template.
func TestOverridesByRoleAndLocale(t *testing.T) {
	t.Parallel()
	a := newAdmin(t)
	s := a.s
	hr := a.roleID("HR")
	for _, o := range []struct {
		role, loc any
		subject   string
	}{{hr, "de", "HR auf Deutsch"}, {nil, "de", "Auf Deutsch"}, {hr, nil, "HR in any language"}} {
		require.Empty(t, saveTemplate(t, a, "INVITATION", o.role, o.loc, o.subject).Errors)
	}
	preview := func(role, loc string) string {
		t.Helper()
		var out struct{ PreviewEmail struct{ Subject string } }
		s.Query(t, a.tok, `query($r: ID, $l: String) { previewEmail(kind: INVITATION, roleId: $r, locale: $l) { subject } }`,
			map[string]any{"r": a.roleID(role), "l": loc}).Decode(t, &out)
		return out.PreviewEmail.Subject
	}
	require.Equal(t, "HR auf Deutsch", preview("HR", "de"), "role and locale")
	require.Equal(t, "HR auf Deutsch", preview("HR", "de-AT"), "role and the locale's language")
	require.Equal(t, "Auf Deutsch", preview("Member", "de"), "locale")
	require.Equal(t, "HR in any language", preview("HR", "fr"), "role")
	require.Equal(t, invitationSubjects["fr"], preview("Member", "fr"), "the built-in template")
	require.Equal(t, invitationSubjects["en"], preview("Member", ""), "the organisation's default")
	require.Empty(t, saveTemplate(t, a, "INVITATION", nil, nil, "Any role, any language").Errors)
	require.Equal(t, "Any role, any language", preview("Member", "fr"), "the kind beats the built-in template")
	require.Equal(t, "HR in any language", preview("HR", "fr"), "the role beats the kind")

	// Real emails choose the same way.
	for _, p := range []struct{ email, role, loc, subject string }{
		{"hera@example.com", "HR", "de", "HR auf Deutsch"},
		{"max@example.com", "Member", "de-CH", "Auf Deutsch"},
		{"henri@example.com", "HR", "fr", "HR in any language"},
		{"marie@example.com", "Member", "fr", "Any role, any language"},
	} {
		resp := s.Query(t, a.tok, inviteMutation, map[string]any{"in": map[string]any{"emails": []string{p.email}, "roleId": a.roleID(p.role), "locale": p.loc}})
		require.Empty(t, resp.Errors)
		require.Equal(t, p.subject, s.LastEmailTo(t, p.email).Subject, p.email)
	}

	// A real person previewed in another language.
	henri := userID(t, a, "henri@example.com")
	var out struct{ PreviewEmail struct{ To, Subject string } }
	s.Query(t, a.tok, `query($u: ID) { previewEmail(kind: INVITATION, userId: $u, locale: "de") { to subject } }`, map[string]any{"u": henri}).Decode(t, &out)
	require.Equal(t, "HR auf Deutsch", out.PreviewEmail.Subject)
	s.Query(t, a.tok, `query($u: ID) { previewEmail(kind: INVITATION, userId: $u) { to subject } }`, map[string]any{"u": henri}).Decode(t, &out)
	require.Equal(t, "HR in any language", out.PreviewEmail.Subject, "the preview changed nobody")

	var list struct {
		EmailTemplates []struct {
			Locale *string
			Role   *struct{ Name string }
		}
	}
	s.Query(t, a.tok, `{ emailTemplates { locale role { name } } }`, nil).Decode(t, &list)
	require.Len(t, list.EmailTemplates, 4)
	var de int
	for _, e := range list.EmailTemplates {
		if e.Locale != nil && *e.Locale == "de" {
			de++
		}
	}
	require.Equal(t, 2, de)

	var defaults struct {
		DefaultEmailTemplates []struct{ Kind, Locale, Subject string }
	}
	s.Query(t, a.tok, `{ defaultEmailTemplates(locale: "fr-CA") { kind locale subject } }`, nil).Decode(t, &defaults)
	require.Len(t, defaults.DefaultEmailTemplates, 5)
	require.Equal(t, "fr", defaults.DefaultEmailTemplates[0].Locale)
	require.Equal(t, "Invitation à rejoindre {{.OrganizationName}}", defaults.DefaultEmailTemplates[0].Subject)
	s.Query(t, a.tok, `{ defaultEmailTemplates(locale: "pt") { locale } }`, nil).Decode(t, &defaults)
	require.Equal(t, "en", defaults.DefaultEmailTemplates[0].Locale, "a locale Rollcall does not ship: English")
}

// TestOverridesAreUniquePerKindRoleAndLocale: saving again for a kind, role
// and locale replaces the override (also with role and locale both left
// out, and for a locale written differently); saved at once, one wins and
// the others are CONFLICT or replace it, never a second row.
func TestOverridesAreUniquePerKindRoleAndLocale(t *testing.T) {
	t.Parallel()
	a := newAdmin(t)
	s := a.s
	id := func(resp *testkit.Response) string {
		t.Helper()
		require.Empty(t, resp.Errors)
		var out struct{ UpdateEmailTemplate struct{ ID string } }
		resp.Decode(t, &out)
		return out.UpdateEmailTemplate.ID
	}
	first := id(saveTemplate(t, a, "INVITATION", nil, nil, "First"))
	require.Equal(t, first, id(saveTemplate(t, a, "INVITATION", nil, nil, "Second")))
	de := id(saveTemplate(t, a, "INVITATION", nil, "DE", "Deutsch"))
	require.NotEqual(t, first, de)
	require.Equal(t, de, id(saveTemplate(t, a, "INVITATION", nil, "de", "Deutsch, wieder")))
	require.Equal(t, first, id(saveTemplate(t, a, "INVITATION", nil, "", "Empty is every language")))

	const racers = 8
	var wg sync.WaitGroup
	codes := make([]string, racers)
	for i := range racers {
		wg.Go(func() {
			resp := saveTemplate(t, a, "PASSWORD_RESET", a.roleID("HR"), "fr", fmt.Sprintf("Racer %d", i))
			codes[i] = resp.Code()
		})
	}
	wg.Wait()
	for _, c := range codes {
		require.Contains(t, []string{"", "CONFLICT"}, c)
	}
	require.Contains(t, codes, "", "at least one saved")

	var list struct {
		EmailTemplates []struct{ Kind, Subject string }
	}
	s.Query(t, a.tok, `{ emailTemplates { kind subject } }`, nil).Decode(t, &list)
	var subjects []string
	for _, e := range list.EmailTemplates {
		subjects = append(subjects, e.Kind+": "+e.Subject)
	}
	require.Len(t, subjects, 3, subjects)
	require.Contains(t, subjects, "INVITATION: Empty is every language")
	require.Contains(t, subjects, "INVITATION: Deutsch, wieder")
}

// TestBadLocalesAreRefusedEverywhere: a malformed or unknown locale is
// BAD_USER_INPUT naming the field at every door, and changes nothing.
func TestBadLocalesAreRefusedEverywhere(t *testing.T) {
	t.Parallel()
	a := newAdmin(t)
	s := a.s
	person := s.AddPeople(t, a.org, testkit.Person{Email: "kept@example.com", FirstName: "Kept", Locale: "fr"})[0]
	for _, bad := range []string{"xx-!!", "xx", "en-u-ca-gregory", "de\nen", strings.Repeat("a", 100)} {
		refused := func(resp *testkit.Response, field string) {
			t.Helper()
			require.Equal(t, "BAD_USER_INPUT", resp.Code(), "%q: %+v", bad, resp.Errors)
			require.Equal(t, field, resp.Errors[0].Extensions["field"], bad)
		}
		refused(s.Query(t, a.tok, inviteMutation, map[string]any{"in": map[string]any{
			"emails": []string{"new@example.com"}, "roleId": a.roleID("Member"), "locale": bad}}), "locale")
		refused(s.Query(t, a.tok, `mutation($id: ID!, $l: String) { updateUser(id: $id, input: {firstName: "Changed", locale: $l}) { id } }`,
			map[string]any{"id": person.ID, "l": bad}), "locale")
		refused(saveTemplate(t, a, "INVITATION", nil, bad, "Never saved"), "locale")
		refused(s.Query(t, a.tok, `query($l: String) { previewEmail(kind: INVITATION, locale: $l) { subject } }`, map[string]any{"l": bad}), "locale")
		refused(s.Query(t, a.tok, `query($l: String) { defaultEmailTemplates(locale: $l) { subject } }`, map[string]any{"l": bad}), "locale")
		refused(s.Query(t, a.tok, `mutation($l: String) { updateOrganization(input: {name: "Changed", defaultLocale: $l}) { id } }`,
			map[string]any{"l": bad}), "defaultLocale")

		out, resp := a.importCSV(t, a.tok, "email,locale\nrow@example.com,\""+bad+"\"\nkept@example.com,es\n", nil)
		require.Empty(t, resp.Errors)
		require.Equal(t, 1, out.ImportUsers.Rejected, bad)
		require.Equal(t, 2, out.ImportUsers.Errors[0].Line)
		require.True(t, strings.HasPrefix(out.ImportUsers.Errors[0].Message, "locale: "), out.ImportUsers.Errors[0].Message)
		// Put the good row back as it was, for the next round.
		s.Query(t, a.tok, `mutation($id: ID!) { updateUser(id: $id, input: {locale: "fr"}) { id } }`, map[string]any{"id": person.ID})
	}
	resp := s.Query(t, a.tok, `mutation { updateOrganization(input: {defaultLocale: "xx"}) { id } }`, nil)
	require.Contains(t, resp.Errors[0].Message, `"xx" is not a known language`)
	// A good locale with a broken template: the template's field is named.
	broken := a.s.Query(t, a.tok, updateTemplate, map[string]any{"in": map[string]any{
		"kind": "INVITATION", "locale": "de", "subject": "{{.FirstName", "html": "<p>x</p>", "text": "x"}})
	require.Equal(t, "BAD_USER_INPUT", broken.Code())
	require.Equal(t, "subject", broken.Errors[0].Extensions["field"])

	// Nothing changed.
	var after struct {
		Organization   struct{ Name, DefaultLocale string }
		Users          struct{ TotalCount int }
		EmailTemplates []struct{ ID string }
		Node           struct{ FirstName, Locale string }
	}
	s.Query(t, a.tok, `query($id: ID!) { organization { name defaultLocale } users { totalCount } emailTemplates { id }
		node(id: $id) { ... on User { firstName locale } } }`, map[string]any{"id": person.ID}).Decode(t, &after)
	require.Equal(t, "acme", after.Organization.Name)
	require.Equal(t, "en", after.Organization.DefaultLocale)
	require.Equal(t, 2, after.Users.TotalCount, "the Owner and the one seeded")
	require.Empty(t, after.EmailTemplates)
	require.Equal(t, "Kept", after.Node.FirstName)
	require.Equal(t, "fr", after.Node.Locale)
}

// TestSignInURL: the organisation's sign-in page is checked when set,
// printed by {{.SignInURL}} (also as a link's whole href) and is where a
// temporary password's email sends people; invitation(token) tells the
// names and the language to show.
func TestSignInURL(t *testing.T) {
	t.Parallel()
	a := newAdmin(t)
	s := a.s
	for _, bad := range []string{"javascript:alert(1)", "ftp://files.example.com/", "https://", "/login", "app.example.com/login",
		"https://user:secret@app.example.com/", "https://app.example.com/log in", "https://app.example.com/\nx", "https://" + strings.Repeat("a", 2000) + ".example"} {
		resp := s.Query(t, a.tok, `mutation($u: String) { updateOrganization(input: {signInURL: $u}) { id } }`, map[string]any{"u": bad})
		require.Equal(t, "BAD_USER_INPUT", resp.Code(), bad)
		require.Equal(t, "signInURL", resp.Errors[0].Extensions["field"], bad)
	}
	var org struct{ UpdateOrganization struct{ SignInURL *string } }
	s.Query(t, a.tok, `mutation { updateOrganization(input: {signInURL: " https://app.acme.example/login?from=mail "}) { signInURL } }`, nil).Decode(t, &org)
	require.Equal(t, "https://app.acme.example/login?from=mail", *org.UpdateOrganization.SignInURL)

	resp := a.s.Query(t, a.tok, updateTemplate, map[string]any{"in": map[string]any{"kind": "INVITATION", "subject": "Join",
		"html": `<p><a href="{{.ActionURL}}">Accept</a></p>{{if .SignInURL}}<p><a href="{{.SignInURL}}">Sign in later</a></p>{{end}}`,
		"text": "{{.ActionURL}}\nSign in later: {{.SignInURL}}"}})
	require.Empty(t, resp.Errors)
	a.invite(t, a.tok, []string{"Ada Lovelace <ada@example.com>"}, "Member", true)
	mail := s.LastEmailTo(t, "ada@example.com")
	require.Contains(t, mail.HTML, `<a href="https://app.acme.example/login?from=mail">Sign in later</a>`)
	require.Contains(t, mail.Text, "Sign in later: https://app.acme.example/login?from=mail")

	var preview struct{ PreviewEmail struct{ Text string } }
	s.Query(t, a.tok, `{ previewEmail(kind: TEMPORARY_PASSWORD) { text } }`, nil).Decode(t, &preview)
	require.Contains(t, preview.PreviewEmail.Text, "\nhttps://app.acme.example/login?from=mail\n", "the temporary password's sign-in link")

	var info struct {
		Invitation struct {
			Email, Locale       string
			FirstName, LastName *string
		}
	}
	s.Query(t, "", `query($t: String!) { invitation(token: $t) { email firstName lastName locale } }`, map[string]any{"t": mail.Token()}).Decode(t, &info)
	require.Equal(t, "Ada", *info.Invitation.FirstName)
	require.Equal(t, "Lovelace", *info.Invitation.LastName)
	require.Equal(t, "en", info.Invitation.Locale, "the organisation's default for a person without one")

	s.Query(t, a.tok, `mutation { updateOrganization(input: {signInURL: ""}) { signInURL } }`, nil).Decode(t, &org)
	require.Nil(t, org.UpdateOrganization.SignInURL, "empty clears it")
}

// TestBootstrapOrganisationName: ROLLCALL_BOOTSTRAP_ORG_NAME names the
// organisation created on an empty database, and a name the rules refuse
// stops the start, naming the setting.
func TestBootstrapOrganisationName(t *testing.T) {
	t.Parallel()
	s := testkit.NewServer(t, func(c *config.Config) { c.Bootstrap.Name = "Acme Corporation" })
	tok := s.Login(t, "default", "owner@example.com", testkit.OwnerPassword)
	var org struct{ Organization struct{ Slug, Name string } }
	s.Query(t, tok, `{ organization { slug name } }`, nil).Decode(t, &org)
	require.Equal(t, "default", org.Organization.Slug)
	require.Equal(t, "Acme Corporation", org.Organization.Name)

	cfg := testkit.Config(testkit.DatabaseURL(t))
	cfg.Mail.OutboxDir = t.TempDir()
	cfg.Bootstrap.Name = "Acme\r\nBcc: everyone@example.com"
	ctx := context.Background()
	bad, err := app.New(ctx, cfg, testkit.Logger(), clock.NewManual(testkit.Epoch))
	require.NoError(t, err)
	defer bad.Close()
	require.NoError(t, bad.Migrate(ctx))
	err = bad.Bootstrap(ctx, io.Discard)
	require.ErrorContains(t, err, "ROLLCALL_BOOTSTRAP_ORG_NAME: the organisation name contains a line break")
}
