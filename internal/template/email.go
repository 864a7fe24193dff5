package template

import (
	"fmt"
	"strings"
	"time"

	"github.com/rollcall/rollcall/ent"
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
	if !e.ExpiresAt.IsZero() {
		d.ExpiresAt = e.ExpiresAt.UTC().Format("Monday 2 January 2006, 15:04 MST")
		d.ExpiresIn = humanDuration(e.TTL)
	}
	return d
}

// humanDuration writes d the way an email would: "7 days", "1 hour".
func humanDuration(d time.Duration) string {
	unit := func(n int64, name string) string {
		if n == 1 {
			return "1 " + name
		}
		return fmt.Sprintf("%d %ss", n, name)
	}
	switch {
	case d >= 24*time.Hour && d%(24*time.Hour) == 0:
		return unit(int64(d/(24*time.Hour)), "day")
	case d >= time.Hour && d%time.Hour == 0:
		return unit(int64(d/time.Hour), "hour")
	case d >= time.Minute:
		return unit(int64(d/time.Minute), "minute")
	default:
		return unit(int64(max(d/time.Second, 1)), "second")
	}
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
