package graph

import (
	"context"
	"errors"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/privacy"
	"github.com/rollcall/rollcall/internal/viewer"
)

// node resolves a global id within the viewer's organisation. Unknown ids,
// other tenants' ids and rows the viewer may not read all give null.
func (r *Resolver) node(ctx context.Context, id int) (ent.Noder, error) {
	if _, err := viewer.Signed(ctx); err != nil {
		return nil, err
	}
	n, err := r.Client.Noder(ctx, id)
	if err != nil {
		if ent.IsNotFound(err) || errors.Is(err, privacy.Deny) {
			return nil, nil
		}
		return nil, err
	}
	return n, nil
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// ok turns a service's error into a GraphQL Boolean result.
func ok(err error) (bool, error) { return err == nil, err }

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
