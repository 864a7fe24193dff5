package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// PasswordResetRequest is one requestPasswordReset call waiting for a worker.
// The request writes it whether or not the address is known, so the answer
// costs the same either way; a worker on any replica claims it (a lease),
// looks the address up, sends what is due and deletes it. It holds what was
// typed, never a secret.
type PasswordResetRequest struct{ ent.Schema }

// Fields of the PasswordResetRequest.
func (PasswordResetRequest) Fields() []ent.Field {
	return []ent.Field{
		// The organisation's slug as given (lower-cased); empty: every
		// organisation where the address is known.
		field.String("organization_slug").Default("").Immutable().MaxLen(100),
		// The address as given, trimmed and lower-cased.
		field.String("email").Immutable().MaxLen(254),
		field.String("client_ip").Default("").Immutable().MaxLen(100),
		field.Time("created_at").Immutable(),
		// The claim of the worker working the row, and when it lapses; both
		// nil while it waits.
		field.String("leased_by").Optional().Nillable(),
		field.Time("lease_expires_at").Optional().Nillable(),
		// Claims so far, so a row that always fails is dropped in the end.
		field.Int("attempts").Default(0),
		// When a request whose work failed is tried again; null: now.
		field.Time("next_attempt_at").Optional().Nillable(),
	}
}

// Indexes of the PasswordResetRequest.
func (PasswordResetRequest) Indexes() []ent.Index {
	return []ent.Index{index.Fields("lease_expires_at")}
}

// Policy of the PasswordResetRequest.
func (PasswordResetRequest) Policy() ent.Policy { return systemOnly() }

// Annotations of the PasswordResetRequest.
func (PasswordResetRequest) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}
