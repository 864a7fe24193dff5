// Package locale parses the languages people, organisations and templates
// are given (BCP 47 tags such as en, de-CH or pt-BR), chooses among the
// locales something exists in, and writes dates and durations for the
// locales Rollcall ships.
//
// Tags are stored in canonical form (Parse), so pt-br, PT_BR and pt-BR are one
// locale. Choosing uses golang.org/x/text/language's matcher, which knows that
// a Swiss German reader is served by German and a Galician one by Spanish,
// but not that Portuguese is: when nothing matches, the caller's next choice
// (the organisation's default) applies, never silently English.
package locale

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/text/language"

	"github.com/rollcall/rollcall/internal/apperr"
)

// Default is the locale of last resort: an organisation's default locale
// when none is set, and what is spoken when not even the organisation's
// default can be served.
const Default = "en"

// MaxLength is the longest tag accepted, in bytes. Real tags are far
// shorter (BCP 47 asks implementations to keep at least 35 characters).
const MaxLength = 64

// Shipped lists the locales Rollcall speaks out of the box (built-in email
// templates, pages, dates), English first. The slice is new on every call.
func Shipped() []string { return []string{"en", "de", "fr", "es"} }

// ErrInvalid is wrapped by every error Parse returns.
var ErrInvalid = errors.New("invalid locale")

// Parse returns the canonical form of the BCP 47 language tag s: "pt-br" and
// "PT_BR" give "pt-BR", deprecated codes their replacement ("iw" gives
// "he"). It refuses, with an error wrapping ErrInvalid that says why, an
// empty or over-long tag, a malformed one ("xx-!!"), one with an unknown
// subtag ("xx"), the undetermined language ("und"), and tags with
// extensions or private-use parts ("en-u-ca-gregory", "en-x-foo"), which
// a locale here has no use for.
func Parse(s string) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", fmt.Errorf("%w: a language tag is needed, such as en, de-CH or pt-BR", ErrInvalid)
	case len(s) > MaxLength:
		return "", fmt.Errorf("%w: a language tag has at most %d characters", ErrInvalid, MaxLength)
	}
	tag, err := language.Parse(s)
	var unknown language.ValueError
	switch {
	case errors.As(err, &unknown) && strings.EqualFold(unknown.Subtag(), s):
		return "", fmt.Errorf("%w: %q is not a known language; use a BCP 47 tag such as en, de-CH or pt-BR", ErrInvalid, s)
	case errors.As(err, &unknown):
		return "", fmt.Errorf("%w: %q is not a known language tag (%q is unknown); use a BCP 47 tag such as en, de-CH or pt-BR",
			ErrInvalid, s, unknown.Subtag())
	case err != nil:
		return "", fmt.Errorf("%w: %q is not a BCP 47 language tag; use one such as en, de-CH or pt-BR", ErrInvalid, s)
	case len(tag.Extensions()) > 0:
		return "", fmt.Errorf("%w: %q has extensions or private-use parts; use the language, script and region only, such as de-CH",
			ErrInvalid, s)
	}
	if base, _ := tag.Base(); base.String() == "und" || tag == language.Und {
		return "", fmt.Errorf("%w: %q names no language; use a BCP 47 tag such as en, de-CH or pt-BR", ErrInvalid, s)
	}
	return tag.String(), nil
}

// Check is Parse for the input field: a bad tag is BAD_USER_INPUT naming
// field.
func Check(field, s string) (string, error) {
	tag, err := Parse(s)
	if err != nil {
		return "", apperr.Invalid(field, strings.TrimPrefix(err.Error(), ErrInvalid.Error()+": "))
	}
	return tag, nil
}

// CheckOptional is Check for an optional value: nil stays nil (unchanged),
// and empty or blank gives a pointer to "" (cleared).
func CheckOptional(field string, s *string) (*string, error) {
	if s == nil {
		return nil, nil
	}
	if strings.TrimSpace(*s) == "" {
		empty := ""
		return &empty, nil
	}
	tag, err := Check(field, *s)
	if err != nil {
		return nil, err
	}
	return &tag, nil
}

// Language returns the language of the canonical tag loc without script,
// region or variant ("pt" for "pt-BR"), or "" when loc is a bare language
// or not a tag.
func Language(loc string) string {
	tag, err := language.Parse(loc)
	if err != nil {
		return ""
	}
	base, conf := tag.Base()
	if conf == language.No || base.String() == loc {
		return ""
	}
	return base.String()
}

// Chain lists the locales to look for a person's template in, most specific
// first and without repeats: the person's locale, its language, the
// organisation's default, its language. Empty locales are left out.
func Chain(person, orgDefault string) []string {
	var out []string
	add := func(loc string) {
		if loc == "" {
			return
		}
		for _, o := range out {
			if o == loc {
				return
			}
		}
		out = append(out, loc)
	}
	for _, loc := range []string{person, orgDefault} {
		add(loc)
		add(Language(loc))
	}
	return out
}
