package template

import (
	"io/fs"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/internal/locale"
)

// TestEveryDefaultValidatesAndRenders: every kind has a built-in template in
// every shipped locale; each passes the template rules (the secret rules
// included), renders with every value set and with almost none, puts the
// secrets only where they may stand, and says nothing in another language.
func TestEveryDefaultValidatesAndRenders(t *testing.T) {
	t.Parallel()
	// Words of the English templates that a translation must not keep.
	english := []string{"Hello", "Hi ", "Sent by", "expires", "invited you", "password", "Reply to", "If you"}
	for _, loc := range locale.Shipped() {
		for _, k := range Kinds() {
			name := string(k) + "/" + loc
			src := DefaultIn(k, loc)
			require.NotEmpty(t, src.Subject, name)
			require.NotContains(t, src.Subject, "\n", name)
			require.NotEmpty(t, src.HTML, name)
			require.NotEmpty(t, src.Text, name)
			require.NoError(t, Validate(k, src), name)
			require.Contains(t, src.HTML, `<html lang="`+loc+`">`, name)
			requireNoLeak(t, k, src)

			d := fullData()
			d.ExpiresAt = locale.Date(loc, time.Date(2026, time.March, 9, 9, 0, 0, 0, time.UTC))
			d.ExpiresIn = locale.Duration(loc, 7*24*time.Hour)
			d.NewEmail = "ada.new@example.com"
			full, err := Render(k, src, d)
			require.NoError(t, err, name)
			minimal, err := Render(k, src, Data{Email: "bob@example.com", OrganizationName: "Acme", ActionURL: "https://x.example/a"})
			require.NoError(t, err, name)
			for _, r := range []Rendered{full, minimal} {
				all := r.Subject + "\n" + r.HTML + "\n" + r.Text
				require.Contains(t, r.Subject, "Acme", name)
				require.NotContains(t, all, "{{", name)
				require.NotContains(t, all, "()", name, "an empty parenthesis")
				require.NotContains(t, all, " ,", name)
				require.NotContains(t, all, " .", name)
				require.NotContains(t, r.Text, "\n\n\n", name, "no gap where a sentence was left out")
				if loc != "en" {
					for _, w := range english {
						require.NotContains(t, strings.ReplaceAll(all, "SFMono", ""), w, name)
					}
				}
			}
			require.NotContains(t, minimal.HTML+minimal.Text, d.ExpiresIn, name, "no expiry sentence without an expiry")
			require.Contains(t, full.HTML+full.Text, "Acme", name)

			canaries, err := Render(k, src, canaryData(d))
			require.NoError(t, err, name)
			require.Empty(t, leaks(canaries), name)
			switch k {
			case EmailChanged:
				require.NotContains(t, canaries.HTML+canaries.Text, "Qk7", name)
				require.Contains(t, full.HTML, "ada.new@example.com", name)
				require.Contains(t, full.Text, "ada.new@example.com", name)
			case TemporaryPassword:
				require.Contains(t, canaries.HTML, ">"+canaryPassword+"<", name)
				require.Contains(t, canaries.Text, " "+canaryPassword+"\n", name)
				fallthrough
			default:
				require.Contains(t, canaries.HTML, `href="`+canaryURL+`"`, name)
				require.Contains(t, canaries.Text, "\n"+canaryURL+"\n", name)
			}
		}
	}
	require.Equal(t, Source{}, DefaultIn(Invitation, "pt"), "a locale Rollcall does not ship")
	require.Equal(t, Source{}, DefaultIn("OTHER", "de"))
	require.Equal(t, DefaultIn(Invitation, "en"), Default(Invitation))
}

// TestDefaultsAreAllUsed: the embedded files are exactly a subject, an HTML
// and a text body per kind and shipped locale.
func TestDefaultsAreAllUsed(t *testing.T) {
	t.Parallel()
	var want, got []string
	for _, loc := range locale.Shipped() {
		for _, k := range Kinds() {
			for _, ext := range []string{".subject.txt", ".html", ".txt"} {
				want = append(want, "defaults/"+loc+"/"+strings.ToLower(string(k))+ext)
			}
		}
	}
	require.NoError(t, fs.WalkDir(defaults, "defaults", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			got = append(got, path)
		}
		return err
	}))
	slices.Sort(want)
	slices.Sort(got)
	require.Equal(t, want, got)
}

// TestDefaultsWriteDatesForTheLocale: the expiry reads as one sentence in
// each language, with the date written for it.
func TestDefaultsWriteDatesForTheLocale(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, time.March, 9, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		loc, invitation, reset string
	}{
		{"en", "This invitation expires on Monday 9 March 2026, 09:00 UTC (7 days).",
			"This link expires in 1 hour (on Monday 9 March 2026, 09:00 UTC)."},
		{"de", "Die Einladung ist 7 Tage lang gültig, bis Montag, 9. März 2026, 09:00 Uhr UTC.",
			"Der Link ist 1 Stunde lang gültig, bis Montag, 9. März 2026, 09:00 Uhr UTC."},
		{"fr", "Cette invitation est valable 7 jours, jusqu’au lundi 9 mars 2026 à 09:00 UTC.",
			"Ce lien est valable 1 heure, jusqu’au lundi 9 mars 2026 à 09:00 UTC."},
		{"es", "Esta invitación es válida durante 7 días, hasta el lunes, 9 de marzo de 2026, a las 09:00 UTC.",
			"Este enlace es válido durante 1 hora, hasta el lunes, 9 de marzo de 2026, a las 09:00 UTC."},
	} {
		for kind, want := range map[Kind]string{Invitation: tc.invitation, PasswordReset: tc.reset} {
			ttl := 7 * 24 * time.Hour
			if kind == PasswordReset {
				ttl = time.Hour
			}
			first := "Ada"
			e := Email{Kind: kind, User: &ent.User{Email: "ada@example.com", FirstName: &first},
				Org: &ent.Organization{Name: "Acme"}, URL: "https://x.example/a", ExpiresAt: at, TTL: ttl, Locale: tc.loc}
			r, err := Render(kind, DefaultIn(kind, tc.loc), DataOf(e))
			require.NoError(t, err)
			require.Contains(t, r.Text, "\n"+want+"\n", tc.loc)
			require.Contains(t, r.HTML, ">"+want+"</p>", tc.loc)
		}
	}
}

// TestChoose: the most specific override wins, locale before role.
func TestChoose(t *testing.T) {
	t.Parallel()
	role, other := 7, 8
	str := func(s string) *string { return &s }
	row := func(id int, roleID *int, loc *string) *ent.EmailTemplate {
		return &ent.EmailTemplate{ID: id, RoleID: roleID, Locale: loc}
	}
	all := []*ent.EmailTemplate{
		row(1, nil, nil),            // the kind
		row(2, &role, nil),          // the role
		row(3, nil, str("de")),      // German
		row(4, &role, str("de")),    // the role in German
		row(5, &other, str("fr")),   // another role in French
		row(6, nil, str("es")),      // Spanish
		row(7, nil, str("pt-BR")),   // Brazilian Portuguese
		row(8, &role, str("fr-CA")), // the role in Canadian French
	}
	without := func(ids ...int) []*ent.EmailTemplate {
		return slices.DeleteFunc(slices.Clone(all), func(r *ent.EmailTemplate) bool { return slices.Contains(ids, r.ID) })
	}
	for _, tc := range []struct {
		name   string
		rows   []*ent.EmailTemplate
		role   int
		person string
		org    string
		want   int // template id, 0: the built-in
	}{
		{"role and locale", all, role, "de", "en", 4},
		{"locale", without(4), role, "de", "en", 3},
		{"role", without(3, 4), role, "de", "en", 2},
		{"kind", without(2, 3, 4), role, "de", "en", 1},
		{"built-in", []*ent.EmailTemplate{}, role, "de", "en", 0},
		{"language of the locale", all, role, "de-AT", "en", 4},
		{"locale before language", all, role, "fr-CA", "en", 8},
		{"language, another role's ignored", all, other, "fr-CA", "en", 5},
		{"organisation's default", all, other, "pt", "es", 6},
		{"organisation's default, for a person without", all, role, "", "es", 6},
		{"a more specific locale does not serve its language", all, role, "pt", "en", 2},
		{"the person's locale before the default's", all, other, "pt-BR", "de", 7},
		{"no locale matches: the role's every-language", without(6), role, "it", "ja", 2},
		{"other roles' overrides never apply", []*ent.EmailTemplate{row(5, &other, str("fr")), row(9, &other, nil)}, role, "fr", "fr", 0},
	} {
		i := choose(tc.rows, tc.role, locale.Chain(tc.person, tc.org))
		got := 0
		if i >= 0 {
			got = tc.rows[i].ID
		}
		require.Equal(t, tc.want, got, tc.name)
	}
}
