package scim

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/group"
	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/audit"
	"github.com/rollcall/rollcall/internal/db"
	"github.com/rollcall/rollcall/internal/emailaddr"
	"github.com/rollcall/rollcall/internal/event"
	"github.com/rollcall/rollcall/internal/invite"
	"github.com/rollcall/rollcall/internal/people"
	"github.com/rollcall/rollcall/internal/plaintext"
	"github.com/rollcall/rollcall/internal/viewer"
)

// userState is what SCIM may set on a person: the provider's names for it
// (userName, externalId, displayName),
// the person's names, addresses, language and whether it is active.
type userState struct {
	UserName              string
	ExternalID            *string
	DisplayName           *string
	GivenName, FamilyName *string
	Emails                []emailValue
	Active                bool
	Locale                *string
}

type emailValue struct {
	Value, Type string
	Primary     bool
}

// email is the person's address: the primary email, else the first, else
// the userName when it is an address.
func (s userState) email() string {
	for _, e := range s.Emails {
		if e.Primary && strings.TrimSpace(e.Value) != "" {
			return e.Value
		}
	}
	for _, e := range s.Emails {
		if strings.TrimSpace(e.Value) != "" {
			return e.Value
		}
	}
	if _, _, err := emailaddr.Normalize(s.UserName); err == nil {
		return s.UserName
	}
	return ""
}

// stateOf is person u as SCIM sees it.
func stateOf(u *ent.User) userState {
	s := userState{ExternalID: u.ScimExternalID, DisplayName: u.ScimDisplayName, GivenName: u.FirstName, FamilyName: u.LastName,
		Emails: []emailValue{{Value: u.Email, Type: "work", Primary: true}},
		Active: u.Status != user.StatusDeactivated, Locale: u.Locale}
	if u.ScimUserName != nil {
		s.UserName = *u.ScimUserName
	} else {
		s.UserName = u.Email
	}
	return s
}

// normalizeUserName is the case-insensitive form userNames are unique in.
func normalizeUserName(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// maxUserName is the longest userName, in bytes.
const maxUserName = 320

func (h *Handler) userLocation(id int) string {
	return fmt.Sprintf("%s%s/Users/%d", h.Config.PublicURL, Prefix, id)
}

// userResource is person u as a SCIM User; groups are listed when loaded.
func (h *Handler) userResource(u *ent.User) map[string]any {
	s := stateOf(u)
	name := map[string]any{}
	var parts []string
	if u.FirstName != nil {
		name["givenName"] = *u.FirstName
		parts = append(parts, *u.FirstName)
	}
	if u.LastName != nil {
		name["familyName"] = *u.LastName
		parts = append(parts, *u.LastName)
	}
	formatted := strings.Join(parts, " ")
	if formatted == "" {
		formatted = u.Email
	}
	name["formatted"] = formatted
	display := formatted
	if u.ScimDisplayName != nil {
		display = *u.ScimDisplayName
	}
	m := map[string]any{
		"schemas":     []any{schemaUser},
		"id":          strconv.Itoa(u.ID),
		"userName":    s.UserName,
		"name":        name,
		"displayName": display,
		"emails":      []any{map[string]any{"value": u.Email, "type": "work", "primary": true}},
		"active":      s.Active,
	}
	if u.ScimExternalID != nil {
		m["externalId"] = *u.ScimExternalID
	}
	if u.Locale != nil {
		m["locale"] = *u.Locale
		m["preferredLanguage"] = *u.Locale
	}
	if u.Edges.Groups != nil {
		groups := make([]any, 0, len(u.Edges.Groups))
		for _, g := range u.Edges.Groups {
			groups = append(groups, map[string]any{"value": strconv.Itoa(g.ID), "display": g.DisplayName,
				"$ref": h.groupLocation(g.ID), "type": "direct"})
		}
		m["groups"] = groups
	}
	m["meta"] = map[string]any{"resourceType": "User", "created": u.CreatedAt.UTC().Format(timeFormat),
		"lastModified": u.UpdatedAt.UTC().Format(timeFormat), "location": h.userLocation(u.ID), "version": etag(m)}
	return m
}

const timeFormat = "2006-01-02T15:04:05.000Z07:00"

// etag is the weak entity tag of a resource: a hash of its representation
// (meta aside), so it changes exactly when what SCIM shows changes.
func etag(m map[string]any) string {
	b, _ := json.Marshal(m) // maps marshal with sorted keys
	sum := sha256.Sum256(b)
	return `W/"` + hex.EncodeToString(sum[:12]) + `"`
}

// checkIfMatch refuses (412) a change whose If-Match names none of the
// resource's current version.
func checkIfMatch(r *http.Request, res map[string]any) *Error {
	want := strings.TrimSpace(r.Header.Get("If-Match"))
	if want == "" || want == "*" {
		return nil
	}
	version := res["meta"].(map[string]any)["version"].(string)
	for _, t := range strings.Split(want, ",") {
		t = strings.TrimSpace(t)
		if t == version || "W/"+t == version || t == strings.TrimPrefix(version, "W/") {
			return nil
		}
	}
	return &Error{Status: http.StatusPreconditionFailed, Detail: fmt.Sprintf("the resource's version is %s, not %s", version, want)}
}

// linkedUser reads the SCIM-linked person id (of the viewer's organisation:
// another tenant's reads as not found), with role and groups.
func (h *Handler) linkedUser(ctx context.Context, rawID string, groups bool) (*ent.User, error) {
	id, err := strconv.Atoi(rawID)
	if err != nil {
		return nil, notFound("User", rawID)
	}
	q := h.Client.User.Query().Where(user.ID(id), user.ScimLinked(true)).WithRole()
	if groups {
		q = q.WithGroups(func(q *ent.GroupQuery) { q.Order(ent.Asc(group.FieldID)) })
	}
	u, err := q.Only(ctx)
	if ent.IsNotFound(err) {
		return nil, notFound("User", rawID)
	}
	if err != nil {
		return nil, fmt.Errorf("read SCIM user %d: %w", id, err)
	}
	return u, nil
}

func (h *Handler) writeUser(w http.ResponseWriter, r *http.Request, status int, u *ent.User) {
	res := h.userResource(u)
	w.Header().Set("ETag", res["meta"].(map[string]any)["version"].(string))
	if status == http.StatusCreated {
		w.Header().Set("Location", h.userLocation(u.ID))
	}
	out, err := project(r, res, userAttrs)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, status, out)
}

func (h *Handler) getUser(w http.ResponseWriter, r *http.Request) {
	u, err := h.linkedUser(r.Context(), r.PathValue("id"), true)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	res := h.userResource(u)
	if inm := r.Header.Get("If-None-Match"); inm != "" && inm == res["meta"].(map[string]any)["version"] {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.writeUser(w, r, http.StatusOK, u)
}

func (h *Handler) createUser(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	body, err := readBody(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	st, err := parseUser(body)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	u, err := h.provision(ctx, st)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.writeUser(w, r, http.StatusCreated, u)
}

// provision creates the person st describes, or links again the one whose
// link a DELETE ended (same userName, or same address and not linked). An
// active new person is written together with concurrent requests' (see
// batch.go); the rest, and whoever that cannot settle, one by one.
func (h *Handler) provision(ctx context.Context, st userState) (*ent.User, error) {
	if err := checkState(st); err != nil {
		return nil, err
	}
	if st.Active {
		u, alone, err := h.provisionGrouped(ctx, st)
		if !alone {
			return u, err
		}
	}
	return h.provisionOne(ctx, st)
}

// provisionOne is provision for one request alone.
func (h *Handler) provisionOne(ctx context.Context, st userState) (*ent.User, error) {
	norm := normalizeUserName(st.UserName)
	addr := st.email()
	_, addrNorm, _ := emailaddr.Normalize(addr)
	existing, err := h.Client.User.Query().
		Where(user.Or(user.ScimUserNameNormalized(norm), user.EmailNormalized(addrNorm))).WithRole().All(ctx)
	if err != nil {
		return nil, fmt.Errorf("find person for SCIM userName %q: %w", st.UserName, err)
	}
	var again *ent.User
	for _, u := range existing {
		if u.ScimLinked {
			if u.ScimUserNameNormalized != nil && *u.ScimUserNameNormalized == norm {
				return nil, &Error{Status: http.StatusConflict, ScimType: "uniqueness", Detail: fmt.Sprintf("userName %q is taken", st.UserName)}
			}
			return nil, &Error{Status: http.StatusConflict, ScimType: "uniqueness", Detail: fmt.Sprintf("the address %s belongs to another SCIM user", addr)}
		}
		if again == nil || (u.ScimUserNameNormalized != nil && *u.ScimUserNameNormalized == norm) {
			again = u
		}
	}
	if again != nil {
		if err := h.apply(ctx, again, st, true); err != nil {
			return nil, err
		}
		return h.linkedUser(ctx, strconv.Itoa(again.ID), true)
	}
	pending := false
	u, err := h.Invites.CreatePerson(ctx, personInput(st, norm, &pending))
	if err != nil {
		return nil, err
	}
	if pending && h.Invited != nil {
		h.Invited(u.OrganizationID)
	}
	if !st.Active {
		if _, err := h.Admin.Deactivate(ctx, u.ID); err != nil {
			return nil, err
		}
		return h.linkedUser(ctx, strconv.Itoa(u.ID), true)
	}
	u.Edges.Groups = []*ent.Group{}
	return u, nil
}

// personInput is what the invite service needs to create the new person
// st describes, linked to SCIM under norm (the normalised userName). While
// the person is written, *pending is set to whether they wait for their
// invitation (the organisation invites people SCIM provisions active).
func personInput(st userState, norm string, pending *bool) invite.PersonInput {
	return invite.PersonInput{
		Email: st.email(), FirstName: st.GivenName, LastName: st.FamilyName, Locale: st.Locale,
		Set: func(c *ent.UserCreate, o *ent.Organization) {
			*pending = o.ScimInviteOnProvision && st.Active
			c.SetScimUserName(strings.TrimSpace(st.UserName)).SetScimUserNameNormalized(norm).
				SetNillableScimExternalID(st.ExternalID).SetNillableScimDisplayName(st.DisplayName).
				SetScimLinked(true).SetScimInvitePending(*pending)
		},
	}
}

// checkState refuses a user SCIM cannot keep: no userName, or no address.
func checkState(st userState) error {
	name := strings.TrimSpace(st.UserName)
	switch {
	case name == "":
		return badRequest("invalidValue", "userName is required")
	case len(name) > maxUserName:
		return badRequest("invalidValue", "userName has more than %d bytes", maxUserName)
	case st.email() == "":
		return badRequest("invalidValue", "give an email address (emails, or a userName that is one)")
	case st.ExternalID != nil && len(*st.ExternalID) > maxUserName:
		return badRequest("invalidValue", "externalId has more than %d bytes", maxUserName)
	case st.DisplayName != nil && len(*st.DisplayName) > maxUserName:
		return badRequest("invalidValue", "displayName has more than %d bytes", maxUserName)
	}
	if _, _, err := emailaddr.Normalize(st.email()); err != nil {
		return badRequest("invalidValue", "emails: %v", err)
	}
	if err := plaintext.Check(plaintext.Name, name); err != nil {
		return badRequest("invalidValue", "userName %v", err)
	}
	if st.ExternalID != nil {
		if err := plaintext.Check(plaintext.Name, *st.ExternalID); err != nil {
			return badRequest("invalidValue", "externalId %v", err)
		}
	}
	if st.DisplayName != nil {
		if err := plaintext.Check(plaintext.Name, *st.DisplayName); err != nil {
			return badRequest("invalidValue", "displayName %v", err)
		}
	}
	return nil
}

// apply makes person u (read with its role) what st describes, in one
// transaction (applyIn): a refusal or a failure part-way changes nothing,
// and the person's connections and old address are told after the commit.
func (h *Handler) apply(ctx context.Context, u *ent.User, st userState, link bool) error {
	if err := checkState(st); err != nil {
		return err
	}
	var after func()
	err := db.InTx(ctx, h.Client, func(tx *ent.Client) error {
		var err error
		after, err = h.applyIn(ctx, tx, u, st, link)
		return err
	})
	if err != nil {
		return err
	}
	after()
	return nil
}

// applyIn is apply in tx, the caller's transaction, through the people
// service's transaction-taking changes: activity first (which holds the
// organisation's owners before any person's row, see people.HoldOwners),
// then address, names and language, then the SCIM link. link sets the link
// even when nothing else changes (a POST linking a person again). Call the
// returned func once tx has committed.
func (h *Handler) applyIn(ctx context.Context, tx *ent.Client, u *ent.User, st userState, link bool) (func(), error) {
	if err := checkState(st); err != nil {
		return nil, err
	}
	norm := normalizeUserName(st.UserName)
	name := strings.TrimSpace(st.UserName)
	nameChanged := u.ScimUserName == nil || *u.ScimUserName != name
	if u.ScimUserNameNormalized == nil || *u.ScimUserNameNormalized != norm {
		taken, err := tx.User.Query().Where(user.ScimUserNameNormalized(norm), user.IDNEQ(u.ID)).Exist(ctx)
		if err != nil {
			return nil, fmt.Errorf("check SCIM userName: %w", err)
		}
		if taken {
			return nil, &Error{Status: http.StatusConflict, ScimType: "uniqueness", Detail: fmt.Sprintf("userName %q is taken", st.UserName)}
		}
	}
	var after []func()
	deactivated := u.Status == user.StatusDeactivated
	switch {
	case !st.Active && !deactivated:
		ended, err := h.Admin.DeactivateIn(ctx, tx, u.ID)
		if err != nil {
			return nil, err
		}
		after = append(after, ended)
	case st.Active && deactivated:
		if err := h.Admin.ReactivateIn(ctx, tx, u.ID); err != nil {
			return nil, err
		}
	}
	var in people.UpdateUserInput
	changed := false
	addr := strings.TrimSpace(st.email())
	if addr != u.Email {
		in.Email, changed = &addr, true
	}
	if !sameString(st.GivenName, u.FirstName) {
		in.FirstName, changed = orEmpty(st.GivenName), true
	}
	if !sameString(st.FamilyName, u.LastName) {
		in.LastName, changed = orEmpty(st.FamilyName), true
	}
	if !sameString(st.Locale, u.Locale) {
		in.Locale, changed = orEmpty(st.Locale), true
	}
	if changed {
		updated, err := h.Admin.UpdateUserIn(ctx, tx, u.ID, in)
		if err != nil {
			return nil, err
		}
		after = append(after, updated)
	}
	done := inOrder(after)
	extChanged := !sameString(st.ExternalID, u.ScimExternalID)
	displayChanged := !sameString(st.DisplayName, u.ScimDisplayName)
	if !nameChanged && !extChanged && !displayChanged && !link {
		return done, nil
	}
	var fields []string
	if nameChanged {
		fields = append(fields, "userName")
	}
	if extChanged {
		fields = append(fields, "externalId")
	}
	if displayChanged {
		fields = append(fields, "displayName")
	}
	if link {
		fields = append(fields, "scimLink")
	}
	err := h.writeLinkIn(ctx, tx, u.ID, func(up *ent.UserUpdateOne) {
		up.SetScimUserName(name).SetScimUserNameNormalized(norm).SetScimLinked(true)
		if st.ExternalID == nil {
			up.ClearScimExternalID()
		} else {
			up.SetScimExternalID(*st.ExternalID)
		}
		if st.DisplayName == nil {
			up.ClearScimDisplayName()
		} else {
			up.SetScimDisplayName(*st.DisplayName)
		}
	}, fields)
	if err != nil {
		return nil, err
	}
	return done, nil
}

// writeLinkIn changes, in tx, what SCIM keeps of person id (its userName,
// externalId, displayName and link), with the audit and user.updated events
// any change to a person records.
func (h *Handler) writeLinkIn(ctx context.Context, tx *ent.Client, id int, set func(*ent.UserUpdateOne), fields []string) error {
	v := viewer.FromContext(ctx)
	up := tx.User.UpdateOneID(id).SetUpdatedAt(h.Clock.Now())
	set(up)
	after, err := up.Save(ctx)
	if ent.IsConstraintError(err) {
		return &Error{Status: http.StatusConflict, ScimType: "uniqueness", Detail: "the userName is taken"}
	}
	if err != nil {
		return fmt.Errorf("update SCIM link of person %d: %w", id, err)
	}
	r, err := tx.Role.Get(ctx, after.RoleID)
	if err != nil {
		return fmt.Errorf("read role of person %d: %w", id, err)
	}
	if err := h.Events.Record(ctx, tx, v.OrgID, event.UserEvent(event.UserUpdated, after, r.Name).With("fields", fields)); err != nil {
		return err
	}
	return h.Audit.Record(ctx, tx, v.OrgID, audit.Event{Action: "user.updated", TargetType: "User",
		TargetID: id, TargetLabel: after.Email, Details: map[string]any{"fields": fields, "via": "scim"}})
}

func sameString(a, b *string) bool {
	if a == nil || b == nil {
		return (a == nil || *a == "") && (b == nil || *b == "")
	}
	return *a == *b
}

func orEmpty(p *string) *string {
	if p == nil {
		e := ""
		return &e
	}
	return p
}

func (h *Handler) replaceUser(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	u, err := h.linkedUser(ctx, r.PathValue("id"), true)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if e := checkIfMatch(r, h.userResource(u)); e != nil {
		writeError(w, e)
		return
	}
	body, err := readBody(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	st, err := parseUser(body)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if _, ok := lookup(body, "active"); !ok {
		st.Active = u.Status != user.StatusDeactivated // PUT without active keeps it
	}
	if err := h.apply(ctx, u, st, false); err != nil {
		h.fail(w, r, err)
		return
	}
	h.respondUser(w, r, u.ID)
}

func (h *Handler) respondUser(w http.ResponseWriter, r *http.Request, id int) {
	u, err := h.linkedUser(r.Context(), strconv.Itoa(id), true)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.writeUser(w, r, http.StatusOK, u)
}

func (h *Handler) patchUser(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	u, err := h.linkedUser(ctx, r.PathValue("id"), true)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if e := checkIfMatch(r, h.userResource(u)); e != nil {
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
	st := stateOf(u)
	for _, op := range ops {
		if err := patchUser(&st, op); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	if err := h.apply(ctx, u, st, false); err != nil {
		h.fail(w, r, err)
		return
	}
	h.respondUser(w, r, u.ID)
}

// deleteUser deactivates the person and ends its SCIM link (and its group
// memberships): the resource answers 404 from then on, while the person
// stays in Rollcall, deactivated, for the audit trail. All of it commits in
// one transaction, so a refusal (the last Owner) or a failure part-way
// changes nothing; the person's connections are told after the commit.
func (h *Handler) deleteUser(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	u, err := h.linkedUser(ctx, r.PathValue("id"), true)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if e := checkIfMatch(r, h.userResource(u)); e != nil {
		writeError(w, e)
		return
	}
	var after []func()
	err = db.InTx(ctx, h.Client, func(tx *ent.Client) error {
		// The owners first, before the groups' rows (see people.HoldOwners).
		if err := people.HoldOwners(ctx, tx, u.OrganizationID); err != nil {
			return err
		}
		// Leaving role groups first: the last Owner is refused there with
		// the groups' own words.
		left, err := h.leaveGroups(ctx, tx, u.ID)
		if err != nil {
			return err
		}
		after = append(after, left)
		ended, err := h.Admin.DeactivateIn(ctx, tx, u.ID)
		if err != nil {
			return err
		}
		after = append(after, ended)
		return h.writeLinkIn(ctx, tx, u.ID, func(up *ent.UserUpdateOne) { up.SetScimLinked(false).SetScimInvitePending(false) }, []string{"scimLink"})
	})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	inOrder(after)()
	w.WriteHeader(http.StatusNoContent)
}
