package app_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/ent/session"
	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/config"
	"github.com/rollcall/rollcall/internal/testkit"
)

const viewerQuery = `{ viewer { id email status role { name permissions } } }`

func TestLogin(t *testing.T) {
	t.Parallel()
	s := testkit.NewServer(t)
	acme := s.CreateOrg(t, "acme")
	s.AddPeople(t, acme,
		testkit.Person{Email: "Ada@Acme.test", Username: "ada", Status: user.StatusActive, Password: "ada-password-1", Role: "HR"},
		testkit.Person{Email: "gone@acme.test", Status: user.StatusDeactivated, Password: "gone-password-1"},
		testkit.Person{Email: "pending@acme.test", Status: user.StatusInvited},
	)

	t.Run("by email, any case, with and without organisation", func(t *testing.T) {
		for _, org := range []string{"acme", "ACME", ""} {
			tok := s.Login(t, org, "ada@ACME.test", "ada-password-1")
			var data struct {
				Viewer struct{ Email, Status string }
			}
			s.Query(t, tok, viewerQuery, nil).Decode(t, &data)
			require.Equal(t, "Ada@Acme.test", data.Viewer.Email)
			require.Equal(t, "ACTIVE", data.Viewer.Status)
		}
	})

	t.Run("by username", func(t *testing.T) {
		tok := s.Login(t, "acme", "ADA", "ada-password-1")
		require.NotEmpty(t, tok)
	})

	t.Run("payload carries the user and role", func(t *testing.T) {
		resp := s.Query(t, "", `mutation { login(input: {login: "ada", password: "ada-password-1"}) { token user { email lastLoginAt role { name } } } }`, nil)
		var data struct {
			Login struct {
				Token string
				User  struct {
					Email       string
					LastLoginAt *time.Time
					Role        struct{ Name string }
				}
			}
		}
		resp.Decode(t, &data)
		require.Len(t, data.Login.Token, 43, "32 random bytes, base64url")
		require.Equal(t, "HR", data.Login.User.Role.Name)
		require.NotNil(t, data.Login.User.LastLoginAt)
		require.True(t, data.Login.User.LastLoginAt.Equal(testkit.Epoch))
	})

	t.Run("one answer for every refusal", func(t *testing.T) {
		cases := map[string][2]string{
			"wrong password":    {"ada@acme.test", "not-the-password"},
			"unknown login":     {"nobody@acme.test", "whatever-password"},
			"deactivated":       {"gone@acme.test", "gone-password-1"},
			"invited, no login": {"pending@acme.test", "anything-at-all"},
			"empty password":    {"ada@acme.test", ""},
		}
		for name, c := range cases {
			resp := s.Query(t, "", loginMutation, map[string]any{"in": map[string]any{"login": c[0], "password": c[1]}})
			require.Equal(t, "UNAUTHENTICATED", resp.Code(), name)
			require.Equal(t, "invalid login or password", resp.Errors[0].Message, name)
		}
	})

	t.Run("wrong organisation", func(t *testing.T) {
		resp := s.Query(t, "", loginMutation, map[string]any{"in": map[string]any{"organization": "default", "login": "ada", "password": "ada-password-1"}})
		require.Equal(t, "UNAUTHENTICATED", resp.Code())
	})

	t.Run("session token is stored hashed", func(t *testing.T) {
		tok := s.Login(t, "acme", "ada", "ada-password-1")
		sessions, err := s.DB.Client.Session.Query().All(testkit.System())
		require.NoError(t, err)
		for _, sess := range sessions {
			require.NotContains(t, string(sess.TokenHash), tok)
			require.Len(t, sess.TokenHash, 32)
		}
	})
}

const loginMutation = `mutation($in: LoginInput!) { login(input: $in) { token } }`

func TestLoginSameCredentialsInTwoOrganisations(t *testing.T) {
	t.Parallel()
	s := testkit.NewServer(t)
	for _, slug := range []string{"north", "south"} {
		o := s.CreateOrg(t, slug)
		s.AddPeople(t, o, testkit.Person{Email: "sam@example.org", Status: user.StatusActive, Password: "shared-password-1"})
	}
	resp := s.Query(t, "", loginMutation, map[string]any{"in": map[string]any{"login": "sam@example.org", "password": "shared-password-1"}})
	require.Equal(t, "UNAUTHENTICATED", resp.Code(), "ambiguous without an organisation")
	tok := s.Login(t, "south", "sam@example.org", "shared-password-1")
	var data struct{ Organization struct{ Slug string } }
	s.Query(t, tok, `{ organization { slug } }`, nil).Decode(t, &data)
	require.Equal(t, "south", data.Organization.Slug)
}

func TestLoginThrottling(t *testing.T) {
	t.Parallel()
	s := testkit.NewServer(t, func(c *config.Config) {
		c.Auth.AccountAttempts = 3
		c.Auth.ClientFailures = 7
		c.Auth.ThrottleWindow = 10 * time.Minute
	})
	acme := s.CreateOrg(t, "acme")
	s.AddPeople(t, acme, testkit.Person{Email: "ada@acme.test", Status: user.StatusActive, Password: "ada-password-1"})
	attempt := func(login, password string) string {
		return s.Query(t, "", loginMutation, map[string]any{"in": map[string]any{"organization": "acme", "login": login, "password": password}}).Code()
	}

	t.Run("per account, known or not", func(t *testing.T) {
		for _, login := range []string{"ada@acme.test", "ghost@acme.test"} {
			for range 3 {
				require.Equal(t, "UNAUTHENTICATED", attempt(login, "wrong-password"))
			}
			require.Equal(t, "RATE_LIMITED", attempt(login, "wrong-password"), login)
		}
		// Even the right password waits out the window.
		require.Equal(t, "RATE_LIMITED", attempt("ada@acme.test", "ada-password-1"))
		s.Clock.Advance(10*time.Minute + time.Second)
		require.Equal(t, "", attempt("ada@acme.test", "ada-password-1"))
	})

	t.Run("per client address", func(t *testing.T) {
		// A new window; failures spread over many logins still add up.
		s.Clock.Advance(11 * time.Minute)
		for i := range 7 {
			require.Equal(t, "UNAUTHENTICATED", attempt("stranger"+string(rune('a'+i))+"@acme.test", "wrong-password"))
		}
		require.Equal(t, "RATE_LIMITED", attempt("someone-new@acme.test", "wrong-password"))
		require.Equal(t, "RATE_LIMITED", attempt("ada@acme.test", "ada-password-1"))
	})
}

func TestLoginConcurrentGuessesAreBounded(t *testing.T) {
	t.Parallel()
	s := testkit.NewServer(t, func(c *config.Config) { c.Auth.AccountAttempts = 5 })
	acme := s.CreateOrg(t, "acme")
	s.AddPeople(t, acme, testkit.Person{Email: "ada@acme.test", Status: user.StatusActive, Password: "ada-password-1"})
	var wg sync.WaitGroup
	codes := make(chan string, 20)
	for range 20 {
		wg.Go(func() {
			codes <- s.Query(t, "", loginMutation, map[string]any{"in": map[string]any{"login": "ada@acme.test", "password": "guess-guess-guess"}}).Code()
		})
	}
	wg.Wait()
	close(codes)
	checked := 0
	for c := range codes {
		if c == "UNAUTHENTICATED" {
			checked++
		} else {
			require.Equal(t, "RATE_LIMITED", c)
		}
	}
	require.LessOrEqual(t, checked, 5, "no more guesses checked than the limit")
}

func TestSessions(t *testing.T) {
	t.Parallel()
	s := testkit.NewServer(t)
	acme := s.CreateOrg(t, "acme")
	people := s.AddPeople(t, acme, testkit.Person{Email: "ada@acme.test", Status: user.StatusActive, Password: "ada-password-1"})
	// viewerEmail is the viewer's address, or "" when the token is refused
	// (401 UNAUTHENTICATED: a bad token never reads as anonymous).
	viewerEmail := func(tok string) string {
		resp := s.Query(t, tok, viewerQuery, nil)
		if resp.Status == http.StatusUnauthorized {
			require.Equal(t, "UNAUTHENTICATED", resp.Code())
			return ""
		}
		var data struct{ Viewer *struct{ Email string } }
		resp.Decode(t, &data)
		require.NotNil(t, data.Viewer, "a token either works or is refused")
		return data.Viewer.Email
	}

	t.Run("anonymous viewer is null", func(t *testing.T) {
		var data struct{ Viewer *struct{ Email string } }
		s.Query(t, "", viewerQuery, nil).Decode(t, &data)
		require.Nil(t, data.Viewer)
	})

	t.Run("a bad token is refused, not anonymous", func(t *testing.T) {
		for _, tok := range []string{"not-a-token", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"} {
			resp := s.Query(t, tok, viewerQuery, nil)
			require.Equal(t, http.StatusUnauthorized, resp.Status, tok)
			require.Equal(t, "UNAUTHENTICATED", resp.Code(), tok)
			require.Nil(t, resp.Data, "nothing runs")
		}
		// Nor may a public operation run under a bad token.
		resp := s.Query(t, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", loginMutation,
			map[string]any{"in": map[string]any{"login": "ada@acme.test", "password": "ada-password-1"}})
		require.Equal(t, http.StatusUnauthorized, resp.Status)
	})

	t.Run("logout ends the session", func(t *testing.T) {
		tok := s.Login(t, "acme", "ada@acme.test", "ada-password-1")
		require.Equal(t, "ada@acme.test", viewerEmail(tok))
		var data struct{ Logout bool }
		s.Query(t, tok, `mutation { logout }`, nil).Decode(t, &data)
		require.True(t, data.Logout)
		require.Equal(t, "", viewerEmail(tok))
		require.Equal(t, "UNAUTHENTICATED", s.Query(t, tok, `mutation { logout }`, nil).Code())
		require.Equal(t, http.StatusUnauthorized, s.Query(t, tok, `mutation { logout }`, nil).Status)
	})

	t.Run("idle expiry slides with use, up to the maximum", func(t *testing.T) {
		tok := s.Login(t, "acme", "ada@acme.test", "ada-password-1")
		for range 40 { // 40 × 20h = 800h, past the 30-day maximum (720h)
			s.Clock.Advance(20 * time.Hour)
			if viewerEmail(tok) == "" {
				break
			}
		}
		require.Equal(t, "", viewerEmail(tok))
		elapsed := s.Clock.Now().Sub(testkit.Epoch)
		require.Greater(t, elapsed, 700*time.Hour, "kept alive by use")
		require.LessOrEqual(t, elapsed, 721*time.Hour, "but never past the maximum")

		tok = s.Login(t, "acme", "ada@acme.test", "ada-password-1")
		s.Clock.Advance(24*time.Hour + time.Second)
		require.Equal(t, "", viewerEmail(tok), "unused for a day")
	})

	t.Run("deactivation ends sessions", func(t *testing.T) {
		tok := s.Login(t, "acme", "ada@acme.test", "ada-password-1")
		require.NoError(t, s.DB.Client.User.UpdateOne(people[0]).SetStatus(user.StatusDeactivated).Exec(testkit.System()))
		require.Equal(t, "", viewerEmail(tok))
		require.NoError(t, s.DB.Client.User.UpdateOne(people[0]).SetStatus(user.StatusActive).Exec(testkit.System()))
	})

	t.Run("expired sessions are pruned", func(t *testing.T) {
		s.Login(t, "acme", "ada@acme.test", "ada-password-1")
		s.Clock.Advance(31 * 24 * time.Hour)
		_, err := s.Auth.PruneSessions(context.Background())
		require.NoError(t, err)
		n, err := s.DB.Client.Session.Query().Where(session.ExpiresAtLTE(s.Clock.Now())).Count(testkit.System())
		require.NoError(t, err)
		require.Zero(t, n)
	})
}

func TestLoginThrottleIgnoresTheOrganisationNamed(t *testing.T) {
	t.Parallel()
	s := testkit.NewServer(t, func(c *config.Config) { c.Auth.AccountAttempts = 3 })
	acme := s.CreateOrg(t, "acme")
	s.AddPeople(t, acme, testkit.Person{Email: "ada@acme.test", Status: user.StatusActive, Password: "ada-password-1"})
	codes := []string{}
	for _, org := range []string{"acme", "", "default", "acme", "nowhere"} {
		codes = append(codes, s.Query(t, "", loginMutation, map[string]any{"in": map[string]any{"organization": org, "login": "ada@acme.test", "password": "guess-guess-1"}}).Code())
	}
	require.Equal(t, []string{"UNAUTHENTICATED", "UNAUTHENTICATED", "UNAUTHENTICATED", "RATE_LIMITED", "RATE_LIMITED"}, codes)
}
