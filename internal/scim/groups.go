package scim

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	filter "github.com/scim2/filter-parser/v2"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/group"
	"github.com/rollcall/rollcall/ent/predicate"
	"github.com/rollcall/rollcall/ent/role"
	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/audit"
	"github.com/rollcall/rollcall/internal/db"
	"github.com/rollcall/rollcall/internal/event"
	"github.com/rollcall/rollcall/internal/invite"
	"github.com/rollcall/rollcall/internal/people"
	"github.com/rollcall/rollcall/internal/perm"
	"github.com/rollcall/rollcall/internal/plaintext"
	"github.com/rollcall/rollcall/internal/viewer"
)

// maxGroupName is the longest group displayName, in bytes.
const maxGroupName = 256

// groupState is what SCIM may set on a group.
type groupState struct {
	DisplayName string
	ExternalID  *string
	Members     []int
}

func (h *Handler) groupLocation(id int) string {
	return fmt.Sprintf("%s%s/Groups/%d", h.Config.PublicURL, Prefix, id)
}

// groupResource is g as a SCIM Group; members are listed when loaded.
func (h *Handler) groupResource(g *ent.Group) map[string]any {
	m := map[string]any{"schemas": []any{schemaGroup}, "id": strconv.Itoa(g.ID), "displayName": g.DisplayName}
	if g.ExternalID != nil {
		m["externalId"] = *g.ExternalID
	}
	if g.Edges.Members != nil {
		members := make([]any, 0, len(g.Edges.Members))
		for _, u := range g.Edges.Members {
			members = append(members, map[string]any{"value": strconv.Itoa(u.ID), "display": u.Email,
				"$ref": h.userLocation(u.ID), "type": "User"})
		}
		m["members"] = members
	}
	// The version does not depend on whether members were loaded (Entra
	// reads groups without them): every change of members moves
	// updated_at, which it covers instead.
	v := map[string]any{"id": g.ID, "displayName": g.DisplayName, "externalId": g.ExternalID, "updatedAt": g.UpdatedAt.UnixMicro()}
	m["meta"] = map[string]any{"resourceType": "Group", "created": g.CreatedAt.UTC().Format(timeFormat),
		"lastModified": g.UpdatedAt.UTC().Format(timeFormat), "location": h.groupLocation(g.ID), "version": etag(v)}
	return m
}

func (h *Handler) findGroup(ctx context.Context, rawID string, members bool) (*ent.Group, error) {
	id, err := strconv.Atoi(rawID)
	if err != nil {
		return nil, notFound("Group", rawID)
	}
	q := h.Client.Group.Query().Where(group.ID(id))
	if members {
		q = q.WithMembers(func(q *ent.UserQuery) { q.Order(ent.Asc(user.FieldID)) })
	}
	g, err := q.Only(ctx)
	if ent.IsNotFound(err) {
		return nil, notFound("Group", rawID)
	}
	if err != nil {
		return nil, fmt.Errorf("read SCIM group %d: %w", id, err)
	}
	return g, nil
}

func (h *Handler) writeGroup(w http.ResponseWriter, r *http.Request, status int, g *ent.Group) {
	res := h.groupResource(g)
	w.Header().Set("ETag", res["meta"].(map[string]any)["version"].(string))
	if status == http.StatusCreated {
		w.Header().Set("Location", h.groupLocation(g.ID))
	}
	out, e := project(r, res, groupAttrs)
	if e != nil {
		writeError(w, e)
		return
	}
	writeJSON(w, status, out)
}

// membersWanted reports whether a response shows members (not, with
// excludedAttributes=members, as Entra asks).
func membersWanted(r *http.Request) bool {
	attrs, excluded, e := projection(r, groupAttrs)
	return e != nil || wants(attrs, excluded, "members")
}

func (h *Handler) getGroup(w http.ResponseWriter, r *http.Request) {
	g, err := h.findGroup(r.Context(), r.PathValue("id"), membersWanted(r))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.writeGroup(w, r, http.StatusOK, g)
}

// parseGroup reads a Group body.
func parseGroup(body map[string]any) (groupState, error) {
	var st groupState
	for k, v := range body {
		switch attrName(k, schemaGroup) {
		case "displayname":
			s, err := str("displayName", v)
			if err != nil {
				return st, err
			}
			st.DisplayName = strings.TrimSpace(derefOr(s))
		case "externalid":
			s, err := str("externalId", v)
			if err != nil {
				return st, err
			}
			st.ExternalID = blankNil(s)
		case "members":
			ids, err := memberIDs(v)
			if err != nil {
				return st, err
			}
			st.Members = ids
		case "id", "meta", "schemas":
		default:
			if !isExtension(attrName(k, schemaGroup)) {
				return st, badRequest("invalidValue", "unknown attribute %q of Group", k)
			}
		}
	}
	return st, nil
}

func checkGroup(st groupState) error {
	switch {
	case st.DisplayName == "":
		return badRequest("invalidValue", "displayName is required")
	case len(st.DisplayName) > maxGroupName:
		return badRequest("invalidValue", "displayName has more than %d bytes", maxGroupName)
	case st.ExternalID != nil && len(*st.ExternalID) > maxUserName:
		return badRequest("invalidValue", "externalId has more than %d bytes", maxUserName)
	}
	if err := plaintext.Check(plaintext.Name, st.DisplayName); err != nil {
		return badRequest("invalidValue", "displayName %v", err)
	}
	return nil
}

// memberIDs reads a members list: [{"value": "<user id>"}, …].
func memberIDs(v any) ([]int, error) {
	if v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		if obj, isObj := v.(map[string]any); isObj {
			list = []any{obj}
		} else {
			return nil, badRequest("invalidValue", "members must be a list of objects")
		}
	}
	var ids []int
	seen := map[int]bool{}
	for _, item := range list {
		obj, ok := item.(map[string]any)
		if !ok {
			return nil, badRequest("invalidValue", "members must be a list of objects")
		}
		raw, _ := lookup(obj, "value")
		s, _ := raw.(string)
		id, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return nil, badRequest("invalidValue", "member %q is not a User id", s)
		}
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// checkMembers refuses ids that are not SCIM users of the organisation
// (another tenant's read as unknown).
func (h *Handler) checkMembers(ctx context.Context, ids []int) error {
	for start := 0; start < len(ids); start += 1000 {
		batch := ids[start:min(start+1000, len(ids))]
		n, err := h.Client.User.Query().Where(user.IDIn(batch...), user.ScimLinked(true)).Count(ctx)
		if err != nil {
			return fmt.Errorf("check group members: %w", err)
		}
		if n != len(batch) {
			return badRequest("invalidValue", "members: some ids are not Users of this organisation")
		}
	}
	return nil
}

func (h *Handler) createGroup(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	body, err := readBody(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	st, err := parseGroup(body)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	g, err := h.saveGroup(ctx, nil, st)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.writeGroup(w, r, http.StatusCreated, g)
}

func (h *Handler) replaceGroup(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	g, err := h.findGroup(ctx, r.PathValue("id"), true)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if e := checkIfMatch(r, h.groupResource(g)); e != nil {
		writeError(w, e)
		return
	}
	body, err := readBody(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	st, err := parseGroup(body)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if _, ok := lookup(body, "members"); !ok {
		st.Members = ids(g.Edges.Members)
	}
	if g, err = h.saveGroup(ctx, g, st); err != nil {
		h.fail(w, r, err)
		return
	}
	h.writeGroup(w, r, http.StatusOK, g)
}

func (h *Handler) patchGroup(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	g, err := h.findGroup(ctx, r.PathValue("id"), true)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if e := checkIfMatch(r, h.groupResource(g)); e != nil {
		writeError(w, e)
		return
	}
	body, err := readBody(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	ops, err := parsePatch(body)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	st := groupState{DisplayName: g.DisplayName, ExternalID: g.ExternalID, Members: ids(g.Edges.Members)}
	for _, op := range ops {
		if err := patchGroup(&st, op); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	if g, err = h.saveGroup(ctx, g, st); err != nil {
		h.fail(w, r, err)
		return
	}
	if !membersWanted(r) {
		g.Edges.Members = nil
	}
	// RFC 7644 §3.5.2: 200 with the resource (Okta and Entra accept it
	// as well as 204).
	h.writeGroup(w, r, http.StatusOK, g)
}

// patchGroup applies one operation to st: displayName, externalId and
// members (add, replace, remove; remove by members[value eq "id"]).
func patchGroup(st *groupState, op patchOp) error {
	if op.Path == nil {
		obj, ok := op.Value.(map[string]any)
		if !ok {
			return badRequest("invalidValue", "an operation without a path needs an object value")
		}
		for k, v := range obj {
			sub := patchOp{Op: op.Op, Value: v, Raw: k}
			p, err := filter.ParsePath([]byte(k))
			if err != nil {
				return badRequest("invalidPath", "unknown attribute %q", k)
			}
			sub.Path = &p
			if slices.Contains(readOnly, strings.ToLower(k)) {
				continue // Okta sends the group's id with a rename
			}
			if err := patchGroup(st, sub); err != nil {
				return err
			}
		}
		return nil
	}
	attr, sub := pathAttr(op.Path, schemaGroup)
	if slices.Contains(readOnly, attr) {
		return badRequest("mutability", "%s is read-only", op.Raw)
	}
	switch attr {
	case "displayname":
		if op.Op == "remove" {
			return badRequest("mutability", "displayName is required")
		}
		s, err := str("displayName", op.Value)
		if err != nil {
			return err
		}
		st.DisplayName = strings.TrimSpace(derefOr(s))
	case "externalid":
		if op.Op == "remove" {
			st.ExternalID = nil
			return nil
		}
		s, err := str("externalId", op.Value)
		if err != nil {
			return err
		}
		st.ExternalID = blankNil(s)
	case "members":
		if sub != "" && sub != "value" {
			return badRequest("invalidPath", "unknown path %q", op.Raw)
		}
		if op.Path.ValueExpression != nil {
			if op.Op != "remove" {
				return badRequest("invalidPath", "%s: only remove takes a members filter", op.Raw)
			}
			gone, err := filteredMembers(op.Path.ValueExpression, st.Members)
			if err != nil {
				return err
			}
			st.Members = slices.DeleteFunc(st.Members, func(id int) bool { return slices.Contains(gone, id) })
			return nil
		}
		ids, err := memberIDs(op.Value)
		if err != nil {
			return err
		}
		switch op.Op {
		case "add":
			in := idSet(st.Members)
			for _, id := range ids {
				if !in[id] {
					in[id] = true
					st.Members = append(st.Members, id)
				}
			}
		case "replace":
			st.Members = ids
		case "remove":
			if op.Value == nil {
				st.Members = nil
			} else {
				gone := idSet(ids)
				st.Members = slices.DeleteFunc(st.Members, func(id int) bool { return gone[id] })
			}
		}
	default:
		if isExtension(attr) {
			return nil
		}
		return badRequest("invalidPath", "unknown path %q", op.Raw)
	}
	return nil
}

// filteredMembers is the members a filter such as `value eq "12"` selects.
func filteredMembers(expr filter.Expression, members []int) ([]int, error) {
	switch x := expr.(type) {
	case *filter.LogicalExpression:
		l, err := filteredMembers(x.Left, members)
		if err != nil {
			return nil, err
		}
		r, err := filteredMembers(x.Right, members)
		if err != nil {
			return nil, err
		}
		if x.Operator == filter.OR {
			return append(l, r...), nil
		}
		return slices.DeleteFunc(l, func(id int) bool { return !slices.Contains(r, id) }), nil
	case *filter.AttributeExpression:
		if !strings.EqualFold(x.AttributePath.AttributeName, "value") || !strings.EqualFold(string(x.Operator), "eq") {
			return nil, badRequest("invalidFilter", "members filters take value eq \"<id>\"")
		}
		s, _ := x.CompareValue.(string)
		id, err := strconv.Atoi(s)
		if err != nil || !slices.Contains(members, id) {
			return nil, nil
		}
		return []int{id}, nil
	}
	return nil, badRequest("invalidFilter", "members filters take value eq \"<id>\"")
}

func ids(us []*ent.User) []int {
	out := make([]int, len(us))
	for i, u := range us {
		out[i] = u.ID
	}
	return out
}

// idSet is the set of ids, to look members up in without a scan.
func idSet(ids []int) map[int]bool {
	set := make(map[int]bool, len(ids))
	for _, id := range ids {
		set[id] = true
	}
	return set
}

// roleGroups maps lower-cased role names to the roles a group of that name
// gives: never the built-in Owner, and only roles the viewer (the key's
// creator) could give.
func (h *Handler) roleGroups(ctx context.Context, client *ent.Client) (map[string]*ent.Role, *ent.Role, error) {
	roles, err := client.Role.Query().All(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("read roles: %w", err)
	}
	v := viewer.FromContext(ctx)
	out := map[string]*ent.Role{}
	var member *ent.Role
	for _, r := range roles {
		if r.Builtin && r.Name == perm.Member {
			member = r
		}
		if r.Builtin && r.Name == perm.Owner {
			continue
		}
		if invite.CheckGrant(v, r) != nil {
			continue
		}
		out[strings.ToLower(r.Name)] = r
	}
	return out, member, nil
}

// best is the role with the most permissions among those names give (ties:
// the older role), or nil.
func best(names []string, roles map[string]*ent.Role) *ent.Role {
	var top *ent.Role
	for _, n := range names {
		r := roles[n]
		if r == nil {
			continue
		}
		if top == nil || len(r.Permissions) > len(top.Permissions) || (len(r.Permissions) == len(top.Permissions) && r.ID < top.ID) {
			top = r
		}
	}
	return top
}

// roleChange is a person's role a group change moves.
type roleChange struct {
	user *ent.User
	to   *ent.Role
}

// planRoles works out the roles a change of group g (nil: a new group) to
// st moves (deleted: the group goes), before anything is written: people
// who join or leave a role group, or whose group becomes or stops being
// one. It refuses (400 mutability) demoting the last active Owner. It reads
// through client (a transaction's, to see its writes); the check that holds
// is people.Admin.MoveRoles', in the transaction that moves the roles.
func (h *Handler) planRoles(ctx context.Context, client *ent.Client, g *ent.Group, st groupState, deleted bool) ([]roleChange, error) {
	roles, member, err := h.roleGroups(ctx, client)
	if err != nil {
		return nil, err
	}
	oldName, oldMembers := "", []int{}
	if g != nil {
		oldName, oldMembers = g.DisplayNameNormalized, ids(g.Edges.Members)
	}
	newName := strings.ToLower(st.DisplayName)
	members, wasMember, isAffected := idSet(st.Members), idSet(oldMembers), map[int]bool{}
	var affected []int
	for _, id := range oldMembers {
		stays := !deleted && members[id]
		if (roles[oldName] != nil || roles[newName] != nil) && (!stays || oldName != newName) {
			affected = append(affected, id)
			isAffected[id] = true
		}
	}
	for _, id := range st.Members {
		if !deleted && roles[newName] != nil && !isAffected[id] && (!wasMember[id] || oldName != newName) {
			affected = append(affected, id)
			isAffected[id] = true
		}
	}
	if len(affected) == 0 {
		return nil, nil
	}
	var changes []roleChange
	for start := 0; start < len(affected); start += 1000 {
		us, err := client.User.Query().Where(user.IDIn(affected[start:min(start+1000, len(affected))]...)).
			WithRole().WithGroups().All(ctx)
		if err != nil {
			return nil, fmt.Errorf("read group members: %w", err)
		}
		for _, u := range us {
			var names []string
			for _, og := range u.Edges.Groups {
				if g == nil || og.ID != g.ID {
					names = append(names, og.DisplayNameNormalized)
				}
			}
			if !deleted && members[u.ID] {
				names = append(names, newName)
			}
			to := best(names, roles)
			if to == nil {
				to = member
			}
			if to != nil && to.ID != u.RoleID {
				changes = append(changes, roleChange{user: u, to: to})
			}
		}
	}
	var owners []int
	for _, c := range changes {
		r := c.user.Edges.Role
		if r.Builtin && r.Name == perm.Owner && c.user.Status == user.StatusActive {
			owners = append(owners, c.user.ID)
		}
	}
	if len(owners) > 0 {
		others, err := client.User.Query().Where(user.IDNotIn(owners...), user.StatusEQ(user.StatusActive),
			user.HasRoleWith(role.Name(perm.Owner), role.Builtin(true))).Exist(ctx)
		if err != nil {
			return nil, fmt.Errorf("count owners: %w", err)
		}
		if !others {
			return nil, badRequest("mutability", "the last Owner cannot be given another role through a group")
		}
	}
	return changes, nil
}

// saveGroup creates (g nil) or changes group g to st: the group, its
// members and the roles that moves (through the people service, with their
// user.updated events) in one transaction with its audit and group.*
// event, so a refused role change leaves the group as it was.
func (h *Handler) saveGroup(ctx context.Context, g *ent.Group, st groupState) (*ent.Group, error) {
	if err := checkGroup(st); err != nil {
		return nil, err
	}
	if err := h.checkMembers(ctx, st.Members); err != nil {
		return nil, err
	}
	norm := strings.ToLower(st.DisplayName)
	taken := h.Client.Group.Query().Where(group.DisplayNameNormalized(norm))
	if g != nil {
		taken = taken.Where(group.IDNEQ(g.ID))
	}
	if exists, err := taken.Exist(ctx); err != nil {
		return nil, fmt.Errorf("check group name: %w", err)
	} else if exists {
		return nil, &Error{Status: http.StatusConflict, ScimType: "uniqueness", Detail: fmt.Sprintf("a group is named %q", st.DisplayName)}
	}
	changes, err := h.planRoles(ctx, h.Client, g, st, false)
	if err != nil {
		return nil, err
	}
	var saved *ent.Group
	var moved func()
	err = db.InTx(ctx, h.Client, func(tx *ent.Client) error {
		saved, moved, err = h.saveGroupIn(ctx, tx, g, st, changes)
		return err
	})
	if err != nil {
		return nil, err
	}
	moved()
	return h.findGroup(ctx, strconv.Itoa(saved.ID), true)
}

// saveGroupIn is saveGroup's transaction: it writes group g (nil: a new
// one) as st, and moves the roles changes planned, in tx with the audit
// entry and group.* event. Call the returned func once tx has committed.
func (h *Handler) saveGroupIn(ctx context.Context, tx *ent.Client, g *ent.Group, st groupState, changes []roleChange) (*ent.Group, func(), error) {
	v := viewer.FromContext(ctx)
	if len(changes) > 0 {
		// The owners first, before the group's rows (see people.HoldOwners).
		if err := people.HoldOwners(ctx, tx, v.OrgID); err != nil {
			return nil, nil, err
		}
	}
	norm := strings.ToLower(st.DisplayName)
	now := h.Clock.Now()
	var saved *ent.Group
	var err error
	var added, removed []int
	var fields []string
	if g == nil {
		saved, err = tx.Group.Create().SetOrganizationID(v.OrgID).SetDisplayName(st.DisplayName).
			SetDisplayNameNormalized(norm).SetNillableExternalID(st.ExternalID).AddMemberIDs(st.Members...).
			SetCreatedAt(now).SetUpdatedAt(now).Save(ctx)
		added = st.Members
	} else {
		old, kept := idSet(ids(g.Edges.Members)), idSet(st.Members)
		for _, id := range st.Members {
			if !old[id] {
				added = append(added, id)
			}
		}
		for _, m := range g.Edges.Members {
			if !kept[m.ID] {
				removed = append(removed, m.ID)
			}
		}
		up := tx.Group.UpdateOneID(g.ID).SetUpdatedAt(now).SetDisplayName(st.DisplayName).SetDisplayNameNormalized(norm).
			AddMemberIDs(added...).RemoveMemberIDs(removed...)
		if st.ExternalID == nil {
			up.ClearExternalID()
		} else {
			up.SetExternalID(*st.ExternalID)
		}
		if st.DisplayName != g.DisplayName {
			fields = append(fields, "displayName")
		}
		if !sameString(st.ExternalID, g.ExternalID) {
			fields = append(fields, "externalId")
		}
		if len(added)+len(removed) > 0 {
			fields = append(fields, "members")
		}
		saved, err = up.Save(ctx)
	}
	if ent.IsConstraintError(err) {
		return nil, nil, &Error{Status: http.StatusConflict, ScimType: "uniqueness", Detail: fmt.Sprintf("a group is named %q", st.DisplayName)}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("save SCIM group %q: %w", st.DisplayName, err)
	}
	moved, err := h.moveRoles(ctx, tx, changes)
	if err != nil {
		return nil, nil, err
	}
	action, typ := "group.created", event.GroupCreated
	e := event.GroupEvent(typ, v.OrgID, saved)
	details := map[string]any{"added": event.IDs(added)}
	if g != nil {
		action, typ = "group.updated", event.GroupUpdated
		e = event.GroupEvent(typ, v.OrgID, saved).With("fields", fields).With("added", event.IDs(added)).With("removed", event.IDs(removed))
		details = map[string]any{"fields": fields, "added": event.IDs(added), "removed": event.IDs(removed)}
		if len(fields) == 0 {
			return saved, moved, nil
		}
	}
	if err := h.Events.Record(ctx, tx, v.OrgID, e); err != nil {
		return nil, nil, err
	}
	err = h.Audit.Record(ctx, tx, v.OrgID, audit.Event{Action: action, TargetType: "Group", TargetID: saved.ID,
		TargetLabel: saved.DisplayName, Details: details})
	if err != nil {
		return nil, nil, err
	}
	return saved, moved, nil
}

// moveRoles gives each person the role a group change worked out, in the
// group change's transaction tx; call the func it returns after commit.
func (h *Handler) moveRoles(ctx context.Context, tx *ent.Client, changes []roleChange) (func(), error) {
	moves := make([]people.RoleMove, len(changes))
	for i, c := range changes {
		moves[i] = people.RoleMove{UserID: c.user.ID, RoleID: c.to.ID}
	}
	return h.Admin.MoveRoles(ctx, tx, moves)
}

// leaveGroups takes person id out of every group in tx, as a SCIM DELETE
// of the person does, moving its role as leaving the groups one after the
// other would. Call the returned func once tx has committed.
func (h *Handler) leaveGroups(ctx context.Context, tx *ent.Client, id int) (func(), error) {
	gs, err := tx.Group.Query().Where(group.HasMembersWith(user.ID(id))).Order(ent.Asc(group.FieldID)).
		WithMembers(func(q *ent.UserQuery) { q.Order(ent.Asc(user.FieldID)) }).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("read groups of person %d: %w", id, err)
	}
	var after []func()
	for _, g := range gs {
		st := groupState{DisplayName: g.DisplayName, ExternalID: g.ExternalID,
			Members: slices.DeleteFunc(ids(g.Edges.Members), func(m int) bool { return m == id })}
		changes, err := h.planRoles(ctx, tx, g, st, false)
		if err != nil {
			return nil, err
		}
		_, moved, err := h.saveGroupIn(ctx, tx, g, st, changes)
		if err != nil {
			return nil, err
		}
		after = append(after, moved)
	}
	return inOrder(after), nil
}

// inOrder is a func calling each of fs in turn: the after-commit work of
// several changes made in one transaction.
func inOrder(fs []func()) func() {
	return func() {
		for _, f := range fs {
			f()
		}
	}
}

func (h *Handler) deleteGroup(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	g, err := h.findGroup(ctx, r.PathValue("id"), true)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if e := checkIfMatch(r, h.groupResource(g)); e != nil {
		writeError(w, e)
		return
	}
	changes, err := h.planRoles(ctx, h.Client, g, groupState{DisplayName: g.DisplayName}, true)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	v := viewer.FromContext(ctx)
	var moved func()
	err = db.InTx(ctx, h.Client, func(tx *ent.Client) error {
		if len(changes) > 0 {
			// The owners first, before the group's rows (see people.HoldOwners).
			if err := people.HoldOwners(ctx, tx, v.OrgID); err != nil {
				return err
			}
		}
		if err := tx.Group.DeleteOneID(g.ID).Exec(ctx); err != nil {
			return fmt.Errorf("delete SCIM group %d: %w", g.ID, err)
		}
		if moved, err = h.moveRoles(ctx, tx, changes); err != nil {
			return err
		}
		if err := h.Events.Record(ctx, tx, v.OrgID, event.GroupEvent(event.GroupDeleted, v.OrgID, g)); err != nil {
			return err
		}
		return h.Audit.Record(ctx, tx, v.OrgID, audit.Event{Action: "group.deleted", TargetType: "Group", TargetID: g.ID, TargetLabel: g.DisplayName})
	})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	moved()
	w.WriteHeader(http.StatusNoContent)
}

// groupPredicate turns a filter into a predicate on groups: displayName,
// externalId, id, and members (members.value, members[value eq "id"]).
func groupPredicate(expr filter.Expression) (predicate.Group, *Error) {
	switch x := expr.(type) {
	case *filter.LogicalExpression:
		l, err := groupPredicate(x.Left)
		if err != nil {
			return nil, err
		}
		r, err := groupPredicate(x.Right)
		if err != nil {
			return nil, err
		}
		if x.Operator == filter.AND {
			return group.And(l, r), nil
		}
		return group.Or(l, r), nil
	case *filter.NotExpression:
		p, err := groupPredicate(x.Expression)
		if err != nil {
			return nil, err
		}
		return group.Not(p), nil
	case *filter.ValuePath:
		if !strings.EqualFold(x.AttributePath.AttributeName, "members") {
			return nil, badRequest("invalidFilter", "%s cannot be filtered with [ ]", x.AttributePath)
		}
		return groupPredicate(prefixed(x.ValueFilter, "members"))
	case *filter.AttributeExpression:
		attr := strings.ToLower(x.AttributePath.AttributeName)
		if sub := x.AttributePath.SubAttributeName(); sub != "" {
			attr += "." + strings.ToLower(sub)
		}
		op := strings.ToLower(string(x.Operator))
		var col stringColumn
		switch attr {
		case "displayname":
			col = stringColumn{column: group.FieldDisplayNameNormalized, lower: true}
		case "externalid":
			col = stringColumn{column: group.FieldExternalID, exact: true}
		case "id", "members", "members.value":
			s, _ := x.CompareValue.(string)
			id, err := strconv.Atoi(s)
			if op != "eq" || err != nil {
				return nil, badRequest("invalidFilter", "%s takes eq with a resource id", attr)
			}
			if attr == "id" {
				return group.ID(id), nil
			}
			return group.HasMembersWith(user.ID(id)), nil
		default:
			return nil, badRequest("invalidFilter", "cannot filter Groups on %q (displayName, externalId, id, members.value)", x.AttributePath)
		}
		f, err := compareString(col, op, x.CompareValue)
		if err != nil {
			return nil, err
		}
		return predicate.Group(f), nil
	}
	return nil, badRequest("invalidFilter", "unsupported filter")
}

func (h *Handler) listGroups(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	start, count, e := h.paging(r)
	if e != nil {
		writeError(w, e)
		return
	}
	attrs, excluded, e := projection(r, groupAttrs)
	if e != nil {
		writeError(w, e)
		return
	}
	expr, e := parseFilter(r)
	if e != nil {
		writeError(w, e)
		return
	}
	q := h.Client.Group.Query()
	if expr != nil {
		p, e := groupPredicate(expr)
		if e != nil {
			writeError(w, e)
			return
		}
		q = q.Where(p)
	}
	resources := []any{}
	total := -1
	if count > 0 {
		page := q.Clone().Order(ent.Asc(group.FieldID)).Offset(start - 1).Limit(count)
		if wants(attrs, excluded, "members") {
			page = page.WithMembers(func(q *ent.UserQuery) { q.Order(ent.Asc(user.FieldID)) })
		}
		gs, err := page.All(ctx)
		if err != nil {
			h.fail(w, r, fmt.Errorf("list SCIM groups: %w", err))
			return
		}
		for _, g := range gs {
			resources = append(resources, projectWith(h.groupResource(g), attrs, excluded))
		}
		if start == 1 && len(gs) < count {
			total = len(gs)
		}
	}
	if total < 0 {
		n, err := q.Count(ctx)
		if err != nil {
			h.fail(w, r, fmt.Errorf("count SCIM groups: %w", err))
			return
		}
		total = n
	}
	listResponse(w, total, start, resources)
}
