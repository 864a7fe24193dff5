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
	layout := template.Must(template.New("layout.html").ParseFS(templateFS, "templates/layout.html"))
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

// message is a page with a heading and a sentence.
type message struct {
	Title, Text string
}

func (p *pages) message(w http.ResponseWriter, r *http.Request, status int, m message) {
	p.render(w, r, status, "message.html", m)
}

// linkAdvice tells a person what to do about a dead link of one flow.
type linkAdvice struct {
	op      string // for logs: "accept", "reset"
	invalid string // the link was used, replaced or cancelled
	expired string
}

// fail answers err, an error of the service that leaves nothing to show on
// the form: dead links get their own pages, other public errors their
// message, and anything else is logged and shown as a generic failure.
func (p *pages) fail(w http.ResponseWriter, r *http.Request, advice linkAdvice, err error) {
	e, ok := apperr.As(err)
	switch {
	case !ok || e.Code == apperr.Internal:
		p.log.ErrorContext(r.Context(), "page failed", "op", advice.op, "error", err.Error())
		p.message(w, r, http.StatusInternalServerError, message{Title: "Something went wrong", Text: "Please try again in a few minutes."})
	case e.Code == apperr.InvalidToken:
		p.message(w, r, http.StatusNotFound, message{Title: "This link is not valid", Text: advice.invalid})
	case e.Code == apperr.TokenExpired:
		p.message(w, r, http.StatusGone, message{Title: "This link has expired", Text: advice.expired})
	case e.Code == apperr.RateLimited:
		p.message(w, r, http.StatusTooManyRequests, message{Title: "Too many attempts", Text: sentence(e.Message)})
	default:
		p.message(w, r, statusOf(e.Code), message{Title: "This did not work", Text: sentence(e.Message)})
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

// fieldError returns the messages for err when the person can fix it on the
// form (bad input, a taken username); fields lists the form's field names.
func fieldError(err error, fields ...string) (fieldErrors, bool) {
	e, ok := apperr.As(err)
	if !ok || (e.Code != apperr.BadUserInput && e.Code != apperr.Conflict) {
		return nil, false
	}
	for _, f := range fields {
		if e.Field == f {
			return fieldErrors{f: sentence(e.Message)}, true
		}
	}
	return fieldErrors{"": sentence(e.Message)}, true
}

// sentence capitalises a service message for display.
func sentence(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError {
		return s
	}
	return string(unicode.ToUpper(r)) + s[n:]
}
