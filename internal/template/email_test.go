package template

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/ent"
)

// TestDataOfWritesForTheLocale: dates and durations are written in the
// email's locale (English when it has none), and the organisation's
// sign-in page is there when set.
func TestDataOfWritesForTheLocale(t *testing.T) {
	t.Parallel()
	first, signIn := "Ada", "https://app.example.com/login"
	expires := time.Date(2026, time.March, 9, 9, 0, 0, 0, time.UTC)
	e := Email{Kind: Invitation, User: &ent.User{Email: "ada@example.com", FirstName: &first},
		Org: &ent.Organization{Name: "Acme"}, ExpiresAt: expires, TTL: 7 * 24 * time.Hour}
	for _, tc := range []struct{ loc, at, in string }{
		{"", "Monday 9 March 2026, 09:00 UTC", "7 days"},
		{"en", "Monday 9 March 2026, 09:00 UTC", "7 days"},
		{"de", "Montag, 9. März 2026, 09:00 Uhr UTC", "7 Tage"},
		{"fr", "lundi 9 mars 2026 à 09:00 UTC", "7 jours"},
		{"es", "lunes, 9 de marzo de 2026, a las 09:00 UTC", "7 días"},
	} {
		e.Locale = tc.loc
		d := DataOf(e)
		require.Equal(t, tc.at, d.ExpiresAt, tc.loc)
		require.Equal(t, tc.in, d.ExpiresIn, tc.loc)
		require.Empty(t, d.SignInURL)
	}
	e.Org.SignInURL = &signIn
	require.Equal(t, signIn, DataOf(e).SignInURL)
	e.ExpiresAt = time.Time{}
	require.Empty(t, DataOf(e).ExpiresAt, "no expiry, no date")
}
