package locale_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/internal/apperr"
	"github.com/rollcall/rollcall/internal/locale"
)

func TestParse(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, want string
		problem  string // in the error, when refused
	}{
		{in: "en", want: "en"},
		{in: "pt-br", want: "pt-BR"},
		{in: "PT_BR", want: "pt-BR"},
		{in: " de-ch ", want: "de-CH"},
		{in: "zh-hant-tw", want: "zh-Hant-TW"},
		{in: "es-419", want: "es-419"},
		{in: "iw", want: "he"},       // deprecated code, replaced
		{in: "deu", want: "de"},      // three-letter code, shortened
		{in: "sh", want: "sr-Latn"},  // legacy macro-language code
		{in: "fr-CA", want: "fr-CA"}, // kept as given: matching is for choosing, not storing
		{in: "", problem: "a language tag is needed"},
		{in: "   ", problem: "a language tag is needed"},
		{in: "xx-!!", problem: `"xx-!!" is not a BCP 47 language tag`},
		{in: "xx", problem: `"xx" is not a known language`},
		{in: "en-YY", problem: `"YY" is unknown`},
		{in: "C", problem: "is not a BCP 47 language tag"},
		{in: "*", problem: "is not a BCP 47 language tag"},
		{in: "und", problem: "names no language"},
		{in: "root", problem: "names no language"},
		{in: "en-u-ca-gregory", problem: "extensions or private-use parts"},
		{in: "en-US-x-twain", problem: "extensions or private-use parts"},
		{in: "x-klingon", problem: "extensions or private-use parts"},
		{in: "aa-bb-cc-dd", problem: "is not a BCP 47 language tag"},
		{in: "de\nen", problem: "is not a BCP 47 language tag"},
		{in: strings.Repeat("a", 65), problem: "at most 64 characters"},
	} {
		got, err := locale.Parse(tc.in)
		if tc.problem != "" {
			require.ErrorIs(t, err, locale.ErrInvalid, tc.in)
			require.ErrorContains(t, err, tc.problem, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		require.Equal(t, tc.want, got, tc.in)
	}
}

func TestCheckNamesTheField(t *testing.T) {
	t.Parallel()
	_, err := locale.Check("defaultLocale", "xx-!!")
	e, ok := apperr.As(err)
	require.True(t, ok)
	require.Equal(t, apperr.BadUserInput, e.Code)
	require.Equal(t, "defaultLocale", e.Field)
	require.False(t, strings.HasPrefix(e.Message, "invalid locale"), e.Message)
	require.False(t, errors.Is(err, locale.ErrInvalid), "the public error carries no internal cause")

	got, err := locale.CheckOptional("locale", nil)
	require.NoError(t, err)
	require.Nil(t, got, "nil: unchanged")
	blank := " "
	got, err = locale.CheckOptional("locale", &blank)
	require.NoError(t, err)
	require.Equal(t, "", *got, "blank: cleared")
	mixed := "pt-br"
	got, err = locale.CheckOptional("locale", &mixed)
	require.NoError(t, err)
	require.Equal(t, "pt-BR", *got)
}

func TestLanguageAndChain(t *testing.T) {
	t.Parallel()
	require.Equal(t, "pt", locale.Language("pt-BR"))
	require.Equal(t, "zh", locale.Language("zh-Hant-TW"))
	require.Equal(t, "", locale.Language("pt"), "already a bare language")
	require.Equal(t, "", locale.Language(""))

	for _, tc := range []struct {
		person, org string
		want        []string
	}{
		{"pt-BR", "es", []string{"pt-BR", "pt", "es"}},
		{"fr-CA", "en", []string{"fr-CA", "fr", "en"}},
		{"de", "de", []string{"de"}},
		{"de-AT", "de", []string{"de-AT", "de"}},
		{"", "es-MX", []string{"es-MX", "es"}},
		{"", "", nil},
	} {
		require.Equal(t, tc.want, locale.Chain(tc.person, tc.org), "%s/%s", tc.person, tc.org)
	}
}

func TestMatch(t *testing.T) {
	t.Parallel()
	m := locale.NewMatcher(locale.Shipped())
	for _, tc := range []struct {
		want, got string
		ok        bool
	}{
		{"fr-CA", "fr", true}, // the matcher's tag is fr-u-rg-cazzzz: the index is what counts
		{"de-AT", "de", true},
		{"en-GB", "en", true},
		{"es-MX", "es", true},
		{"gsw", "de", true}, // Swiss German reads German
		{"gl", "es", true},  // Galician reads Spanish
		{"pt", "", false},   // no match: the caller's next choice, not English
		{"pt-BR", "", false},
		{"it", "", false},
		{"", "", false},
		{"xx-!!", "", false},
	} {
		got, ok := m.Match(tc.want)
		require.Equal(t, tc.ok, ok, tc.want)
		require.Equal(t, tc.got, got, tc.want)
	}

	for _, tc := range []struct {
		header, got string
		ok          bool
	}{
		{"de-DE,de;q=0.9,en;q=0.8", "de", true},
		{"pt-BR,pt;q=0.9,fr;q=0.5", "fr", true},
		{"en;q=0.2, es", "es", true},
		{"pt-BR, it", "", false},
		{"de;q=0", "", false},
		{"", "", false},
		{"!!!", "", false},
		{strings.Repeat("de,", 400), "", false}, // too long to read
	} {
		got, ok := m.AcceptLanguage(tc.header)
		require.Equal(t, tc.ok, ok, tc.header)
		require.Equal(t, tc.got, got, tc.header)
	}

	custom := locale.NewMatcher([]string{"de", "pt-BR", "not a tag"})
	got, ok := custom.Match("pt")
	require.True(t, ok)
	require.Equal(t, "pt-BR", got)
	_, ok = locale.NewMatcher(nil).Match("de")
	require.False(t, ok)
}

func TestPick(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ person, org, want string }{
		{"de", "en", "de"},
		{"fr-CA", "en", "fr"},
		{"pt", "es", "es"}, // no match for the person: the organisation's default
		{"pt", "it", "en"}, // nor for the organisation: English
		{"", "fr", "fr"},
		{"", "", "en"},
	} {
		require.Equal(t, tc.want, locale.Pick(tc.person, tc.org), "%s/%s", tc.person, tc.org)
	}
}

func TestDate(t *testing.T) {
	t.Parallel()
	monday := time.Date(2026, time.March, 9, 9, 0, 0, 0, time.UTC)
	first := time.Date(2026, time.August, 1, 13, 5, 0, 0, time.FixedZone("CEST", 2*3600)) // 11:05 UTC, a Saturday
	one := time.Date(2026, time.December, 31, 1, 30, 0, 0, time.UTC)
	for _, tc := range []struct {
		loc  string
		t    time.Time
		want string
	}{
		{"en", monday, "Monday 9 March 2026, 09:00 UTC"},
		{"de", monday, "Montag, 9. März 2026, 09:00 Uhr UTC"},
		{"fr", monday, "lundi 9 mars 2026 à 09:00 UTC"},
		{"es", monday, "lunes, 9 de marzo de 2026, a las 09:00 UTC"},
		{"en", first, "Saturday 1 August 2026, 11:05 UTC"},
		{"de", first, "Samstag, 1. August 2026, 11:05 Uhr UTC"},
		{"fr", first, "samedi 1er août 2026 à 11:05 UTC"},
		{"es", first, "sábado, 1 de agosto de 2026, a las 11:05 UTC"},
		{"es", one, "jueves, 31 de diciembre de 2026, a la 01:30 UTC"},
		{"de-CH", one, "Donnerstag, 31. Dezember 2026, 01:30 Uhr UTC"},
		{"fr-CA", monday, "lundi 9 mars 2026 à 09:00 UTC"},
		{"pt", monday, "Monday 9 March 2026, 09:00 UTC"},
		{"", monday, "Monday 9 March 2026, 09:00 UTC"},
	} {
		require.Equal(t, tc.want, locale.Date(tc.loc, tc.t), tc.loc)
	}
	// Every month and weekday has a name in every shipped locale.
	for _, loc := range locale.Shipped() {
		for d := range 365 {
			day := time.Date(2026, time.January, 1, 12, 0, 0, 0, time.UTC).AddDate(0, 0, d)
			s := locale.Date(loc, day)
			require.NotContains(t, s, "%!", loc)
			require.True(t, strings.Contains(s, "2026"), s)
		}
	}
}

func TestDuration(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		loc  string
		d    time.Duration
		want string
	}{
		{"en", 7 * 24 * time.Hour, "7 days"},
		{"en", time.Hour, "1 hour"},
		{"en", 90 * time.Minute, "90 minutes"},
		{"en", 0, "1 second"},
		{"de", 7 * 24 * time.Hour, "7 Tage"},
		{"de", 24 * time.Hour, "1 Tag"},
		{"de", 2 * time.Hour, "2 Stunden"},
		{"de", time.Minute, "1 Minute"},
		{"de", 30 * time.Second, "30 Sekunden"},
		{"fr", 7 * 24 * time.Hour, "7 jours"},
		{"fr", time.Hour, "1 heure"},
		{"fr", 45 * time.Minute, "45 minutes"},
		{"fr", time.Second, "1 seconde"},
		{"es", 7 * 24 * time.Hour, "7 días"},
		{"es", 24 * time.Hour, "1 día"},
		{"es", 3 * time.Hour, "3 horas"},
		{"es", 2 * time.Minute, "2 minutos"},
		{"es-MX", 10 * time.Second, "10 segundos"},
		{"pt", 2 * time.Hour, "2 hours"},
	} {
		require.Equal(t, tc.want, locale.Duration(tc.loc, tc.d), "%s %v", tc.loc, tc.d)
	}
}
