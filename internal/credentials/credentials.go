// Package credentials holds what a person signs in or comes back with:
// single-use tokens stored as hashes (Issue, Revoke, Lookup, Spend; issuing a
// token of a kind revokes the person's older ones), how long they last (TTL)
// and the links put in emails (Links).
package credentials

import (
	"net/url"
	"strings"
	"time"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/invitation"
)

// The built-in pages the links lead to (internal/web serves them).
const (
	AcceptPath = "/invite/accept"  // accepts an invitation
	ResetPath  = "/password/reset" // sets a new password
)

// Links builds the URLs put in emails.
type Links struct {
	PublicURL string // base of the built-in pages, e.g. http://localhost:8080
	// Optional SPA pages; "{token}" is replaced by the token.
	InviteTemplate, ResetTemplate string
}

// Invite is the link that accepts an invitation.
func (l Links) Invite(tok string) string {
	return l.build(l.InviteTemplate, AcceptPath, tok)
}

// Reset is the link that sets a new password.
func (l Links) Reset(tok string) string {
	return l.build(l.ResetTemplate, ResetPath, tok)
}

// SignIn is where people sign in.
func (l Links) SignIn() string { return strings.TrimRight(l.PublicURL, "/") + "/" }

func (l Links) build(tmpl, path, tok string) string {
	if tmpl != "" {
		return strings.ReplaceAll(tmpl, "{token}", url.QueryEscape(tok))
	}
	return strings.TrimRight(l.PublicURL, "/") + path + "?token=" + url.QueryEscape(tok)
}

// TTL is how long o's tokens of kind last: invitations
// InvitationTTLSeconds, password resets ResetTTLSeconds; 0 for any other
// kind.
func TTL(o *ent.Organization, kind invitation.Kind) time.Duration {
	switch kind {
	case invitation.KindINVITATION:
		return time.Duration(o.InvitationTTLSeconds) * time.Second
	case invitation.KindPASSWORD_RESET:
		return time.Duration(o.ResetTTLSeconds) * time.Second
	}
	return 0
}
