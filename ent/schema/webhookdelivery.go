package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// WebhookDelivery is one event to one endpoint: the durable unit of webhook
// work. Fan-out writes it (at most one per endpoint and event: the unique
// index), workers on any replica claim it under a lease (internal/queue),
// call the endpoint and record each attempt as a WebhookAttempt. A worker
// that stops mid-call leaves its lease to lapse, and another takes the row
// over. It goes with its event when the event is pruned.
type WebhookDelivery struct{ ent.Schema }

// Fields of the WebhookDelivery.
func (WebhookDelivery) Fields() []ent.Field {
	return []ent.Field{
		field.Int("endpoint_id").Immutable(),
		field.Int("event_id").Immutable(),
		// PENDING until it is delivered (DELIVERED), given up after the
		// last retry (FAILED), or dropped because its endpoint was
		// disabled (SKIPPED).
		field.Enum("status").Values("PENDING", "DELIVERED", "FAILED", "SKIPPED").Default("PENDING"),
		// Claims so far in this round (redeliverWebhookEvent starts a new
		// one): the attempt number of the call a claim makes.
		field.Int("attempts").Default(0).NonNegative(),
		// When the row is next due; null: now.
		field.Time("next_attempt_at").Optional().Nillable(),
		// The claim of the worker holding the row, and when it lapses.
		field.String("leased_by").Optional().Nillable(),
		field.Time("lease_expires_at").Optional().Nillable(),
		field.Time("created_at").Immutable().Default(now),
		field.Time("updated_at").Default(now).UpdateDefault(now),
	}
}

// Edges of the WebhookDelivery.
func (WebhookDelivery) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("endpoint", WebhookEndpoint.Type).Field("endpoint_id").Unique().Required().Immutable().
			Annotations(cascade()),
		edge.To("event", Event.Type).Field("event_id").Unique().Required().Immutable().
			Annotations(cascade()),
	}
}

// Indexes of the WebhookDelivery.
func (WebhookDelivery) Indexes() []ent.Index {
	return []ent.Index{
		// Fan-out writes each (endpoint, event) once, whoever runs it.
		index.Fields("endpoint_id", "event_id").Unique(),
		// The claim walks the pending rows in id order, skipping those
		// held or not yet due: without this index it would pass every
		// delivered row (or sort every pending one) at each claim.
		index.Fields("id").StorageKey("webhook_delivery_pending").
			Annotations(entsql.IndexWhere("status = 'PENDING'")),
		// When the next retry falls due (NextDue).
		index.Fields("status", "next_attempt_at"),
		index.Fields("event_id"),
	}
}

// Policy of the WebhookDelivery.
func (WebhookDelivery) Policy() ent.Policy { return systemOnly() }

// Annotations of the WebhookDelivery.
func (WebhookDelivery) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}
