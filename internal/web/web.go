// Package web serves Rollcall's built-in HTML pages for organisations without
// an SPA of their own: accepting an invitation and choosing a new password.
// The pages call the same service as the GraphQL API, and speak the
// person's language (see i18n.go).
package web

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/rollcall/rollcall/internal/credentials"
	"github.com/rollcall/rollcall/internal/invite"
)

// maxBody bounds a form POST.
const maxBody = 64 << 10

// pages holds what the handlers share.
type pages struct {
	svc   *invite.Service
	log   *slog.Logger
	tmpl  templates
	speak *speaker
}

// New returns the handler of GET and POST /invite/accept and
// /password/reset. Cross-site POSTs are refused, and every response carries
// headers that keep the pages (and the token in their URL) to themselves.
func New(svc *invite.Service, log *slog.Logger) http.Handler {
	p := &pages{svc: svc, log: log, tmpl: parseTemplates(), speak: newSpeaker()}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+credentials.AcceptPath, p.acceptForm)
	mux.HandleFunc("POST "+credentials.AcceptPath, p.accept)
	mux.HandleFunc("GET "+credentials.ResetPath, p.resetForm)
	mux.HandleFunc("POST "+credentials.ResetPath, p.reset)

	csrf := http.NewCrossOriginProtection()
	csrf.SetDenyHandler(http.HandlerFunc(p.crossOrigin))
	return secureHeaders(csrf.Handler(mux))
}

// secureHeaders sets the headers every page response carries.
func secureHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		// The language depends on Accept-Language (and the person).
		h.Add("Vary", "Accept-Language")
		next.ServeHTTP(w, r)
	})
}

// crossOrigin answers a POST that another site sent.
func (p *pages) crossOrigin(w http.ResponseWriter, r *http.Request) {
	t := p.speak.choose(r, "", "")
	p.message(w, r, http.StatusForbidden, message{head: head{T: t, Title: t.CrossSiteTitle}, Text: t.CrossSiteText})
}

// readForm parses a POSTed form of at most maxBody bytes. On failure it has
// answered already and returns false.
func (p *pages) readForm(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		t := p.speak.choose(r, "", "")
		if tooLarge := new(http.MaxBytesError); errors.As(err, &tooLarge) {
			p.message(w, r, http.StatusRequestEntityTooLarge, message{head: head{T: t, Title: t.TooLargeTitle}, Text: t.TooLargeText})
			return false
		}
		p.message(w, r, http.StatusBadRequest, message{head: head{T: t, Title: t.UnreadableTitle}, Text: t.UnreadableText})
		return false
	}
	return true
}
