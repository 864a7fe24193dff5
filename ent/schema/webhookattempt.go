package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// WebhookAttempt is one call to a webhook endpoint and how it ended. It
// outlives its event (which is pruned after the events' retention), not its
// endpoint.
type WebhookAttempt struct{ ent.Schema }

// Fields of the WebhookAttempt.
func (WebhookAttempt) Fields() []ent.Field {
	internal := entgql.Skip(entgql.SkipAll)
	return []ent.Field{
		field.Int("endpoint_id").Immutable().Annotations(internal),
		field.Int("event_id").Optional().Nillable().Annotations(internal),
		field.Int("attempt").Positive().Immutable().
			Comment("1 for the first call of the event to the endpoint, 2 for the first retry, and so on; a redelivery starts again at 1."),
		field.Int("status_code").Optional().Nillable().Immutable().
			Comment("The endpoint's HTTP status; null when it did not answer."),
		field.String("error").Optional().Nillable().Immutable().MaxLen(2000).
			Comment("What went wrong (no answer, a refused address, a status other than 2xx with the start of the body); null when delivered."),
		field.Int("duration_ms").Optional().Nillable().Immutable().
			Comment("How long the call took, in milliseconds."),
		field.Time("created_at").Immutable().Default(now).
			Annotations(entgql.OrderField("CREATED_AT")).
			Comment("When the call was made."),
		field.Time("next_attempt_at").Optional().Nillable().Immutable().
			Comment("When the event is tried again; null when delivered, given up or the endpoint was disabled."),
	}
}

// Edges of the WebhookAttempt.
func (WebhookAttempt) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("endpoint", WebhookEndpoint.Type).Field("endpoint_id").Unique().Required().Immutable().
			Annotations(cascade(), entgql.Skip(entgql.SkipAll)),
		edge.To("event", Event.Type).Field("event_id").Unique().
			Annotations(setNull()).
			Comment("The event sent; null once it is past the events' retention."),
	}
}

// Indexes of the WebhookAttempt.
func (WebhookAttempt) Indexes() []ent.Index {
	return []ent.Index{
		// An endpoint's attempts, newest first.
		index.Fields("endpoint_id", "created_at", "id"),
		index.Fields("event_id"),
	}
}

// Mixin of the WebhookAttempt.
func (WebhookAttempt) Mixin() []ent.Mixin { return []ent.Mixin{TenantMixin{}} }

// Policy of the WebhookAttempt.
func (WebhookAttempt) Policy() ent.Policy { return readableWith(permOrganizationManage) }

// Annotations of the WebhookAttempt.
func (WebhookAttempt) Annotations() []schema.Annotation {
	return []schema.Annotation{
		schema.Comment("One call to a webhook endpoint and how it ended."),
		entgql.RelayConnection(),
		entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}
