package template

import (
	"strings"
	"time"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/internal/locale"
)

// Email is one email to render and send.
type Email struct {
	Kind              Kind
	User              *ent.User
	Org               *ent.Organization
	Role              *ent.Role
	Inviter           string
	URL               string
	ExpiresAt         time.Time
	TTL               time.Duration
	TemporaryPassword string
	NewEmail          string // EMAIL_CHANGED: the address the account moved to
	// Locale is the language the email is written in (a shipped locale, as
	// Chosen.Locale says), for dates and durations; "" writes them in
	// English.
	Locale string
}

// DataOf is what a template sees of e.
func DataOf(e Email) Data {
	d := Data{
		Email: e.User.Email, OrganizationName: e.Org.Name, InviterName: e.Inviter,
		ActionURL: e.URL, TemporaryPassword: e.TemporaryPassword, NewEmail: e.NewEmail,
	}
	if e.Role != nil {
		d.RoleName = e.Role.Name
	}
	if e.User.FirstName != nil {
		d.FirstName = *e.User.FirstName
	}
	if e.User.LastName != nil {
		d.LastName = *e.User.LastName
	}
	d.FullName = strings.TrimSpace(d.FirstName + " " + d.LastName)
	if e.User.Username != nil {
		d.Username = *e.User.Username
	}
	if e.Org.ReplyTo != nil {
		d.ReplyTo = *e.Org.ReplyTo
	}
	if e.Org.SignInURL != nil {
		d.SignInURL = *e.Org.SignInURL
	}
	if !e.ExpiresAt.IsZero() {
		d.ExpiresAt = locale.Date(e.Locale, e.ExpiresAt)
		d.ExpiresIn = locale.Duration(e.Locale, e.TTL)
	}
	return d
}

// DisplayName is how a person appears in emails and the audit log: their
// name, else their address.
func DisplayName(u *ent.User) string {
	var parts []string
	if u.FirstName != nil {
		parts = append(parts, *u.FirstName)
	}
	if u.LastName != nil {
		parts = append(parts, *u.LastName)
	}
	if len(parts) == 0 {
		return u.Email
	}
	return strings.Join(parts, " ")
}
