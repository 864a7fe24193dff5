package invite

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/invitation"
	"github.com/rollcall/rollcall/ent/schema"
	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/apperr"
	"github.com/rollcall/rollcall/internal/audit"
	"github.com/rollcall/rollcall/internal/auth"
	"github.com/rollcall/rollcall/internal/clientip"
	"github.com/rollcall/rollcall/internal/credentials"
	"github.com/rollcall/rollcall/internal/db"
	"github.com/rollcall/rollcall/internal/emailaddr"
	"github.com/rollcall/rollcall/internal/event"
	"github.com/rollcall/rollcall/internal/notify"
	"github.com/rollcall/rollcall/internal/personname"
	"github.com/rollcall/rollcall/internal/throttle"
	"github.com/rollcall/rollcall/internal/username"
	"github.com/rollcall/rollcall/internal/viewer"
)

// throttleClient counts one public attempt from the caller's address.
func (s *Service) throttleClient(ctx context.Context, op string) error {
	ok, _, err := s.limiter.Take(ctx, throttle.Rule{Key: op + ":client:" + clientip.Key(clientip.FromContext(ctx)), Limit: s.limits.PerClient, Window: s.limits.Window})
	if err != nil {
		return err
	}
	if !ok {
		return apperr.New(apperr.RateLimited, "too many attempts; try again later")
	}
	return nil
}

// openToken counts a token check against the caller's address, then finds
// the open token of kind.
func (s *Service) openToken(ctx context.Context, tok string, kind invitation.Kind) (*ent.Invitation, error) {
	if err := s.throttleClient(ctx, "token"); err != nil {
		return nil, err
	}
	return credentials.Lookup(ctx, s.client, s.clock.Now(), tok, kind)
}

// Info is what the accept page shows about an invitation.
type Info struct {
	Email, FirstName, LastName, OrganizationName string
	ExpiresAt                                    time.Time
	// Locale is the person's locale ("" when they have none), and
	// DefaultLocale the organisation's: the page speaks the first it can.
	Locale, DefaultLocale string
	// SignInURL is the organisation's sign-in page, or "".
	SignInURL string
}

// Invitation describes the invitation behind tok without spending it, so
// link previews and email scanners cannot use it up.
func (s *Service) Invitation(ctx context.Context, tok string) (*Info, error) {
	inv, err := s.openToken(ctx, tok, invitation.KindINVITATION)
	if err != nil {
		return nil, err
	}
	u := inv.Edges.User
	info := &Info{Email: u.Email, ExpiresAt: inv.ExpiresAt}
	info.Locale, info.DefaultLocale, info.OrganizationName, info.SignInURL = Speaks(u, u.Edges.Organization)
	if u.FirstName != nil {
		info.FirstName = *u.FirstName
	}
	if u.LastName != nil {
		info.LastName = *u.LastName
	}
	return info, nil
}

// ResetInfo describes the password-reset link tok without spending it, as
// Invitation does an invitation's, for the built-in page: it speaks the
// person's language and tells of a dead link before the form is filled in.
func (s *Service) ResetInfo(ctx context.Context, tok string) (*Info, error) {
	inv, err := s.openToken(ctx, tok, invitation.KindPASSWORD_RESET)
	if err != nil {
		return nil, err
	}
	u := inv.Edges.User
	info := &Info{Email: u.Email, ExpiresAt: inv.ExpiresAt}
	info.Locale, info.DefaultLocale, info.OrganizationName, info.SignInURL = Speaks(u, u.Edges.Organization)
	return info, nil
}

// Speaks returns what a page shown to u needs of u and their organisation
// o: u's locale ("" when none), o's default locale, o's name and o's
// sign-in page ("" when none).
func Speaks(u *ent.User, o *ent.Organization) (loc, orgDefault, orgName, signIn string) {
	if u.Locale != nil {
		loc = *u.Locale
	}
	if o.SignInURL != nil {
		signIn = *o.SignInURL
	}
	return loc, o.DefaultLocale, o.Name, signIn
}

// AcceptInput is what a person submits on the accept page.
type AcceptInput struct {
	Token               string
	Username            string // optional
	Password            string
	FirstName, LastName string // optional: keep what the admin entered
}

// Accept spends an invitation token, activates the person with the password
// they chose and signs them in. Of several simultaneous accepts of one token
// exactly one succeeds: spending is a conditional update.
func (s *Service) Accept(ctx context.Context, in AcceptInput) (*auth.Session, error) {
	u, err := s.Activate(ctx, in)
	if err != nil {
		return nil, err
	}
	return s.openFor(ctx, u.ID)
}

// Activate is Accept without signing in (for the built-in page, which has no
// use for a session). It returns the activated person with their
// organisation.
func (s *Service) Activate(ctx context.Context, in AcceptInput) (*ent.User, error) {
	inv, err := s.openToken(ctx, in.Token, invitation.KindINVITATION)
	if err != nil {
		return nil, err
	}
	u := inv.Edges.User
	name := strings.TrimSpace(in.Username)
	if name != "" {
		if username.Check(name) != nil {
			return nil, apperr.Invalid("username", username.Rule)
		}
	}
	first, err := personName("firstName", "first name", in.FirstName)
	if err != nil {
		return nil, err
	}
	last, err := personName("lastName", "last name", in.LastName)
	if err != nil {
		return nil, err
	}
	if err := s.checkPasswordFor("password", in.Password, u.Email, name); err != nil {
		return nil, err
	}
	if name != "" {
		taken, err := s.client.User.Query().
			Where(user.OrganizationID(u.OrganizationID), user.UsernameNormalized(username.Normalize(name)), user.IDNEQ(u.ID)).
			Exist(auth.AsSystem(ctx))
		if err != nil {
			return nil, err
		}
		if taken {
			return nil, &apperr.Error{Code: apperr.Conflict, Message: "that username is taken", Field: "username"}
		}
	}
	hash, err := s.auth.HashPassword(ctx, in.Password)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	sys := auth.AsSystem(ctx)
	inviter := 0 // who was told
	err = db.InTx(sys, s.client, func(tx *ent.Client) error {
		if err := credentials.Spend(sys, tx, inv.ID, now); err != nil {
			return err
		}
		up := tx.User.UpdateOneID(u.ID).SetStatus(user.StatusActive).SetPasswordHash(hash).
			SetAcceptedAt(now).SetMustChangePassword(false).ClearInviteExpiresAt().SetUpdatedAt(now)
		if name != "" {
			up.SetUsername(name).SetUsernameNormalized(username.Normalize(name))
		}
		if first != "" {
			up.SetFirstName(first)
		}
		if last != "" {
			up.SetLastName(last)
		}
		after, err := up.Save(sys)
		if err != nil {
			return fmt.Errorf("activate: %w", err)
		}
		if err := credentials.Revoke(sys, tx, now, "", u.ID); err != nil {
			return err
		}
		if inviter, err = s.notifyInviter(sys, tx, after); err != nil {
			return err
		}
		var invitedBy any // null: no person invited them
		if inviter != 0 {
			invitedBy = event.ID(inviter)
		}
		accepted := event.UserEvent(event.InvitationAccepted, after, u.Edges.Role.Name).With("invitedById", invitedBy)
		if err := s.events.Record(sys, tx, u.OrganizationID, accepted); err != nil {
			return err
		}
		return s.audit.Record(as(sys, u), tx, u.OrganizationID, audit.PersonEvent("invitation.accepted", u))
	})
	if err != nil {
		return nil, err
	}
	if inviter != 0 {
		if err := s.notify.Published(ctx, inviter); err != nil {
			s.log.WarnContext(ctx, "publish notification", slog.String("error", err.Error()))
		}
	}
	return s.withOrganization(sys, u.ID)
}

// withOrganization reads the person id with their organisation (for the
// built-in pages: its language and sign-in page).
func (s *Service) withOrganization(ctx context.Context, id int) (*ent.User, error) {
	u, err := s.client.User.Query().Where(user.ID(id)).WithOrganization().Only(ctx)
	if err != nil {
		return nil, fmt.Errorf("read person: %w", err)
	}
	return u, nil
}

// notifyInviter tells the person who last invited u, through tx, that u
// accepted, and returns who that is (0: nobody). It is the creator of the
// newest invitation a person sent u: reminder rounds, SCIM and API keys
// send invitations nobody in particular sent (createdBy null), and those
// leave the person before them as the inviter.
func (s *Service) notifyInviter(ctx context.Context, tx *ent.Client, u *ent.User) (int, error) {
	last, err := tx.Invitation.Query().
		Where(invitation.UserID(u.ID), invitation.KindEQ(invitation.KindINVITATION), invitation.CreatedByIDNotNil()).
		Order(ent.Desc(invitation.FieldID)).First(ctx)
	if ent.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("find the inviter of person %d: %w", u.ID, err)
	}
	by := *last.CreatedByID
	if by == u.ID {
		return 0, nil
	}
	who := strings.TrimSpace(strings.Join([]string{deref(u.FirstName), deref(u.LastName)}, " "))
	if who == "" {
		who = u.Email
	} else {
		who += " (" + u.Email + ")"
	}
	if _, err := s.notify.Create(ctx, tx, u.OrganizationID, by, notify.KindInvitationAccepted, who+" accepted your invitation.", nil); err != nil {
		return 0, err
	}
	return by, nil
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// personName trims a first or last name given on acceptance and refuses one
// the name rule refuses (package personname), as BAD_USER_INPUT on field
// (what names it in the message).
func personName(field, what, v string) (string, error) {
	v = strings.TrimSpace(v)
	if err := personname.Check(v); err != nil {
		return "", apperr.Invalid(field, "the "+what+" "+err.Error())
	}
	return v, nil
}

// openFor opens a session for the person id.
func (s *Service) openFor(ctx context.Context, id int) (*auth.Session, error) {
	u, err := s.client.User.Query().Where(user.ID(id)).WithRole().Only(auth.AsSystem(ctx))
	if err != nil {
		return nil, fmt.Errorf("read person: %w", err)
	}
	return s.auth.Open(ctx, u)
}

// as makes u the viewer of ctx, for audit events of public flows.
func as(ctx context.Context, u *ent.User) context.Context {
	return viewer.NewContext(ctx, &viewer.Viewer{OrgID: u.OrganizationID, UserID: u.ID, Label: u.Email})
}

// ResetRequest asks for password-reset instructions.
type ResetRequest struct {
	Organization string // slug; empty: every organisation where the address is known
	Email        string
}

// RequestPasswordReset asks for reset instructions to an ACTIVE person, and
// a fresh invitation to an INVITED one. It does the same work whether or
// not the address is known: it counts the request against the address and
// the client (both limited), records it, and wakes a worker (RunResets)
// ResetConfig.Delay later, once the answer has left; the worker looks the
// address up and sends the email. Input
// that no account can match (too long, not UTF-8, NUL) is refused.
func (s *Service) RequestPasswordReset(ctx context.Context, in ResetRequest) error {
	email, slug, err := in.clean()
	if err != nil {
		return err
	}
	// Keyed by the address alone, so naming other organisations does not
	// buy more attempts.
	digest := sha256.Sum256([]byte(email))
	ip := clientip.FromContext(ctx)
	for _, r := range []throttle.Rule{
		// The client's limit first, so a client over it cannot use up
		// someone else's address.
		{Key: "reset:client:" + clientip.Key(ip), Limit: s.limits.PerClient, Window: s.limits.Window},
		{Key: "reset:address:" + hex.EncodeToString(digest[:16]), Limit: s.limits.ResetsPer, Window: s.limits.Window},
	} {
		ok, _, err := s.limiter.Take(ctx, r)
		if err != nil {
			return err
		}
		if !ok {
			return apperr.New(apperr.RateLimited, "too many requests; try again later")
		}
	}
	if len(ip) > maxClientIP {
		ip = ip[:maxClientIP]
	}
	err = s.client.PasswordResetRequest.Create().SetOrganizationSlug(slug).SetEmail(email).
		SetClientIP(ip).SetCreatedAt(s.clock.Now()).Exec(auth.AsSystem(ctx))
	if err != nil {
		return fmt.Errorf("record reset request: %w", err)
	}
	// Not at once: the worker's lookup and email would compete with this
	// answer for the processor, and make it slower for a known address.
	time.AfterFunc(s.resets.Delay, s.wakeResets)
	return nil
}

// clean returns the request's address and slug as they are looked up
// (trimmed, lower-cased), refusing input no account can match: an address
// longer than emailaddr.MaxLength bytes, not UTF-8 or holding NUL, or a slug
// that is not one. Any other address is taken as it is, so the answer does
// not tell which addresses exist.
func (in ResetRequest) clean() (email, slug string, err error) {
	email = strings.ToLower(strings.TrimSpace(in.Email))
	slug = strings.ToLower(strings.TrimSpace(in.Organization))
	if len(email) > emailaddr.MaxLength || !utf8.ValidString(email) || strings.ContainsRune(email, 0) {
		return "", "", apperr.Invalid("email", string(emailaddr.ErrInvalid))
	}
	if slug != "" && !schema.SlugPattern.MatchString(slug) {
		return "", "", apperr.Invalid("organization", "not an organisation's slug: lower-case letters, digits and dashes")
	}
	return email, slug, nil
}

// maxClientIP is the longest client address a reset request keeps.
const maxClientIP = 100

// ResetInput is a new password for a reset link.
type ResetInput struct {
	Token, Password string
}

// ResetPassword spends a reset token, sets the new password, ends every
// session of the person and opens a new one.
func (s *Service) ResetPassword(ctx context.Context, in ResetInput) (*auth.Session, error) {
	u, err := s.SetPassword(ctx, in)
	if err != nil {
		return nil, err
	}
	return s.openFor(ctx, u.ID)
}

// SetPassword is ResetPassword without signing in (for the built-in page);
// it returns the person with their organisation.
func (s *Service) SetPassword(ctx context.Context, in ResetInput) (*ent.User, error) {
	inv, err := s.openToken(ctx, in.Token, invitation.KindPASSWORD_RESET)
	if err != nil {
		return nil, err
	}
	u := inv.Edges.User
	if err := s.checkPassword("password", in.Password, u); err != nil {
		return nil, err
	}
	hash, err := s.auth.HashPassword(ctx, in.Password)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	sys := auth.AsSystem(ctx)
	err = db.InTx(sys, s.client, func(tx *ent.Client) error {
		if err := credentials.Spend(sys, tx, inv.ID, now); err != nil {
			return err
		}
		after, err := tx.User.UpdateOneID(u.ID).SetPasswordHash(hash).SetMustChangePassword(false).SetUpdatedAt(now).Save(sys)
		if err != nil {
			return fmt.Errorf("set password: %w", err)
		}
		if err := credentials.Revoke(sys, tx, now, invitation.KindPASSWORD_RESET, u.ID); err != nil {
			return err
		}
		if err := s.events.Record(sys, tx, u.OrganizationID, event.UserEvent(event.PasswordReset, after, u.Edges.Role.Name)); err != nil {
			return err
		}
		if err := s.auth.EndSessions(sys, tx, 0, u.ID); err != nil {
			return err
		}
		return s.audit.Record(as(sys, u), tx, u.OrganizationID, audit.PersonEvent("password.reset", u))
	})
	if err != nil {
		return nil, err
	}
	return s.withOrganization(sys, u.ID)
}

// ChangePasswordInput is the signed-in person's current and new password.
type ChangePasswordInput struct {
	CurrentPassword, NewPassword string
}

// ChangePassword sets the viewer's own password after checking the current
// one, and ends the viewer's other sessions.
func (s *Service) ChangePassword(ctx context.Context, in ChangePasswordInput) error {
	v, err := viewer.SignedPerson(ctx, "change a password")
	if err != nil {
		return err
	}
	ok, _, err := s.limiter.Take(ctx, throttle.Rule{Key: fmt.Sprintf("password:change:%d", v.UserID), Limit: 10, Window: s.limits.Window})
	if err != nil {
		return err
	}
	if !ok {
		return apperr.New(apperr.RateLimited, "too many attempts; try again later")
	}
	sys := auth.AsSystem(ctx)
	u, err := s.client.User.Get(sys, v.UserID)
	if err != nil {
		return fmt.Errorf("read viewer: %w", err)
	}
	if ok, err := s.auth.VerifyPassword(ctx, u, in.CurrentPassword); err != nil {
		return err
	} else if !ok {
		return apperr.Invalid("currentPassword", "the current password is not correct")
	}
	if in.NewPassword == in.CurrentPassword {
		return apperr.Invalid("newPassword", "choose a password different from the current one")
	}
	if err := s.checkPassword("newPassword", in.NewPassword, u); err != nil {
		return err
	}
	hash, err := s.auth.HashPassword(ctx, in.NewPassword)
	if err != nil {
		return err
	}
	now := s.clock.Now()
	return db.InTx(sys, s.client, func(tx *ent.Client) error {
		if err := tx.User.UpdateOneID(u.ID).SetPasswordHash(hash).SetMustChangePassword(false).SetUpdatedAt(now).Exec(sys); err != nil {
			return fmt.Errorf("set password: %w", err)
		}
		if err := s.auth.EndSessions(sys, tx, v.SessionID, u.ID); err != nil {
			return err
		}
		return s.audit.Record(ctx, tx, u.OrganizationID, audit.PersonEvent("password.changed", u))
	})
}
