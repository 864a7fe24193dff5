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
	counter := entgql.Skip(entgql.SkipWhereInput) // filtering by a count scans every send
	return []ent.Field{
		field.Enum("status").Values("QUEUED", "RUNNING", "COMPLETED", "CANCELLED", "FAILED").
			Default("QUEUED").Annotations(entgql.Type("BulkSendStatus")),
		field.Enum("kind").Values("AUTO", "INVITATION", "PASSWORD_RESET", "TEMPORARY_PASSWORD", "REMINDER").
			Immutable().Annotations(entgql.Type("SendKind")),
		field.Enum("trigger").Values("MANUAL", "IMPORT", "REMINDER", "SCIM").Default("MANUAL").Immutable().
			Comment("What started the send: MANUAL (sendInvitations, inviteUsers), IMPORT (importUsers with sendInvitations, the CLI import), REMINDER or SCIM.").
			Annotations(entgql.Type("BulkSendTrigger")),
		field.Int("total").Default(0).NonNegative().
			Comment("People selected.").Annotations(counter),
		field.Int("sent").Default(0).NonNegative().
			Comment("Emails that left (the provider took them), whatever it reported later.").Annotations(counter),
		field.Int("failed").Default(0).NonNegative().
			Comment("Emails that could not be sent.").Annotations(counter),
		field.Int("skipped").Default(0).NonNegative().
			Comment("People who got nothing (see their deliveries' reason).").Annotations(counter),
		// delivered, bounced and complained follow the provider's later
		// reports: each counts the deliveries now in that status.
		field.Int("delivered").Default(0).NonNegative().
			Comment("Emails the provider reports delivered (and nothing worse since).").Annotations(counter),
		field.Int("bounced").Default(0).NonNegative().
			Comment("Emails the provider reports bounced.").Annotations(counter),
		field.Int("complained").Default(0).NonNegative().
			Comment("Emails whose recipient complained (marked them as spam).").Annotations(counter),
		// created_by_id passes to whoever erases the creator; null for
		// sends the system (reminders, SCIM) or an API key starts.
		field.Int("created_by_id").Optional().Nillable().
			Comment("The person who started the send; null for sends the system or an API key starts."),
		// api_key_id is the API key that started the send (created_by_id
		// is then null): the key may cancel it, and its idempotency keys
		// are its own.
		field.Int("api_key_id").Optional().Nillable().
			Annotations(entgql.Skip(entgql.SkipAll)),
		// idempotency_key and input_hash let a repeated request return the
		// same send, and a reused key with another input be refused.
		field.String("idempotency_key").Optional().Nillable().MaxLen(200).
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.Bytes("input_hash").Optional().Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.Time("finished_at").Optional().Nillable().
			Comment("When the last email was settled (or the send cancelled).").
			Annotations(entgql.Skip(entgql.SkipWhereInput)),
	}
}

// Edges of the BulkSend.
func (BulkSend) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("created_by", User.Type).Field("created_by_id").Unique().
			Comment("The person who started the send; null for sends the system or an API key starts."),
		edge.To("api_key", ApiKey.Type).Field("api_key_id").Unique().
			Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

// Indexes of the BulkSend.
func (BulkSend) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("organization_id", "created_by_id", "idempotency_key").Unique(),
		index.Fields("organization_id", "api_key_id", "idempotency_key").Unique(),
		index.Fields("status"),
		// The bulkSends list: newest first within the organisation.
		index.Fields("organization_id", "created_at", "id"),
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
	return []schema.Annotation{
		schema.Comment("One request to email many people (sendInvitations, inviteUsers, an import's invitations); each recipient is a Delivery. sent, failed and skipped count the emails as they are worked; delivered, bounced and complained follow the provider's later reports."),
		entgql.RelayConnection(),
		entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)}
}
