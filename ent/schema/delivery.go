package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/rollcall/rollcall/ent/schema/enum"
)

// Delivery is one email: to one recipient of a BulkSend, or one person's
// email on its own (a resent invitation, reset instructions, a notice), with
// no BulkSend. It is the durable unit of sending work: workers claim queued
// rows under a lease, so a crashed worker's rows are taken over once the
// lease lapses.
type Delivery struct{ ent.Schema }

// Fields of the Delivery.
func (Delivery) Fields() []ent.Field {
	// Only what an admin may read is in the GraphQL schema: leases, retry
	// bookkeeping, token hashes and provider message ids are never readable
	// nor filterable. kind, reason, user and bulkSend are resolved from
	// action, error, user_id and bulk_send_id (graph/history.graphqls).
	internal := entgql.Skip(entgql.SkipAll)
	return []ent.Field{
		// bulk_send_id (the BulkSend) is null for one person's email.
		field.Int("bulk_send_id").Optional().Nillable().Immutable().Annotations(internal),

		// user_id (the User) is cleared when the person is erased; the row
		// stays, so the send's counts still add up.
		field.Int("user_id").Optional().Nillable().Annotations(internal),
		field.String("email").MaxLen(320).
			Comment("The address the email went (or was to go) to."),
		field.Enum("action").Values("INVITATION", "PASSWORD_RESET", "TEMPORARY_PASSWORD", "EMAIL_CHANGED", "REMINDER", "SKIP").
			Annotations(internal),
		// requested_by_id is who asked for one person's email (the inviter
		// the email names); null for a bulk send's (its creator) and for
		// the system's.
		field.Int("requested_by_id").Optional().Nillable().Immutable().Annotations(internal),
		// requested_by_key_id is the API key that asked for one person's
		// email (requested_by_id is then null): the email names the
		// organisation as the inviter.
		field.Int("requested_by_key_id").Optional().Nillable().Immutable().Annotations(internal),
		// new_email is, for EMAIL_CHANGED, the address the account moved
		// to (the email goes to the old one).
		field.String("new_email").Optional().Nillable().Immutable().MaxLen(320).Annotations(internal),
		// force sends to a suppressed address (resendInvitation's force).
		field.Bool("force").Default(false).Immutable().Annotations(internal),
		field.Enum("status").GoType(enum.DeliveryStatus("")).Default(string(enum.DeliveryQueued)).
			Comment("QUEUED until it leaves (or is retried); SENT once the provider took it; DELIVERED, BOUNCED or COMPLAINED as the provider reports later; FAILED when it could not be sent; SKIPPED when the person got nothing (see reason).").
			Annotations(entgql.Type("DeliveryStatus")),
		field.Int("attempts").Default(0).NonNegative().Annotations(internal),
		field.Time("next_attempt_at").Optional().Nillable().Annotations(internal),
		field.Time("lease_expires_at").Optional().Nillable().Annotations(internal),
		field.String("leased_by").Optional().Nillable().Annotations(internal),
		field.Bytes("token_hash").Optional().Sensitive().Annotations(internal),
		field.String("provider_message_id").Optional().Nillable().Annotations(internal),
		field.String("error").Optional().Nillable().MaxLen(2000).Annotations(internal),
		field.Time("sent_at").Optional().Nillable().
			Comment("When the provider took the email; null until then."),
		// reported_at is when the provider's first delivered, bounced or
		// complained report on it arrived (or the send itself bounced):
		// the invitation funnel counts reports when they happened.
		field.Time("reported_at").Optional().Nillable().Annotations(internal),
	}
}

// Edges of the Delivery: none besides the tenant's. A send writes 100,000
// deliveries in one statement, and a foreign-key check per row on the send
// and the person would be most of its cost; the bulk-send service keeps
// bulk_send_id and user_id right instead (erasing a person clears user_id).

// Indexes of the Delivery.
func (Delivery) Indexes() []ent.Index {
	return []ent.Index{
		// A send's deliveries by status, newest first (BulkSend.deliveries).
		index.Fields("bulk_send_id", "status", "id"),
		// Workers claim from this: only queued rows, in id order.
		index.Fields("id").StorageKey("delivery_queued").
			Annotations(entsql.IndexWhere("status = 'QUEUED'")),
		// The express worker claims one person's emails from this.
		index.Fields("id").StorageKey("delivery_single_queued").
			Annotations(entsql.IndexWhere("status = 'QUEUED' AND bulk_send_id IS NULL")),
		index.Fields("provider_message_id"),
		index.Fields("user_id"),
		// The invitation funnel: links sent, and reports, by time.
		index.Fields("organization_id", "sent_at").StorageKey("delivery_link_sent").
			Annotations(entsql.IndexWhere("sent_at IS NOT NULL AND action IN ('INVITATION', 'REMINDER')")),
		index.Fields("organization_id", "reported_at", "status").StorageKey("delivery_link_reported").
			Annotations(entsql.IndexWhere("reported_at IS NOT NULL AND action IN ('INVITATION', 'REMINDER')")),
	}
}

// Mixin of the Delivery.
func (Delivery) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}, TenantMixin{}} }

// Policy of the Delivery: people.read reads the organisation's email
// history; only the system writes it.
func (Delivery) Policy() ent.Policy { return readableWith(permPeopleRead) }

// Annotations of the Delivery: a GraphQL type (a Node) without generated
// inputs; its lists are served by internal/history.
func (Delivery) Annotations() []schema.Annotation {
	return []schema.Annotation{
		schema.Comment("One email to one person (or the decision to send them nothing: SKIPPED), of a bulk send or on its own, and what became of it. Read with people.read."),
		entgql.Skip(entgql.SkipWhereInput, entgql.SkipOrderField, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}
