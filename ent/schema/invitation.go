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

// Invitation is a single-use link token (an invitation or a password reset),
// stored as a hash. Issuing a new one of a kind revokes the older ones.
type Invitation struct{ ent.Schema }

// Fields of the Invitation.
func (Invitation) Fields() []ent.Field {
	return []ent.Field{
		field.Bytes("token_hash").Unique().Immutable().Sensitive(),
		field.Enum("kind").Values("INVITATION", "PASSWORD_RESET").Immutable(),
		field.Int("user_id").Immutable(),
		field.Int("created_by_id").Optional().Nillable().Immutable(),
		field.Time("expires_at").Immutable(),
		field.Time("used_at").Optional().Nillable(),
		field.Time("revoked_at").Optional().Nillable(),
		// bulk_send_id and delivery_id are the send and the email that
		// carried the link (null for links issued otherwise): an
		// acceptance (used_at) counts for that send.
		field.Int("bulk_send_id").Optional().Nillable().Immutable(),
		field.Int("delivery_id").Optional().Nillable().Immutable(),
	}
}

// Edges of the Invitation.
func (Invitation) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("user", User.Type).Field("user_id").Unique().Required().Immutable().
			Annotations(cascade()),
		edge.To("created_by", User.Type).Field("created_by_id").Unique().Immutable().
			Annotations(setNull()),
	}
}

// Indexes of the Invitation.
func (Invitation) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("user_id", "kind"),
		// BulkSend.accepted and medianSecondsToAccept.
		index.Fields("bulk_send_id", "used_at").Annotations(entsql.IndexWhere("bulk_send_id IS NOT NULL AND used_at IS NOT NULL")),
		// The funnel's accepted and expired.
		// (kind is in them so the funnel reads the index alone.)
		index.Fields("organization_id", "used_at", "kind").Annotations(entsql.IndexWhere("used_at IS NOT NULL")),
		// (An expiry is a link's end unused and not revoked before it.)
		index.Fields("organization_id", "expires_at", "revoked_at").Annotations(entsql.IndexWhere("used_at IS NULL AND kind = 'INVITATION'")),
	}
}

// Mixin of the Invitation.
func (Invitation) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}, TenantMixin{}} }

// Policy of the Invitation.
func (Invitation) Policy() ent.Policy { return systemOnly() }

// Annotations of the Invitation.
func (Invitation) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}
