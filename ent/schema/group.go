package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/rollcall/rollcall/ent/privacy"
)

// Group is a group of people an organisation's identity provider keeps over
// SCIM. A group whose display name equals a role's name gives its members
// that role; the others are kept as groups.
type Group struct{ ent.Schema }

// Fields of the Group.
func (Group) Fields() []ent.Field {
	return []ent.Field{
		field.String("display_name").NotEmpty().MaxLen(256),
		// display_name_normalized is the lower-cased name; it carries the
		// case-insensitive uniqueness and the role match.
		field.String("display_name_normalized").NotEmpty().MaxLen(256),
		field.String("external_id").Optional().Nillable().MaxLen(320),
	}
}

// Edges of the Group.
func (Group) Edges() []ent.Edge {
	return []ent.Edge{edge.To("members", User.Type)}
}

// Indexes of the Group.
func (Group) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("organization_id", "display_name_normalized").Unique(),
		index.Fields("organization_id", "created_at", "id"),
	}
}

// Mixin of the Group.
func (Group) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}, TenantMixin{}} }

// Policy of the Group: people.read reads, people.manage changes.
func (Group) Policy() ent.Policy {
	return groupPolicy()
}

// Annotations of the Group.
func (Group) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// groupPolicy lets holders of people.read read groups and holders of
// people.manage change them, within their organisation.
func groupPolicy() ent.Policy {
	return privacy.Policy{
		Query:    privacy.QueryPolicy{requireAny(permPeopleRead), privacy.AlwaysAllowRule()},
		Mutation: privacy.MutationPolicy{requireAny(permPeopleManage), privacy.AlwaysAllowRule()},
	}
}
