package schema

import (
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// PersistedQuery is a document of the automatic persisted queries cache
// (Apollo's APQ): registered by a client under its SHA-256 hash once it has
// passed validation, then run by hash alone on any replica. The cache is
// bounded in count and bytes; the oldest entries go first.
type PersistedQuery struct{ ent.Schema }

// Fields of the PersistedQuery.
func (PersistedQuery) Fields() []ent.Field {
	return []ent.Field{
		field.String("hash").Unique().Immutable().MaxLen(64).Comment("SHA-256 of the document, lowercase hex"),
		field.Text("document").Immutable().SchemaType(map[string]string{dialect.Postgres: "text"}),
		field.Int("size").Immutable().Comment("bytes of the document"),
		field.Time("created_at").Immutable().Default(time.Now),
	}
}

// Indexes of the PersistedQuery.
func (PersistedQuery) Indexes() []ent.Index {
	return []ent.Index{index.Fields("created_at")}
}

// Policy of the PersistedQuery.
func (PersistedQuery) Policy() ent.Policy { return systemOnly() }

// Annotations of the PersistedQuery.
func (PersistedQuery) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}
