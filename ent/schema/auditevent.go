package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// AuditEvent records one admin action or token use. Actor and target are kept
// as ids and labels, not foreign keys, so the log outlives erased people (their
// labels are then replaced by a pseudonym).
type AuditEvent struct{ ent.Schema }

// Fields of the AuditEvent.
func (AuditEvent) Fields() []ent.Field {
	return []ent.Field{
		// Global ids (a User, later an API key), so GraphQL clients can
		// use them in node(id:) and filters.
		field.Int("actor_id").Optional().Nillable().Immutable().
			Annotations(entgql.Type("ID")),
		field.String("actor_label").Default(""),
		field.String("action").NotEmpty().Immutable().MaxLen(100),
		field.String("target_type").Default("").Immutable(),
		field.Int("target_id").Optional().Nillable().Immutable().
			Annotations(entgql.Type("ID")),
		field.String("target_label").Default(""),
		field.JSON("details", map[string]any{}).Optional().
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.String("client_ip").Optional().Nillable().Immutable(),
	}
}

// Indexes of the AuditEvent.
func (AuditEvent) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("organization_id", "created_at"),
		index.Fields("organization_id", "action"),
		index.Fields("organization_id", "target_id"),
		index.Fields("organization_id", "actor_id"),
	}
}

// Mixin of the AuditEvent.
func (AuditEvent) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}, TenantMixin{}} }

// Policy of the AuditEvent.
func (AuditEvent) Policy() ent.Policy { return auditPolicy() }

// Annotations of the AuditEvent.
func (AuditEvent) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}
