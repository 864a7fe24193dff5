package template

import (
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

func fullData() Data {
	return Data{
		FirstName:         "Ada",
		LastName:          "Lovelace",
		FullName:          "Ada Lovelace",
		Email:             "ada@example.com",
		Username:          "ada.l",
		OrganizationName:  "Acme",
		RoleName:          "Volunteer",
		InviterName:       "Grace Hopper",
		ActionURL:         "https://rollcall.example.com/accept?token=abc123&x=1",
		ExpiresAt:         "Monday 9 March 2026, 09:00 UTC",
		ExpiresIn:         "7 days",
		TemporaryPassword: "Tr0ub4dor&3",
		ReplyTo:           "office@acme.example",
	}
}

func TestKinds(t *testing.T) {
	require.Equal(t, []Kind{Invitation, PasswordReset, TemporaryPassword, EmailChanged, Reminder}, Kinds())
	for _, k := range Kinds() {
		require.True(t, k.valid(), k)
	}
	require.False(t, Kind("OTHER").valid())
}

func TestDefault(t *testing.T) {
	for _, k := range Kinds() {
		src := Default(k)
		require.NotEmpty(t, src.Subject, k)
		require.NotContains(t, src.Subject, "\n", k)
		require.NotEmpty(t, src.HTML, k)
		require.NotEmpty(t, src.Text, k)
		require.NoError(t, Validate(k, src), k)
	}
	require.Equal(t, Source{}, Default("OTHER"))
}

func TestRenderDefaults(t *testing.T) {
	url := "https://rollcall.example.com/accept?token=abc123&x=1"
	htmlURL := "https://rollcall.example.com/accept?token=abc123&amp;x=1"
	cases := []struct {
		kind    Kind
		subject string
		html    []string // in the HTML body, besides the link
		text    []string // in the text body, besides the link
	}{
		{
			Invitation, "Acme invited you to join",
			[]string{"Grace Hopper invited you to join Acme", "<strong>Volunteer</strong>", "Accept invitation",
				"This invitation expires on Monday 9 March 2026, 09:00 UTC (7 days)."},
			[]string{"Grace Hopper invited you to join Acme with the role Volunteer.",
				"This invitation expires on Monday 9 March 2026, 09:00 UTC (7 days)."},
		},
		{
			PasswordReset, "Reset your Acme password",
			[]string{"Choose a new password", "This link expires in 7 days",
				"If you did not ask for this, you can ignore this email; your password stays the same."},
			[]string{"This link expires in 7 days",
				"If you did not ask for this, you can ignore this email; your password stays the same."},
		},
		{
			TemporaryPassword, "Your temporary Acme password",
			[]string{"ada.l", "Tr0ub4dor&amp;3", "monospace", ">Sign in</a>", "choose a new password when you first sign in"},
			[]string{"ada.l", "Tr0ub4dor&3", "choose a new password when you first sign in"},
		},
	}
	for _, c := range cases {
		for _, firstName := range []string{"Ada", ""} {
			d := fullData()
			d.FirstName = firstName
			r, err := Render(c.kind, Default(c.kind), d)
			require.NoError(t, err, c.kind)
			require.Equal(t, c.subject, r.Subject, c.kind)

			greeting := "Hello,"
			if firstName != "" {
				greeting = "Hi Ada,"
			}
			for _, body := range []string{r.HTML, r.Text} {
				require.Contains(t, body, greeting, c.kind)
				require.Contains(t, body, "Sent by Acme.", c.kind)
				require.Contains(t, body, "Reply to", c.kind)
			}
			if firstName == "" {
				require.NotContains(t, r.HTML+r.Text, "Hi ", c.kind)
			}
			require.Contains(t, r.HTML, `href="`+htmlURL+`"`, c.kind)
			require.Contains(t, r.HTML, ">"+htmlURL+"</a>", c.kind, "plain link below the button")
			require.Contains(t, r.Text, "\n"+url+"\n", c.kind)
			for _, s := range c.html {
				require.Contains(t, r.HTML, s, c.kind)
			}
			for _, s := range c.text {
				require.Contains(t, r.Text, s, c.kind)
			}
			require.NotContains(t, r.HTML, "<script", c.kind)
			require.NotContains(t, r.HTML, "<img", c.kind)
			require.NotContains(t, r.HTML, "<link", c.kind)
			require.NotContains(t, r.HTML, "<style", c.kind)
		}
	}
}

func TestRenderDefaultsMinimalData(t *testing.T) {
	d := Data{Email: "bob@example.com", OrganizationName: "Acme", ActionURL: "https://x.example/a"}
	for _, k := range Kinds() {
		r, err := Render(k, Default(k), d)
		require.NoError(t, err, k)
		require.Contains(t, r.HTML, "Hello,", k)
		require.NotContains(t, r.HTML+r.Text, "Reply to", k)
		require.NotContains(t, r.HTML+r.Text, "expires", k)
		require.NotContains(t, r.HTML+r.Text, "()", k)
	}
	r, err := Render(TemporaryPassword, Default(TemporaryPassword), d)
	require.NoError(t, err)
	require.Contains(t, r.Text, "bob@example.com", "email is the sign-in name when there is no username")
}

func TestRenderEscapesHTML(t *testing.T) {
	const evil = "<script>alert(1)</script>"
	for _, k := range Kinds() {
		d := fullData()
		d.FirstName = evil
		d.OrganizationName = evil
		r, err := Render(k, Default(k), d)
		require.NoError(t, err, k)
		require.NotContains(t, r.HTML, "<script>", k)
		require.Contains(t, r.HTML, "&lt;script&gt;alert(1)&lt;/script&gt;", k)
		require.Contains(t, r.Text, "Hi "+evil+",", k)
		require.Contains(t, r.Text, "Sent by "+evil+".", k)
		require.Contains(t, r.Subject, evil, k)
	}
}

func TestRenderURLContext(t *testing.T) {
	d := fullData()
	d.ActionURL = "javascript:alert(1)"
	r, err := Render(Invitation, Default(Invitation), d)
	require.NoError(t, err)
	require.NotContains(t, r.HTML, `href="javascript:`)
}

func TestRenderSubjectOneLine(t *testing.T) {
	cases := []struct {
		subject, org, want string
	}{
		{"Welcome to {{.OrganizationName}}", "Acme\r\nBcc: x@y", "Welcome to Acme Bcc: x@y"},
		{"Welcome to {{.OrganizationName}}", "Acme\nBcc: x@y", "Welcome to Acme Bcc: x@y"},
		{"  Welcome\tto\n\n{{.OrganizationName}}  ", "Acme", "Welcome to Acme"},
		{"Welcome to {{.OrganizationName}}", "Ac\x00me\u2028Ltd\u0085", "Welcome to Ac me Ltd"},
	}
	for _, c := range cases {
		d := fullData()
		d.OrganizationName = c.org
		r, err := Render(Invitation, Source{Subject: c.subject, Text: "x"}, d)
		require.NoError(t, err, c.subject)
		require.Equal(t, c.want, r.Subject)
		require.NotContains(t, r.Subject, "\r")
		require.NotContains(t, r.Subject, "\n")
	}
	r, err := Render(Invitation, Default(Invitation), Data{OrganizationName: "Acme\r\nBcc: x@y"})
	require.NoError(t, err)
	require.Equal(t, "Acme Bcc: x@y invited you to join", r.Subject)
}

func TestRenderCustom(t *testing.T) {
	src := Source{
		Subject: "{{if .FirstName}}{{.FirstName}}, {{end}}join {{.OrganizationName}}",
		HTML:    `<p>{{with .RoleName}}Role: {{.}} ({{$.OrganizationName}}){{else}}No role{{end}}</p>`,
		Text:    `{{if and .FirstName (ne .RoleName "Admin")}}{{.FullName}}{{end}} {{len .Email}}`,
	}
	r, err := Render(Invitation, src, fullData())
	require.NoError(t, err)
	require.Equal(t, Rendered{
		Subject: "Ada, join Acme",
		HTML:    "<p>Role: Volunteer (Acme)</p>",
		Text:    "Ada Lovelace 15",
	}, r)

	r, err = Render(Invitation, Source{Subject: "s", HTML: "<p>{{.Email}}</p>"}, fullData())
	require.NoError(t, err)
	require.Equal(t, "", r.Text, "a Source may have no text body")
}

func TestRenderInvalid(t *testing.T) {
	_, err := Render(Invitation, Source{Subject: "Hi", HTML: "{{.Password}}"}, fullData())
	var fe *FieldError
	require.ErrorAs(t, err, &fe)
	require.Equal(t, "html", fe.Field)

	_, err = Render("OTHER", Default(Invitation), fullData())
	require.Error(t, err)
	require.False(t, errors.As(err, &fe))
}

func TestVariables(t *testing.T) {
	typ := reflect.TypeFor[Data]()
	fields := map[string]bool{}
	for f := range typ.Fields() {
		require.Equal(t, reflect.String, f.Type.Kind(), f.Name)
		fields[f.Name] = true
	}
	vars := Variables()
	seen := map[string]bool{}
	for i, v := range vars {
		require.True(t, fields[v.Name], "variable %s is not a field of Data", v.Name)
		require.False(t, seen[v.Name], "variable %s listed twice", v.Name)
		seen[v.Name] = true
		require.Equal(t, typ.Field(i).Name, v.Name, "Variables follows the order of Data")
		require.NotEmpty(t, v.Description, v.Name)
		require.NotEmpty(t, v.Kinds, v.Name)
		for _, k := range v.Kinds {
			require.True(t, k.valid(), v.Name)
		}
	}
	require.Len(t, seen, len(fields), "every field of Data is a variable")

	vars[0].Kinds[0] = "CHANGED"
	require.Equal(t, Invitation, Variables()[0].Kinds[0], "Variables returns a fresh slice")
}

func TestVariablesUsableInTheirKinds(t *testing.T) {
	for _, v := range Variables() {
		for _, k := range Kinds() {
			src := Source{Subject: "x", HTML: "<p>{{." + v.Name + "}}</p>", Text: "{{$." + v.Name + "}}"}
			if !secret(v.Name) {
				src.Subject = "{{." + v.Name + "}} x"
			}
			err := Validate(k, src)
			if slices.Contains(v.Kinds, k) {
				require.NoError(t, err, "%s in %s", v.Name, k)
			} else {
				require.Error(t, err, "%s in %s", v.Name, k)
			}
		}
	}
}

func TestSecretVariables(t *testing.T) {
	var got []string
	for _, v := range Variables() {
		if secret(v.Name) {
			got = append(got, v.Name)
			require.Contains(t, v.Description, "secret", v.Name)
			require.NotContains(t, v.Kinds, EmailChanged, v.Name)
		}
	}
	require.Equal(t, secrets(), got)
}

func TestRenderEmailChanged(t *testing.T) {
	t.Parallel()
	d := fullData()
	d.NewEmail = "ada.new@example.org"
	r, err := Render(EmailChanged, Default(EmailChanged), d)
	require.NoError(t, err)
	require.Equal(t, "Your Acme email address was changed", r.Subject)
	for _, body := range []string{r.HTML, r.Text} {
		require.Contains(t, body, "Hi Ada,")
		require.Contains(t, body, "The email address of your Acme account was changed to ")
		require.Contains(t, body, "ada.new@example.org")
		require.Contains(t, body, "this is the last one sent to ada@example.com.")
		require.Contains(t, body, "If you did not make or ask for this change, contact Acme at once by replying to this email or writing to ")
		require.Contains(t, body, "office@acme.example")
		require.Contains(t, body, "Sent by Acme.")
	}
	require.Contains(t, r.HTML, `<a href="mailto:office@acme.example"`)
	require.Contains(t, r.Text, "changed to ada.new@example.org.")
	require.NotContains(t, r.HTML+r.Text, d.ActionURL, "no link in this email")
	require.NotContains(t, r.HTML+r.Text, d.TemporaryPassword)

	r, err = Render(EmailChanged, Default(EmailChanged), Data{Email: "bob@example.com", NewEmail: "robert@example.com", OrganizationName: "Acme"})
	require.NoError(t, err)
	require.Contains(t, r.Text, "Hello,")
	require.Contains(t, r.Text, "contact Acme at once.\n")
	require.NotContains(t, r.HTML+r.Text, "Reply to")
	require.NotContains(t, r.HTML, "mailto:")
}
