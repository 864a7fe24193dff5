package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// EmailTemplate is an organisation's override of a default email, for a kind
// and optionally for one role within that kind.
type EmailTemplate struct{ ent.Schema }

// Fields of the EmailTemplate.
func (EmailTemplate) Fields() []ent.Field {
	return []ent.Field{
		field.Enum("kind").Values("INVITATION", "PASSWORD_RESET", "TEMPORARY_PASSWORD", "EMAIL_CHANGED").
			Annotations(entgql.Type("EmailKind")),
		field.Int("role_id").Optional().Nillable(),
		field.String("subject").MaxLen(500),
		field.Text("html"),
		field.Text("text"),
	}
}

// Edges of the EmailTemplate.
func (EmailTemplate) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("role", Role.Type).Field("role_id").Unique().Annotations(cascade()),
	}
}

// Indexes of the EmailTemplate.
func (EmailTemplate) Indexes() []ent.Index {
	return []ent.Index{index.Fields("organization_id", "kind", "role_id").Unique()}
}

// Mixin of the EmailTemplate.
func (EmailTemplate) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}, TenantMixin{}} }

// Policy of the EmailTemplate.
func (EmailTemplate) Policy() ent.Policy { return managedBy(permTemplatesManage) }

// Annotations of the EmailTemplate.
func (EmailTemplate) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)}
}
