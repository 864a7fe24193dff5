package people

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/auditevent"
	"github.com/rollcall/rollcall/ent/bulksend"
	"github.com/rollcall/rollcall/ent/delivery"
	"github.com/rollcall/rollcall/ent/organization"
	"github.com/rollcall/rollcall/ent/predicate"
	"github.com/rollcall/rollcall/ent/role"
	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/apperr"
	"github.com/rollcall/rollcall/internal/audit"
	"github.com/rollcall/rollcall/internal/auth"
	"github.com/rollcall/rollcall/internal/clock"
	"github.com/rollcall/rollcall/internal/credentials"
	"github.com/rollcall/rollcall/internal/db"
	"github.com/rollcall/rollcall/internal/emailaddr"
	"github.com/rollcall/rollcall/internal/event"
	"github.com/rollcall/rollcall/internal/invite"
	"github.com/rollcall/rollcall/internal/locale"
	"github.com/rollcall/rollcall/internal/perm"
	"github.com/rollcall/rollcall/internal/personname"
	"github.com/rollcall/rollcall/internal/username"
	"github.com/rollcall/rollcall/internal/viewer"
)

// Admin changes people and roles within the viewer's organisation.
type Admin struct {
	client *ent.Client
	clock  clock.Clock
	audit  *audit.Log
	auth   *auth.Service // ends sessions, and the subscriptions on them
	mail   invite.Queuer // the email engine
	events *event.Log
	log    *slog.Logger
}

// AdminOption configures an Admin.
type AdminOption func(*Admin)

// WithEvents records every change to a person (user.updated,
// user.deactivated, …) in log, in the change's transaction. The service
// needs it.
func WithEvents(log *event.Log) AdminOption { return func(a *Admin) { a.events = log } }

// NewAdmin returns the people-administration service.
func NewAdmin(client *ent.Client, clk clock.Clock, auditLog *audit.Log, sessions *auth.Service, mail invite.Queuer, log *slog.Logger, opts ...AdminOption) *Admin {
	a := &Admin{client: client, clock: clk, audit: auditLog, auth: sessions, mail: mail, log: log}
	for _, o := range opts {
		o(a)
	}
	return a
}

// UpdateUserInput holds the fields to change; nil leaves a field as it is,
// and an empty string clears an optional one.
type UpdateUserInput struct {
	Email, Username, FirstName, LastName *string
	RoleID                               *int
	Products                             []string // nil: unchanged
	Locale                               *string  // a BCP 47 tag, stored canonical
}

// session is the acting admin.
type session struct {
	*viewer.Viewer
}

func (a *Admin) begin(ctx context.Context, perms ...perm.Permission) (*session, error) {
	for _, p := range perms {
		if err := viewer.Require(ctx, p); err != nil {
			return nil, err
		}
	}
	return &session{Viewer: viewer.FromContext(ctx)}, nil
}

// targetIn reads person id, with role, through client (a transaction's).
func targetIn(ctx context.Context, client *ent.Client, id int) (*ent.User, error) {
	u, err := client.User.Query().Where(user.ID(id)).WithRole().Only(ctx)
	if ent.IsNotFound(err) {
		return nil, apperr.New(apperr.NotFound, "person not found")
	}
	if err != nil {
		return nil, fmt.Errorf("read person: %w", err)
	}
	return u, nil
}

// HoldOwners takes, in tx, the lock that every change able to leave
// organisation orgID without an active Owner holds from before its check to
// its commit (lastOwnerIn takes it): two such changes then run one after the
// other, and the second checks what the first left. On PostgreSQL it is the
// organisation's row, FOR NO KEY UPDATE: not FOR UPDATE, which would also
// stop every transaction writing a row that refers to the organisation
// (events, audit entries) while it is held. SQLite needs no lock: its write
// transactions begin IMMEDIATE (package db), so they never interleave.
//
// A transaction that writes other rows before it demotes, deactivates or
// deletes people (a SCIM group change before MoveRoles) calls it first, so
// every such transaction takes the organisation before people's rows and two
// of them cannot deadlock.
func HoldOwners(ctx context.Context, tx *ent.Client, orgID int) error {
	ids, err := tx.Organization.Query().Where(organization.ID(orgID)).Select(organization.FieldID).
		Modify(func(s *entsql.Selector) {
			if s.Dialect() == dialect.Postgres {
				s.For(entsql.LockNoKeyUpdate)
			}
		}).Ints(ctx)
	if err != nil {
		return fmt.Errorf("lock organisation %d: %w", orgID, err)
	}
	if len(ids) == 0 {
		return apperr.New(apperr.NotFound, "organisation not found")
	}
	return nil
}

// lastOwnerIn refuses, in tx, when person u is their organisation's only
// active Owner. It holds the owners (HoldOwners) and reads u's role and
// status again through tx, so its answer stays true until tx ends: call it
// in the transaction that demotes, deactivates or deletes u, before that
// write.
func lastOwnerIn(ctx context.Context, tx *ent.Client, u *ent.User, doing string) error {
	if err := HoldOwners(ctx, tx, u.OrganizationID); err != nil {
		return err
	}
	now, err := tx.User.Query().Where(user.ID(u.ID)).WithRole().Only(ctx)
	if ent.IsNotFound(err) {
		return apperr.New(apperr.NotFound, "person not found")
	}
	if err != nil {
		return fmt.Errorf("read person %d: %w", u.ID, err)
	}
	if now.Edges.Role.Name != perm.Owner || !now.Edges.Role.Builtin || now.Status != user.StatusActive {
		return nil
	}
	others, err := tx.User.Query().
		Where(user.IDNEQ(u.ID), user.StatusEQ(user.StatusActive), user.HasRoleWith(role.Name(perm.Owner), role.Builtin(true))).
		Exist(ctx)
	if err != nil {
		return fmt.Errorf("count owners: %w", err)
	}
	if !others {
		return apperr.New(apperr.Conflict, fmt.Sprintf("the last Owner cannot be %s: make someone else Owner first", doing))
	}
	return nil
}

// KeepAnOwner is the last-Owner rule for a writer that gives many people
// other roles in set-based statements (the CSV import). Called in tx before
// those writes, it holds the owners of organisation orgID (HoldOwners) and
// returns the check to run in tx after them: it refuses when the
// organisation had an active Owner before the writes and has none after.
func KeepAnOwner(ctx context.Context, tx *ent.Client, orgID int) (func() error, error) {
	if err := HoldOwners(ctx, tx, orgID); err != nil {
		return nil, err
	}
	had, err := activeOwner(ctx, tx, orgID)
	if err != nil {
		return nil, err
	}
	return func() error {
		if !had {
			return nil
		}
		has, err := activeOwner(ctx, tx, orgID)
		if err != nil {
			return err
		}
		if !has {
			return apperr.New(apperr.Conflict, "the last Owner cannot be given another role: make someone else Owner first")
		}
		return nil
	}, nil
}

// activeOwner reports whether organisation orgID has an active Owner.
func activeOwner(ctx context.Context, client *ent.Client, orgID int) (bool, error) {
	ok, err := client.User.Query().Where(user.OrganizationID(orgID), user.StatusEQ(user.StatusActive),
		user.HasRoleWith(role.Name(perm.Owner), role.Builtin(true))).Exist(ctx)
	if err != nil {
		return false, fmt.Errorf("count owners: %w", err)
	}
	return ok, nil
}

// UpdateUser changes a person. Needs people.manage (and credentials.manage
// for the username), and every permission of the person's role. A changed
// address revokes the person's open links and clears a bounce; a pending
// invitation then shows as expired until resent.
func (a *Admin) UpdateUser(ctx context.Context, id int, in UpdateUserInput) (*ent.User, error) {
	if _, err := a.begin(ctx, in.permissions()...); err != nil {
		return nil, err // refused before a transaction begins
	}
	return a.commit(ctx, id, func(tx *ent.Client) (func(), error) { return a.UpdateUserIn(ctx, tx, id, in) })
}

// commit runs change in a transaction of its own, calls the func change
// returns once it has committed, and reads person id as it is then.
func (a *Admin) commit(ctx context.Context, id int, change func(tx *ent.Client) (func(), error)) (*ent.User, error) {
	var done func()
	err := db.InTx(ctx, a.client, func(tx *ent.Client) error {
		var err error
		done, err = change(tx)
		return err
	})
	if err != nil {
		return nil, err
	}
	done()
	return a.client.User.Get(ctx, id)
}

// UpdateUserIn is UpdateUser inside tx, the caller's transaction, so it
// commits or rolls back with the caller's other writes (a SCIM PUT or PATCH
// changes a person's status, fields and link together). The rules are
// UpdateUser's, checked through tx; the user.updated event, audit entry and
// the old address's notice are written in tx. Call the returned func once tx
// has committed: it tells the person's open connections (a new role, ended
// sessions) and sends the notice.
func (a *Admin) UpdateUserIn(ctx context.Context, tx *ent.Client, id int, in UpdateUserInput) (func(), error) {
	s, err := a.begin(ctx, in.permissions()...)
	if err != nil {
		return nil, err
	}
	u, err := targetIn(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	if err := invite.CheckGrant(s.Viewer, u.Edges.Role); err != nil {
		return nil, err
	}
	now := a.clock.Now()
	var sets []func(*ent.UserUpdateOne)
	var changed []string
	set := func(field string, f func(*ent.UserUpdateOne)) {
		sets = append(sets, f)
		changed = append(changed, field)
	}
	addressChanged, newAddress := false, ""
	if in.Email != nil {
		addr, norm, err := emailaddr.Normalize(*in.Email)
		if err != nil {
			return nil, apperr.Invalid("email", err.Error())
		}
		if norm != u.EmailNormalized {
			if err := checkAddressChange(s.Viewer, u); err != nil {
				return nil, err
			}
			if err := unique(ctx, tx, user.EmailNormalized(norm), u.ID, "email", "another person has this address"); err != nil {
				return nil, err
			}
			addressChanged, newAddress = true, addr
		}
		if addr != u.Email {
			set("email", func(up *ent.UserUpdateOne) {
				up.SetEmail(addr).SetEmailNormalized(norm)
				if addressChanged {
					up.ClearLastEmailStatus()
					if u.Status == user.StatusInvited {
						up.SetInviteExpiresAt(now)
					}
				}
			})
		}
	}
	if in.Username != nil {
		name := strings.TrimSpace(*in.Username)
		if name == "" {
			set("username", func(up *ent.UserUpdateOne) { up.ClearUsername().ClearUsernameNormalized() })
		} else {
			if username.Check(name) != nil {
				return nil, apperr.Invalid("username", username.Rule)
			}
			if err := unique(ctx, tx, user.UsernameNormalized(username.Normalize(name)), u.ID, "username", "that username is taken"); err != nil {
				return nil, err
			}
			set("username", func(up *ent.UserUpdateOne) { up.SetUsername(name).SetUsernameNormalized(username.Normalize(name)) })
		}
	}
	if in.FirstName != nil {
		v, err := optionalName("firstName", *in.FirstName)
		if err != nil {
			return nil, err
		}
		set("firstName", func(up *ent.UserUpdateOne) { up.SetNillableFirstName(v); clearIfNil(v, up.ClearFirstName) })
	}
	if in.LastName != nil {
		v, err := optionalName("lastName", *in.LastName)
		if err != nil {
			return nil, err
		}
		set("lastName", func(up *ent.UserUpdateOne) { up.SetNillableLastName(v); clearIfNil(v, up.ClearLastName) })
	}
	roleName := u.Edges.Role.Name // the role after the change
	roleChanged := in.RoleID != nil && *in.RoleID != u.RoleID
	if roleChanged {
		r, err := tx.Role.Get(ctx, *in.RoleID)
		if ent.IsNotFound(err) {
			return nil, &apperr.Error{Code: apperr.NotFound, Message: "role not found", Field: "roleId"}
		} else if err != nil {
			return nil, fmt.Errorf("read role %d: %w", *in.RoleID, err)
		}
		if err := invite.CheckGrant(s.Viewer, r); err != nil {
			return nil, err
		}
		set("role", func(up *ent.UserUpdateOne) { up.SetRoleID(r.ID) })
		roleName = r.Name
	}
	if in.Locale != nil {
		loc, err := locale.CheckOptional("locale", in.Locale)
		if err != nil {
			return nil, err
		}
		if *loc == "" {
			set("locale", func(up *ent.UserUpdateOne) { up.ClearLocale() })
		} else {
			set("locale", func(up *ent.UserUpdateOne) { up.SetLocale(*loc) })
		}
	}
	if in.Products != nil {
		o, err := tx.Organization.Get(ctx, s.OrgID)
		if err != nil {
			return nil, err
		}
		if err := invite.CheckProducts(o, in.Products); err != nil {
			return nil, err
		}
		set("products", func(up *ent.UserUpdateOne) { up.SetProducts(in.Products) })
	}
	if len(sets) == 0 {
		return func() {}, nil
	}
	if roleChanged {
		if err := lastOwnerIn(ctx, tx, u, "given another role"); err != nil {
			return nil, err
		}
	}
	up := tx.User.UpdateOneID(u.ID).SetUpdatedAt(now)
	for _, f := range sets {
		f(up)
	}
	after, err := up.Save(ctx)
	if err != nil {
		return nil, fmt.Errorf("update person %d: %w", u.ID, err)
	}
	ended := func() {}
	notice := 0 // the EMAIL_CHANGED delivery, if any
	if addressChanged {
		if err := credentials.Revoke(ctx, tx, now, "", u.ID); err != nil {
			return nil, err
		}
		keep := 0 // someone changing their own address stays signed in here
		if u.ID == s.UserID {
			keep = s.SessionID
		}
		if ended, err = a.auth.EndSessionsLater(ctx, tx, keep, u.ID); err != nil {
			return nil, err
		}
		if u.Status == user.StatusActive {
			// The old address is told, so its owner notices a change they
			// did not make: an email like any other, queued with the
			// change, sent once it commits.
			notice, err = a.mail.QueueOne(ctx, tx, invite.OneEmail{OrgID: u.OrganizationID, UserID: u.ID,
				To: u.Email, Action: delivery.ActionEMAIL_CHANGED, NewEmail: newAddress, Last: u.LastEmailStatus})
			if err != nil {
				return nil, err
			}
		}
	}
	if err := a.events.Record(ctx, tx, s.OrgID, event.UserEvent(event.UserUpdated, after, roleName).With("fields", changed)); err != nil {
		return nil, err
	}
	if err := a.audit.Record(ctx, tx, s.OrgID, audit.Event{Action: "user.updated", TargetType: "User",
		TargetID: u.ID, TargetLabel: u.Email, Details: map[string]any{"fields": changed}}); err != nil {
		return nil, err
	}
	return func() {
		if roleChanged {
			a.auth.RoleChanged(ctx, u.ID)
		}
		ended()
		if notice != 0 {
			a.mail.Dispatch(ctx, false, notice)
		}
	}, nil
}

// RoleMove gives person UserID the role RoleID.
type RoleMove struct{ UserID, RoleID int }

// MoveRoles gives people new roles inside tx, the caller's transaction, so
// they commit or roll back with the caller's other writes (SCIM moves a
// group's members and their roles together). Each move is UpdateUserIn of
// the role, with its rules (people.manage, every permission of the
// person's current and new role, never the last active Owner), user.updated
// event and audit entry; reads go through tx, so each check sees the moves
// before it. Call the returned func once tx has committed: it tells the
// moved people's open connections.
func (a *Admin) MoveRoles(ctx context.Context, tx *ent.Client, moves []RoleMove) (func(), error) {
	if _, err := a.begin(ctx, perm.PeopleManage); err != nil {
		return nil, err
	}
	after := make([]func(), 0, len(moves))
	for _, m := range moves {
		done, err := a.UpdateUserIn(ctx, tx, m.UserID, UpdateUserInput{RoleID: &m.RoleID})
		if err != nil {
			return nil, err
		}
		after = append(after, done)
	}
	return func() {
		for _, f := range after {
			f()
		}
	}, nil
}

// permissions are what changing in needs: people.manage, and
// credentials.manage for the username (a sign-in name).
func (in UpdateUserInput) permissions() []perm.Permission {
	perms := []perm.Permission{perm.PeopleManage}
	if in.Username != nil {
		perms = append(perms, perm.CredentialsManage)
	}
	return perms
}

// checkAddressChange refuses changing the address of an active account
// without credentials.manage: an account's address is where its password
// can be reset, so changing it is a credential change.
func checkAddressChange(v *viewer.Viewer, u *ent.User) error {
	if u.Status == user.StatusActive && !v.Can(perm.CredentialsManage) {
		return &apperr.Error{Code: apperr.Forbidden, Field: "email",
			Message: fmt.Sprintf("permission %s required to change the address of an active account", perm.CredentialsManage)}
	}
	return nil
}

// unique refuses a value another person of the organisation already has,
// reading through client (a transaction's).
func unique(ctx context.Context, client *ent.Client, p predicate.User, self int, field, message string) error {
	taken, err := client.User.Query().Where(p, user.IDNEQ(self)).Exist(ctx)
	if err != nil {
		return fmt.Errorf("check %s: %w", field, err)
	}
	if taken {
		return &apperr.Error{Code: apperr.Conflict, Message: message, Field: field}
	}
	return nil
}

// optionalName trims a first or last name and refuses one the name rule
// refuses (package personname); "" becomes nil.
func optionalName(field, v string) (*string, error) {
	v = strings.TrimSpace(v)
	if err := personname.Check(v); err != nil {
		return nil, apperr.Invalid(field, "the name "+err.Error())
	}
	if v == "" {
		return nil, nil
	}
	return &v, nil
}

func clearIfNil(v *string, clear func() *ent.UserUpdateOne) {
	if v == nil {
		clear()
	}
}

// Deactivate stops a person from signing in: sessions and links end. Needs
// people.manage and every permission of the person's role.
func (a *Admin) Deactivate(ctx context.Context, id int) (*ent.User, error) {
	return a.commit(ctx, id, func(tx *ent.Client) (func(), error) { return a.DeactivateIn(ctx, tx, id) })
}

// DeactivateIn is Deactivate inside tx, the caller's transaction, so it
// commits or rolls back with the caller's other writes (a SCIM DELETE leaves
// the person's groups, deactivates and unlinks them together). The rules are
// Deactivate's, checked through tx; the user.deactivated event and audit
// entry are written in tx. A person already deactivated is left as they
// are. Call the returned func once tx has committed: it tells the person's
// open connections that their sessions ended.
func (a *Admin) DeactivateIn(ctx context.Context, tx *ent.Client, id int) (func(), error) {
	s, u, err := a.beginOn(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	if u.Status == user.StatusDeactivated {
		return func() {}, nil
	}
	if err := lastOwnerIn(ctx, tx, u, "deactivated"); err != nil {
		return nil, err
	}
	now := a.clock.Now()
	after, err := tx.User.UpdateOneID(u.ID).SetStatus(user.StatusDeactivated).SetUpdatedAt(now).Save(ctx)
	if err != nil {
		return nil, fmt.Errorf("deactivate person %d: %w", u.ID, err)
	}
	if err := a.events.Record(ctx, tx, s.OrgID, event.UserEvent(event.UserDeactivated, after, u.Edges.Role.Name)); err != nil {
		return nil, err
	}
	if err := credentials.Revoke(ctx, tx, now, "", u.ID); err != nil {
		return nil, err
	}
	ended, err := a.auth.EndSessionsLater(ctx, tx, 0, u.ID)
	if err != nil {
		return nil, err
	}
	if err := a.audit.Record(ctx, tx, s.OrgID, audit.PersonEvent("user.deactivated", u)); err != nil {
		return nil, err
	}
	return ended, nil
}

// Reactivate lets a deactivated person back: ACTIVE when they had an
// account, else NOT_INVITED. Needs people.manage and every permission of the
// person's role.
func (a *Admin) Reactivate(ctx context.Context, id int) (*ent.User, error) {
	return a.commit(ctx, id, func(tx *ent.Client) (func(), error) { return func() {}, a.ReactivateIn(ctx, tx, id) })
}

// ReactivateIn is Reactivate inside tx, the caller's transaction, so it
// commits or rolls back with the caller's other writes (a SCIM PUT or PATCH).
// The rules are Reactivate's, checked through tx; the user.reactivated event
// and audit entry are written in tx. A person not deactivated is left as
// they are.
func (a *Admin) ReactivateIn(ctx context.Context, tx *ent.Client, id int) error {
	s, u, err := a.beginOn(ctx, tx, id)
	if err != nil {
		return err
	}
	if u.Status != user.StatusDeactivated {
		return nil
	}
	after, err := tx.User.UpdateOneID(u.ID).SetStatus(reactivated(u)).SetUpdatedAt(a.clock.Now()).Save(ctx)
	if err != nil {
		return fmt.Errorf("reactivate person %d: %w", u.ID, err)
	}
	if err := a.events.Record(ctx, tx, s.OrgID, event.UserEvent(event.UserReactivated, after, u.Edges.Role.Name)); err != nil {
		return err
	}
	return a.audit.Record(ctx, tx, s.OrgID, audit.PersonEvent("user.reactivated", u))
}

// reactivated is the status a deactivated person returns to: ACTIVE when
// they had an account (a password), else NOT_INVITED (an invitation pending
// before is not restored: its links were revoked).
func reactivated(u *ent.User) user.Status {
	if u.PasswordHash != nil {
		return user.StatusActive
	}
	return user.StatusNotInvited
}

// Delete erases a person: their row, sessions and links go, and the audit
// log keeps a pseudonym in place of their address. Needs people.manage and
// every permission of the person's role.
func (a *Admin) Delete(ctx context.Context, id int) error {
	s, u, err := a.beginOn(ctx, a.client, id)
	if err != nil {
		return err
	}
	pseudonym := Pseudonym(u.ID)
	sys := auth.AsSystem(ctx)
	return db.InTx(ctx, a.client, func(tx *ent.Client) error {
		if err := lastOwnerIn(ctx, tx, u, "deleted"); err != nil {
			return err
		}
		if err := tx.AuditEvent.Update().Where(auditevent.ActorID(u.ID)).SetActorLabel(pseudonym).Exec(sys); err != nil {
			return fmt.Errorf("pseudonymise audit log: %w", err)
		}
		if err := tx.AuditEvent.Update().Where(auditevent.TargetID(u.ID)).SetTargetLabel(pseudonym).Exec(sys); err != nil {
			return fmt.Errorf("pseudonymise audit log: %w", err)
		}
		if err := a.auth.EndSessions(ctx, tx, 0, u.ID); err != nil {
			return err
		}
		// Deliveries first (bulk-send workers lock them before people, so
		// the same order cannot deadlock): they keep counting, without the
		// address; the person's own sends pass to the admin (or API key)
		// erasing them.
		if err := tx.Delivery.Update().Where(delivery.UserID(u.ID)).SetEmail(pseudonym).ClearUserID().Exec(sys); err != nil {
			return fmt.Errorf("erase deliveries: %w", err)
		}
		sends := tx.BulkSend.Update().Where(bulksend.CreatedByID(u.ID)).ClearIdempotencyKey()
		if s.IsKey() {
			sends.ClearCreatedByID().SetAPIKeyID(s.APIKeyID)
		} else {
			sends.SetCreatedByID(s.UserID)
		}
		if err := sends.Exec(sys); err != nil {
			return fmt.Errorf("reassign bulk sends: %w", err)
		}
		// Import links have no foreign key on PostgreSQL (db.serviceKeptKeys).
		// The row is updated (so locked) before the links go, so an import
		// changing the person has committed its link by then.
		if err := tx.User.UpdateOneID(u.ID).SetUpdatedAt(a.clock.Now()).ClearImport().Exec(sys); err != nil {
			return fmt.Errorf("unlink imports: %w", err)
		}
		if err := tx.User.DeleteOneID(u.ID).Exec(ctx); err != nil {
			return fmt.Errorf("delete person: %w", err)
		}
		if err := a.events.Record(ctx, tx, s.OrgID, event.Deleted(s.OrgID, u.ID)); err != nil {
			return err
		}
		return a.audit.Record(ctx, tx, s.OrgID, audit.Event{Action: "user.deleted", TargetType: "User", TargetID: u.ID, TargetLabel: pseudonym})
	})
}

// Pseudonym stands for an erased person in the audit log: stable for the
// person, revealing nothing about them.
func Pseudonym(id int) string {
	h := sha256.Sum256([]byte(fmt.Sprintf("rollcall-person-%d", id)))
	return "erased-person-" + hex.EncodeToString(h[:6])
}

// beginOn starts a change to person id: people.manage, the person read
// with role through client (a transaction's, or the service's), and every
// permission of that role.
func (a *Admin) beginOn(ctx context.Context, client *ent.Client, id int) (*session, *ent.User, error) {
	s, err := a.begin(ctx, perm.PeopleManage)
	if err != nil {
		return nil, nil, err
	}
	u, err := targetIn(ctx, client, id)
	if err != nil {
		return nil, nil, err
	}
	if err := invite.CheckGrant(s.Viewer, u.Edges.Role); err != nil {
		return nil, nil, err
	}
	return s, u, nil
}
