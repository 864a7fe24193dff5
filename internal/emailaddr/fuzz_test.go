package emailaddr

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/rollcall/rollcall/internal/plaintext"
)

// FuzzParseList feeds ParseList two pasted inputs and checks what it
// promises beyond not panicking:
//   - every entry is a trimmed, non-empty piece of one of the inputs;
//   - a valid entry's address passes the text rule and Normalize, its name
//     passes the rule for names, and the address pasted alone parses back to
//     the same entry; no two valid entries share an address;
//   - an invalid entry has a reason and no address; reasons and suggestions
//     carry no refused character, and a suggestion is a valid address.
//
// Run it for minutes with:
//
//	go test ./internal/emailaddr -run '^$' -fuzz '^FuzzParseList$' -fuzztime 10m
func FuzzParseList(f *testing.F) {
	for _, c := range parseListCases() {
		var a, b string
		if len(c.in) > 0 {
			a, b = c.in[0], strings.Join(c.in[1:], "\n")
		}
		f.Add(a, b)
	}
	f.Add(strings.Repeat(`"a,b" <`, 64), strings.Repeat("a, ", 64)+"b <ada@example.com>")
	f.Add("\uFEFFLovelace, Ada <ada@example.com>", `'carol@example.com' <Carol@Example.com>`)
	f.Add("ada@gmial.con; bob@hotmial.com", "x@gmailcom\r\ny@yaho.co.uk")
	f.Fuzz(func(t *testing.T, a, b string) {
		inputs := []string{a, b}
		entries := ParseList(inputs)
		seen := map[string]bool{}
		for _, e := range entries {
			if e.Input == "" || strings.TrimSpace(e.Input) != e.Input {
				t.Fatalf("entry input %q is empty or not trimmed", e.Input)
			}
			if !strings.Contains(a, e.Input) && !strings.Contains(b, e.Input) {
				t.Fatalf("entry input %q is in neither input", e.Input)
			}
			if err := plaintext.Check(plaintext.Name, e.Reason); err != nil {
				t.Fatalf("reason %q: %v", e.Reason, err)
			}
			if e.Suggestion != "" {
				if _, _, err := Normalize(e.Suggestion); err != nil {
					t.Fatalf("suggestion %q for %q is not valid: %v", e.Suggestion, e.Input, err)
				}
			}
			if e.Reason != "" {
				if e.Address != "" || e.Normalized != "" || e.Name != "" {
					t.Fatalf("rejected entry %q has an address or name: %+v", e.Input, e)
				}
				continue
			}
			if err := plaintext.Check(plaintext.Address, e.Address); err != nil {
				t.Fatalf("accepted address %q: %v", e.Address, err)
			}
			if err := plaintext.Check(plaintext.Name, e.Name); err != nil {
				t.Fatalf("accepted name %q: %v", e.Name, err)
			}
			if n := utf8.RuneCountInString(e.Name); n > MaxNameLength {
				t.Fatalf("accepted name of %d characters", n)
			}
			addr, norm, err := Normalize(e.Address)
			if err != nil || addr != e.Address || norm != e.Normalized || norm != strings.ToLower(addr) {
				t.Fatalf("accepted address %q normalizes to %q, %q, %v (entry says %q)", e.Address, addr, norm, err, e.Normalized)
			}
			if seen[norm] {
				t.Fatalf("address %q accepted twice", norm)
			}
			seen[norm] = true
			again := ParseList([]string{e.Address})
			want := Entry{Input: e.Address, Address: e.Address, Normalized: e.Normalized, Suggestion: e.Suggestion}
			if len(again) != 1 || again[0] != want {
				t.Fatalf("accepted address %q pasted alone gives %+v", e.Address, again)
			}
		}
	})
}
