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

// EmailTemplate is an organisation's override of a default email, for a kind
// and optionally for one role and one locale within that kind.
type EmailTemplate struct{ ent.Schema }

// Fields of the EmailTemplate.
func (EmailTemplate) Fields() []ent.Field {
	return []ent.Field{
		field.Enum("kind").Values("INVITATION", "PASSWORD_RESET", "TEMPORARY_PASSWORD", "EMAIL_CHANGED", "REMINDER").
			Annotations(entgql.Type("EmailKind")),
		field.Int("role_id").Optional().Nillable(),
		field.String("locale").Optional().Nillable().MaxLen(64).
			Comment("The language the override is for, a BCP 47 tag in canonical form (de, fr-CA); null: every language that has no override of its own."),
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

// Indexes of the EmailTemplate: one override per kind, role and locale, the
// organisation-wide role and the every-language locale included. NULLs are
// distinct in unique indexes (on SQLite and PostgreSQL alike), so each
// combination of set and unset role and locale has its own partial index.
func (EmailTemplate) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("organization_id", "kind", "role_id", "locale").Unique().StorageKey("email_templates_role_locale").
			Annotations(entsql.IndexWhere("role_id IS NOT NULL AND locale IS NOT NULL")),
		index.Fields("organization_id", "kind", "role_id").Unique().StorageKey("email_templates_role_any_locale").
			Annotations(entsql.IndexWhere("role_id IS NOT NULL AND locale IS NULL")),
		index.Fields("organization_id", "kind", "locale").Unique().StorageKey("email_templates_any_role_locale").
			Annotations(entsql.IndexWhere("role_id IS NULL AND locale IS NOT NULL")),
		index.Fields("organization_id", "kind").Unique().StorageKey("email_templates_any_role_any_locale").
			Annotations(entsql.IndexWhere("role_id IS NULL AND locale IS NULL")),
	}
}

// Mixin of the EmailTemplate.
func (EmailTemplate) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}, TenantMixin{}} }

// Policy of the EmailTemplate.
func (EmailTemplate) Policy() ent.Policy { return managedBy(permTemplatesManage) }

// Annotations of the EmailTemplate.
func (EmailTemplate) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)}
}
