package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// Throttle is a fixed-window counter of failed or rate-limited attempts for
// one key (an account, a client address). Kept in the database so every
// replica counts the same attempts.
type Throttle struct{ ent.Schema }

// Fields of the Throttle.
func (Throttle) Fields() []ent.Field {
	return []ent.Field{
		field.String("key").Unique().Immutable().MaxLen(200),
		field.Int("count").Default(0),
		field.Time("window_ends_at"),
	}
}

// Indexes of the Throttle.
func (Throttle) Indexes() []ent.Index {
	return []ent.Index{index.Fields("window_ends_at")}
}

// Policy of the Throttle.
func (Throttle) Policy() ent.Policy { return systemOnly() }

// Annotations of the Throttle.
func (Throttle) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}
