package locale

import (
	"golang.org/x/text/language"
)

// maxAcceptLanguage bounds the Accept-Language header read, in bytes.
const maxAcceptLanguage = 1000

// Matcher picks, among the locales something is available in, the one that
// best serves a reader. It is safe for concurrent use.
type Matcher struct {
	available []string
	m         language.Matcher
}

// NewMatcher returns a matcher over available, canonical tags (Parse);
// tags that do not parse are left out.
func NewMatcher(available []string) *Matcher {
	m := &Matcher{}
	var tags []language.Tag
	for _, a := range available {
		tag, err := language.Parse(a)
		if err != nil {
			continue
		}
		m.available = append(m.available, a)
		tags = append(tags, tag)
	}
	if len(tags) > 0 {
		m.m = language.NewMatcher(tags)
	}
	return m
}

// Match returns the available locale that best serves a reader of want,
// and false when none does (the matcher's confidence is No): the caller
// then falls back to its own next choice. The matcher's answer is read by
// its index, not its tag: for fr-CA it says fr-u-rg-cazzzz, which is not
// one of the available locales.
func (m *Matcher) Match(want string) (string, bool) {
	if want == "" || m.m == nil {
		return "", false
	}
	tag, err := language.Parse(want)
	if err != nil {
		return "", false
	}
	return m.match(tag)
}

func (m *Matcher) match(tags ...language.Tag) (string, bool) {
	if len(tags) == 0 || m.m == nil {
		return "", false
	}
	_, i, conf := m.m.Match(tags...)
	if conf == language.No || i < 0 || i >= len(m.available) {
		return "", false
	}
	return m.available[i], true
}

// AcceptLanguage returns the available locale that best serves a browser
// sending the Accept-Language header h (weights honoured, q=0 excluded),
// and false when none does or h is malformed or too long.
func (m *Matcher) AcceptLanguage(h string) (string, bool) {
	if h == "" || len(h) > maxAcceptLanguage {
		return "", false
	}
	tags, _, err := language.ParseAcceptLanguage(h)
	if err != nil {
		return "", false
	}
	return m.match(tags...)
}

// First returns the first of want that m serves, matched, and false when
// it serves none of them.
func (m *Matcher) First(want ...string) (string, bool) {
	for _, w := range want {
		if loc, ok := m.Match(w); ok {
			return loc, true
		}
	}
	return "", false
}

// shipped serves the locales Rollcall ships. It is built once and only
// read afterwards.
var shipped = NewMatcher(Shipped())

// Pick returns the shipped locale to speak to someone whose own locale is
// person, in an organisation whose default is orgDefault: person's match,
// else orgDefault's, else Default. Either may be empty.
func Pick(person, orgDefault string) string {
	if loc, ok := shipped.First(person, orgDefault); ok {
		return loc
	}
	return Default
}

// ShippedMatcher returns the matcher over Shipped.
func ShippedMatcher() *Matcher { return shipped }
