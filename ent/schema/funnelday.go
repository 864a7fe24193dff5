package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// FunnelDay is one closed UTC day of an organisation's invitation funnel,
// counted once (internal/stats): what happened on a day that ended is
// settled, so later funnels read these rows instead of every email and
// link of the day again.
type FunnelDay struct{ ent.Schema }

// Fields of the FunnelDay.
func (FunnelDay) Fields() []ent.Field {
	return []ent.Field{
		field.Time("day").Immutable(), // midnight UTC
		field.Int("invited").NonNegative().Immutable(),
		field.Int("delivered").NonNegative().Immutable(),
		field.Int("bounced").NonNegative().Immutable(),
		field.Int("accepted").NonNegative().Immutable(),
		field.Int("expired").NonNegative().Immutable(),
	}
}

// Indexes of the FunnelDay.
func (FunnelDay) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("organization_id", "day").Unique(),
	}
}

// Mixin of the FunnelDay.
func (FunnelDay) Mixin() []ent.Mixin { return []ent.Mixin{TenantMixin{}} }

// Policy of the FunnelDay.
func (FunnelDay) Policy() ent.Policy { return systemOnly() }

// Annotations of the FunnelDay.
func (FunnelDay) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}
