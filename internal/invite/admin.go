package invite

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/bulksend"
	"github.com/rollcall/rollcall/ent/delivery"
	"github.com/rollcall/rollcall/ent/invitation"
	"github.com/rollcall/rollcall/ent/schema/enum"
	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/apperr"
	"github.com/rollcall/rollcall/internal/audit"
	"github.com/rollcall/rollcall/internal/auth"
	"github.com/rollcall/rollcall/internal/credentials"
	"github.com/rollcall/rollcall/internal/db"
	"github.com/rollcall/rollcall/internal/emailaddr"
	"github.com/rollcall/rollcall/internal/event"
	"github.com/rollcall/rollcall/internal/locale"
	"github.com/rollcall/rollcall/internal/perm"
	"github.com/rollcall/rollcall/internal/personname"
	"github.com/rollcall/rollcall/internal/plaintext"
	"github.com/rollcall/rollcall/internal/rounds"
	"github.com/rollcall/rollcall/internal/viewer"
)

// MaxInvite is the most addresses one inviteUsers call takes.
const MaxInvite = 10_000

// InviteInput is what an admin submits to invite people.
type InviteInput struct {
	Emails    []string // pasted text; each element may hold several addresses
	RoleID    int
	Products  []string
	SendEmail bool
	// Locale, a BCP 47 tag, is given to everyone created or invited (stored
	// canonical); nil or empty gives none and keeps the invited people's.
	Locale *string
}

// Rejection is an address that was not invited, and why. For an entry that
// is not a valid address, Email is the entry as pasted (clipped), with any
// character the text rule refuses written out as <U+XXXX>.
type Rejection struct {
	Email, Reason, Suggestion string
}

// InviteResult lists the people created or invited and the rejected
// addresses, with the bulk send carrying the invitations.
type InviteResult struct {
	Users    []*ent.User
	Rejected []Rejection
	BulkSend *ent.BulkSend
}

// actor is the signed-in admin with its organisation.
type actor struct {
	*viewer.Viewer
	org *ent.Organization
}

// begin checks the viewer holds p and loads its organisation.
func (s *Service) begin(ctx context.Context, p perm.Permission) (*actor, error) {
	if err := viewer.Require(ctx, p); err != nil {
		return nil, err
	}
	v := viewer.FromContext(ctx)
	o, err := s.client.Organization.Get(ctx, v.OrgID)
	if err != nil {
		return nil, fmt.Errorf("read organisation: %w", err)
	}
	return &actor{Viewer: v, org: o}, nil
}

// CheckGrant refuses giving a role whose permissions the viewer lacks, or
// acting on the credentials of someone who holds it.
func CheckGrant(v *viewer.Viewer, r *ent.Role) error {
	if !v.CanGrant(r.Permissions) {
		return apperr.New(apperr.Forbidden, fmt.Sprintf("the role %s grants permissions you do not hold", r.Name))
	}
	return nil
}

// CheckProducts refuses products the organisation has not enabled.
func CheckProducts(o *ent.Organization, products []string) error {
	for _, p := range products {
		if !slices.Contains(o.Products, p) {
			return apperr.Invalid("products", fmt.Sprintf("product %q is not enabled for this organisation", p))
		}
	}
	return nil
}

// InviteUsers creates people from a pasted list and, with SendEmail, invites
// them. Entries emailaddr.ParseList finds invalid (control, bidirectional or
// invisible characters in an address or name included) are rejected with its
// reason, and so are names the name rule refuses (package personname) and
// addresses already in the organisation, unless the person was never
// invited, who is then invited. Needs people.invite and every
// permission of the role. A malformed or unknown Locale is BAD_USER_INPUT
// (field locale) and invites nobody. Emails are sent after the answer (Wait waits for
// them); each person's lastEmailStatus tells whether theirs left.
func (s *Service) InviteUsers(ctx context.Context, in InviteInput) (*InviteResult, error) {
	a, err := s.begin(ctx, perm.PeopleInvite)
	if err != nil {
		return nil, err
	}
	loc, err := locale.CheckOptional("locale", in.Locale)
	if err != nil {
		return nil, err
	}
	if loc != nil && *loc == "" {
		loc = nil
	}
	role, err := s.client.Role.Get(ctx, in.RoleID)
	if ent.IsNotFound(err) {
		return nil, &apperr.Error{Code: apperr.NotFound, Message: "role not found", Field: "roleId"}
	} else if err != nil {
		return nil, err
	}
	if err := CheckGrant(a.Viewer, role); err != nil {
		return nil, err
	}
	if err := CheckProducts(a.org, in.Products); err != nil {
		return nil, err
	}
	entries := emailaddr.ParseList(in.Emails)
	if len(entries) > MaxInvite {
		return nil, apperr.Invalid("emails", fmt.Sprintf("at most %d addresses at once", MaxInvite))
	}
	out := &InviteResult{}
	valid, invalid := screen(entries)
	existing, err := s.byNormalizedEmail(ctx, valid)
	if err != nil {
		return nil, err
	}
	fresh, reinvite, members := sortExisting(valid, existing, in.SendEmail)
	out.Rejected = append(invalid, members...)
	now := s.clock.Now()
	err = db.InTx(ctx, s.client, func(tx *ent.Client) error {
		people := slices.Clone(reinvite)
		if loc != nil && len(reinvite) > 0 {
			// Those invited again speak the language given too.
			ids := make([]int, len(reinvite))
			for i, u := range reinvite {
				ids[i] = u.ID
				u.Locale = loc
			}
			for start := 0; start < len(ids); start += 1000 {
				err := tx.User.Update().Where(user.IDIn(ids[start:min(start+1000, len(ids))]...)).
					SetLocale(*loc).SetUpdatedAt(now).Exec(ctx)
				if err != nil {
					return fmt.Errorf("set the locale of people invited again: %w", err)
				}
			}
		}
		for start := 0; start < len(fresh); start += 500 {
			batch := fresh[start:min(start+500, len(fresh))]
			creates := make([]*ent.UserCreate, len(batch))
			for i, e := range batch {
				first, last := splitName(e.Name)
				creates[i] = tx.User.Create().
					SetOrganizationID(a.OrgID).SetRoleID(role.ID).SetEmail(e.Address).SetEmailNormalized(e.Normalized).
					SetNillableFirstName(first).SetNillableLastName(last).SetProducts(nonNil(in.Products)).
					SetNillableLocale(loc).SetCreatedAt(now).SetUpdatedAt(now)
			}
			created, err := tx.User.CreateBulk(creates...).Save(ctx)
			if err != nil {
				return fmt.Errorf("create people: %w", err)
			}
			people = append(people, created...)
		}
		// The people created, not those invited again: one insert.
		createdEvents := make([]event.Event, 0, len(people)-len(reinvite))
		for _, u := range people[len(reinvite):] {
			createdEvents = append(createdEvents, event.UserEvent(event.UserCreated, u, role.Name))
		}
		if err := s.events.Record(ctx, tx, a.OrgID, createdEvents...); err != nil {
			return err
		}
		if in.SendEmail && len(people) > 0 {
			// The emails are a bulk send: durable, retried, and watched
			// like any other; the people become INVITED as theirs leave.
			// The people's audit events go with the send's.
			out.BulkSend, err = s.bulk.QueuePeople(ctx, tx, a.OrgID, RequesterOf(a.Viewer), bulksend.KindINVITATION, bulksend.TriggerMANUAL,
				people, peopleEvents("user.invited", people)...)
			if err != nil {
				return err
			}
		} else if err := s.audit.Record(ctx, tx, a.OrgID, peopleEvents("user.created", people)...); err != nil {
			return err
		}
		// The answer shows everyone as the send found them, whatever its
		// workers have done since: as created or read above (queueing
		// changes no person), with their role, read only where it is not
		// the one given.
		var others []int
		for _, u := range people {
			if u.RoleID == role.ID {
				u.Edges.Role = role
			} else {
				others = append(others, u.ID)
			}
		}
		loaded, err := s.load(ctx, tx, others)
		if err != nil {
			return err
		}
		byID := map[int]*ent.User{}
		for _, u := range loaded {
			byID[u.ID] = u
		}
		out.Users = make([]*ent.User, 0, len(people))
		for _, u := range people {
			if u.RoleID != role.ID {
				if u = byID[u.ID]; u == nil {
					continue // erased meanwhile
				}
			}
			out.Users = append(out.Users, u)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if out.BulkSend != nil {
		out.BulkSend = out.BulkSend.Unwrap()
		s.bulk.Queued(ctx, out.BulkSend)
	}
	return out, nil
}

// screen keeps the pasted entries that may become people, and rejects the
// others with the reason: what emailaddr.ParseList found invalid (the entry
// echoed as pasted, clipped, with refused characters written out), a domain
// that looks like a typo (with the suggestion), and names the name rule
// refuses.
func screen(entries []emailaddr.Entry) (valid []emailaddr.Entry, rejected []Rejection) {
	for _, e := range entries {
		switch {
		case e.Reason != "":
			rejected = append(rejected, Rejection{Email: clip(plaintext.Visible(plaintext.Address, e.Input), emailaddr.MaxLength), Reason: e.Reason, Suggestion: e.Suggestion})
		case e.Suggestion != "":
			rejected = append(rejected, Rejection{Email: e.Address, Reason: "the domain looks like a typo", Suggestion: e.Suggestion})
		default:
			if reason := namesProblem(e.Name); reason != "" {
				rejected = append(rejected, Rejection{Email: e.Address, Reason: reason})
				continue
			}
			valid = append(valid, e)
		}
	}
	return valid, rejected
}

// sortExisting divides valid entries by whom they name among existing (the
// organisation's people by normalised address): nobody yet (fresh, to be
// created); someone never invited, who is invited again when send is set
// (reinvite); anyone else is already a member (rejected).
func sortExisting(valid []emailaddr.Entry, existing map[string]*ent.User, send bool) (fresh []emailaddr.Entry, reinvite []*ent.User, rejected []Rejection) {
	for _, e := range valid {
		if u, ok := existing[e.Normalized]; ok {
			if u.Status == user.StatusNotInvited && send {
				reinvite = append(reinvite, u)
			} else {
				rejected = append(rejected, Rejection{Email: e.Address, Reason: "already a member of the organisation"})
			}
			continue
		}
		fresh = append(fresh, e)
	}
	return fresh, reinvite, rejected
}

// byNormalizedEmail finds the organisation's people among entries.
func (s *Service) byNormalizedEmail(ctx context.Context, entries []emailaddr.Entry) (map[string]*ent.User, error) {
	found := map[string]*ent.User{}
	for start := 0; start < len(entries); start += 1000 {
		batch := entries[start:min(start+1000, len(entries))]
		emails := make([]string, len(batch))
		for i, e := range batch {
			emails[i] = e.Normalized
		}
		us, err := s.client.User.Query().Where(user.EmailNormalizedIn(emails...)).All(ctx)
		if err != nil {
			return nil, fmt.Errorf("find people: %w", err)
		}
		for _, u := range us {
			found[u.EmailNormalized] = u
		}
	}
	return found, nil
}

// load reads people with their roles, in the order of ids, leaving out
// those no longer there.
func (s *Service) load(ctx context.Context, client *ent.Client, ids []int) ([]*ent.User, error) {
	byID := map[int]*ent.User{}
	for start := 0; start < len(ids); start += 1000 {
		us, err := client.User.Query().Where(user.IDIn(ids[start:min(start+1000, len(ids))]...)).WithRole().All(auth.AsSystem(ctx))
		if err != nil {
			return nil, fmt.Errorf("read people: %w", err)
		}
		for _, u := range us {
			byID[u.ID] = u
		}
	}
	out := make([]*ent.User, 0, len(ids))
	for _, id := range ids {
		if u := byID[id]; u != nil { // else erased meanwhile
			out = append(out, u)
		}
	}
	return out, nil
}

// markInvited issues invitation tokens to people and marks them INVITED;
// createdBy is the person who invited them (nil for the system or an API key).
func (s *Service) markInvited(ctx context.Context, tx *ent.Client, o *ent.Organization, createdBy *int, ids []int) ([]credentials.Issued, error) {
	ttl := credentials.TTL(o, invitation.KindINVITATION)
	tokens, err := credentials.Issue(ctx, tx, s.clock.Now(), o.ID, invitation.KindINVITATION, ttl, createdBy, ids...)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	for start := 0; start < len(ids); start += 1000 {
		err := tx.User.Update().Where(user.IDIn(ids[start:min(start+1000, len(ids))]...)).
			SetStatus(user.StatusInvited).SetInvitedAt(now).SetInviteExpiresAt(now.Add(ttl)).
			AddInvitationCount(1).SetUpdatedAt(now).Exec(auth.AsSystem(ctx))
		if err != nil {
			return nil, fmt.Errorf("mark invited: %w", err)
		}
	}
	// The reminder rounds start again.
	if err := rounds.Restart(ctx, tx, o.ID, now, ids...); err != nil {
		return nil, err
	}
	return tokens, nil
}

// target reads one person of the viewer's organisation, with its role.
func (s *Service) target(ctx context.Context, id int) (*ent.User, error) {
	u, err := s.client.User.Query().Where(user.ID(id)).WithRole().Only(ctx)
	if ent.IsNotFound(err) {
		return nil, apperr.New(apperr.NotFound, "person not found")
	}
	if err != nil {
		return nil, fmt.Errorf("read person: %w", err)
	}
	return u, nil
}

// requireNotActive refuses inviting people who have an account, or are
// deactivated.
func requireNotActive(u *ent.User) error {
	if u.Status == user.StatusActive {
		return apperr.New(apperr.Conflict, fmt.Sprintf("%s already has an account: send password reset instructions instead", u.Email))
	}
	return requireNotDeactivated(u)
}

// requireNotDeactivated refuses acting on the credentials of a deactivated
// person.
func requireNotDeactivated(u *ent.User) error {
	if u.Status == user.StatusDeactivated {
		return apperr.New(apperr.Conflict, fmt.Sprintf("%s is deactivated: reactivate them first", u.Email))
	}
	return nil
}

// requirePending refuses revoking an invitation that is not pending.
func requirePending(u *ent.User) error {
	if u.Status != user.StatusInvited {
		return apperr.New(apperr.Conflict, fmt.Sprintf("%s has no pending invitation", u.Email))
	}
	return nil
}

// Resend sends a fresh invitation to a person who has not accepted one; the
// older links stop working once it leaves. The email is a delivery worked by
// the bulk-send engine like any other (retried, reported by the provider,
// making the person INVITED as it leaves); the answer waits, within the
// engine's SingleWait, until this replica has recorded it. To an address
// whose last email bounced or was marked as spam it is CONFLICT naming the
// reason, unless force. Needs people.invite.
func (s *Service) Resend(ctx context.Context, userID int, force bool) (*ent.User, error) {
	a, err := s.begin(ctx, perm.PeopleInvite)
	if err != nil {
		return nil, err
	}
	u, err := s.target(ctx, userID)
	if err != nil {
		return nil, err
	}
	if err := checkResend(u, force); err != nil {
		return nil, err
	}
	var id int
	err = db.InTx(ctx, s.client, func(tx *ent.Client) error {
		id, err = s.bulk.QueueOne(ctx, tx, OneEmail{OrgID: a.OrgID, UserID: u.ID, To: u.Email,
			Action: delivery.ActionINVITATION, RequestedBy: RequesterOf(a.Viewer), Last: u.LastEmailStatus, Force: force})
		if err != nil {
			return err
		}
		return s.audit.Record(ctx, tx, a.OrgID, audit.PersonEvent("invitation.resent", u))
	})
	if err != nil {
		return nil, err
	}
	s.bulk.Dispatch(ctx, true, id)
	return s.reload(ctx, u.ID)
}

// checkResend refuses resending an invitation to someone with an account
// or deactivated, and to an address whose last email bounced or was marked
// as spam unless force (all CONFLICT, saying why).
func checkResend(u *ent.User, force bool) error {
	if err := requireNotActive(u); err != nil {
		return err
	}
	if reason := Suppressed(u.LastEmailStatus); reason != "" && !force {
		return apperr.New(apperr.Conflict, fmt.Sprintf("%s is suppressed (%s): pass force: true to send anyway", u.Email, reason))
	}
	return nil
}

// Suppressed says why an address whose last email ended as last gets no
// more, or "" when it may be sent to.
func Suppressed(last *enum.DeliveryStatus) string {
	if last == nil {
		return ""
	}
	switch *last {
	case enum.DeliveryBounced:
		return "an earlier email to this address bounced"
	case enum.DeliveryComplained:
		return "the recipient marked an earlier email as spam"
	}
	return ""
}

// CreateLink issues a personal invitation link to share by hand, revoking
// older ones; no email is sent. Needs credentials.manage and every
// permission of the person's role (the link makes its holder that person).
func (s *Service) CreateLink(ctx context.Context, userID int) (string, time.Time, error) {
	a, err := s.begin(ctx, perm.CredentialsManage)
	if err != nil {
		return "", time.Time{}, err
	}
	u, err := s.target(ctx, userID)
	if err != nil {
		return "", time.Time{}, err
	}
	if err := requireNotActive(u); err != nil {
		return "", time.Time{}, err
	}
	if err := CheckGrant(a.Viewer, u.Edges.Role); err != nil {
		return "", time.Time{}, err
	}
	var tokens []credentials.Issued
	err = db.InTx(ctx, s.client, func(tx *ent.Client) error {
		if tokens, err = s.markInvited(ctx, tx, a.org, a.Person(), []int{u.ID}); err != nil {
			return err
		}
		return s.audit.Record(ctx, tx, a.OrgID, audit.PersonEvent("invitation.link_created", u))
	})
	if err != nil {
		return "", time.Time{}, err
	}
	return s.links.Invite(tokens[0].Plain), tokens[0].Expires, nil
}

// Revoke cancels a pending invitation: its links die and the person is
// NOT_INVITED again. Needs people.invite.
func (s *Service) Revoke(ctx context.Context, userID int) (*ent.User, error) {
	a, err := s.begin(ctx, perm.PeopleInvite)
	if err != nil {
		return nil, err
	}
	u, err := s.target(ctx, userID)
	if err != nil {
		return nil, err
	}
	if err := requirePending(u); err != nil {
		return nil, err
	}
	now := s.clock.Now()
	err = db.InTx(ctx, s.client, func(tx *ent.Client) error {
		if err := credentials.Revoke(ctx, tx, now, invitation.KindINVITATION, u.ID); err != nil {
			return err
		}
		after, err := tx.User.UpdateOneID(u.ID).SetStatus(user.StatusNotInvited).ClearInviteExpiresAt().
			SetUpdatedAt(now).Save(auth.AsSystem(ctx))
		if err != nil {
			return fmt.Errorf("revoke invitation: %w", err)
		}
		if err := s.events.Record(ctx, tx, a.OrgID, event.UserEvent(event.InvitationRevoked, after, u.Edges.Role.Name)); err != nil {
			return err
		}
		return s.audit.Record(ctx, tx, a.OrgID, audit.PersonEvent("invitation.revoked", u))
	})
	if err != nil {
		return nil, err
	}
	return s.reload(ctx, u.ID)
}

// SetTemporaryPassword gives a person a password chosen by an admin (when
// email does not reach them): they become ACTIVE and must choose their own
// password at the next sign-in. Their links and sessions end. Needs
// credentials.manage and every permission of the person's role.
func (s *Service) SetTemporaryPassword(ctx context.Context, userID int, password string) (*ent.User, error) {
	a, err := s.begin(ctx, perm.CredentialsManage)
	if err != nil {
		return nil, err
	}
	u, err := s.target(ctx, userID)
	if err != nil {
		return nil, err
	}
	if err := requireNotDeactivated(u); err != nil {
		return nil, err
	}
	if err := CheckGrant(a.Viewer, u.Edges.Role); err != nil {
		return nil, err
	}
	if err := s.checkPassword("password", password, u); err != nil {
		return nil, err
	}
	hash, err := s.auth.HashPassword(ctx, password)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	err = db.InTx(ctx, s.client, func(tx *ent.Client) error {
		if err := s.auth.EndSessions(ctx, tx, 0, u.ID); err != nil {
			return err
		}
		if err := credentials.ActivateTemporary(ctx, tx, now, u.ID, hash); err != nil {
			return err
		}
		// The person as the change leaves them: ACTIVE, to choose a password.
		after := *u
		after.Status, after.MustChangePassword = user.StatusActive, true
		fields := []string{"mustChangePassword"}
		if u.Status != user.StatusActive {
			fields = append([]string{"status"}, fields...)
		}
		if err := s.events.Record(ctx, tx, a.OrgID, event.UserEvent(event.UserUpdated, &after, u.Edges.Role.Name).With("fields", fields)); err != nil {
			return err
		}
		return s.audit.Record(ctx, tx, a.OrgID, audit.PersonEvent("user.temporary_password_set", u))
	})
	if err != nil {
		return nil, err
	}
	return s.reload(ctx, u.ID)
}

// checkPassword applies the password policy to a password for u, blaming
// the input field.
func (s *Service) checkPassword(field, password string, u *ent.User) error {
	username := ""
	if u.Username != nil {
		username = *u.Username
	}
	return s.checkPasswordFor(field, password, u.Email, username)
}

func (s *Service) checkPasswordFor(field, password, email, username string) error {
	if err := s.policy.Check(password, email, username); err != nil {
		return apperr.Invalid(field, err.Error())
	}
	return nil
}

// reload reads a person again, as the viewer.
func (s *Service) reload(ctx context.Context, id int) (*ent.User, error) {
	u, err := s.client.User.Get(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("read person: %w", err)
	}
	return u, nil
}

func peopleEvents(action string, people []*ent.User) []audit.Event {
	events := make([]audit.Event, len(people))
	for i, u := range people {
		events[i] = audit.PersonEvent(action, u)
	}
	return events
}

// splitName turns "Ada Lovelace" or "Lovelace, Ada" into first and last names.
func splitName(name string) (first, last *string) {
	name = strings.TrimSpace(name)
	if name == "" {
		return nil, nil
	}
	if l, f, ok := strings.Cut(name, ","); ok {
		f, l = strings.TrimSpace(f), strings.TrimSpace(l)
		return &f, &l
	}
	if i := strings.LastIndexByte(name, ' '); i > 0 {
		f, l := strings.TrimSpace(name[:i]), strings.TrimSpace(name[i+1:])
		return &f, &l
	}
	return &name, nil
}

// namesProblem says why a pasted display name cannot give a person's first
// and last names (as splitName splits it) under the name rule (package
// personname), or "".
func namesProblem(display string) string {
	first, last := splitName(display)
	for _, n := range []struct {
		what string
		name *string
	}{{"first name", first}, {"last name", last}} {
		if n.name == nil {
			continue
		}
		if err := personname.Check(*n.name); err != nil {
			return "the " + n.what + " " + err.Error()
		}
	}
	return ""
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// clip shortens s to at most n bytes, for echoing junk input back.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

// InviteNotInvited starts a bulk send of invitations to those of userIDs
// who were never invited (an import's "send invitations") and returns it
// with how many it invites (nil and 0 when nobody). Needs people.invite.
func (s *Service) InviteNotInvited(ctx context.Context, userIDs []int) (*ent.BulkSend, int, error) {
	a, err := s.begin(ctx, perm.PeopleInvite)
	if err != nil {
		return nil, 0, err
	}
	var people []*ent.User
	var ids []int
	for start := 0; start < len(userIDs); start += 1000 {
		batch, err := s.client.User.Query().
			Where(user.IDIn(userIDs[start:min(start+1000, len(userIDs))]...), user.StatusEQ(user.StatusNotInvited)).
			Select(user.FieldID, user.FieldEmail).All(ctx)
		if err != nil {
			return nil, 0, fmt.Errorf("find people to invite: %w", err)
		}
		for _, u := range batch {
			people, ids = append(people, u), append(ids, u.ID)
		}
	}
	if len(ids) == 0 {
		return nil, 0, nil
	}
	var send *ent.BulkSend
	err = db.InTx(ctx, s.client, func(tx *ent.Client) error {
		if send, err = s.bulk.Queue(ctx, tx, a.OrgID, RequesterOf(a.Viewer), bulksend.KindINVITATION, bulksend.TriggerIMPORT, ids); err != nil {
			return err
		}
		return s.audit.Record(ctx, tx, a.OrgID, peopleEvents("user.invited", people)...)
	})
	if err != nil {
		return nil, 0, err
	}
	send = send.Unwrap()
	s.bulk.Queued(ctx, send)
	return send, len(ids), nil
}
