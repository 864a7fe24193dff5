package schema

import (
	"regexp"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
)

// Organization is a tenant: a company whose people Rollcall brings in.
type Organization struct{ ent.Schema }

// SlugPattern is the shape of an organisation's slug.
var SlugPattern = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$`)

// Fields of the Organization.
func (Organization) Fields() []ent.Field {
	return []ent.Field{
		field.String("slug").Unique().Immutable().Match(SlugPattern),
		field.String("name").NotEmpty().MaxLen(200),
		field.Strings("products").Default([]string{}),
		field.Int("invitation_ttl_seconds").Default(7 * 24 * 3600).Positive().
			Annotations(entgql.Skip(entgql.SkipWhereInput)),
		field.Int("reset_ttl_seconds").Default(3600).Positive().
			Annotations(entgql.Skip(entgql.SkipWhereInput)),
		field.String("email_from_name").Default("").MaxLen(200).
			Annotations(entgql.Skip(entgql.SkipWhereInput)),
		field.String("reply_to").Optional().Nillable().MaxLen(320).
			Annotations(entgql.Skip(entgql.SkipWhereInput)),
		field.String("default_locale").Default("en").NotEmpty().MaxLen(64).
			Comment("The language of people who have none (a BCP 47 tag, canonical), and of those whose language has no template or page: emails, built-in pages, dates. Default en.").
			Annotations(entgql.Skip(entgql.SkipWhereInput)),
		field.String("sign_in_url").Optional().Nillable().MaxLen(2000).
			Comment("Where people sign in (an http or https URL): the built-in pages link to it once an invitation is accepted or a password reset, and templates may print it as {{.SignInURL}}. Null: no link.").
			Annotations(entgql.Skip(entgql.SkipWhereInput)),
		field.Bool("scim_invite_on_provision").Default(false).
			Comment("People the identity provider creates over SCIM get an invitation (one bulk send with trigger SCIM per burst of provisioning); otherwise they stay NOT_INVITED.").
			Annotations(entgql.Skip(entgql.SkipWhereInput)),
		// The reminder policy (Organization.reminders, internal/reminder).
		field.Bool("reminders_enabled").Default(false).
			Annotations(entgql.Skip(entgql.SkipAll)),
		// The column's own default lets the migration add it to a table
		// that has rows (ent writes no DDL default for JSON fields).
		field.Ints("reminder_after_hours").Default([]int{}).
			Annotations(entgql.Skip(entgql.SkipAll), entsql.Default("[]")),
		field.Int("reminder_expiry_warning_hours").Optional().Nillable().
			Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

// Mixin of the Organization.
func (Organization) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}} }

// Policy of the Organization.
func (Organization) Policy() ent.Policy { return organizationPolicy() }

// Annotations of the Organization.
func (Organization) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)}
}
