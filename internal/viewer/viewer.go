// Package viewer carries who is asking through a context: a signed-in person
// of one organisation, or nobody. The data layer's privacy rules read it, so
// every query is scoped to the viewer's organisation and permissions.
package viewer

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/rollcall/rollcall/internal/apperr"
	"github.com/rollcall/rollcall/internal/perm"
)

// Viewer is who acts within one organisation: a signed-in person (UserID
// and SessionID set), or a machine holding an API key (APIKeyID set,
// UserID and SessionID zero).
type Viewer struct {
	OrgID     int
	UserID    int // 0 for an API key: it is nobody
	SessionID int
	// RoleID is the person's role; for an API key, its creator's (which
	// bounds what the key may do).
	RoleID int
	// APIKeyID is the API key acting, or 0 for a person.
	APIKeyID int
	// KeyCreatorID is the person who created the acting API key: the key
	// stops when their sessions all end (deactivation, erasure).
	KeyCreatorID int
	// KeyCreatorPermissions are the permissions of the key creator's
	// current role (which bound the key's); nil for a person.
	KeyCreatorPermissions []perm.Permission
	// KeyExpiresAt is when the acting API key expires (zero: never).
	KeyExpiresAt time.Time
	// Label names the viewer in the audit log: the person's email, or the
	// API key's name and prefix.
	Label       string
	Permissions []perm.Permission
	// MustChangePassword limits the session to changing the password (a
	// temporary password was set).
	MustChangePassword bool
}

// IsKey reports whether the viewer is an API key (a machine), not a person.
func (v *Viewer) IsKey() bool { return v != nil && v.APIKeyID != 0 }

// Person returns the acting person's id, or nil for an API key: what a
// person did is theirs, what a key did is nobody's (the key is recorded
// on its own).
func (v *Viewer) Person() *int {
	if v == nil || v.UserID == 0 {
		return nil
	}
	id := v.UserID
	return &id
}

// ActorID is the global id the audit log records as the actor: the
// person's, or the API key's.
func (v *Viewer) ActorID() int {
	if v.IsKey() {
		return v.APIKeyID
	}
	return v.UserID
}

// Can reports whether the viewer holds permission p.
func (v *Viewer) Can(p perm.Permission) bool {
	return v != nil && slices.Contains(v.Permissions, p)
}

// CanAll reports whether the viewer holds every one of ps (as giving a role,
// or acting on the credentials of someone holding it, requires).
func (v *Viewer) CanAll(ps ...perm.Permission) bool {
	for _, p := range ps {
		if !v.Can(p) {
			return false
		}
	}
	return v != nil
}

// CanGrant reports whether the viewer may give a role holding perms, or act
// on the credentials of someone holding it: only with every one of them.
func (v *Viewer) CanGrant(perms []perm.Permission) bool {
	return v.CanAll(perms...)
}

// CanAny reports whether the viewer holds at least one of ps.
func (v *Viewer) CanAny(ps ...perm.Permission) bool {
	for _, p := range ps {
		if v.Can(p) {
			return true
		}
	}
	return false
}

type ctxKey struct{}

// NewContext returns ctx carrying v.
func NewContext(ctx context.Context, v *Viewer) context.Context {
	return context.WithValue(ctx, ctxKey{}, v)
}

// FromContext returns the viewer in ctx, or nil when nobody is signed in.
func FromContext(ctx context.Context) *Viewer {
	v, _ := ctx.Value(ctxKey{}).(*Viewer)
	return v
}

// Require returns UNAUTHENTICATED when nobody is signed in, and FORBIDDEN
// when the viewer lacks p.
func Require(ctx context.Context, p perm.Permission) error {
	v := FromContext(ctx)
	if v == nil {
		return apperr.New(apperr.Unauthenticated, "sign in required")
	}
	if !v.Can(p) {
		return apperr.New(apperr.Forbidden, fmt.Sprintf("permission %s required", p))
	}
	return nil
}

// Signed returns UNAUTHENTICATED when nobody is signed in.
func Signed(ctx context.Context) (*Viewer, error) {
	v := FromContext(ctx)
	if v == nil {
		return nil, apperr.New(apperr.Unauthenticated, "sign in required")
	}
	return v, nil
}

// SignedPerson returns the signed-in person: UNAUTHENTICATED when nobody is
// signed in, FORBIDDEN for an API key, which is nobody (it has no password,
// session or notifications of its own). what names the refused operation.
func SignedPerson(ctx context.Context, what string) (*Viewer, error) {
	v, err := Signed(ctx)
	if err != nil {
		return nil, err
	}
	if v.IsKey() {
		return nil, apperr.New(apperr.Forbidden, fmt.Sprintf("an API key cannot %s: it is not a person", what))
	}
	return v, nil
}
