package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// BulkSend is one request to email many people; each recipient is a Delivery.
type BulkSend struct{ ent.Schema }

// Fields of the BulkSend.
func (BulkSend) Fields() []ent.Field {
	return []ent.Field{
		field.Enum("status").Values("QUEUED", "RUNNING", "COMPLETED", "CANCELLED", "FAILED").
			Default("QUEUED").Annotations(entgql.Type("BulkSendStatus")),
		field.Enum("kind").Values("AUTO", "INVITATION", "PASSWORD_RESET", "TEMPORARY_PASSWORD").
			Immutable().Annotations(entgql.Type("SendKind")),
		field.Int("total").Default(0).NonNegative(),
		field.Int("sent").Default(0).NonNegative(),
		field.Int("failed").Default(0).NonNegative(),
		field.Int("skipped").Default(0).NonNegative(),
		// created_by_id passes to whoever erases the creator.
		field.Int("created_by_id"),
		// idempotency_key and input_hash let a repeated request return the
		// same send, and a reused key with another input be refused.
		field.String("idempotency_key").Optional().Nillable().MaxLen(200).
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.Bytes("input_hash").Optional().Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.Time("finished_at").Optional().Nillable(),
	}
}

// Edges of the BulkSend.
func (BulkSend) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("created_by", User.Type).Field("created_by_id").Unique().Required(),
	}
}

// Indexes of the BulkSend.
func (BulkSend) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("organization_id", "created_by_id", "idempotency_key").Unique(),
		index.Fields("status"),
	}
}

// Mixin of the BulkSend.
func (BulkSend) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}, TenantMixin{}} }

// Policy of the BulkSend.
func (BulkSend) Policy() ent.Policy {
	return managedBy(permPeopleInvite, permPeopleManage, permCredentialsManage)
}

// Annotations of the BulkSend.
func (BulkSend) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)}
}
