package template

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/rollcall/rollcall/internal/locale"
)

// fuzzData spreads s over the fields of Data, "|" between them.
func fuzzData(s string) Data {
	f := strings.Split(s, "|")
	get := func(i int) string {
		if i < len(f) {
			return f[i]
		}
		return ""
	}
	return Data{
		FirstName: get(0), LastName: get(1), FullName: get(2), Email: get(3), NewEmail: get(4),
		Username: get(5), OrganizationName: get(6), RoleName: get(7), InviterName: get(8),
		ActionURL: get(9), ExpiresAt: get(10), ExpiresIn: get(11), TemporaryPassword: get(12), ReplyTo: get(13),
		SignInURL: get(14),
	}
}

// FuzzValidate: Validate never panics and refuses only with a *FieldError; a
// template it accepts renders without error whatever the values, and puts the
// link only in an <a href> or alone in text and the password only alone in
// text (see leaks).
//
//	go test ./internal/template -run '^$' -fuzz FuzzValidate -fuzztime 60s
func FuzzValidate(f *testing.F) {
	for _, cases := range [][]ruleCase{secretCases(), markupCases(), typeCases()} {
		for _, c := range cases {
			f.Add(kindIndex(c.kind), c.src.Subject, c.src.HTML, c.src.Text, "Ada|Lovelace")
		}
	}
	for _, loc := range locale.Shipped() {
		for _, k := range Kinds() {
			d := DefaultIn(k, loc)
			f.Add(kindIndex(k), d.Subject, d.HTML, d.Text, "Ada||Ada|ada@example.com|a@b.c||Acme|Admin|Grace")
		}
	}
	f.Add(kindIndex(PasswordReset), "Hi", `<a href="{{.ActionURL}}">x</a>`, "{{.ActionURL}}", "||||||||||javascript:alert(1)")
	r := rand.New(rand.NewPCG(5, 6)) // random templates of the pieces the rules are about
	for range 40 {
		var h, x strings.Builder
		randomTemplate(r, &h, 3+r.IntN(12), 0)
		randomTemplate(r, &x, 2+r.IntN(6), 0)
		f.Add(kindIndex(TemporaryPassword), "Hi", h.String(), x.String(), "https://evil.example/?u=|x")
	}
	f.Fuzz(func(t *testing.T, kind uint8, subject, html, text, data string) {
		ks := Kinds()
		k := ks[int(kind)%len(ks)]
		src := Source{Subject: subject, HTML: html, Text: text}
		c, err := Compile(k, src)
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("not a *FieldError: %v", err)
			}
			return
		}
		d := fuzzData(data)
		if _, err := c.Render(d); err != nil {
			t.Fatalf("accepted, but rendering with %+v fails: %v", d, err)
		}
		if strings.Contains(subject+html+text, canaryMark) {
			return
		}
		for _, d := range []Data{canaryData(d), canaryData(Data{})} {
			r, err := c.Render(d)
			if err != nil {
				t.Fatalf("accepted, but rendering with %+v fails: %v", d, err)
			}
			if l := leaks(r); len(l) > 0 {
				t.Fatalf("accepted, but a secret leaks: %v\nsubject: %s\nhtml: %s\ntext: %s", l, r.Subject, r.HTML, r.Text)
			}
		}
	})
}

// kindIndex is the fuzz argument for k.
func kindIndex(k Kind) uint8 {
	for i, x := range Kinds() {
		if x == k {
			return uint8(i)
		}
	}
	return 0
}
