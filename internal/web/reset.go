package web

import (
	"net/http"

	"github.com/rollcall/rollcall/internal/apperr"
	"github.com/rollcall/rollcall/internal/invite"
	"github.com/rollcall/rollcall/internal/password"
)

// resetPage is the data of the new-password form.
type resetPage struct {
	Title     string
	Token     string
	Errors    fieldErrors
	MinLength int
}

// resetDonePage is the data of the page after a successful reset.
type resetDonePage struct {
	Title string
	Email string
}

// resetFailed answers an error of the reset flow.
func (p *pages) resetFailed(w http.ResponseWriter, r *http.Request, err error) {
	p.fail(w, r, linkAdvice{
		op:      "reset password",
		invalid: "It was already used, replaced by a newer one, or cancelled. Request a new password reset if you still need one.",
		expired: "Request a new password reset to get a fresh link.",
	}, err)
}

// resetForm shows the new-password form. Reset tokens have no info call, so
// a dead link is reported when the form is sent.
func (p *pages) resetForm(w http.ResponseWriter, r *http.Request) {
	tok := r.URL.Query().Get("token")
	if tok == "" {
		p.resetFailed(w, r, apperr.New(apperr.InvalidToken, "no token"))
		return
	}
	p.render(w, r, http.StatusOK, "reset.html", resetPage{Title: "Choose a new password", Token: tok, MinLength: password.MinLength})
}

// reset spends the token and sets the new password.
func (p *pages) reset(w http.ResponseWriter, r *http.Request) {
	if !p.readForm(w, r) {
		return
	}
	in := invite.ResetInput{Token: r.PostForm.Get("token"), Password: r.PostForm.Get("password")}
	u, err := p.svc.SetPassword(r.Context(), in)
	if err == nil {
		p.render(w, r, http.StatusOK, "reset_done.html", resetDonePage{Title: "Your password has been changed", Email: u.Email})
		return
	}
	errs, fixable := fieldError(err, "password")
	if !fixable {
		p.resetFailed(w, r, err)
		return
	}
	p.render(w, r, http.StatusUnprocessableEntity, "reset.html", resetPage{
		Title: "Choose a new password", Token: in.Token, Errors: errs, MinLength: password.MinLength,
	})
}
