package web

import (
	"net/http"

	"github.com/rollcall/rollcall/internal/apperr"
	"github.com/rollcall/rollcall/internal/invite"
	"github.com/rollcall/rollcall/internal/password"
)

// resetPage is the data of the new-password form.
type resetPage struct {
	head
	Token     string
	Errors    fieldErrors
	MinLength int
}

// resetDonePage is the data of the page after a successful reset.
type resetDonePage struct {
	head
	Email                       string
	OrganizationName, SignInURL string // a link to sign in when the organisation has one
}

// resetAdvice is what to do about a dead reset link.
var resetAdvice = linkAdvice{
	op:      "reset password",
	invalid: func(t *texts) string { return t.ResetInvalid },
	expired: func(t *texts) string { return t.ResetExpired },
}

// resetFailed answers an error of the reset flow, in the language the
// browser asks for (the link tells no person).
func (p *pages) resetFailed(w http.ResponseWriter, r *http.Request, err error) {
	p.fail(w, r, p.speak.choose(r, "", ""), resetAdvice, err)
}

// resetForm shows the new-password form in the person's language, or tells
// at once that the link is dead. It never spends the token.
func (p *pages) resetForm(w http.ResponseWriter, r *http.Request) {
	tok := r.URL.Query().Get("token")
	if tok == "" {
		p.resetFailed(w, r, apperr.New(apperr.InvalidToken, "no token"))
		return
	}
	info, err := p.svc.ResetInfo(r.Context(), tok)
	if err != nil {
		p.resetFailed(w, r, err)
		return
	}
	t := p.speak.choose(r, info.Locale, info.DefaultLocale)
	p.render(w, r, http.StatusOK, "reset.html", resetPage{head: head{T: t, Title: t.ChooseNew}, Token: tok, MinLength: password.MinLength})
}

// reset spends the token and sets the new password.
func (p *pages) reset(w http.ResponseWriter, r *http.Request) {
	if !p.readForm(w, r) {
		return
	}
	in := invite.ResetInput{Token: r.PostForm.Get("token"), Password: r.PostForm.Get("password")}
	u, err := p.svc.SetPassword(r.Context(), in)
	if err == nil {
		loc, orgDefault, orgName, signIn := invite.Speaks(u, u.Edges.Organization)
		t := p.speak.choose(r, loc, orgDefault)
		p.render(w, r, http.StatusOK, "reset_done.html", resetDonePage{head: head{T: t, Title: t.PasswordChanged},
			Email: u.Email, OrganizationName: orgName, SignInURL: signIn})
		return
	}
	if !fixable(err) {
		p.resetFailed(w, r, err)
		return
	}
	info, err2 := p.svc.ResetInfo(r.Context(), in.Token)
	if err2 != nil {
		p.resetFailed(w, r, err2)
		return
	}
	t := p.speak.choose(r, info.Locale, info.DefaultLocale)
	p.render(w, r, http.StatusUnprocessableEntity, "reset.html", resetPage{
		head: head{T: t, Title: t.ChooseNew}, Token: in.Token, Errors: p.fieldErrors(t, err, "password"), MinLength: password.MinLength,
	})
}
