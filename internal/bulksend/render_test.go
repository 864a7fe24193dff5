package bulksend

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/internal/template"
)

// Messages sent one at a time from a template rendered once per shape must be
// exactly what running the template gives, for every kind of value.
func TestSinglesRenderLikeTheTemplate(t *testing.T) {
	custom := template.Source{
		Subject: "{{if .FirstName}}{{.FirstName}}, {{end}}join   {{.OrganizationName}}",
		HTML: `<p title="{{.FullName}}">Hello {{.FirstName}} {{.LastName}}</p><a href="{{.ActionURL}}">go</a>` +
			`{{if .Username}}<b>{{.Username}}</b>{{end}}`,
		Text: "Hello {{.FullName}} <{{.Email}}>: {{.ActionURL}} {{.FirstName}}{{.LastName}}",
	}
	inScript := template.Source{
		Subject: "Join",
		HTML:    `<a href="https://example.com/?name={{.FirstName}}">me</a> <a href="{{.ActionURL}}">go</a>`,
		Text:    "{{.ActionURL}}",
	}
	// Templates that look into a value, not just whether it is set.
	compares := template.Source{Subject: "Join", Text: "t",
		HTML: `{{if eq .FirstName "Ada"}}Dear Countess{{else}}Hi {{.FirstName}}{{end}}`}
	measures := template.Source{Subject: "Join", Text: "t",
		HTML: `{{if eq (len .LastName) 8}}eight{{end}} {{.LastName}}`}
	binds := template.Source{Subject: "{{with .FirstName}}{{len .}}{{end}}", Text: "t", HTML: `{{.Email}}`}
	declares := template.Source{Subject: "Join", HTML: "h", Text: `{{$n := .Email}}{{if eq $n "ada@example.com"}}Ada{{end}}`}
	// Only whether values are set: substitutable.
	tests := template.Source{Subject: "{{if not .FirstName}}Hello{{else}}Hi {{.FirstName}}{{end}}",
		Text: "{{if and .FirstName (not .LastName)}}{{.FirstName}}{{end}} {{.ActionURL}}", HTML: `<a href="{{.ActionURL}}">{{$.Email}}</a>`}
	sources := map[string]template.Source{
		"default": template.Default(template.Invitation),
		"custom":  custom,
		"tests":   tests,
		"script":  inScript, "compares": compares, "measures": measures, "binds": binds, "declares": declares,
	}
	runsTemplate := map[string]bool{"script": true, "compares": true, "measures": true, "binds": true, "declares": true}
	people := []template.Data{
		{FirstName: "Grace", LastName: "Hopper", FullName: "Grace Hopper", Email: "grace@example.com"}, // Ada's shape, first
		{FirstName: "Ada", LastName: "Lovelace", FullName: "Ada Lovelace", Email: "ada@example.com"},
		{FirstName: `<b>"O'Brien" & +co</b>`, LastName: "x=`y`", FullName: `<b>"O'Brien" & +co</b> x=` + "`y`", Email: "ob@example.com", Username: "ob"},
		{Email: "nameless@example.com"},
		{FirstName: "Two  spaces\there", FullName: "Two  spaces\there", Email: "ws@example.com"},
		{FirstName: "%recipient.h_email%", FullName: "%recipient.h_email%", Email: "tricky@example.com"},
		{FirstName: "%rec", LastName: "ipient.email%", FullName: "%rec ipient.email%", Email: "split@example.com"},
		{FirstName: "Zoë", LastName: "Ünal", FullName: "Zoë Ünal", Email: "zoe@example.com", Username: "zoë"},
	}
	for name, src := range sources {
		c, err := template.Compile(template.Invitation, src)
		require.NoError(t, err, name)
		r := newRenderer(c)
		for i, p := range people {
			p.OrganizationName, p.InviterName, p.RoleName = "Acme & Co", "Grace", "Member"
			p.ActionURL = "https://rollcall.test/invite/tok" + string(rune('a'+i)) + "?x=1&y=2"
			want, err := c.Render(p)
			require.NoError(t, err)
			for range 2 { // the first render of a shape prepares it, the second reuses it
				got, err := r.render(p)
				require.NoError(t, err)
				require.Equal(t, want, got, "%s template, person %d", name, i)
			}
		}
		unprepared := 0
		for _, bt := range r.prepared {
			if bt == nil {
				unprepared++
			}
		}
		if runsTemplate[name] {
			require.NotZero(t, unprepared, "%s: values the template looks into run it", name)
		} else {
			require.Zero(t, unprepared, "%s template substitutes values", name)
		}
	}
}
