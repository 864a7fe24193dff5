package template

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestValidate(t *testing.T) {
	ok := Source{Subject: "Hello", HTML: "<p>Hi</p>", Text: "Hi"}
	with := func(field, value string) Source {
		s := ok
		switch field {
		case "subject":
			s.Subject = value
		case "html":
			s.HTML = value
		case "text":
			s.Text = value
		}
		return s
	}
	cases := []struct {
		name  string
		kind  Kind
		src   Source
		field string   // "" when valid
		msg   []string // substrings of the message
	}{
		{"plain", Invitation, ok, "", nil},
		{"if field", Invitation, with("html", "{{if .FirstName}}{{.FirstName}}{{end}}"), "", nil},
		{"dollar field", Invitation, with("html", "{{$.Email}}"), "", nil},
		{"with dot", Invitation, with("html", "{{with .FirstName}}{{.}} {{$.LastName}}{{else}}{{.Email}}{{end}}"), "", nil},
		{"else with", Invitation, with("text", "{{with .FirstName}}{{.}}{{else with .Email}}{{.}}{{end}}"), "", nil},
		{"variable", Invitation, with("text", "{{$n := .FirstName}}{{if $n}}{{$n}}{{end}}"), "", nil},
		{"allowed funcs", Invitation, with("text", `{{if or (eq .RoleName "A" "B") (not .Email)}}x{{end}}{{if and .Email (ne .Email "a")}}{{len .Email}}{{end}}`), "", nil},
		{"piped func", Invitation, with("text", `{{if .RoleName | eq "Admin"}}x{{end}}`), "", nil},
		{"comment and trim", Invitation, with("text", "{{/* note */}}{{- .Email -}}"), "", nil},
		{"html only", Invitation, Source{Subject: "s", HTML: "<p>x</p>"}, "", nil},
		{"text only", Invitation, Source{Subject: "s", Text: "x"}, "", nil},
		{"temporary password in its kind", TemporaryPassword, with("text", "{{.TemporaryPassword}}"), "", nil},
		{"inviter in invitation", Invitation, with("text", "{{.InviterName}}"), "", nil},
		{"max subject", Invitation, with("subject", strings.Repeat("a", 500)), "", nil},
		{"max body", Invitation, with("html", strings.Repeat("a", 100<<10)), "", nil},

		{"unknown variable", Invitation, with("html", "<p>{{.Password}}</p>"), "html", []string{`"Password"`, "FirstName", "ActionURL", "line 1"}},
		{"unknown variable lists kind's variables", Invitation, with("html", "{{.Password}}"), "html", []string{"InviterName"}},
		{"unknown variable hint", Invitation, with("text", "{{.firstname}}"), "text", []string{`did you mean "FirstName"`}},
		{"unknown variable line", Invitation, with("text", "a\nb\n{{.Nope}}"), "text", []string{"line 3", `"Nope"`}},
		{"unknown dollar variable", Invitation, with("text", "{{$.Nope}}"), "text", []string{`"Nope"`}},
		{"unknown in if", Invitation, with("text", "{{if .Nope}}x{{end}}"), "text", []string{`"Nope"`}},
		{"unknown in else", Invitation, with("text", "{{if .Email}}x{{else}}{{.Nope}}{{end}}"), "text", []string{`"Nope"`}},
		{"unknown in func", Invitation, with("text", `{{if eq .Nope "x"}}x{{end}}`), "text", []string{`"Nope"`}},
		{"syntax error html", Invitation, with("html", "{{.FirstName"), "html", []string{"line 1"}},
		{"syntax error subject", Invitation, with("subject", "Hi {{.FirstName"), "subject", nil},
		{"syntax error text", Invitation, with("text", "{{if .FirstName}}x"), "text", nil},
		{"template", Invitation, with("html", `{{template "x"}}`), "html", []string{"{{template}}"}},
		{"define", Invitation, with("html", `{{define "x"}}hi{{end}}`), "html", []string{"{{define}}"}},
		{"empty define", Invitation, with("text", `{{define "x"}}{{end}}{{.Email}}`), "text", []string{"{{define}}"}},
		{"block", Invitation, with("html", `{{block "x" .}}hi{{end}}`), "html", []string{"not allowed"}},
		{"range", Invitation, with("text", "{{range 3}}x{{end}}"), "text", []string{"{{range}}"}},
		{"temporary password in invitation", Invitation, with("html", "{{.TemporaryPassword}}"), "html", []string{`"TemporaryPassword"`, "INVITATION"}},
		{"temporary password in reset", PasswordReset, with("text", "{{if .TemporaryPassword}}x{{end}}"), "text", []string{`"TemporaryPassword"`}},
		{"inviter in reset", PasswordReset, with("subject", "{{$.InviterName}}"), "subject", []string{`"InviterName"`}},
		{"printf", Invitation, with("html", `{{printf "%s" .Email}}`), "html", []string{`"printf"`, "allowed: and, or, not, eq, ne, len"}},
		{"piped printf", Invitation, with("text", `{{.Email | printf "%s"}}`), "text", []string{`"printf"`}},
		{"html func", Invitation, with("text", `{{html .Email}}`), "text", []string{`"html"`}},
		{"index", Invitation, with("text", `{{index .Email 0}}`), "text", []string{`"index"`}},
		{"call", Invitation, with("text", `{{call .Email}}`), "text", []string{`"call"`}},
		{"not arity", Invitation, with("text", `{{not .Email .LastName}}`), "text", []string{"at most 1"}},
		{"eq arity", Invitation, with("text", `{{eq .Email}}`), "text", []string{"at least 2"}},
		{"func as argument", Invitation, with("text", `{{eq .Email len}}`), "text", []string{"at least 1"}},
		{"field with arguments", Invitation, with("text", `{{.Email "x"}}`), "text", []string{"not a function"}},
		{"field piped into field", Invitation, with("text", `{{.Email | .FirstName}}`), "text", []string{"not a function"}},
		{"bare dot", Invitation, with("text", "{{.}}"), "text", []string{"{{.}}"}},
		{"bare dollar", Invitation, with("text", "{{$}}"), "text", []string{"{{$}}"}},
		{"dot in condition", Invitation, with("text", "{{if .}}x{{end}}"), "text", []string{"{{.}}"}},
		{"dot assigned", Invitation, with("text", "{{$d := .}}{{$d.Email}}"), "text", []string{"{{.}}"}},
		{"field of field", Invitation, with("text", "{{.Email.Domain}}"), "text", []string{"no field Domain"}},
		{"field of variable", Invitation, with("text", "{{$e := .Email}}{{$e.Domain}}"), "text", []string{"no field Domain"}},
		{"chain", Invitation, with("text", "{{(.Email).Domain}}"), "text", []string{"no fields"}},
		{"field inside with", Invitation, with("text", "{{with .FirstName}}{{.LastName}}{{end}}"), "text", []string{"{{$.LastName}}"}},
		{"nil", Invitation, with("text", `{{if eq .Email nil}}x{{end}}`), "text", []string{"nil"}},
		{"runtime type error", Invitation, with("text", `{{if eq .Email 3}}x{{end}}`), "text", []string{"line 1", "eq compares .Email (text) with 3"}},
		{"runtime type error len", Invitation, with("text", `{{len 3}}`), "text", []string{"len"}},
		{"html escaping error", Invitation, with("html", `{{if .Email}}<a href="{{end}}">x</a>`), "html", []string{"line 1"}},
		{"empty subject", Invitation, with("subject", ""), "subject", []string{"required"}},
		{"blank subject", Invitation, with("subject", " \n "), "subject", []string{"required"}},
		{"no body", Invitation, Source{Subject: "s", HTML: " ", Text: "\n"}, "html", []string{"required"}},
		{"long subject", Invitation, with("subject", strings.Repeat("a", 501)), "subject", []string{"too long", "500"}},
		{"long html", Invitation, with("html", strings.Repeat("a", 100<<10+1)), "html", []string{"too long"}},
		{"long text", Invitation, with("text", strings.Repeat("a", 100<<10+1)), "text", []string{"too long"}},
		{"subject checked first", Invitation, Source{Subject: "{{.A}}", HTML: "{{.B}}", Text: "{{.C}}"}, "subject", []string{`"A"`}},
		{"html before text", Invitation, Source{Subject: "s", HTML: "{{.B}}", Text: "{{.C}}"}, "html", []string{`"B"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Validate(c.kind, c.src)
			if c.field == "" {
				require.NoError(t, err)
				return
			}
			var fe *FieldError
			require.ErrorAs(t, err, &fe)
			require.Equal(t, c.field, fe.Field, fe.Message)
			require.Equal(t, c.field+": "+fe.Message, fe.Error())
			for _, m := range c.msg {
				require.Contains(t, fe.Message, m)
			}
		})
	}
}

func TestValidateUnknownKind(t *testing.T) {
	err := Validate("OTHER", Default(Invitation))
	require.Error(t, err)
	var fe *FieldError
	require.False(t, errors.As(err, &fe))
	require.Contains(t, err.Error(), "OTHER")
}

func TestCleanMessage(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"html", "template: html:3: unexpected EOF", "line 3: unexpected EOF"},
		{"text", `template: text:1:14: executing "text" at <len 3>: error calling len: boom`, "line 1: <len 3>: error calling len: boom"},
		{"html", "html/template:html:2:5: {{end}} branches end in different contexts", "line 2: {{end}} branches end in different contexts"},
		{"html", "something else", "something else"},
		{"html", "template: html:x: odd", "html:x: odd"},
	}
	for _, c := range cases {
		require.Equal(t, c.want, cleanMessage(c.name, errors.New(c.in)), c.in)
	}
}
