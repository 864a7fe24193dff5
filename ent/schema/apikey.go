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

// ApiKey is a secret a script or another backend sends as a bearer token to
// act in one organisation as a machine: with its own permissions, cut down
// to what its creator's role holds at each request. Only the SHA-256 of the
// secret is stored (the secret is 32 random bytes, so a fast hash is enough).
// The row outlives its creator (created_by_id becomes null, and the key stops
// working), so the audit log can still name it.
type ApiKey struct{ ent.Schema }

// Fields of the ApiKey.
func (ApiKey) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().MaxLen(100).
			Comment("What the key is for, as its creator named it (1 to 100 characters)."),
		field.String("prefix").NotEmpty().Immutable().MaxLen(20).
			Comment("The first characters of the secret (rk_ and eight more), to recognise the key in lists and logs; not enough to use it."),
		field.Bytes("secret_hash").Unique().Immutable().Sensitive().
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.Strings("permissions").Immutable().
			Comment("The permissions given to the key when it was created. What it may do at each request is these intersected with its creator's current role."),
		field.Int("created_by_id").Optional().Nillable().Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.Time("created_at").Immutable().Default(now).
			Comment("When the key was created."),
		field.Time("expires_at").Optional().Nillable().Immutable().
			Comment("When the key stops working; null: it does not expire."),
		field.Time("last_used_at").Optional().Nillable().
			Comment("When the key last authenticated a request, to the minute: it is written at most once a minute."),
		field.Time("revoked_at").Optional().Nillable().
			Comment("When the key was revoked (it no longer works); null while it is not."),
	}
}

// Edges of the ApiKey.
func (ApiKey) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("created_by", User.Type).Field("created_by_id").Unique().Immutable().
			Comment("The person who created the key; null once erased (the key then no longer works).").
			Annotations(setNull()),
	}
}

// Indexes of the ApiKey.
func (ApiKey) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("organization_id", "created_at"),
		index.Fields("created_by_id"),
	}
}

// Mixin of the ApiKey.
func (ApiKey) Mixin() []ent.Mixin { return []ent.Mixin{TenantMixin{}} }

// Policy of the ApiKey: listed, created and revoked with organization.manage;
// authentication reads keys as the system.
func (ApiKey) Policy() ent.Policy {
	return privacy.Policy{
		Query:    privacy.QueryPolicy{requireAny(permOrganizationManage), privacy.AlwaysAllowRule()},
		Mutation: privacy.MutationPolicy{requireAny(permOrganizationManage), privacy.AlwaysAllowRule()},
	}
}

// Annotations of the ApiKey.
func (ApiKey) Annotations() []schema.Annotation {
	return []schema.Annotation{
		schema.Comment("A secret for scripts and other backends: sent as Authorization: Bearer rk_…, it acts in the organisation as a machine, with its permissions intersected with its creator's current role. The secret itself is shown once, by createApiKey; it is stored hashed."),
		entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}
