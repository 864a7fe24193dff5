package web

import (
	"net/http"

	"github.com/rollcall/rollcall/internal/apperr"
	"github.com/rollcall/rollcall/internal/invite"
	"github.com/rollcall/rollcall/internal/password"
)

// acceptPage is the data of the accept form.
type acceptPage struct {
	head
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
	head
	Email, Username             string
	OrganizationName, SignInURL string // a link to sign in when the organisation has one
}

// acceptAdvice is what to do about a dead invitation link.
var acceptAdvice = linkAdvice{
	op:      "accept invitation",
	invalid: func(t *texts) string { return t.AcceptInvalid },
	expired: func(t *texts) string { return t.AcceptExpired },
}

// acceptFailed answers an error of the accept flow, in the language the
// browser asks for (the link tells no person).
func (p *pages) acceptFailed(w http.ResponseWriter, r *http.Request, err error) {
	p.fail(w, r, p.speak.choose(r, "", ""), acceptAdvice, err)
}

// acceptForm shows who is invited and the form, in the person's language,
// prefilled with the names the inviter entered. It never spends the token.
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
	t := p.speak.choose(r, info.Locale, info.DefaultLocale)
	p.render(w, r, http.StatusOK, "accept.html", acceptPage{
		head: head{T: t, Title: format(t.JoinTitle, info.OrganizationName)}, Token: tok, Invite: info,
		FirstName: info.FirstName, LastName: info.LastName, MinLength: password.MinLength,
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
		loc, orgDefault, orgName, signIn := invite.Speaks(u, u.Edges.Organization)
		t := p.speak.choose(r, loc, orgDefault)
		page := acceptedPage{head: head{T: t, Title: t.AccountReady}, Email: u.Email, OrganizationName: orgName, SignInURL: signIn}
		if u.Username != nil {
			page.Username = *u.Username
		}
		p.render(w, r, http.StatusOK, "accepted.html", page)
		return
	}
	if !fixable(err) {
		p.acceptFailed(w, r, err)
		return
	}
	info, err2 := p.svc.Invitation(r.Context(), in.Token)
	if err2 != nil {
		p.acceptFailed(w, r, err2)
		return
	}
	t := p.speak.choose(r, info.Locale, info.DefaultLocale)
	errs := p.fieldErrors(t, err, "username", "password")
	p.render(w, r, http.StatusUnprocessableEntity, "accept.html", acceptPage{
		head: head{T: t, Title: format(t.JoinTitle, info.OrganizationName)}, Token: in.Token, Invite: info,
		Username: in.Username, FirstName: in.FirstName, LastName: in.LastName,
		Errors: errs, MinLength: password.MinLength,
	})
}
