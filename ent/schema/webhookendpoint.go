package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// WebhookEndpoint is a URL of the organisation's platform that receives its
// events as signed HTTP calls (Standard Webhooks). Each event it subscribes
// to becomes a WebhookDelivery, worked by any replica.
//
// The signing secret is stored as it was issued, not hashed: signing needs
// it. It is never readable through the API (shown once, by create and
// rotate), never logged, and never in an audit event.
type WebhookEndpoint struct{ ent.Schema }

// Fields of the WebhookEndpoint.
func (WebhookEndpoint) Fields() []ent.Field {
	internal := entgql.Skip(entgql.SkipAll)
	return []ent.Field{
		field.String("url").MaxLen(2000).
			Comment("Where the events are POSTed: https, resolving to public addresses."),
		field.String("description").Optional().Nillable().MaxLen(500).
			Comment("The administrators' note on the endpoint."),
		field.Strings("event_types").Default([]string{}).
			Comment("The event types sent to the endpoint; empty: every type."),
		field.Bool("enabled").Default(true).
			Comment("Whether events are sent; a disabled endpoint gets no new events, and those waiting are dropped."),
		field.String("disabled_reason").Optional().Nillable().MaxLen(500).
			Comment("Why Rollcall disabled the endpoint (it answered 410 Gone); null when enabled or disabled by an administrator."),
		// The signing secret (whsec_ and base64 of 32 random bytes), and
		// the one it replaced, which also signs until
		// previous_secret_expires_at (the rotation overlap).
		field.String("secret").Sensitive().Annotations(internal),
		field.String("previous_secret").Optional().Nillable().Sensitive().Annotations(internal),
		field.Time("previous_secret_expires_at").Optional().Nillable().Annotations(internal),
		field.Time("created_at").Immutable().Default(now),
		field.Time("updated_at").Default(now).UpdateDefault(now).Annotations(internal),
	}
}

// Indexes of the WebhookEndpoint.
func (WebhookEndpoint) Indexes() []ent.Index {
	return []ent.Index{index.Fields("organization_id", "enabled")}
}

// Mixin of the WebhookEndpoint.
func (WebhookEndpoint) Mixin() []ent.Mixin { return []ent.Mixin{TenantMixin{}} }

// Policy of the WebhookEndpoint.
func (WebhookEndpoint) Policy() ent.Policy { return webhookPolicy() }

// Annotations of the WebhookEndpoint.
func (WebhookEndpoint) Annotations() []schema.Annotation {
	return []schema.Annotation{
		schema.Comment("A URL of the organisation's platform that receives its events as signed POSTs (Standard Webhooks v1). Needs organization.manage."),
		entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}
