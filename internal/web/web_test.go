package web_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/ent/session"
	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/testkit"
)

// site is a running Rollcall with organisation acme and its signed-in Owner.
type site struct {
	s   *testkit.Server
	org *testkit.Org
	tok string
}

func newSite(t *testing.T) *site {
	t.Helper()
	s := testkit.NewServer(t)
	o := s.CreateOrg(t, "acme")
	return &site{s: s, org: o, tok: s.Login(t, "acme", "owner@acme.test", testkit.OwnerPassword)}
}

// invite invites address (which may carry a name) as a Member and returns the
// email it got.
func (st *site) invite(t *testing.T, address, email string) testkit.Email {
	t.Helper()
	var out struct {
		InviteUsers struct{ Users []struct{ ID string } }
	}
	st.s.Query(t, st.tok, `mutation($in: InviteUsersInput!) { inviteUsers(input: $in) { users { id } } }`,
		map[string]any{"in": map[string]any{"emails": []string{address}, "roleId": fmt.Sprint(st.org.Roles["Member"].ID)}}).Decode(t, &out)
	require.Len(t, out.InviteUsers.Users, 1)
	return st.s.LastEmailTo(t, email)
}

// inviteIn invites address (which may carry a name) as a Member speaking
// loc ("" for none) and returns the email it got.
func (st *site) inviteIn(t *testing.T, address, loc string) testkit.Email {
	t.Helper()
	in := map[string]any{"emails": []string{address}, "roleId": fmt.Sprint(st.org.Roles["Member"].ID)}
	if loc != "" {
		in["locale"] = loc
	}
	var out struct {
		InviteUsers struct{ Users []struct{ Email string } }
	}
	st.s.Query(t, st.tok, `mutation($in: InviteUsersInput!) { inviteUsers(input: $in) { users { email } } }`,
		map[string]any{"in": in}).Decode(t, &out)
	require.Len(t, out.InviteUsers.Users, 1)
	return st.s.LastEmailTo(t, out.InviteUsers.Users[0].Email)
}

// page is an HTTP response with its body read.
type page struct {
	Status int
	Header http.Header
	Body   string
}

func do(t *testing.T, req *http.Request) page {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return page{Status: resp.StatusCode, Header: resp.Header, Body: string(body)}
}

func get(t *testing.T, link string) page {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, link, nil)
	require.NoError(t, err)
	return do(t, req)
}

// post sends form to target like a browser on the same site would; header
// adds or overrides request headers.
func post(t *testing.T, target string, form url.Values, header ...string) page {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return do(t, req)
}

// requireSecure checks the headers every page carries.
func requireSecure(t *testing.T, p page) {
	t.Helper()
	require.Equal(t, "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'", p.Header.Get("Content-Security-Policy"))
	require.Equal(t, "no-referrer", p.Header.Get("Referrer-Policy"))
	require.Equal(t, "no-store", p.Header.Get("Cache-Control"))
	require.Equal(t, "nosniff", p.Header.Get("X-Content-Type-Options"))
}

func acceptForm(tok, username, password, first, last string) url.Values {
	return url.Values{"token": {tok}, "username": {username}, "password": {password}, "first_name": {first}, "last_name": {last}}
}

func TestAcceptPage(t *testing.T) {
	t.Parallel()
	st := newSite(t)
	s := st.s
	st.s.Query(t, st.tok, `mutation { updateOrganization(input: {name: "Acme & Co"}) { id } }`, nil)
	mail := st.invite(t, "Ada Lovelace <ada@example.com>", "ada@example.com")
	link, tok := mail.Links()[0], mail.Token()
	require.True(t, strings.HasPrefix(link, s.URL+"/invite/accept?token="), link)

	for range 2 { // opening the link spends nothing
		p := get(t, link)
		require.Equal(t, http.StatusOK, p.Status, p.Body)
		requireSecure(t, p)
		require.Equal(t, "text/html; charset=utf-8", p.Header.Get("Content-Type"))
		require.Contains(t, p.Body, "Acme &amp; Co")
		require.Contains(t, p.Body, "ada@example.com")
		for _, f := range []string{"username", "password", "first_name", "last_name"} {
			require.Contains(t, p.Body, `<label for="`+f+`"`)
			require.Contains(t, p.Body, `id="`+f+`" name="`+f+`"`)
		}
		require.Contains(t, p.Body, `name="first_name" value="Ada"`)
		require.Contains(t, p.Body, `name="token" value="`+tok+`"`)
		require.Contains(t, p.Body, `<form method="post" action="accept">`) // relative: /invite/accept
		require.NotContains(t, p.Body, "<script")
	}

	p := post(t, s.URL+"/invite/accept", acceptForm(tok, "ada", "ada-chose-this-1", "Augusta Ada", "King"))
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	requireSecure(t, p)
	require.Contains(t, p.Body, "Your account is ready")
	require.Contains(t, p.Body, "ada@example.com")
	require.Contains(t, p.Body, "<strong>ada</strong>")
	require.Empty(t, p.Header.Values("Set-Cookie"))
	sessions, err := s.DB.Client.Session.Query().Where(session.HasUserWith(user.Email("ada@example.com"))).Count(testkit.System())
	require.NoError(t, err)
	require.Zero(t, sessions, "the page signs nobody in: no orphan session")

	viewer := s.Login(t, "acme", "ada", "ada-chose-this-1")
	var v struct {
		Viewer struct{ Status, FirstName, LastName, Username string }
	}
	s.Query(t, viewer, `{ viewer { status firstName lastName username } }`, nil).Decode(t, &v)
	require.Equal(t, "ACTIVE", v.Viewer.Status)
	require.Equal(t, "Augusta Ada", v.Viewer.FirstName)
	require.Equal(t, "King", v.Viewer.LastName)
	require.Equal(t, "ada", v.Viewer.Username)

	// Single use.
	p = post(t, s.URL+"/invite/accept", acceptForm(tok, "", "another-password-1", "", ""))
	require.Equal(t, http.StatusNotFound, p.Status)
	require.Contains(t, p.Body, "This link is not valid")
	requireSecure(t, p)
	require.Equal(t, http.StatusNotFound, get(t, link).Status)
	s.Login(t, "acme", "ada@example.com", "ada-chose-this-1")
}

func TestAcceptMistakes(t *testing.T) {
	t.Parallel()
	st := newSite(t)
	s := st.s
	s.AddPeople(t, st.org, testkit.Person{Email: "taken@example.com", Username: "taken", Status: user.StatusActive, Password: "taken-password-1"})
	tok := st.invite(t, "Ada Lovelace <ada@example.com>", "ada@example.com").Token()
	target := s.URL + "/invite/accept"

	t.Run("weak password", func(t *testing.T) {
		p := post(t, target, acceptForm(tok, "ada_l", "short", "Augusta", "King"))
		require.Equal(t, http.StatusUnprocessableEntity, p.Status, p.Body)
		requireSecure(t, p)
		require.Contains(t, p.Body, `<p class="error" id="password-error">Password must be at least 10 characters long</p>`)
		require.Contains(t, p.Body, `name="first_name" value="Augusta"`)
		require.Contains(t, p.Body, `name="last_name" value="King"`)
		require.Contains(t, p.Body, `name="username" value="ada_l"`)
		require.Contains(t, p.Body, `name="token" value="`+tok+`"`)
		require.Contains(t, p.Body, "ada@example.com", "still says who is invited")
		require.NotContains(t, p.Body, "short", "the password is never echoed")
	})

	t.Run("password like the email", func(t *testing.T) {
		p := post(t, target, acceptForm(tok, "", "ada@example.com", "", ""))
		require.Equal(t, http.StatusUnprocessableEntity, p.Status)
		require.Contains(t, p.Body, `id="password-error"`)
		require.NotContains(t, p.Body, `value="ada@example.com"`)
	})

	t.Run("bad username", func(t *testing.T) {
		p := post(t, target, acceptForm(tok, "a", "ada-chose-this-1", "", ""))
		require.Equal(t, http.StatusUnprocessableEntity, p.Status)
		require.Contains(t, p.Body, `<p class="error" id="username-error">A username has 2 to 64`)
		require.NotContains(t, p.Body, "ada-chose-this-1")
	})

	t.Run("username taken", func(t *testing.T) {
		p := post(t, target, acceptForm(tok, "Taken", "ada-chose-this-1", "", ""))
		require.Equal(t, http.StatusUnprocessableEntity, p.Status)
		require.Contains(t, p.Body, `<p class="error" id="username-error">That username is taken</p>`)
		require.Contains(t, p.Body, `name="username" value="Taken"`)
	})

	t.Run("the token still works", func(t *testing.T) {
		p := post(t, target, acceptForm(tok, "", "ada-chose-this-1", "", ""))
		require.Equal(t, http.StatusOK, p.Status, p.Body)
		require.Contains(t, p.Body, "Your account is ready")
		require.NotContains(t, p.Body, "your username")
		s.Login(t, "acme", "ada@example.com", "ada-chose-this-1")
	})
}

func TestDeadLinks(t *testing.T) {
	t.Parallel()
	st := newSite(t)
	s := st.s
	mail := st.invite(t, "dan@example.com", "dan@example.com")

	for _, link := range []string{s.URL + "/invite/accept?token=junk", s.URL + "/invite/accept", s.URL + "/password/reset", s.URL + "/invite/accept?token=" + strings.Repeat("A", 43)} {
		p := get(t, link)
		require.Equal(t, http.StatusNotFound, p.Status, link)
		require.Contains(t, p.Body, "This link is not valid")
		requireSecure(t, p)
	}
	p := post(t, s.URL+"/password/reset", url.Values{"token": {"junk"}, "password": {"dan-password-123"}})
	require.Equal(t, http.StatusNotFound, p.Status)
	require.Contains(t, p.Body, "Request a new password reset")

	s.Clock.Advance(7*24*time.Hour + time.Second)
	p = get(t, mail.Links()[0])
	require.Equal(t, http.StatusGone, p.Status)
	require.Contains(t, p.Body, "This link has expired")
	require.Contains(t, p.Body, "Ask for a new invitation")
	requireSecure(t, p)
	p = post(t, s.URL+"/invite/accept", acceptForm(mail.Token(), "", "dan-password-123", "", ""))
	require.Equal(t, http.StatusGone, p.Status)
	require.NotContains(t, p.Body, "dan-password-123")
}

func TestCrossSitePostsAreRefused(t *testing.T) {
	t.Parallel()
	st := newSite(t)
	s := st.s
	s.AddPeople(t, st.org, testkit.Person{Email: "ada@example.com", Status: user.StatusActive, Password: "ada-old-password"})
	tok := st.invite(t, "bob@example.com", "bob@example.com").Token()
	s.Query(t, "", `mutation { requestPasswordReset(input: {organization: "acme", email: "ada@example.com"}) }`, nil)
	resetTok := s.LastEmailTo(t, "ada@example.com").Token()

	for _, header := range [][]string{
		{"Sec-Fetch-Site", "cross-site"},
		{"Sec-Fetch-Site", "same-site"},
		{"Origin", "http://evil.example"},
	} {
		p := post(t, s.URL+"/invite/accept", acceptForm(tok, "bob", "bob-password-123", "", ""), header...)
		require.Equal(t, http.StatusForbidden, p.Status, header)
		require.Contains(t, p.Body, "This form came from another site")
		requireSecure(t, p)
		p = post(t, s.URL+"/password/reset", url.Values{"token": {resetTok}, "password": {"ada-new-password"}}, header...)
		require.Equal(t, http.StatusForbidden, p.Status, header)
	}

	// Nothing changed: both links still work, no new password signs in.
	require.Equal(t, "UNAUTHENTICATED", s.Query(t, "", `mutation { login(input: {organization: "acme", login: "bob@example.com", password: "bob-password-123"}) { token } }`, nil).Code())
	require.Equal(t, "UNAUTHENTICATED", s.Query(t, "", `mutation { login(input: {organization: "acme", login: "ada@example.com", password: "ada-new-password"}) { token } }`, nil).Code())
	require.Equal(t, http.StatusOK, get(t, s.URL+"/invite/accept?token="+url.QueryEscape(tok)).Status)

	// The same origin, as a browser sends it, is accepted.
	p := post(t, s.URL+"/invite/accept", acceptForm(tok, "bob", "bob-password-123", "", ""), "Origin", s.URL, "Sec-Fetch-Site", "same-origin")
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	p = post(t, s.URL+"/password/reset", url.Values{"token": {resetTok}, "password": {"ada-new-password"}}, "Origin", s.URL)
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	s.Login(t, "acme", "bob", "bob-password-123")
	s.Login(t, "acme", "ada@example.com", "ada-new-password")
}

func TestNamesAreEscaped(t *testing.T) {
	t.Parallel()
	st := newSite(t)
	s := st.s
	people := s.AddPeople(t, st.org, testkit.Person{Email: "mallory@example.com", FirstName: `<script>alert(1)</script>`})
	var link struct{ CreateInvitationLink struct{ URL string } }
	s.Query(t, st.tok, `mutation($id: ID!) { createInvitationLink(userId: $id) { url } }`, map[string]any{"id": fmt.Sprint(people[0].ID)}).Decode(t, &link)

	p := get(t, link.CreateInvitationLink.URL)
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	require.NotContains(t, p.Body, "<script")
	require.Contains(t, p.Body, `Hi &lt;script&gt;alert(1)&lt;/script&gt;,`)
	require.Contains(t, p.Body, `name="first_name" value="&lt;script&gt;alert(1)&lt;/script&gt;"`)

	// A submitted value is escaped on the re-rendered form too.
	tok := link.CreateInvitationLink.URL[strings.Index(link.CreateInvitationLink.URL, "token=")+len("token="):]
	p = post(t, s.URL+"/invite/accept", acceptForm(tok, `"><script>x</script>`, "short", `"><b>`, ""))
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	require.NotContains(t, p.Body, "<script")
	require.NotContains(t, p.Body, "<b>")
	require.Contains(t, p.Body, `value="&#34;&gt;&lt;b&gt;"`)
}

func TestResetPage(t *testing.T) {
	t.Parallel()
	st := newSite(t)
	s := st.s
	s.AddPeople(t, st.org, testkit.Person{Email: "ada@example.com", Status: user.StatusActive, Password: "ada-old-password"})
	old := s.Login(t, "acme", "ada@example.com", "ada-old-password")
	var out struct{ RequestPasswordReset bool }
	s.Query(t, "", `mutation($in: RequestPasswordResetInput!) { requestPasswordReset(input: $in) }`,
		map[string]any{"in": map[string]any{"organization": "acme", "email": "ada@example.com"}}).Decode(t, &out)
	require.True(t, out.RequestPasswordReset)
	mail := s.LastEmailTo(t, "ada@example.com")
	link, tok := mail.Links()[0], mail.Token()
	require.True(t, strings.HasPrefix(link, s.URL+"/password/reset?token="), link)

	p := get(t, link)
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	requireSecure(t, p)
	require.Contains(t, p.Body, `<label for="password">New password</label>`)
	require.Contains(t, p.Body, `id="password" name="password"`)
	require.Contains(t, p.Body, `name="token" value="`+tok+`"`)
	require.Contains(t, p.Body, `<form method="post" action="reset">`)

	p = post(t, s.URL+"/password/reset", url.Values{"token": {tok}, "password": {"short"}})
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	require.Contains(t, p.Body, `<p class="error" id="password-error">Password must be at least 10 characters long</p>`)
	require.NotContains(t, p.Body, "short")
	require.Contains(t, p.Body, `name="token" value="`+tok+`"`)

	p = post(t, s.URL+"/password/reset", url.Values{"token": {tok}, "password": {"ada-new-password"}})
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	requireSecure(t, p)
	require.Contains(t, p.Body, "Your password has been changed")
	require.Contains(t, p.Body, "ada@example.com")
	s.Login(t, "acme", "ada@example.com", "ada-new-password")
	require.Equal(t, "UNAUTHENTICATED", s.Query(t, old, `{ viewer { email } }`, nil).Code(), "older sessions end")

	p = post(t, s.URL+"/password/reset", url.Values{"token": {tok}, "password": {"ada-newer-password"}})
	require.Equal(t, http.StatusNotFound, p.Status)
	require.Contains(t, p.Body, "This link is not valid")

	t.Run("an invitation token cannot reset", func(t *testing.T) {
		inv := st.invite(t, "bob@example.com", "bob@example.com").Token()
		p := post(t, s.URL+"/password/reset", url.Values{"token": {inv}, "password": {"bob-password-123"}})
		require.Equal(t, http.StatusNotFound, p.Status)
	})
}

func TestRequestLimits(t *testing.T) {
	t.Parallel()
	st := newSite(t)
	s := st.s
	tok := st.invite(t, "ada@example.com", "ada@example.com").Token()

	big := acceptForm(tok, "", "ada-chose-this-1", strings.Repeat("x", 70<<10), "")
	p := post(t, s.URL+"/invite/accept", big)
	require.Equal(t, http.StatusRequestEntityTooLarge, p.Status)
	requireSecure(t, p)

	req, err := http.NewRequest(http.MethodPut, s.URL+"/invite/accept?token="+url.QueryEscape(tok), nil)
	require.NoError(t, err)
	p = do(t, req)
	require.Equal(t, http.StatusMethodNotAllowed, p.Status)
	requireSecure(t, p)

	// The token is read from the form only, never from the URL of a POST.
	p = post(t, s.URL+"/invite/accept?token="+url.QueryEscape(tok), url.Values{"password": {"ada-chose-this-1"}})
	require.Equal(t, http.StatusNotFound, p.Status)
	require.Equal(t, http.StatusOK, get(t, s.URL+"/invite/accept?token="+url.QueryEscape(tok)).Status)
}

// TestPagesSpeakTheLocale: a page speaks the person's locale, else what the
// browser asks for, else the organisation's default, else English, each
// matched to a shipped locale (fr-CA reads French, pt nothing).
func TestPagesSpeakTheLocale(t *testing.T) {
	t.Parallel()
	st := newSite(t)
	s := st.s
	s.Query(t, st.tok, `mutation { updateOrganization(input: {defaultLocale: "es"}) { defaultLocale } }`, nil)
	links := map[string]string{}
	for _, p := range []struct{ address, loc string }{
		{"Grete Weiß <grete@example.com>", "de"},
		{"Céline Roy <celine@example.com>", "fr-CA"},
		{"João Silva <joao@example.com>", "pt"},
		{"Nobody Known <nobody@example.com>", ""},
	} {
		mail := st.inviteIn(t, p.address, p.loc)
		links[mail.To] = mail.Links()[0]
	}
	open := func(link, acceptLanguage string) page {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, link, nil)
		require.NoError(t, err)
		if acceptLanguage != "" {
			req.Header.Set("Accept-Language", acceptLanguage)
		}
		p := do(t, req)
		require.Equal(t, http.StatusOK, p.Status, p.Body)
		require.Contains(t, p.Header.Values("Vary"), "Accept-Language")
		return p
	}
	for _, tc := range []struct {
		name, to, acceptLanguage, lang, heading, text string
	}{
		{"the person's locale", "grete@example.com", "", "de", "Einladung zu acme", `<label for="first_name">Vorname</label>`},
		{"the person's locale before the browser's", "grete@example.com", "fr", "de", "Einladung zu acme", "Konto erstellen"},
		{"the person's language", "celine@example.com", "", "fr", "Rejoindre acme", "Créer mon compte"},
		{"the browser's, when the person's is not shipped", "joao@example.com", "pt-BR, fr;q=0.5", "fr", "Rejoindre acme", "Bonjour João, vous avez reçu une invitation à rejoindre acme"},
		{"the organisation's default", "joao@example.com", "pt-BR", "es", "Únase a acme", "Hola, João. Ha recibido una invitación"},
		{"the browser's, for a person without", "nobody@example.com", "de-AT,de;q=0.9", "de", "Einladung zu acme", "Hallo Nobody, Sie wurden mit der Adresse <strong>nobody@example.com</strong> zu acme eingeladen."},
		{"the organisation's default, for a person without", "nobody@example.com", "", "es", "Únase a acme", "Crear mi cuenta"},
	} {
		p := open(links[tc.to], tc.acceptLanguage)
		require.Contains(t, p.Body, `<html lang="`+tc.lang+`">`, tc.name)
		require.Contains(t, p.Body, "<h1>"+tc.heading+"</h1>", tc.name)
		require.Contains(t, p.Body, tc.text, tc.name)
	}
	p := open(links["grete@example.com"], "")
	require.Contains(t, p.Body, `name="first_name" value="Grete"`)
	require.Contains(t, p.Body, `name="last_name" value="Weiß"`, "the last name is prefilled too")
	require.Contains(t, p.Body, "Mindestens 10 Zeichen.")

	// A mistake is told in the person's language; an unknown message stays
	// as the service wrote it.
	tok := links["grete@example.com"][strings.Index(links["grete@example.com"], "token=")+len("token="):]
	p = post(t, s.URL+"/invite/accept", acceptForm(tok, "", "kurz", "Grete", "Weiß"))
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	require.Contains(t, p.Body, `<p class="error" id="password-error">Das Passwort muss mindestens 10 Zeichen lang sein</p>`)
	p = post(t, s.URL+"/invite/accept", acceptForm(tok, "x", "ein-eigenes-passwort-1", "", ""))
	require.Contains(t, p.Body, `<p class="error" id="username-error">Ein Benutzername besteht aus 2 bis 64 Buchstaben`)

	// Without a sign-in page the success page says the page may be closed;
	// with one, it links to it.
	p = post(t, s.URL+"/invite/accept", acceptForm(tok, "grete", "ein-eigenes-passwort-1", "", ""))
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	require.Contains(t, p.Body, "<h1>Ihr Konto ist eingerichtet</h1>")
	require.Contains(t, p.Body, "oder Ihrem Benutzernamen <strong>grete</strong>")
	require.Contains(t, p.Body, "Sie können diese Seite jetzt schließen.")
	s.Query(t, st.tok, `mutation { updateOrganization(input: {signInURL: "https://app.acme.example/login?from=rollcall&x=1"}) { id } }`, nil)
	tok = links["celine@example.com"][strings.Index(links["celine@example.com"], "token=")+len("token="):]
	p = post(t, s.URL+"/invite/accept", acceptForm(tok, "", "un-mot-de-passe-1", "", ""))
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	require.Contains(t, p.Body, "<h1>Votre compte est prêt</h1>")
	require.Contains(t, p.Body, `<a class="button" href="https://app.acme.example/login?from=rollcall&amp;x=1">Se connecter à acme</a>`)

	// A dead link tells no person: the browser's language, else English.
	for lang, want := range map[string]string{"es": "Este enlace no es válido", "fr-CH": "Ce lien n’est pas valide", "": "This link is not valid", "pt": "This link is not valid"} {
		req, err := http.NewRequest(http.MethodGet, s.URL+"/invite/accept?token=junk", nil)
		require.NoError(t, err)
		req.Header.Set("Accept-Language", lang)
		p := do(t, req)
		require.Equal(t, http.StatusNotFound, p.Status)
		require.Contains(t, p.Body, "<h1>"+want+"</h1>", lang)
	}
	p = post(t, s.URL+"/invite/accept", acceptForm(tok, "", "x", "", ""), "Origin", "http://evil.example", "Accept-Language", "de")
	require.Equal(t, http.StatusForbidden, p.Status)
	require.Contains(t, p.Body, "Dieses Formular kam von einer anderen Website")
}

// TestResetPageInGerman: a German person's reset email, form, mistakes and
// answer are German; a dead reset link is told when opened.
func TestResetPageInGerman(t *testing.T) {
	t.Parallel()
	st := newSite(t)
	s := st.s
	s.AddPeople(t, st.org, testkit.Person{Email: "grete@example.com", FirstName: "Grete", Status: user.StatusActive,
		Password: "grete-old-password", Locale: "de"})
	s.Query(t, "", `mutation { requestPasswordReset(input: {organization: "acme", email: "grete@example.com"}) }`, nil)
	mail := s.LastEmailTo(t, "grete@example.com")
	require.Equal(t, "Ihr Passwort für acme zurücksetzen", mail.Subject)
	require.Contains(t, mail.Text, "Der Link ist 1 Stunde lang gültig, bis ")
	link, tok := mail.Links()[0], mail.Token()

	p := get(t, link)
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	require.Contains(t, p.Body, `<html lang="de">`)
	require.Contains(t, p.Body, "<h1>Neues Passwort wählen</h1>")
	require.Contains(t, p.Body, `<label for="password">Neues Passwort</label>`)
	p = post(t, s.URL+"/password/reset", url.Values{"token": {tok}, "password": {"grete@example.com"}})
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	require.Contains(t, p.Body, `<p class="error" id="password-error">Das Passwort darf nicht Ihre E-Mail-Adresse sein</p>`)
	p = post(t, s.URL+"/password/reset", url.Values{"token": {tok}, "password": {"grete-new-password"}})
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	require.Contains(t, p.Body, "<h1>Ihr Passwort wurde geändert</h1>")
	require.Contains(t, p.Body, "Melden Sie sich als <strong>grete@example.com</strong> mit Ihrem neuen Passwort an.")
	s.Login(t, "acme", "grete@example.com", "grete-new-password")

	p = get(t, link)
	require.Equal(t, http.StatusNotFound, p.Status, "a spent link is told when opened")
	require.Contains(t, p.Body, "Request a new password reset")
}
