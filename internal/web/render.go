package web

import (
	"bytes"
	"embed"
	"html/template"
	"net/http"
	"unicode"
	"unicode/utf8"

	"github.com/rollcall/rollcall/internal/apperr"
)

//go:embed templates/*.html
var templateFS embed.FS

// templates are the parsed pages, each a clone of the layout, by file name.
type templates map[string]*template.Template

// parseTemplates parses the embedded pages. They are part of the binary, so
// an error is a bug and panics (a test parses them).
func parseTemplates() templates {
	layout := template.Must(template.New("layout.html").Funcs(template.FuncMap{"fill": fill}).
		ParseFS(templateFS, "templates/layout.html"))
	out := templates{}
	for _, name := range []string{"accept.html", "accepted.html", "reset.html", "reset_done.html", "message.html"} {
		out[name] = template.Must(template.Must(layout.Clone()).ParseFS(templateFS, "templates/"+name))
	}
	return out
}

// render writes page name with data and status. The page is rendered in
// full first, so a template error becomes a clean 500.
func (p *pages) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	var buf bytes.Buffer
	if err := p.tmpl[name].ExecuteTemplate(&buf, "layout", data); err != nil {
		p.log.ErrorContext(r.Context(), "render page", "page", name, "error", err.Error())
		http.Error(w, "Something went wrong", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

// head is what every page has: its title (also its heading) and the texts
// of its language.
type head struct {
	Title string
	T     *texts
}

// message is a page with a heading and a sentence.
type message struct {
	head
	Text string
}

func (p *pages) message(w http.ResponseWriter, r *http.Request, status int, m message) {
	p.render(w, r, status, "message.html", m)
}

// linkAdvice tells a person what to do about a dead link of one flow.
type linkAdvice struct {
	op      string              // for logs: "accept", "reset"
	invalid func(*texts) string // the link was used, replaced or cancelled
	expired func(*texts) string
}

// fail answers err, an error of the service that leaves nothing to show on
// the form, in the language of t: dead links get their own pages, other
// public errors their message, and anything else is logged and shown as a
// generic failure.
func (p *pages) fail(w http.ResponseWriter, r *http.Request, t *texts, advice linkAdvice, err error) {
	e, ok := apperr.As(err)
	page := func(title, text string) message { return message{head: head{T: t, Title: title}, Text: text} }
	switch {
	case !ok || e.Code == apperr.Internal:
		p.log.ErrorContext(r.Context(), "page failed", "op", advice.op, "error", err.Error())
		p.message(w, r, http.StatusInternalServerError, page(t.WrongTitle, t.WrongText))
	case e.Code == apperr.InvalidToken:
		p.message(w, r, http.StatusNotFound, page(t.InvalidTitle, advice.invalid(t)))
	case e.Code == apperr.TokenExpired:
		p.message(w, r, http.StatusGone, page(t.ExpiredTitle, advice.expired(t)))
	case e.Code == apperr.RateLimited:
		p.message(w, r, http.StatusTooManyRequests, page(t.TooManyTitle, p.speak.message(t, e.Message)))
	default:
		p.message(w, r, statusOf(e.Code), page(t.DidNotWorkTitle, p.speak.message(t, e.Message)))
	}
}

// statusOf is the HTTP status of a public error code.
func statusOf(c apperr.Code) int {
	switch c {
	case apperr.BadUserInput:
		return http.StatusUnprocessableEntity
	case apperr.Conflict:
		return http.StatusConflict
	case apperr.Unauthenticated:
		return http.StatusUnauthorized
	case apperr.Forbidden:
		return http.StatusForbidden
	case apperr.NotFound:
		return http.StatusNotFound
	}
	return http.StatusBadRequest
}

// fieldErrors are messages to show next to form fields, by field name; key
// "" is for the form as a whole.
type fieldErrors map[string]string

// fixable reports whether err is a mistake the person can fix on the form:
// bad input, a taken username.
func fixable(err error) bool {
	e, ok := apperr.As(err)
	return ok && (e.Code == apperr.BadUserInput || e.Code == apperr.Conflict)
}

// fieldErrors returns the message for err (fixable), in the language of t,
// by the field it is about; fields lists the form's field names.
func (p *pages) fieldErrors(t *texts, err error, fields ...string) fieldErrors {
	e, _ := apperr.As(err)
	msg := p.speak.message(t, e.Message)
	for _, f := range fields {
		if e.Field == f {
			return fieldErrors{f: msg}
		}
	}
	return fieldErrors{"": msg}
}

// sentence capitalises a service message for display.
func sentence(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError {
		return s
	}
	return string(unicode.ToUpper(r)) + s[n:]
}
