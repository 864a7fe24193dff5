package template

import (
	"errors"
	"io"
	"strings"
	"testing"
	texttemplate "text/template"
	"text/template/parse"

	"github.com/stretchr/testify/require"
)

// typeCases are templates that fail, or not, when rendered for some person.
func typeCases() []ruleCase {
	const inv = Invitation
	refused := func(name, part, body string, msg ...string) ruleCase {
		src := textPart(body)
		switch part {
		case "html":
			src = htmlPart(body)
		case "subject":
			src = subjectPart(body)
		}
		return ruleCase{name, inv, src, part, msg}
	}
	accepted := func(name, body string) ruleCase {
		return ruleCase{name, inv, textPart(body), "", nil}
	}
	return []ruleCase{
		refused("the issue's example", "html", `{{if and .FirstName (not .LastName)}}{{eq 1 "a"}}{{end}}`, "line 1", `eq compares 1 (a whole number) with "a" (text)`),
		refused("the issue's example in the subject", "subject", `{{if and .FirstName (not .LastName)}}{{eq 1 "a"}}{{end}}x`, `eq compares 1`),
		refused("field and number", "text", `{{if eq .FirstName 1}}x{{end}}`, ".FirstName (text)", "1 (a whole number)"),
		refused("dollar field and number", "text", `{{if ne $.RoleName 2}}x{{end}}`, "ne compares $.RoleName (text)"),
		refused("field and bool", "text", `{{if eq .RoleName true}}x{{end}}`, "true (true or false)"),
		refused("field and float", "text", `{{if eq .Email 1.5}}x{{end}}`, "a decimal number"),
		refused("field and complex", "text", `{{if eq .Email 1i}}x{{end}}`, "a complex number"),
		refused("field and rune", "text", `{{if eq .Email 'a'}}x{{end}}`, "a whole number"),
		refused("len and text", "text", `{{if eq (len .FirstName) "3"}}x{{end}}`, `(len .FirstName) (a whole number)`, `"3" (text)`),
		refused("len and float", "text", `{{if eq (len .FirstName) 3.0}}x{{end}}`, "a decimal number"),
		refused("len and exponent", "text", `{{if eq (len .FirstName) 1e3}}x{{end}}`, "a decimal number"),
		refused("not and text", "text", `{{if eq (not .FirstName) "true"}}x{{end}}`, "true or false"),
		refused("later argument", "text", `{{if eq .RoleName "A" "B" 3}}x{{end}}`, "3 (a whole number)"),
		refused("piped", "text", `{{if .FirstName | eq 1}}x{{end}}`, "the piped value (text)"),
		refused("and of text and number", "text", `{{if eq (and .FirstName (len .LastName)) "x"}}x{{end}}`, "text or a whole number"),
		refused("or of text and bool", "text", `{{if eq "x" (or .FirstName true)}}x{{end}}`, "text or true or false"),
		refused("len of a number", "text", `{{len 3}}`, "len measures text", "3 (a whole number)"),
		refused("len of len", "text", `{{len (len .Email)}}`, "len measures text"),
		refused("len of a bool", "text", `{{len (not .Email)}}`, "len measures text"),
		refused("len piped a number", "text", `{{len .Email | len}}`, "the piped value (a whole number)"),
		refused("len of dot in with len", "text", `{{with len .Email}}{{len .}}{{end}}`, "len measures text"),
		refused("len of a declared number", "text", `{{$n := len .Email}}{{len $n}}`, "$n (a whole number)"),
		refused("variable assigned in a branch", "text", `{{$x := .FirstName}}{{if .LastName}}{{$x = len .LastName}}{{end}}{{len $x}}`, "$x (text or a whole number)"),
		refused("variable assigned in the else branch", "text", `{{$x := .FirstName}}{{if .LastName}}{{else}}{{$x = true}}{{end}}{{if eq $x "a"}}y{{end}}`, "$x (text or true or false)"),
		refused("variable of a with", "text", `{{with $n := len .Email}}{{eq $n "3"}}{{end}}`, `$n (a whole number)`),
		refused("in the else branch only", "text", `{{if .FirstName}}a{{else}}{{eq .LastName 0}}{{end}}`, "eq compares .LastName"),
		refused("in a condition", "text", `{{if .FirstName}}{{else if eq .LastName 0}}b{{end}}`, "eq compares .LastName"),
		refused("in the html", "html", `<p>{{if eq (len .Email) "x"}}x{{end}}</p>`, "eq compares"),
		refused("a number too large", "text", `{{18446744073709551615}}`, "too large"),
		refused("a number too large in a condition", "text", `{{if 18446744073709551615}}x{{end}}`, "too large"),

		accepted("len and number", `{{if eq (len .FirstName) 3}}x{{end}}{{if ne 0x10 (len .Email)}}y{{end}}`),
		accepted("len and rune", `{{if eq 'a' (len .FirstName)}}x{{end}}`),
		accepted("text and text", `{{if eq .RoleName "Admin" "Owner"}}x{{end}}{{if ne .Email $.ReplyTo}}y{{end}}`),
		accepted("and of texts", `{{if eq (and .FirstName .LastName) "x"}}x{{end}}{{if eq (or .FirstName "friend") "x"}}y{{end}}`),
		accepted("bools", `{{if eq (not .FirstName) true (not .LastName)}}x{{end}}`),
		accepted("numbers", `{{if eq 1 2}}x{{end}}{{if eq 1.5 2.5}}y{{end}}{{if eq 1i 2i}}z{{end}}`),
		accepted("len piped", `{{.Email | len}}{{if .Email | len | eq 3}}x{{end}}`),
		accepted("dot of a with", `{{with .FirstName}}{{len .}}{{if eq . "Ada"}}x{{end}}{{end}}`),
		accepted("variable reassigned", `{{$x := len .FirstName}}{{$x = .LastName}}{{len $x}}`),
		accepted("variable shadowed in a branch", `{{$x := .FirstName}}{{if .LastName}}{{$x := len .LastName}}{{$x}}{{end}}{{len $x}}`),
		accepted("variable of a branch", `{{if $n := len .Email}}{{eq $n 3}}{{else}}{{eq $n 0}}{{end}}`),
		accepted("printing anything", `{{len .Email}} {{not .Email}} {{and .Email (len .Email)}} {{1.5}} {{true}}`),
	}
}

func TestValidateTypes(t *testing.T) {
	t.Parallel()
	for _, c := range typeCases() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			err := Validate(c.kind, c.src)
			if c.field == "" {
				require.NoError(t, err)
				requireNoLeak(t, c.kind, c.src)
				return
			}
			var fe *FieldError
			require.ErrorAs(t, err, &fe)
			require.Equal(t, c.field, fe.Field, fe.Message)
			for _, m := range c.msg {
				require.Contains(t, fe.Message, m)
			}
		})
	}
}

// TestTypesMatchExecution renders each accepted case with every combination
// of set and empty values (Validate does), and checks that each refused one
// really fails for some person, so the type check is neither too lax nor
// invents failures.
func TestTypesMatchExecution(t *testing.T) {
	t.Parallel()
	for _, c := range typeCases() {
		body := c.src.Text
		switch c.field {
		case "html":
			body = c.src.HTML
		case "subject":
			body = c.src.Subject
		}
		tmpl, err := texttemplate.New("x").Parse(body)
		require.NoError(t, err, c.name)
		used := usedVariables(c.kind, tmpl.Tree)
		failed := false
		for _, value := range []string{"", "a", "A", "Ada", "x", "3", "true"} {
			for _, mask := range combinations(len(used), 1<<len(used)) {
				d := trialData(used, mask)
				if d.RoleName != "" {
					d.RoleName = value
				}
				if d.FirstName != "" {
					d.FirstName = value
				}
				failed = failed || tmpl.Execute(io.Discard, d) != nil
			}
		}
		require.Equal(t, c.field != "", failed, c.name)
	}
}

func TestCombinations(t *testing.T) {
	t.Parallel()
	require.Equal(t, []uint64{0}, combinations(0, 256))
	require.Equal(t, []uint64{0, 1, 2, 3, 4, 5, 6, 7}, combinations(3, 256))
	require.Len(t, combinations(8, 256), 256)
	for _, n := range []int{9, 14, 40} {
		ms := combinations(n, 256)
		require.Len(t, ms, 256, n)
		seen := map[uint64]bool{}
		for _, m := range ms {
			require.False(t, seen[m], "mask %b twice", m)
			require.Zero(t, m>>n, "mask %b has a bit beyond %d", m, n)
			seen[m] = true
		}
		all := uint64(1)<<n - 1
		require.True(t, seen[0] && seen[all], n)
		for i := range n {
			require.True(t, seen[1<<i] && seen[all&^(1<<i)], "variable %d alone set and alone empty", i)
		}
		require.Equal(t, ms, combinations(n, 256), "the sample is the same every time")
	}
}

// TestBackstop runs the trial executions on a template whose failure the
// type check cannot see (a function templates may not call), to show that
// every combination is tried and the message says which one failed.
func TestBackstop(t *testing.T) {
	t.Parallel()
	const body = `{{if .FirstName}}{{if not .LastName}}{{if .Email}}{{boom}}{{end}}{{end}}{{end}}{{.RoleName}}`
	tmpl := texttemplate.Must(texttemplate.New("text").Option("missingkey=error").
		Funcs(texttemplate.FuncMap{"boom": func() (string, error) { return "", errors.New("boom") }}).Parse(body))
	tree := parse.New("text")
	tree.Mode = parse.SkipFuncCheck
	_, err := tree.Parse(body, "", "", map[string]*parse.Tree{})
	require.NoError(t, err)
	err = tryExecute(Invitation, "text", tmpl, tree, maxTrials)
	var fe *FieldError
	require.ErrorAs(t, err, &fe)
	require.Equal(t, "text", fe.Field)
	require.Contains(t, fe.Message, "line 1:")
	require.Contains(t, fe.Message, "boom")
	require.Contains(t, fe.Message, "when rendered with FirstName, Email set and with LastName, RoleName empty")

	ok := texttemplate.Must(texttemplate.New("text").Parse(`{{.FirstName}}`))
	require.NoError(t, tryExecute(Invitation, "text", ok, tree, maxTrials))
}

func TestUsedVariables(t *testing.T) {
	t.Parallel()
	tree := parse.New("x")
	_, err := tree.Parse(`{{if and .FirstName (not $.LastName)}}{{with .RoleName}}{{.}}{{end}}{{else}}{{$x := .Email}}{{end}}`+
		`{{.InviterName}}`, "", "", map[string]*parse.Tree{}, map[string]any{"and": 0, "not": 0})
	require.NoError(t, err)
	require.Equal(t, []string{"FirstName", "LastName", "Email", "RoleName", "InviterName"}, usedVariables(Invitation, tree))
	require.Equal(t, []string{"FirstName", "LastName", "Email", "RoleName"}, usedVariables(PasswordReset, tree))
	require.Empty(t, usedVariables(Invitation, nil))
	require.True(t, strings.HasPrefix(describeTrial([]string{"A", "B"}, 1), "when rendered with A set"))
}
