package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// ReminderSchedule is where a person's reminder rounds stand: the rounds
// sent since their last invitation, and when the previous email of the
// rounds left (the invitation for round 1, round i's reminder for round
// i+1). Its id is the person's. An invitation writes it afresh; the
// reminder scheduler (internal/reminder) moves it on and removes it once the
// person is no longer waiting. It is a table of its own, not columns of
// users, so that moving ten thousand people on rewrites narrow rows under
// two indexes rather than the people's rows under all of theirs.
type ReminderSchedule struct{ ent.Schema }

// Fields of the ReminderSchedule.
func (ReminderSchedule) Fields() []ent.Field {
	return []ent.Field{
		field.Int("id").Immutable(), // the person's id
		field.Int("round").NonNegative(),
		field.Time("anchor_at"),
	}
}

// Indexes of the ReminderSchedule.
func (ReminderSchedule) Indexes() []ent.Index {
	return []ent.Index{
		// Who is due for round i+1 in an organisation is one range.
		index.Fields("organization_id", "round", "anchor_at"),
	}
}

// Mixin of the ReminderSchedule.
func (ReminderSchedule) Mixin() []ent.Mixin { return []ent.Mixin{TenantMixin{}} }

// Policy of the ReminderSchedule.
func (ReminderSchedule) Policy() ent.Policy { return systemOnly() }

// Annotations of the ReminderSchedule.
func (ReminderSchedule) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}
