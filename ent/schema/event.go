package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// Event is one change a platform cares about (a person invited, an
// invitation accepted, an email bounced...). It is written in the change's
// own transaction, an outbox: no event without its change and no change
// without its event. The events log, the live subscription and outbound
// webhooks all read these rows and nothing else.
type Event struct{ ent.Schema }

// Fields of the Event.
func (Event) Fields() []ent.Field {
	return []ent.Field{
		field.String("type").NotEmpty().Immutable().MaxLen(100).
			Comment("What happened, e.g. user.created or invitation.accepted."),
		field.Time("occurred_at").Immutable().
			Annotations(entgql.OrderField("OCCURRED_AT")).
			Comment("When the change was made."),
		field.JSON("data", map[string]any{}).Immutable().
			Annotations(entgql.Type("Map")).
			Comment("The global ids of what changed and the fields a consumer needs without calling back."),
		// The writing transaction's id on PostgreSQL (0 on SQLite, whose
		// single writer makes ids commit-ordered). Readers page by
		// (txid, id) and only read transactions older than every running
		// one, so an event that commits late is never skipped.
		field.Int64("txid").Optional().Immutable().
			Annotations(
				entsql.DefaultExprs(map[string]string{
					dialect.Postgres: "txid_current()",
					dialect.SQLite:   "0",
				}),
				entgql.Skip(entgql.SkipAll),
			),
	}
}

// Indexes of the Event.
func (Event) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("txid", "id"),
		index.Fields("organization_id", "txid", "id"),
		index.Fields("occurred_at"),
	}
}

// Mixin of the Event.
func (Event) Mixin() []ent.Mixin { return []ent.Mixin{TenantMixin{}} }

// Policy of the Event.
func (Event) Policy() ent.Policy { return eventPolicy() }

// Annotations of the Event.
func (Event) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
		schema.Comment("One change a platform cares about, from the events log (oldest first) or the live organizationEvents subscription."),
	}
}
