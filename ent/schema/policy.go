package schema

import (
	"context"
	"slices"

	"entgo.io/ent"
	"entgo.io/ent/entql"

	"github.com/rollcall/rollcall/ent/privacy"
	"github.com/rollcall/rollcall/internal/perm"
	"github.com/rollcall/rollcall/internal/viewer"
)

// The privacy rules below are the data layer's guard: every query and
// mutation passes through them, whichever service or resolver issued it.
// A viewer only ever sees its own organisation (rows of other tenants are
// filtered out, so a foreign id reads as not found), and what it may read or
// change within it depends on its role's permissions. Work that no person
// performs (login, bootstrap, workers) runs under privacy.DecisionContext
// with Allow, which the auth package grants explicitly.

const (
	permPeopleRead         = perm.PeopleRead
	permPeopleInvite       = perm.PeopleInvite
	permPeopleManage       = perm.PeopleManage
	permCredentialsManage  = perm.CredentialsManage
	permTemplatesManage    = perm.TemplatesManage
	permOrganizationManage = perm.OrganizationManage
)

// tenantPolicy scopes reads, updates and deletes to the viewer's organisation
// and refuses creating rows in another one. It never allows on its own: the
// entity's policy decides next.
func tenantPolicy() ent.Policy {
	return privacy.Policy{
		Query: privacy.QueryPolicy{filterBy("organization_id", func(v *viewer.Viewer) int { return v.OrgID })},
		Mutation: privacy.MutationPolicy{
			sameTenantOnCreate(),
			filterBy("organization_id", func(v *viewer.Viewer) int { return v.OrgID }),
		},
	}
}

// organizationPolicy lets a viewer read its own organisation, and change it
// with organization.manage. Creating and deleting organisations is system work.
func organizationPolicy() ent.Policy {
	own := filterBy("id", func(v *viewer.Viewer) int { return v.OrgID })
	return privacy.Policy{
		Query: privacy.QueryPolicy{own, privacy.AlwaysAllowRule()},
		Mutation: privacy.MutationPolicy{
			privacy.OnMutationOperation(requireAny(permOrganizationManage), ent.OpUpdateOne|ent.OpUpdate),
			privacy.OnMutationOperation(own, ent.OpUpdateOne|ent.OpUpdate),
			privacy.OnMutationOperation(privacy.AlwaysAllowRule(), ent.OpUpdateOne|ent.OpUpdate),
			privacy.AlwaysDenyRule(),
		},
	}
}

// userPolicy: people.read shows everyone in the organisation; without it a
// viewer sees only itself. Admin permissions allow changing people; anyone
// else may change only the self-service fields of their own row.
func userPolicy() ent.Policy {
	self := filterBy("id", func(v *viewer.Viewer) int { return v.UserID })
	return privacy.Policy{
		Query: privacy.QueryPolicy{
			allowIfAny(permPeopleRead),
			self,
			privacy.AlwaysAllowRule(),
		},
		Mutation: privacy.MutationPolicy{
			allowIfAny(permPeopleInvite, permPeopleManage, permCredentialsManage),
			privacy.OnMutationOperation(self, ent.OpUpdateOne|ent.OpUpdate),
			privacy.OnMutationOperation(onlyFields(selfServiceFields...), ent.OpUpdateOne|ent.OpUpdate),
			privacy.OnMutationOperation(privacy.AlwaysAllowRule(), ent.OpUpdateOne|ent.OpUpdate),
			privacy.AlwaysDenyRule(),
		},
	}
}

// selfServiceFields are what people may change on their own row.
var selfServiceFields = []string{
	"first_name", "last_name", "username", "username_normalized",
	"password_hash", "must_change_password", "last_login_at", "updated_at",
}

// onlyFields denies a mutation that sets or clears any other field.
func onlyFields(allowed ...string) privacy.MutationRule {
	return privacy.MutationRuleFunc(func(_ context.Context, m ent.Mutation) error {
		for _, f := range append(m.Fields(), m.ClearedFields()...) {
			if !slices.Contains(allowed, f) {
				return privacy.Denyf("%s cannot be changed on one's own account", f)
			}
		}
		return privacy.Skip
	})
}

// managedBy lets every member of the organisation read, and only holders of
// one of perms write.
func managedBy(perms ...perm.Permission) ent.Policy {
	return privacy.Policy{
		Query:    privacy.QueryPolicy{privacy.AlwaysAllowRule()},
		Mutation: privacy.MutationPolicy{requireAny(perms...), privacy.AlwaysAllowRule()},
	}
}

// systemOnly refuses every viewer: sessions, token hashes and
// throttles are only touched by services acting as the system.
func systemOnly() ent.Policy {
	return privacy.Policy{
		Query:    privacy.QueryPolicy{privacy.AlwaysDenyRule()},
		Mutation: privacy.MutationPolicy{privacy.AlwaysDenyRule()},
	}
}

// readableWith lets holders of one of perms read (within their
// organisation); nobody but the system writes.
func readableWith(perms ...perm.Permission) ent.Policy {
	return privacy.Policy{
		Query:    privacy.QueryPolicy{requireAny(perms...), privacy.AlwaysAllowRule()},
		Mutation: privacy.MutationPolicy{privacy.AlwaysDenyRule()},
	}
}

// ownNotifications lets a viewer read and mark its own notifications only.
func ownNotifications() ent.Policy {
	own := filterBy("user_id", func(v *viewer.Viewer) int { return v.UserID })
	return privacy.Policy{
		Query: privacy.QueryPolicy{own, privacy.AlwaysAllowRule()},
		Mutation: privacy.MutationPolicy{
			privacy.OnMutationOperation(own, ent.OpUpdateOne|ent.OpUpdate),
			privacy.OnMutationOperation(privacy.AlwaysAllowRule(), ent.OpUpdateOne|ent.OpUpdate),
			privacy.AlwaysDenyRule(),
		},
	}
}

// auditPolicy: the log is read with organization.manage; any signed-in
// viewer's actions append to it; nobody edits it.
func auditPolicy() ent.Policy {
	return privacy.Policy{
		Query: privacy.QueryPolicy{requireAny(permOrganizationManage), privacy.AlwaysAllowRule()},
		Mutation: privacy.MutationPolicy{
			privacy.OnMutationOperation(privacy.AlwaysAllowRule(), ent.OpCreate),
			privacy.AlwaysDenyRule(),
		},
	}
}

// eventPolicy: the events log is read with organization.manage (the live
// subscription reads as the system and checks people.read itself); any
// change's transaction appends to it; only the system prunes it.
func eventPolicy() ent.Policy { return auditPolicy() }

// ruleFunc is a rule for both queries and mutations.
type ruleFunc func(context.Context) error

func (f ruleFunc) EvalQuery(ctx context.Context, _ ent.Query) error       { return f(ctx) }
func (f ruleFunc) EvalMutation(ctx context.Context, _ ent.Mutation) error { return f(ctx) }

// requireAny denies a viewer holding none of perms, and skips otherwise.
func requireAny(perms ...perm.Permission) privacy.QueryMutationRule {
	return ruleFunc(func(ctx context.Context) error {
		if v := viewer.FromContext(ctx); v.CanAny(perms...) {
			return privacy.Skip
		}
		return privacy.Denyf("permission %v required", perms)
	})
}

// allowIfAny allows a viewer holding one of perms, and skips otherwise.
func allowIfAny(perms ...perm.Permission) privacy.QueryMutationRule {
	return ruleFunc(func(ctx context.Context) error {
		if v := viewer.FromContext(ctx); v.CanAny(perms...) {
			return privacy.Allow
		}
		return privacy.Skip
	})
}

// filterBy narrows the query or mutation to rows whose column equals a value
// taken from the viewer; with no viewer it denies.
func filterBy(column string, value func(*viewer.Viewer) int) privacy.QueryMutationRule {
	return privacy.FilterFunc(func(ctx context.Context, f privacy.Filter) error {
		v := viewer.FromContext(ctx)
		if v == nil {
			return privacy.Denyf("no viewer")
		}
		f.Where(entql.FieldEQ(column, value(v)))
		return privacy.Skip
	})
}

// sameTenantOnCreate refuses a create whose organization_id is not the
// viewer's (a filter has no effect on inserts).
func sameTenantOnCreate() privacy.MutationRule {
	return privacy.MutationRuleFunc(func(ctx context.Context, m ent.Mutation) error {
		if !m.Op().Is(ent.OpCreate) {
			return privacy.Skip
		}
		v := viewer.FromContext(ctx)
		if v == nil {
			return privacy.Denyf("no viewer")
		}
		if org, ok := m.Field("organization_id"); !ok || org != v.OrgID {
			return privacy.Denyf("organization does not match the viewer's")
		}
		return privacy.Skip
	})
}

// webhookPolicy: endpoints are read and changed with organization.manage
// (fan-out and delivery run as the system).
func webhookPolicy() ent.Policy {
	return privacy.Policy{
		Query:    privacy.QueryPolicy{requireAny(permOrganizationManage), privacy.AlwaysAllowRule()},
		Mutation: privacy.MutationPolicy{requireAny(permOrganizationManage), privacy.AlwaysAllowRule()},
	}
}
