package web

import (
	"net/http"

	"github.com/rollcall/rollcall/internal/apperr"
	"github.com/rollcall/rollcall/internal/invite"
	"github.com/rollcall/rollcall/internal/password"
)

// acceptPage is the data of the accept form.
type acceptPage struct {
	Title     string
	Token     string
	Invite    *invite.Info
	Username  string
	FirstName string
	LastName  string
	Errors    fieldErrors
	MinLength int
}

// acceptedPage is the data of the page after a successful accept.
type acceptedPage struct {
	Title           string
	Email, Username string
}

// acceptFailed answers an error of the accept flow.
func (p *pages) acceptFailed(w http.ResponseWriter, r *http.Request, err error) {
	p.fail(w, r, linkAdvice{
		op:      "accept invitation",
		invalid: "It was already used, replaced by a newer invitation, or cancelled. If you have accepted it already, sign in with your email or username; otherwise ask for a new invitation.",
		expired: "Ask for a new invitation: whoever invited you can send a fresh link.",
	}, err)
}

// acceptForm shows who is invited and the form. It never spends the token.
func (p *pages) acceptForm(w http.ResponseWriter, r *http.Request) {
	tok := r.URL.Query().Get("token")
	if tok == "" {
		p.acceptFailed(w, r, apperr.New(apperr.InvalidToken, "no token"))
		return
	}
	info, err := p.svc.Invitation(r.Context(), tok)
	if err != nil {
		p.acceptFailed(w, r, err)
		return
	}
	p.render(w, r, http.StatusOK, "accept.html", acceptPage{
		Title: "Join " + info.OrganizationName, Token: tok, Invite: info,
		FirstName: info.FirstName, MinLength: password.MinLength,
	})
}

// accept spends the token and activates the person. A mistake the person can
// fix re-renders the form with the message by the field and the values kept,
// but never the password.
func (p *pages) accept(w http.ResponseWriter, r *http.Request) {
	if !p.readForm(w, r) {
		return
	}
	f := r.PostForm
	in := invite.AcceptInput{
		Token: f.Get("token"), Username: f.Get("username"), Password: f.Get("password"),
		FirstName: f.Get("first_name"), LastName: f.Get("last_name"),
	}
	u, err := p.svc.Activate(r.Context(), in)
	if err == nil {
		page := acceptedPage{Title: "Your account is ready", Email: u.Email}
		if u.Username != nil {
			page.Username = *u.Username
		}
		p.render(w, r, http.StatusOK, "accepted.html", page)
		return
	}
	errs, fixable := fieldError(err, "username", "password")
	if !fixable {
		p.acceptFailed(w, r, err)
		return
	}
	info, err := p.svc.Invitation(r.Context(), in.Token)
	if err != nil {
		p.acceptFailed(w, r, err)
		return
	}
	p.render(w, r, http.StatusUnprocessableEntity, "accept.html", acceptPage{
		Title: "Join " + info.OrganizationName, Token: in.Token, Invite: info,
		Username: in.Username, FirstName: in.FirstName, LastName: in.LastName,
		Errors: errs, MinLength: password.MinLength,
	})
}
