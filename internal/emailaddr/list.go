package emailaddr

import (
	"iter"
	"strings"
	"unicode/utf8"

	"github.com/rollcall/rollcall/internal/personname"
	"github.com/rollcall/rollcall/internal/plaintext"
)

// MaxNameLength is the longest display name accepted, in characters (runes):
// room for a first and a last name of personname.MaxLength each and the
// separator between them ("Lovelace, Ada"). Whoever splits the display name
// into first and last names holds each to the name rule.
const MaxNameLength = 2*personname.MaxLength + 2

// ErrNameTooLong is the reason for an entry whose display name is longer
// than MaxNameLength.
const ErrNameTooLong Error = "display name is too long"

// Entry is one address an admin typed or pasted.
type Entry struct {
	Input      string // the piece as found, trimmed
	Name       string // display name from "Name <email>" forms, may be ""
	Address    string // as typed (inside <> when that form is used); "" when invalid
	Normalized string // lower-cased; the identity used for de-duplication
	Reason     string // why it is rejected; "" when valid
	Suggestion string // for a likely typo of a common domain: the corrected full address
}

// ParseList splits what an admin pasted into entries. Each element of inputs
// may hold several addresses separated by commas, semicolons, tabs or
// newlines, as plain addresses or in "Name <email>" and "\"Last, First\" <email>"
// forms: a separator inside a quoted name followed by <...> belongs to the name,
// and so does an unquoted comma between words (no @) and a following
// "Name <email>" piece, as in "Lovelace, Ada <ada@example.com>".
//
// A byte order mark (U+FEFF) starting an input is dropped, as it is in a
// file. Pieces are trimmed and empty ones dropped. An address or display name
// holding a character plaintext refuses (controls, bidirectional and
// invisible characters; joiners too in the address) makes the entry invalid,
// with a Reason naming the character. Valid entries are de-duplicated
// by Normalized: the first occurrence wins and later ones are dropped
// silently. Invalid pieces are returned with Reason set (and Suggestion when
// fixing a domain typo would make them valid); they are de-duplicated by their
// trimmed Input. Entries come in input order. ParseList runs in time linear in
// the size of its input.
func ParseList(inputs []string) []Entry {
	var out []Entry
	seenInput := make(map[string]struct{}) // every piece met, valid or not
	seenAddr := make(map[string]struct{})  // Normalized of the valid ones
	for _, in := range inputs {
		in = strings.TrimPrefix(in, "\uFEFF")
		for p := range pieces(in) {
			// The same piece again is a duplicate whatever it holds;
			// skipping it early keeps repeated pastes cheap.
			if _, dup := seenInput[p]; dup {
				continue
			}
			seenInput[p] = struct{}{}
			e, addr := parseEntry(p)
			if e.Reason == "" {
				if _, dup := seenAddr[e.Normalized]; dup {
					continue
				}
				seenAddr[e.Normalized] = struct{}{}
			}
			e.Suggestion = Suggest(addr)
			out = append(out, e)
		}
	}
	return out
}

// parseEntry reads one trimmed, non-empty piece. It returns the entry without
// Suggestion, and the address part the suggestion is to be based on.
func parseEntry(p string) (Entry, string) {
	e := Entry{Input: p}
	addr, name := p, ""
	if lt := strings.LastIndexByte(p, '<'); lt >= 0 {
		if !strings.HasSuffix(p, ">") {
			e.Reason = ErrInvalid.Error()
			return e, ""
		}
		addr = strings.TrimSpace(p[lt+1 : len(p)-1])
		name = unquote(strings.TrimSpace(p[:lt]))
	} else if u := unquote(p); u != p {
		// "ada@example.com" in quotes, as spreadsheets export it.
		addr = strings.TrimSpace(u)
	}
	address, normalized, err := Normalize(addr)
	switch {
	case err == ErrEmpty:
		e.Reason = ErrInvalid.Error()
	case err != nil:
		e.Reason = err.Error()
	case len(name) > MaxNameLength && utf8.RuneCountInString(name) > MaxNameLength:
		e.Reason = ErrNameTooLong.Error()
	default:
		if err := plaintext.Check(plaintext.Name, name); err != nil {
			e.Reason = CharacterError("display name", err).Error()
		}
	}
	if e.Reason != "" {
		return e, addr
	}
	if strings.EqualFold(name, address) {
		name = "" // 'ada@example.com' <ada@example.com>, as some mail clients copy it
	}
	e.Name, e.Address, e.Normalized = name, address, normalized
	return e, address
}

// unquote removes one pair of surrounding double or single quotes from s
// and, for double quotes, backslash escapes. Other strings are returned as is.
func unquote(s string) string {
	if len(s) < 2 || s[0] != s[len(s)-1] || (s[0] != '"' && s[0] != '\'') {
		return s
	}
	q, s := s[0], s[1:len(s)-1]
	if q == '\'' || !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// pieces yields the trimmed, non-empty pieces of s (see ParseList).
func pieces(s string) iter.Seq[string] {
	return func(yield func(string) bool) {
		// s[pend:pendEnd] holds comma-separated words (no @ or <) that
		// become a display name if a "Name <email>" piece follows. They
		// contain no quoted group (one needs a following <), so splitting
		// them on commas again gives back the original pieces.
		pend, pendEnd := -1, 0
		flush := func() bool {
			if pend < 0 {
				return true
			}
			words := s[pend:pendEnd]
			pend = -1
			for w := range strings.SplitSeq(words, ",") {
				if w = strings.TrimSpace(w); w != "" && !yield(w) {
					return false
				}
			}
			return true
		}
		// piece handles s[start:end], which the separator sep (0 at the
		// end of s) follows.
		piece := func(start, end int, sep byte) bool {
			t := strings.TrimSpace(s[start:end])
			switch {
			case t == "":
				return flush()
			case pend >= 0 && strings.Contains(t, "<"):
				t = strings.TrimSpace(s[pend:end])
				pend = -1
				return yield(t)
			case sep == ',' && !strings.ContainsAny(t, "@<"):
				if pend < 0 {
					pend = start
				}
				pendEnd = end
				return true
			}
			return flush() && yield(t)
		}
		start := 0
		for i := 0; i < len(s); i++ {
			switch s[i] {
			case '"':
				if j := closingQuote(s, i); j > 0 {
					i = j
				}
			case ',', ';', '\t', '\n', '\r':
				if !piece(start, i, s[i]) {
					return
				}
				start = i + 1
			}
		}
		if piece(start, len(s), 0) {
			flush()
		}
	}
}

// closingQuote returns the index of the quote closing the one at s[i] when
// they enclose a display name: on the same line, with only spaces between the
// closing quote and a '<'. Otherwise it returns -1 and the quote is an
// ordinary character. Each call reads only up to the next quote or newline,
// so a scan of s stays linear.
func closingQuote(s string, i int) int {
	j := strings.IndexAny(s[i+1:], "\"\n")
	if j < 0 || s[i+1+j] != '"' {
		return -1
	}
	j += i + 1
	k := j + 1
	for k < len(s) && s[k] == ' ' {
		k++
	}
	if k < len(s) && s[k] == '<' {
		return j
	}
	return -1
}

// commonDomains are widely used mailbox providers, most used first (the
// first wins when two are equally close to a typo).
var commonDomains = [...]string{
	"gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "icloud.com",
	"aol.com", "live.com", "msn.com", "me.com", "mac.com",
	"googlemail.com", "yahoo.co.uk", "yahoo.fr", "hotmail.co.uk", "hotmail.fr",
	"proton.me", "protonmail.com", "gmx.com", "gmx.de", "web.de",
	"mail.com", "yandex.ru", "comcast.net", "verizon.net", "att.net",
}

// intendedSuffix returns the public suffix a mistyped one stands for, or ""
// when s is not a known misspelling. Misspellings that are real top-level
// domains (.co, .cm, .om, .ne, .et, .bet) are left out on purpose.
func intendedSuffix(s string) string {
	switch s {
	case "con", "cmo", "ocm", "cpm", "xom", "vom", "cim", "comm", "coom", "copm", "c0m", "cok", "comn":
		return "com"
	case "nte", "ner", "nett", "nrt":
		return "net"
	case "co.uj", "co.ul", "co.k", "couk":
		return "co.uk"
	}
	return ""
}

// maxLabelDistance is how far (in edits) a typed name may be from a common
// domain's name and still be taken for a typo. Short names are left alone:
// too many real domains are one edit away from aol, msn, live or mail.
func maxLabelDistance(label string) int {
	switch {
	case len(label) >= 7:
		return 2
	case len(label) >= 5:
		return 1
	}
	return 0
}

// Suggest returns a corrected address when addr (a plain address, no display
// name) has a domain that is a likely typo of a common email domain (gmail.com,
// yahoo.com, hotmail.com, outlook.com, icloud.com, …), or "" when it has none.
//
// To keep false alarms rare (an invitation with a suggestion is held back),
// it only suggests when the domain is not itself a common domain and either:
//   - it is a common domain without its dots (gmailcom);
//   - its suffix is a common domain's (or a known misspelling of it: gmail.con,
//     gmail.cmo; not gmail.co, which is a real domain), its name starts with the
//     same letter, and its name is within Damerau-Levenshtein (optimal string
//     alignment) distance 1 of a 5 or 6 letter name (gmial, gmai, gamil, yaho,
//     yahooo, iclud) or 2 of a longer one (hotmial, hotmal, outlok, hotmaill).
//
// The suggested address keeps addr's local part as typed and is valid.
func Suggest(addr string) string {
	addr = strings.TrimSpace(addr)
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || at == len(addr)-1 || len(addr) > MaxLength {
		return ""
	}
	local, domain := addr[:at], strings.ToLower(addr[at+1:])
	label, suffix, _ := strings.Cut(domain, ".")
	best, bestDist := "", 3
	for _, known := range commonDomains {
		if domain == known {
			return ""
		}
		if bestDist == 0 {
			continue
		}
		if equalWithoutDots(domain, known) {
			best, bestDist = known, 0
			continue
		}
		kLabel, kSuffix, _ := strings.Cut(known, ".")
		if label == "" || label[0] != kLabel[0] || (suffix != kSuffix && intendedSuffix(suffix) != kSuffix) {
			continue
		}
		limit := maxLabelDistance(kLabel)
		if d := osaDistance(label, kLabel, limit); d <= limit && d < bestDist {
			best, bestDist = known, d
		}
	}
	if best == "" {
		return ""
	}
	s := local + "@" + best
	if _, _, err := Normalize(s); err != nil {
		return ""
	}
	return s
}

// equalWithoutDots reports whether d equals known with known's dots removed
// (gmailcom for gmail.com), without allocating.
func equalWithoutDots(d, known string) bool {
	i := 0
	for j := 0; j < len(known); j++ {
		if known[j] == '.' {
			continue
		}
		if i == len(d) || d[i] != known[j] {
			return false
		}
		i++
	}
	return i == len(d)
}

// osaDistance returns the optimal string alignment distance between a and b
// (edits: insert, delete, substitute, swap two adjacent bytes; no substring
// edited twice), or limit+1 when it is more than limit. b must be shorter
// than 32 bytes.
func osaDistance(a, b string, limit int) int {
	if len(a)-len(b) > limit || len(b)-len(a) > limit || len(b) >= 32 {
		return limit + 1
	}
	var rows [3][32]int
	prev2, prev, cur := &rows[0], &rows[1], &rows[2]
	for j := 0; j <= len(b); j++ {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		rowMin := i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d := min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d = min(d, prev2[j-2]+1)
			}
			cur[j] = d
			rowMin = min(rowMin, d)
		}
		if rowMin > limit {
			return limit + 1
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return min(prev[len(b)], limit+1)
}
