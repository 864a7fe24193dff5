package event

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/internal/apperr"
)

// The vocabulary: every event has one of these types, and its data the shape
// its constructor below gives it (docs/api.md lists both). Ids in data are
// global ids as strings, the same as GraphQL's.
const (
	UserCreated        = "user.created"        // {user, importId?}
	UserUpdated        = "user.updated"        // {user, fields, importId?}
	UserDeactivated    = "user.deactivated"    // {user}
	UserReactivated    = "user.reactivated"    // {user}
	UserDeleted        = "user.deleted"        // {user: {id}}
	InvitationSent     = "invitation.sent"     // {user, kind, deliveryId, bulkSendId, invitedById, expiresAt}
	InvitationAccepted = "invitation.accepted" // {user, invitedById}
	InvitationRevoked  = "invitation.revoked"  // {user}
	EmailDelivered     = "email.delivered"     // {deliveryId, bulkSendId, kind, email, user}
	EmailBounced       = "email.bounced"       // … and reason
	EmailComplained    = "email.complained"    // … and reason
	EmailFailed        = "email.failed"        // … and reason
	PasswordReset      = "password.reset"      // {user}
	BulkSendCompleted  = "bulk_send.completed" // {bulkSend}
	ImportCompleted    = "import.completed"    // {import}
	GroupCreated       = "group.created"       // {group}
	GroupUpdated       = "group.updated"       // {group, fields, added, removed}
	GroupDeleted       = "group.deleted"       // {group}
)

// Types returns every event type, in the order the documentation lists them.
func Types() []string {
	return []string{
		UserCreated, UserUpdated, UserDeactivated, UserReactivated, UserDeleted,
		InvitationSent, InvitationAccepted, InvitationRevoked,
		EmailDelivered, EmailBounced, EmailComplained, EmailFailed,
		PasswordReset, BulkSendCompleted, ImportCompleted,
		GroupCreated, GroupUpdated, GroupDeleted,
	}
}

// Known reports whether t is one of Types.
func Known(t string) bool { return slices.Contains(Types(), t) }

// maxTypes bounds a filter's list: more than every type twice is a mistake.
const maxTypes = 50

// CheckTypes refuses a filter naming a type that does not exist, as
// BAD_USER_INPUT on field; it returns the filter without repeats (nil: every
// type).
func CheckTypes(field string, types []string) ([]string, error) {
	if types == nil {
		return nil, nil
	}
	if len(types) > maxTypes {
		return nil, apperr.Invalid(field, fmt.Sprintf("at most %d types", maxTypes))
	}
	var unknown []string
	for _, t := range types {
		if !Known(t) {
			unknown = append(unknown, strconv.Quote(clip(t)))
		}
	}
	if len(unknown) > 0 {
		return nil, apperr.Invalid(field, fmt.Sprintf("unknown event type %s; the types are %s",
			strings.Join(unknown, ", "), strings.Join(Types(), ", ")))
	}
	return slices.Compact(slices.Sorted(slices.Values(types))), nil
}

func clip(s string) string {
	if len(s) > 100 {
		return strings.ToValidUTF8(s[:100], "") + "…"
	}
	return s
}

// ID is a global id as data carries it: the GraphQL ID, a string.
func ID(id int) string { return strconv.Itoa(id) }

// optionalID is ID for an id that may be missing (JSON null).
func optionalID(id *int) any {
	if id == nil || *id == 0 {
		return nil
	}
	return ID(*id)
}

func optional[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// PersonData is what events say about a person as they are after the
// change (data.user): global id, address, username, names, status, role
// (its name and id) and products. A struct, not a map: events are encoded
// by the thousand in a bulk send's unit.
type PersonData struct {
	ID        string   `json:"id"`
	Email     string   `json:"email"`
	Username  *string  `json:"username"`
	FirstName *string  `json:"firstName"`
	LastName  *string  `json:"lastName"`
	Status    string   `json:"status"`
	Role      string   `json:"role"`
	RoleID    string   `json:"roleId"`
	Products  []string `json:"products"`
}

// Person is what events say about u, whose role is named role.
func Person(u *ent.User, role string) *PersonData {
	products := u.Products
	if products == nil {
		products = []string{}
	}
	return &PersonData{ID: ID(u.ID), Email: u.Email, Username: u.Username, FirstName: u.FirstName, LastName: u.LastName,
		Status: string(u.Status), Role: role, RoleID: ID(u.RoleID), Products: products}
}

// UserEvent is an event of type typ about person u (as they are after the
// change, in organisation u.OrganizationID), whose role is named role.
func UserEvent(typ string, u *ent.User, role string) Event {
	return Event{Type: typ, Org: u.OrganizationID, Data: map[string]any{"user": Person(u, role)}}
}

// Deleted is user.deleted for the erased person id of orgID: the id alone,
// since nothing else of theirs is kept.
func Deleted(orgID, id int) Event {
	return Event{Type: UserDeleted, Org: orgID, Data: map[string]any{"user": map[string]any{"id": ID(id)}}}
}

// GroupEvent is an event of type typ about SCIM group g of orgID:
// {"group": {"id", "displayName", "externalId"}}.
func GroupEvent(typ string, orgID int, g *ent.Group) Event {
	return Event{Type: typ, Org: orgID, Data: map[string]any{"group": map[string]any{
		"id": ID(g.ID), "displayName": g.DisplayName, "externalId": optional(g.ExternalID)}}}
}

// IDs is ids as data carries them.
func IDs(ids []int) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = ID(id)
	}
	return out
}

// With adds key to e's data (which copies of e share) and returns e.
func (e Event) With(key string, value any) Event {
	if e.Data == nil {
		e.Data = map[string]any{}
	}
	e.Data[key] = value
	return e
}

// Email is one email (a delivery) an email.* event is about.
type Email struct {
	OrgID      int
	DeliveryID int
	BulkSendID *int   // nil for one person's email
	Kind       string // what it carried: INVITATION, PASSWORD_RESET, TEMPORARY_PASSWORD or EMAIL_CHANGED
	To         string // the address it went to
	// Person is the person it went to, as Person gives them; nil once
	// they are erased.
	Person *PersonData
	Reason string // the provider's or the engine's words; "" for none
}

// EmailEvent is an email.* event of type typ about e.
func EmailEvent(typ string, e Email) Event {
	data := map[string]any{
		"deliveryId": ID(e.DeliveryID), "bulkSendId": optionalID(e.BulkSendID),
		"kind": e.Kind, "email": e.To, "user": nil,
	}
	if e.Person != nil {
		data["user"] = e.Person
	}
	if typ != EmailDelivered {
		data["reason"] = e.Reason
	}
	return Event{Type: typ, Org: e.OrgID, Data: data}
}

// Sent is invitation.sent: the invitation (kind INVITATION, with a link
// lasting until expires) or temporary password (TEMPORARY_PASSWORD) of
// delivery deliveryID, of send bulkSendID if any, asked for by invitedBy if
// a person did, left for person (a *PersonData, or {"id"} once erased).
func Sent(orgID int, person any, kind string, deliveryID int, bulkSendID, invitedBy *int, expires *time.Time) Event {
	return Event{Type: InvitationSent, Org: orgID, Data: map[string]any{
		"user": person, "kind": kind, "deliveryId": ID(deliveryID), "bulkSendId": optionalID(bulkSendID),
		"invitedById": optionalID(invitedBy), "expiresAt": optional(expires),
	}}
}

// Completed is bulk_send.completed for send b as it ended (COMPLETED, or
// CANCELLED once what was in flight has finished).
func Completed(b *ent.BulkSend) Event {
	return Event{Type: BulkSendCompleted, Org: b.OrganizationID, Data: map[string]any{"bulkSend": map[string]any{
		"id": ID(b.ID), "kind": string(b.Kind), "trigger": string(b.Trigger), "status": string(b.Status),
		"total": b.Total, "sent": b.Sent, "failed": b.Failed, "skipped": b.Skipped,
		"createdById": optionalID(b.CreatedByID), "createdAt": b.CreatedAt, "finishedAt": optional(b.FinishedAt),
	}}}
}

// Imported is import.completed for import imp.
func Imported(imp *ent.UserImport) Event {
	return Event{Type: ImportCompleted, Org: imp.OrganizationID, Data: map[string]any{"import": map[string]any{
		"id": ID(imp.ID), "filename": imp.Filename, "created": imp.Created, "updated": imp.Updated,
		"unchanged": imp.Unchanged, "rejected": imp.Rejected, "createdById": optionalID(imp.CreatedByID),
	}}}
}
