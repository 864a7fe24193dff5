package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/rollcall/rollcall/ent/schema/enum"
	"github.com/rollcall/rollcall/internal/personname"
)

// User is a person of an organisation, whether or not they have an account yet.
type User struct{ ent.Schema }

// Fields of the User.
func (User) Fields() []ent.Field {
	return []ent.Field{
		field.String("email").NotEmpty().MaxLen(320).
			Annotations(entgql.OrderField("EMAIL")),
		// email_normalized is the lower-cased address; it carries the
		// case-insensitive uniqueness and the EMAIL ordering.
		field.String("email_normalized").NotEmpty().MaxLen(320).
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.String("username").Optional().Nillable().MaxLen(100),
		field.String("username_normalized").Optional().Nillable().MaxLen(100).
			Annotations(entgql.Skip(entgql.SkipAll)),
		// Names are counted in characters, as the name rule counts them
		// (package personname, which the services apply first with a
		// clear message); neither database limits the column.
		field.String("first_name").Optional().Nillable().MaxRuneLen(personname.MaxLength),
		field.String("last_name").Optional().Nillable().MaxRuneLen(personname.MaxLength),
		field.String("locale").Optional().Nillable().MaxLen(64).
			Comment("The person's language, a BCP 47 tag in canonical form (de, fr-CA, pt-BR): their emails and the built-in pages speak it where a template or page exists in it or its language. Null: the organisation's defaultLocale."),
		field.Enum("status").
			NamedValues("NotInvited", "NOT_INVITED", "Invited", "INVITED", "Active", "ACTIVE", "Deactivated", "DEACTIVATED").
			Default("NOT_INVITED").
			Annotations(entgql.Type("UserStatus"), entgql.OrderField("STATUS")),
		field.Int("role_id"),
		field.Strings("products").Default([]string{}),
		field.String("password_hash").Optional().Nillable().Sensitive().
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.Bool("must_change_password").Default(false),
		field.Time("invited_at").Optional().Nillable().
			Annotations(entgql.OrderField("INVITED_AT")),
		field.Time("invite_expires_at").Optional().Nillable(),
		field.Int("invitation_count").Default(0).NonNegative(),
		field.Time("accepted_at").Optional().Nillable(),
		field.Time("last_login_at").Optional().Nillable().
			Annotations(entgql.OrderField("LAST_LOGIN_AT")),
		field.Enum("last_email_status").GoType(enum.DeliveryStatus("")).Optional().Nillable().
			Annotations(entgql.Type("DeliveryStatus")),
		// SCIM: the identity provider's name and id for the person. The
		// userName is kept as given (Entra's user principal name finds its
		// person again); its lower-cased copy carries the uniqueness.
		field.String("scim_user_name").Optional().Nillable().MaxLen(320).
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.String("scim_user_name_normalized").Optional().Nillable().MaxLen(320).
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.String("scim_external_id").Optional().Nillable().MaxLen(320).
			Annotations(entgql.Skip(entgql.SkipAll)),
		// scim_display_name is the displayName the provider gave, kept as
		// given (Entra reads it back); without one SCIM shows the names.
		field.String("scim_display_name").Optional().Nillable().MaxLen(320).
			Annotations(entgql.Skip(entgql.SkipAll)),
		// scim_linked: the person is a SCIM resource. A SCIM DELETE ends the
		// link (the resource answers 404) and keeps the person.
		field.Bool("scim_linked").Default(false).
			Annotations(entgql.Skip(entgql.SkipAll)),
		// scim_invite_pending: provisioned while the organisation invites
		// SCIM people, and not yet in a bulk send.
		field.Bool("scim_invite_pending").Default(false).
			Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

// Edges of the User.
func (User) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("role", Role.Type).Field("role_id").Unique().Required(),
		edge.To("import", UserImport.Type),
		edge.From("groups", Group.Type).Ref("members").
			Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

// Indexes of the User: one per filter and sort the users query offers, each
// led by the tenant and ended by the id so keyset pages are index range scans.
// Filters that only ever ask for set values get partial indexes, so people
// without them (everyone freshly imported) cost no index entry. PostgreSQL
// also gets a trigram index for search, created by internal/db.
func (User) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("organization_id", "email_normalized").Unique(),
		index.Fields("organization_id", "username_normalized").Unique().
			Annotations(entsql.IndexWhere("username_normalized IS NOT NULL")),
		index.Fields("organization_id", "status", "id"),
		index.Fields("organization_id", "role_id", "id"),
		// peopleStats by status and role reads this index alone.
		index.Fields("organization_id", "status", "role_id").StorageKey("user_stats_status_role"),
		index.Fields("organization_id", "created_at", "id"),
		index.Fields("organization_id", "invited_at", "id"),
		index.Fields("organization_id", "last_login_at", "id"),
		index.Fields("organization_id", "last_email_status", "id").
			Annotations(entsql.IndexWhere("last_email_status IS NOT NULL")),
		index.Fields("organization_id", "invite_expires_at").
			Annotations(entsql.IndexWhere("status = 'INVITED'")),
		index.Fields("organization_id", "scim_user_name_normalized").Unique().
			Annotations(entsql.IndexWhere("scim_user_name_normalized IS NOT NULL")),
		index.Fields("organization_id", "scim_external_id").
			Annotations(entsql.IndexWhere("scim_external_id IS NOT NULL")),
		index.Fields("organization_id", "scim_invite_pending").
			Annotations(entsql.IndexWhere("scim_invite_pending")),
	}
}

// Mixin of the User.
func (User) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}, TenantMixin{}} }

// Policy of the User.
func (User) Policy() ent.Policy { return userPolicy() }

// Annotations of the User.
func (User) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}
