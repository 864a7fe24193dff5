// Package viewer carries who is asking through a context: a signed-in person
// of one organisation, or nobody. The data layer's privacy rules read it, so
// every query is scoped to the viewer's organisation and permissions.
package viewer

import (
	"context"
	"fmt"
	"slices"

	"github.com/rollcall/rollcall/internal/apperr"
	"github.com/rollcall/rollcall/internal/perm"
)

// Viewer is a signed-in person acting within one organisation.
type Viewer struct {
	OrgID     int
	UserID    int
	SessionID int
	RoleID    int
	// Label names the viewer in the audit log: the person's email.
	Label       string
	Permissions []perm.Permission
	// MustChangePassword limits the session to changing the password (a
	// temporary password was set).
	MustChangePassword bool
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
