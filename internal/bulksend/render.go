package bulksend

import (
	"context"
	htmltemplate "html/template"
	"slices"
	"strconv"
	"strings"

	"github.com/rollcall/rollcall/internal/mail"
	"github.com/rollcall/rollcall/internal/template"
)

// A batch renders the template once with a sentinel in place of each value
// that differs between recipients, then swaps each sentinel for a provider
// placeholder: %recipient.NAME% in the subject and text, and
// %recipient.h_NAME% (the value escaped for HTML) in the HTML. That is only
// right where html/template would escape the value as HTML text or a quoted
// attribute, so the template is first rendered with probe values, and a
// template that puts a per-recipient value anywhere else (a script, a style)
// is sent one message at a time. The first recipient is also rendered
// directly and compared, as a last check.

// varying is a template value that differs between recipients.
type varying struct {
	name  string // the provider's recipient-variable
	field string // the template's
	get   func(*template.Data) *string
	probe string // appended to the sentinel: how html/template escapes it tells the context
}

// textProbe escapes differently in HTML text and quoted attributes than in
// unquoted attributes (space, =, backtick), JavaScript, CSS and URLs.
const textProbe = "<'\"&+ =`"

// urlProbe is left alone by html/template's URL normaliser but for "&".
const urlProbe = `?a=1&b=2`

func varyingValues() []varying {
	return []varying{
		{"email", "Email", func(d *template.Data) *string { return &d.Email }, textProbe},
		{"first_name", "FirstName", func(d *template.Data) *string { return &d.FirstName }, textProbe},
		{"last_name", "LastName", func(d *template.Data) *string { return &d.LastName }, textProbe},
		{"full_name", "FullName", func(d *template.Data) *string { return &d.FullName }, textProbe},
		{"username", "Username", func(d *template.Data) *string { return &d.Username }, textProbe},
		{"action_url", "ActionURL", func(d *template.Data) *string { return &d.ActionURL }, urlProbe},
		{"temporary_password", "TemporaryPassword", func(d *template.Data) *string { return &d.TemporaryPassword }, textProbe},
		{"new_email", "NewEmail", func(d *template.Data) *string { return &d.NewEmail }, textProbe},
	}
}

// htmlText escapes a value exactly as html/template does in HTML text.
var htmlText = htmltemplate.Must(htmltemplate.New("").Parse("{{.}}"))

func escapeHTML(s string) string {
	var b strings.Builder
	_ = htmlText.Execute(&b, s)
	return b.String()
}

func sentinel(i int) string { return "zqrcptvar" + strconv.Itoa(i) + "zq" }

// shape says which varying values are non-empty: templates branch on them
// ({{if .FirstName}}), so recipients of one batch share a shape.
func shape(vs []varying, d *template.Data) uint32 {
	var m uint32
	for i, v := range vs {
		if *v.get(d) != "" {
			m |= 1 << i
		}
	}
	return m
}

// batchTemplate is a template rendered for a batch with placeholders.
type batchTemplate struct {
	subject, text, html string
	used                []int // indexes of the varying values present
}

// prepare renders c for recipients shaped like sample, or reports false if
// the template cannot be sent as a batch.
func prepare(c *template.Compiled, vs []varying, sample template.Data) (*batchTemplate, bool) {
	fields := make([]string, len(vs))
	for i, v := range vs {
		fields[i] = v.field
	}
	if !c.Substitutable(fields...) {
		return nil, false // the template looks into a value: {{if eq .FirstName "Ada"}}
	}
	d := sample
	bt := &batchTemplate{}
	for i, v := range vs {
		if *v.get(&d) != "" {
			*v.get(&d) = sentinel(i) + v.probe
			bt.used = append(bt.used, i)
		}
	}
	r, err := c.Render(d)
	if err != nil {
		return nil, false
	}
	bt.subject, bt.text, bt.html = r.Subject, r.Text, r.HTML
	bt.used = slices.DeleteFunc(bt.used, func(i int) bool { // values the template never shows
		m := sentinel(i)
		return !strings.Contains(bt.html, m) && !strings.Contains(bt.text, m) && !strings.Contains(bt.subject, m)
	})
	for _, i := range bt.used {
		v := vs[i]
		marker, escaped := sentinel(i), sentinel(i)+escapeHTML(v.probe)
		if strings.Count(bt.html, marker) != strings.Count(bt.html, escaped) {
			return nil, false // the value lands in a script, style or URL part
		}
		raw := sentinel(i) + v.probe
		if strings.Count(bt.text, marker) != strings.Count(bt.text, raw) ||
			strings.Count(bt.subject, marker) != strings.Count(bt.subject, raw) {
			return nil, false
		}
		bt.html = strings.ReplaceAll(bt.html, escaped, "%recipient.h_"+v.name+"%")
		bt.text = strings.ReplaceAll(bt.text, raw, "%recipient."+v.name+"%")
		bt.subject = strings.ReplaceAll(bt.subject, raw, "%recipient."+v.name+"%")
	}
	want, err := c.Render(sample)
	if err != nil {
		return nil, false
	}
	if bt.expand(bt.values(vs, &sample)) != want {
		return nil, false
	}
	return bt, true
}

// values are one recipient's recipient-variables.
func (bt *batchTemplate) values(vs []varying, d *template.Data) map[string]string {
	out := make(map[string]string, 2*len(bt.used)+1)
	for _, i := range bt.used {
		v := *vs[i].get(d)
		out[vs[i].name] = v
		out["h_"+vs[i].name] = escapeHTML(v)
	}
	return out
}

// substitution replaces recipient variables as the provider will, in one
// pass, so no value can complete another's placeholder.
func substitution(vals map[string]string) *strings.Replacer {
	pairs := make([]string, 0, 2*len(vals))
	for k, v := range vals {
		pairs = append(pairs, "%recipient."+k+"%", v)
	}
	return strings.NewReplacer(pairs...)
}

// expand renders bt for one recipient's values.
func (bt *batchTemplate) expand(vals map[string]string) template.Rendered {
	r := substitution(vals)
	return template.Rendered{Subject: r.Replace(bt.subject), Text: r.Replace(bt.text), HTML: r.Replace(bt.html)}
}

// renderer renders one template for many recipients. Where the template
// passes prepare, it renders once per shape (batchTemplate), which provider
// batches carry and single sends substitute locally, as the provider does,
// at a tenth of the cost of running the template; otherwise, or for values
// unsafe to substitute, it runs the template.
type renderer struct {
	c        *template.Compiled
	vs       []varying
	prepared map[uint32]*batchTemplate // nil: this shape runs the template
}

func newRenderer(c *template.Compiled) *renderer {
	return &renderer{c: c, vs: varyingValues(), prepared: map[uint32]*batchTemplate{}}
}

// template returns the template prepared for recipients shaped like d, or
// nil when they must run the template.
func (r *renderer) template(d template.Data) *batchTemplate {
	m := shape(r.vs, &d)
	bt, seen := r.prepared[m]
	if !seen {
		bt, _ = prepare(r.c, r.vs, d)
		r.prepared[m] = bt
	}
	return bt
}

// render renders one recipient's message.
func (r *renderer) render(d template.Data) (template.Rendered, error) {
	if !batchable(r.vs, &d) {
		return r.c.Render(d)
	}
	bt := r.template(d)
	if bt == nil {
		return r.c.Render(d)
	}
	return bt.expand(bt.values(r.vs, &d)), nil
}

// batchable reports whether a recipient's values are safe to hand to the
// provider as recipient-variables.
func batchable(vs []varying, d *template.Data) bool {
	for _, v := range vs {
		s := *v.get(d)
		// A subject collapses whitespace around and inside values, which a
		// substituted value would escape.
		if strings.Contains(s, "%recipient") || template.OneLine(s) != s {
			return false
		}
	}
	return true
}

// sendBatches sends jobs that share a template as provider batches, one per
// shape, and returns the jobs that must go one by one instead.
func (s *Service) sendBatches(ctx context.Context, templates *template.Resolver, r *renderer, jobs []*job) []*job {
	vs := r.vs
	type group struct {
		data []template.Data
		jobs []*job
	}
	var singles []*job
	groups := map[uint32]*group{}
	var order []uint32
	// Recipient variables are keyed by address: one person queued twice
	// (by two sends) goes once in the batch, then alone.
	addresses := map[string]bool{}
	for _, j := range jobs {
		d := template.DataOf(s.email(j))
		address := strings.ToLower(d.Email) // where it goes (EMAIL_CHANGED: the old address)
		// A retry goes alone; a delivery taken over from a replica that
		// died (claimed again, never refused) batches like a first try.
		if j.retried || !batchable(vs, &d) || addresses[address] {
			singles = append(singles, j)
			continue
		}
		addresses[address] = true
		m := shape(vs, &d)
		g, ok := groups[m]
		if !ok {
			g = &group{}
			groups[m] = g
			order = append(order, m)
		}
		g.data = append(g.data, d)
		g.jobs = append(g.jobs, j)
	}
	for _, m := range order {
		g := groups[m]
		var bt *batchTemplate
		if len(g.jobs) > 1 {
			bt = r.template(g.data[0])
		}
		if bt == nil {
			singles = append(singles, g.jobs...)
			continue
		}
		org := g.jobs[0].org
		b := mail.Batch{From: templates.From(org), Subject: bt.subject, Text: bt.text, HTML: bt.html,
			Variables: map[string]string{"delivery_id": "%recipient.delivery_id%"}}
		if org.ReplyTo != nil {
			b.ReplyTo = *org.ReplyTo
		}
		for i, j := range g.jobs {
			vals := bt.values(vs, &g.data[i])
			vals["delivery_id"] = strconv.Itoa(j.id)
			b.Recipients = append(b.Recipients, mail.Recipient{
				To: mail.Address{Name: g.data[i].FullName, Email: g.data[i].Email}, Values: vals})
		}
		if err := s.await(ctx, len(g.jobs)); err != nil {
			for _, j := range g.jobs {
				j.result = result{kind: released}
			}
			continue
		}
		id, err := s.batch.SendBatch(context.WithoutCancel(ctx), b)
		if err != nil && !mail.IsTemporary(err) {
			// One bad address can spoil a whole batch: try each alone.
			singles = append(singles, g.jobs...)
			continue
		}
		s.settle(err, id, g.jobs...)
	}
	return singles
}
