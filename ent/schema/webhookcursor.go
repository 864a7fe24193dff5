package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
)

// WebhookCursor is where webhook fan-out has read the events log to: the
// position (in commit order) of the last event turned into deliveries. One
// row, leased like a work row (internal/queue), so one replica at a time
// advances it, in the same transaction as the deliveries it writes.
type WebhookCursor struct{ ent.Schema }

// Fields of the WebhookCursor.
func (WebhookCursor) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").Unique().Immutable().MaxLen(100),
		// The last event fanned out: its transaction id (0 on SQLite) and id.
		field.Int64("txid").Default(0),
		field.Int("event_id").Default(0),
		field.Int("attempts").Default(0).NonNegative(),
		field.String("leased_by").Optional().Nillable(),
		field.Time("lease_expires_at").Optional().Nillable(),
	}
}

// Policy of the WebhookCursor.
func (WebhookCursor) Policy() ent.Policy { return systemOnly() }

// Annotations of the WebhookCursor.
func (WebhookCursor) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}
