package graph

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/99designs/gqlgen/graphql"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/privacy"
	"github.com/rollcall/rollcall/graph/model"
	"github.com/rollcall/rollcall/internal/apperr"
	"github.com/rollcall/rollcall/internal/history"
	"github.com/rollcall/rollcall/internal/reminder"
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

// nullIfNotFound turns NOT_FOUND into a null result, as node does.
func nullIfNotFound[T any](v *T, err error) (*T, error) {
	if apperr.Is(err, apperr.NotFound) {
		return nil, nil
	}
	return v, err
}

// selection is the canonical form of sendInvitations' selection as the
// client sent it (including where fields that are not plain predicates), for
// idempotency checks.
func selection(ctx context.Context) []byte {
	fc := graphql.GetFieldContext(ctx)
	args := fc.Field.ArgumentMap(graphql.GetOperationContext(ctx).Variables)
	input, _ := args["input"].(map[string]any)
	b, _ := json.Marshal(input["where"]) // maps marshal with sorted keys
	return b
}

// optionalNode is the node with id, or null when there is no id or the node
// is gone (erased) or not the viewer's to see.
func (r *Resolver) optionalNode(ctx context.Context, id *int) (ent.Noder, error) {
	if id == nil {
		return nil, nil
	}
	return r.node(ctx, *id)
}

// deliveryPage is the page of emails the field being resolved belongs to
// (its connection's result, up the field path), or nil outside one: fields
// of a page's emails then read what they refer to once for the whole page.
func deliveryPage(ctx context.Context) *history.DeliveryPage {
	for fc := graphql.GetFieldContext(ctx); fc != nil; fc = fc.Parent {
		if p, ok := fc.Result.(*history.DeliveryPage); ok {
			return p
		}
	}
	return nil
}

// reminderPolicy is the service's form of a policy input (nil: unchanged).
func reminderPolicy(in *model.ReminderPolicyInput) *reminder.Policy {
	if in == nil {
		return nil
	}
	return &reminder.Policy{Enabled: in.Enabled, AfterHours: in.AfterHours, ExpiryWarningHours: in.ExpiryWarningHours}
}
