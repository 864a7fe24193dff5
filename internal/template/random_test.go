package template

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// randomFragments are pieces of HTML, text and actions that random templates
// are made of: the markup the rules are about, the secrets, and what could
// glue them to something else.
var randomFragments = [...]string{
	"<p>", "</p>", "<span>", "</span>", "<b>", "</b>", "<td>", "</td>", "<br>", "<code>", "</code>", "<div ", "<p ",
	`<a href="`, `<a href='`, "<a href=", `">`, "'>", ">", "</a>", `"`, "'", "=", "<", "</", "/", "/>",
	" title=", ` title="`, " href=", ` href="`, " style=", ` style="`, "<title>", "</title>", "<style>", "</style>",
	"<!--", "-->", "--!>", "<!DOCTYPE html>", "<img src=", "<meta http-equiv=", "<base href=",
	"https://evil.example/?u=", "https:", "mailto:", "javascript:", "url(", "u", "rl(", "@import ", `\`, "&", "&#32;", "&nbsp;",
	" ", " ", "\n", "x", "Hi", ".", ",", ":", "(", ")", "a{color:red}", "color:red;",
	"{{.ActionURL}}", "{{.ActionURL}}", "{{.TemporaryPassword}}", "{{$.ActionURL}}", "{{.FirstName}}", "{{.Email}}",
	"{{/* c */}}", "{{- \" \" -}}", "{{$u := .FirstName}}", "{{$u}}", "{{len .LastName}}",
}

// randomTemplate writes a random template of about n pieces, with balanced
// {{if}}, {{else}} and {{with}}.
func randomTemplate(r *rand.Rand, b *strings.Builder, n, depth int) {
	for range n {
		switch k := r.IntN(20); {
		case k == 0 && depth < 3:
			b.WriteString([]string{"{{if .FirstName}}", "{{if .LastName}}", "{{if eq .Email \"a@b.c\"}}", "{{if .ActionURL}}"}[r.IntN(4)])
			randomTemplate(r, b, r.IntN(4), depth+1)
			if r.IntN(2) == 0 {
				b.WriteString("{{else}}")
				randomTemplate(r, b, r.IntN(4), depth+1)
			}
			b.WriteString("{{end}}")
		case k == 1 && depth < 3:
			b.WriteString("{{with .FirstName}}")
			randomTemplate(r, b, r.IntN(3), depth+1)
			b.WriteString("{{.}}{{end}}")
		default:
			b.WriteString(randomFragments[r.IntN(len(randomFragments))])
		}
	}
}

// TestRandomTemplates validates many random templates made of the pieces the
// rules are about, and renders every accepted one with canaries: none may
// leak or fail to render. It also makes sure enough of them are accepted, and
// print secrets, for the check to mean something.
func TestRandomTemplates(t *testing.T) {
	t.Parallel()
	n := 20000
	if testing.Short() {
		n = 2000
	}
	r := rand.New(rand.NewPCG(1, 2))
	accepted, withSecrets := 0, 0
	for i := range n {
		var h, x strings.Builder
		randomTemplate(r, &h, 3+r.IntN(12), 0)
		randomTemplate(r, &x, 2+r.IntN(6), 0)
		src := Source{Subject: "Hi", HTML: h.String(), Text: x.String()}
		if Validate(TemporaryPassword, src) != nil {
			continue
		}
		accepted++
		if strings.Contains(src.HTML+src.Text, "{{.ActionURL}}") || strings.Contains(src.HTML+src.Text, "{{.TemporaryPassword}}") {
			withSecrets++
		}
		c, err := Compile(TemporaryPassword, src)
		require.NoError(t, err, "template %d", i)
		for _, d := range []Data{
			canaryData(fullData()), canaryData(Data{}),
			canaryData(Data{FirstName: "https://evil.example/?u=", LastName: "x", Email: "a@b.c"}),
		} {
			out, err := c.Render(d)
			require.NoError(t, err, "template %d: %+v", i, src)
			require.Empty(t, leaks(out), "template %d: %+v\nrendered html: %s\ntext: %s", i, src, out.HTML, out.Text)
		}
	}
	t.Logf("%d of %d random templates accepted, %d of them print a secret", accepted, n, withSecrets)
	require.Greater(t, accepted, n/50)
	require.Greater(t, withSecrets, n/200)
}
