package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// ReminderRound records that a person was given a reminder round: the
// unique key on (user, series, round) is what makes each round happen once
// per person, whatever the number of replicas and restarts. A series is
// the rounds that follow one invitation (series_at is the person's
// invited_at); round 0 is the expiry warning, one per series.
type ReminderRound struct{ ent.Schema }

// Fields of the ReminderRound.
func (ReminderRound) Fields() []ent.Field {
	return []ent.Field{
		// No foreign key to the person: the scheduler writes thousands at
		// once, and erasing a person leaves these rows harmless.
		field.Int("user_id").Immutable(),
		field.Time("series_at").Immutable(),
		field.Int("round").NonNegative().Immutable(),
		field.Int("bulk_send_id").Optional().Nillable(),
	}
}

// Indexes of the ReminderRound.
func (ReminderRound) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("user_id", "series_at", "round").Unique(),
	}
}

// Mixin of the ReminderRound.
func (ReminderRound) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}, TenantMixin{}} }

// Policy of the ReminderRound.
func (ReminderRound) Policy() ent.Policy { return systemOnly() }

// Annotations of the ReminderRound.
func (ReminderRound) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}
