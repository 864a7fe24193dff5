package webhookout

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"entgo.io/contrib/entgql"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/webhookattempt"
	"github.com/rollcall/rollcall/ent/webhookdelivery"
	"github.com/rollcall/rollcall/ent/webhookendpoint"
	"github.com/rollcall/rollcall/internal/apperr"
	"github.com/rollcall/rollcall/internal/audit"
	"github.com/rollcall/rollcall/internal/auth"
	"github.com/rollcall/rollcall/internal/db"
	"github.com/rollcall/rollcall/internal/perm"
	"github.com/rollcall/rollcall/internal/viewer"
)

// maxDescription is the longest endpoint description, in bytes.
const maxDescription = 500

// CreateInput is a new endpoint.
type CreateInput struct {
	URL         string
	EventTypes  []string
	Description *string
}

// UpdateInput changes an endpoint; nil fields are kept.
type UpdateInput struct {
	URL         *string
	EventTypes  []string // nil: kept; empty: every type
	Enabled     *bool
	Description *string // empty: cleared
}

// WithSecret is an endpoint and its secret, shown once.
type WithSecret struct {
	Endpoint *ent.WebhookEndpoint
	Secret   string
}

// List returns the organisation's endpoints, oldest first.
func (s *Service) List(ctx context.Context) ([]*ent.WebhookEndpoint, error) {
	v, err := requireManage(ctx)
	if err != nil {
		return nil, err
	}
	eps, err := s.client.WebhookEndpoint.Query().Where(webhookendpoint.OrganizationID(v.OrgID)).
		Order(ent.Asc(webhookendpoint.FieldID)).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("list webhook endpoints: %w", err)
	}
	return eps, nil
}

// Get returns one of the organisation's endpoints; NOT_FOUND for an unknown
// or foreign id.
func (s *Service) Get(ctx context.Context, id int) (*ent.WebhookEndpoint, error) {
	if _, err := requireManage(ctx); err != nil {
		return nil, err
	}
	ep, err := s.client.WebhookEndpoint.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, apperr.New(apperr.NotFound, "webhook endpoint not found")
	}
	if err != nil {
		return nil, fmt.Errorf("read webhook endpoint %d: %w", id, err)
	}
	return ep, nil
}

// Create adds an endpoint with a new secret, which it returns (the only
// time it is shown).
func (s *Service) Create(ctx context.Context, in CreateInput) (*WithSecret, error) {
	v, err := requireManage(ctx)
	if err != nil {
		return nil, err
	}
	u, err := s.checkURL(ctx, "url", in.URL)
	if err != nil {
		return nil, err
	}
	types, err := checkTypes(in.EventTypes)
	if err != nil {
		return nil, err
	}
	desc, err := checkDescription(in.Description)
	if err != nil {
		return nil, err
	}
	secret, err := newSecret()
	if err != nil {
		return nil, err
	}
	var ep *ent.WebhookEndpoint
	err = db.InTx(ctx, s.client, func(tx *ent.Client) error {
		// Two creates at once may both pass the count by one on
		// PostgreSQL; the cap is a guard against runaway scripts, not a
		// quota to the row.
		n, err := tx.WebhookEndpoint.Query().Where(webhookendpoint.OrganizationID(v.OrgID)).Count(ctx)
		if err != nil {
			return fmt.Errorf("count webhook endpoints: %w", err)
		}
		if n >= s.cfg.MaxEndpoints {
			return apperr.Invalid("url", fmt.Sprintf("an organisation has at most %d webhook endpoints: delete one first", s.cfg.MaxEndpoints))
		}
		now := s.clock.Now()
		ep, err = tx.WebhookEndpoint.Create().SetOrganizationID(v.OrgID).SetURL(u).SetEventTypes(types).
			SetNillableDescription(desc).SetSecret(secret).SetCreatedAt(now).SetUpdatedAt(now).Save(ctx)
		if err != nil {
			return fmt.Errorf("create webhook endpoint: %w", err)
		}
		return s.audit.Record(ctx, tx, v.OrgID, endpointEvent("webhook_endpoint.created", ep,
			map[string]any{"eventTypes": types}))
	})
	if err != nil {
		return nil, err
	}
	return &WithSecret{Endpoint: unwrap(ep), Secret: secret}, nil
}

// Update changes an endpoint. Enabling it clears disabledReason; disabling
// it drops the deliveries waiting for it.
func (s *Service) Update(ctx context.Context, id int, in UpdateInput) (*ent.WebhookEndpoint, error) {
	ep, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	var sets []func(*ent.WebhookEndpointUpdateOne)
	changed := []string{}
	if in.URL != nil {
		u, err := s.checkURL(ctx, "url", *in.URL)
		if err != nil {
			return nil, err
		}
		sets = append(sets, func(up *ent.WebhookEndpointUpdateOne) { up.SetURL(u) })
		changed = append(changed, "url")
	}
	if in.EventTypes != nil {
		types, err := checkTypes(in.EventTypes)
		if err != nil {
			return nil, err
		}
		sets = append(sets, func(up *ent.WebhookEndpointUpdateOne) { up.SetEventTypes(types) })
		changed = append(changed, "eventTypes")
	}
	if in.Description != nil {
		desc, err := checkDescription(in.Description)
		if err != nil {
			return nil, err
		}
		sets = append(sets, func(up *ent.WebhookEndpointUpdateOne) {
			if desc == nil {
				up.ClearDescription()
			} else {
				up.SetDescription(*desc)
			}
		})
		changed = append(changed, "description")
	}
	disabling := in.Enabled != nil && !*in.Enabled && ep.Enabled
	if in.Enabled != nil {
		sets = append(sets, func(up *ent.WebhookEndpointUpdateOne) { up.SetEnabled(*in.Enabled).ClearDisabledReason() })
		changed = append(changed, "enabled")
	}
	err = db.InTx(ctx, s.client, func(tx *ent.Client) error {
		up := tx.WebhookEndpoint.UpdateOne(ep).SetUpdatedAt(s.clock.Now())
		for _, f := range sets {
			f(up)
		}
		if ep, err = up.Save(ctx); err != nil {
			return fmt.Errorf("update webhook endpoint %d: %w", id, err)
		}
		if disabling {
			if err := s.dropWaiting(ctx, tx, ep.ID); err != nil {
				return err
			}
		}
		return s.audit.Record(ctx, tx, ep.OrganizationID, endpointEvent("webhook_endpoint.updated", ep,
			map[string]any{"changed": changed, "enabled": ep.Enabled, "eventTypes": ep.EventTypes}))
	})
	if err != nil {
		return nil, err
	}
	return unwrap(ep), nil
}

// Rotate gives an endpoint a new secret, which it returns (the only time it
// is shown). The previous one keeps signing for RotationOverlap, so a
// receiver can switch over without losing events; rotating again within it
// drops the oldest.
func (s *Service) Rotate(ctx context.Context, id int) (*WithSecret, error) {
	ep, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	secret, err := newSecret()
	if err != nil {
		return nil, err
	}
	err = db.InTx(ctx, s.client, func(tx *ent.Client) error {
		now := s.clock.Now()
		ep, err = tx.WebhookEndpoint.UpdateOne(ep).SetSecret(secret).SetPreviousSecret(ep.Secret).
			SetPreviousSecretExpiresAt(now.Add(RotationOverlap)).SetUpdatedAt(now).Save(ctx)
		if err != nil {
			return fmt.Errorf("rotate webhook secret of endpoint %d: %w", id, err)
		}
		return s.audit.Record(ctx, tx, ep.OrganizationID, endpointEvent("webhook_endpoint.secret_rotated", ep, nil))
	})
	if err != nil {
		return nil, err
	}
	return &WithSecret{Endpoint: unwrap(ep), Secret: secret}, nil
}

// Delete removes an endpoint with its deliveries and attempts.
func (s *Service) Delete(ctx context.Context, id int) error {
	ep, err := s.Get(ctx, id)
	if err != nil {
		return err
	}
	return db.InTx(ctx, s.client, func(tx *ent.Client) error {
		// The deliveries and attempts go with it (ON DELETE CASCADE).
		if err := tx.WebhookEndpoint.DeleteOne(ep).Exec(ctx); err != nil {
			return fmt.Errorf("delete webhook endpoint %d: %w", id, err)
		}
		return s.audit.Record(ctx, tx, ep.OrganizationID, endpointEvent("webhook_endpoint.deleted", ep, nil))
	})
}

// Redeliver queues event eventID for endpoint endpointID again, with a fresh
// retry schedule: whether it was delivered, given up, is waiting or in
// flight (that call's outcome no longer settles it), or was never sent
// there. The endpoint must be enabled.
func (s *Service) Redeliver(ctx context.Context, endpointID, eventID int) error {
	ep, err := s.Get(ctx, endpointID)
	if err != nil {
		return err
	}
	if !ep.Enabled {
		return apperr.Invalid("endpointId", "the webhook endpoint is disabled: enable it first")
	}
	// The events' privacy rules scope the read to the viewer's organisation.
	ev, err := s.client.Event.Get(ctx, eventID)
	if ent.IsNotFound(err) {
		return apperr.New(apperr.NotFound, "event not found (events are kept for a limited time)")
	}
	if err != nil {
		return fmt.Errorf("read event %d: %w", eventID, err)
	}
	err = db.InTx(ctx, s.client, func(tx *ent.Client) error {
		now := s.clock.Now()
		sys := auth.AsSystem(ctx)
		err := tx.WebhookDelivery.Create().SetEndpointID(ep.ID).SetEventID(ev.ID).SetCreatedAt(now).SetUpdatedAt(now).
			OnConflictColumns(webhookdelivery.FieldEndpointID, webhookdelivery.FieldEventID).
			Update(func(u *ent.WebhookDeliveryUpsert) {
				u.SetStatus(webhookdelivery.StatusPENDING).SetAttempts(0).ClearNextAttemptAt().
					ClearLeasedBy().ClearLeaseExpiresAt().SetUpdatedAt(now)
			}).Exec(sys)
		if err != nil {
			return fmt.Errorf("queue event %d for endpoint %d: %w", ev.ID, ep.ID, err)
		}
		return s.audit.Record(ctx, tx, ep.OrganizationID, endpointEvent("webhook_endpoint.redelivered", ep,
			map[string]any{"eventId": ev.ID, "eventType": ev.Type}))
	})
	if err != nil {
		return err
	}
	s.deliverWake.Wake()
	return nil
}

// Attempts returns a page of an endpoint's attempts, newest first.
func (s *Service) Attempts(ctx context.Context, ep *ent.WebhookEndpoint, first *int, after *entgql.Cursor[int]) (*ent.WebhookAttemptConnection, error) {
	if _, err := requireManage(ctx); err != nil {
		return nil, err
	}
	n := 50
	if first != nil {
		n = min(max(*first, 0), 500)
	}
	conn, err := s.client.WebhookAttempt.Query().Where(webhookattempt.EndpointID(ep.ID)).
		Paginate(ctx, after, &n, nil, nil, ent.WithWebhookAttemptOrder(&ent.WebhookAttemptOrder{
			Field: ent.WebhookAttemptOrderFieldCreatedAt, Direction: entgql.OrderDirectionDesc,
		}))
	if err != nil {
		return nil, fmt.Errorf("list attempts of webhook endpoint %d: %w", ep.ID, err)
	}
	return conn, nil
}

// requireManage checks the viewer holds organization.manage.
func requireManage(ctx context.Context) (*viewer.Viewer, error) {
	if err := viewer.Require(ctx, perm.OrganizationManage); err != nil {
		return nil, err
	}
	return viewer.FromContext(ctx), nil
}

// checkTypes validates event types: each known, no repeats (dropped).
func checkTypes(types []string) ([]string, error) {
	known := EventTypes()
	out := []string{}
	for _, t := range types {
		t = strings.TrimSpace(t)
		if !slices.Contains(known, t) {
			return nil, apperr.Invalid("eventTypes", fmt.Sprintf("unknown event type %q: the types are %s", t, strings.Join(known, ", ")))
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out, nil
}

// checkDescription trims a description; empty: none.
func checkDescription(d *string) (*string, error) {
	if d == nil {
		return nil, nil
	}
	text := strings.TrimSpace(*d)
	if text == "" {
		return nil, nil
	}
	if len(text) > maxDescription || !utf8.ValidString(text) || strings.ContainsRune(text, 0) {
		return nil, apperr.Invalid("description", fmt.Sprintf("a description has at most %d characters of text", maxDescription))
	}
	return &text, nil
}

// endpointEvent is an audit event about an endpoint, labelled with its URL;
// never with its secret.
func endpointEvent(action string, ep *ent.WebhookEndpoint, details map[string]any) audit.Event {
	return audit.Event{Action: action, TargetType: "WebhookEndpoint", TargetID: ep.ID, TargetLabel: ep.URL, Details: details}
}

// unwrap detaches an entity written in a committed transaction from it.
func unwrap(ep *ent.WebhookEndpoint) *ent.WebhookEndpoint { return ep.Unwrap() }
