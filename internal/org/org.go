// Package org creates organisations with their built-in roles and Owner, and
// reads the viewer's organisation.
package org

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"unicode"

	"entgo.io/ent/dialect/sql"
	"entgo.io/ent/dialect/sql/sqljson"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/organization"
	"github.com/rollcall/rollcall/ent/role"
	"github.com/rollcall/rollcall/ent/schema"
	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/apperr"
	"github.com/rollcall/rollcall/internal/audit"
	"github.com/rollcall/rollcall/internal/auth"
	"github.com/rollcall/rollcall/internal/clock"
	"github.com/rollcall/rollcall/internal/db"
	"github.com/rollcall/rollcall/internal/emailaddr"
	"github.com/rollcall/rollcall/internal/locale"
	"github.com/rollcall/rollcall/internal/perm"
	"github.com/rollcall/rollcall/internal/plaintext"
	"github.com/rollcall/rollcall/internal/reminder"
	"github.com/rollcall/rollcall/internal/token"
	"github.com/rollcall/rollcall/internal/viewer"
)

// Service manages organisations.
type Service struct {
	client *ent.Client
	clock  clock.Clock
	hash   func(ctx context.Context, password string) (string, error)
	audit  *audit.Log
}

// New returns the organisation service; hash hashes owner passwords (the
// auth service's bounded hasher).
func New(client *ent.Client, clk clock.Clock, hash func(context.Context, string) (string, error), log *audit.Log) *Service {
	return &Service{client: client, clock: clk, hash: hash, audit: log}
}

// CreateInput describes a new organisation and its first Owner.
type CreateInput struct {
	Slug          string
	Name          string
	OwnerEmail    string
	OwnerPassword string // generated when empty
}

// Created is a new organisation, its Owner, and the Owner's password when
// it was generated (to be shown once).
type Created struct {
	Organization      *ent.Organization
	Owner             *ent.User
	GeneratedPassword string
}

// Create adds an organisation with the built-in roles and an active Owner, in
// one transaction. It is system work: the caller is an operator, not a viewer.
// The name (the slug when empty) follows the same rules as in Update.
func (s *Service) Create(ctx context.Context, in CreateInput) (*Created, error) {
	slug, err := cleanSlug(in.Slug)
	if err != nil {
		return nil, err
	}
	name := strings.TrimSpace(in.Name)
	if name == "" {
		name = slug
	}
	if err := checkName(name); err != nil {
		return nil, err
	}
	email, normalized, err := emailaddr.Normalize(in.OwnerEmail)
	if err != nil {
		return nil, apperr.Invalid("ownerEmail", err.Error())
	}
	out := &Created{}
	password := in.OwnerPassword
	if password == "" {
		password = token.Password()
		out.GeneratedPassword = password
	}
	ctx = auth.AsSystem(ctx)
	now := s.clock.Now()
	hash, err := s.hash(ctx, password)
	if err != nil {
		return nil, fmt.Errorf("create organisation %q: %w", slug, err)
	}
	err = db.InTx(ctx, s.client, func(tx *ent.Client) error {
		taken, err := tx.Organization.Query().Where(organization.Slug(slug)).Exist(ctx)
		if err != nil {
			return err
		}
		if taken {
			return apperr.New(apperr.Conflict, fmt.Sprintf("organisation %q already exists", slug))
		}
		o, err := tx.Organization.Create().SetSlug(slug).SetName(name).
			SetCreatedAt(now).SetUpdatedAt(now).Save(ctx)
		if err != nil {
			return err
		}
		builtins := perm.BuiltinRoles()
		creates := make([]*ent.RoleCreate, len(builtins))
		for i, r := range builtins {
			creates[i] = tx.Role.Create().SetOrganizationID(o.ID).SetName(r.Name).
				SetPermissions(r.Permissions).SetBuiltin(true).SetCreatedAt(now).SetUpdatedAt(now)
		}
		if err := tx.Role.CreateBulk(creates...).Exec(ctx); err != nil {
			return err
		}
		owner, err := tx.Role.Query().Where(role.OrganizationID(o.ID), role.Name(perm.Owner)).Only(ctx)
		if err != nil {
			return err
		}
		u, err := tx.User.Create().SetOrganizationID(o.ID).SetRoleID(owner.ID).
			SetEmail(email).SetEmailNormalized(normalized).
			SetStatus(user.StatusActive).SetPasswordHash(hash).SetAcceptedAt(now).
			SetCreatedAt(now).SetUpdatedAt(now).Save(ctx)
		if err != nil {
			return err
		}
		out.Organization, out.Owner = o, u
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("create organisation %q: %w", slug, err)
	}
	return out, nil
}

// Bootstrap creates the first organisation when the database has none, and
// returns nil when it already has one.
func (s *Service) Bootstrap(ctx context.Context, in CreateInput) (*Created, error) {
	exists, err := s.client.Organization.Query().Exist(auth.AsSystem(ctx))
	if err != nil {
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	if exists {
		return nil, nil
	}
	return s.Create(ctx, in)
}

// Current returns the viewer's organisation.
func (s *Service) Current(ctx context.Context) (*ent.Organization, error) {
	v, err := viewer.Signed(ctx)
	if err != nil {
		return nil, err
	}
	o, err := s.client.Organization.Get(ctx, v.OrgID)
	if err != nil {
		return nil, fmt.Errorf("read organisation: %w", err)
	}
	return o, nil
}

// UpdateInput holds the organisation settings to change; nil leaves one as
// it is. An empty ReplyTo or SignInURL clears it.
type UpdateInput struct {
	Name                                  *string
	Products                              []string // nil: unchanged
	InvitationTTLSeconds, ResetTTLSeconds *int
	EmailFromName, ReplyTo                *string
	DefaultLocale                         *string          // a BCP 47 tag, stored canonical
	SignInURL                             *string          // an http or https URL
	Reminders                             *reminder.Policy // replaced whole; nil: unchanged
	// ScimInviteOnProvision: people created over SCIM get invited.
	ScimInviteOnProvision *bool
}

// MaxSignInURL is the longest sign-in URL an organisation may set, in bytes.
const MaxSignInURL = 2000

// MaxTTLSeconds is the longest a link may live (30 days).
const MaxTTLSeconds = 30 * 24 * 3600

// Update changes the viewer's organisation. Needs organization.manage.
// A product taken away is taken from everyone who had it. The name, the
// sender name and product names are refused when they hold a character the
// text rule refuses in names (package plaintext): they end up in email
// headers and subjects, where a line break would break every email. The
// reply-to address is checked by emailaddr.Normalize, rule included. The
// default locale must be a known BCP 47 tag (locale.Check) and the sign-in
// URL an absolute http or https URL (CheckSignInURL). Bad input is
// BAD_USER_INPUT naming the field, and changes nothing.
func (s *Service) Update(ctx context.Context, in UpdateInput) (*ent.Organization, error) {
	if err := viewer.Require(ctx, perm.OrganizationManage); err != nil {
		return nil, err
	}
	o, err := s.Current(ctx)
	if err != nil {
		return nil, err
	}
	var sets []func(*ent.OrganizationUpdateOne)
	if in.Name != nil {
		name := strings.TrimSpace(*in.Name)
		if err := checkName(name); err != nil {
			return nil, err
		}
		sets = append(sets, func(up *ent.OrganizationUpdateOne) { up.SetName(name) })
	}
	var removed []string
	if in.Products != nil {
		products, err := cleanProducts(in.Products)
		if err != nil {
			return nil, err
		}
		for _, p := range o.Products {
			if !slices.Contains(products, p) {
				removed = append(removed, p)
			}
		}
		sets = append(sets, func(up *ent.OrganizationUpdateOne) { up.SetProducts(products) })
	}
	for field, ttl := range map[string]*int{"invitationTTLSeconds": in.InvitationTTLSeconds, "resetTTLSeconds": in.ResetTTLSeconds} {
		if err := checkTTL(field, ttl); err != nil {
			return nil, err
		}
	}
	if in.InvitationTTLSeconds != nil {
		sets = append(sets, func(up *ent.OrganizationUpdateOne) { up.SetInvitationTTLSeconds(*in.InvitationTTLSeconds) })
	}
	if in.ResetTTLSeconds != nil {
		sets = append(sets, func(up *ent.OrganizationUpdateOne) { up.SetResetTTLSeconds(*in.ResetTTLSeconds) })
	}
	if in.EmailFromName != nil {
		name := strings.TrimSpace(*in.EmailFromName)
		if err := checkSenderName(name); err != nil {
			return nil, err
		}
		sets = append(sets, func(up *ent.OrganizationUpdateOne) { up.SetEmailFromName(name) })
	}
	if in.ReplyTo != nil {
		addr, err := cleanReplyTo(*in.ReplyTo)
		if err != nil {
			return nil, err
		}
		if addr == "" {
			sets = append(sets, func(up *ent.OrganizationUpdateOne) { up.ClearReplyTo() })
		} else {
			sets = append(sets, func(up *ent.OrganizationUpdateOne) { up.SetReplyTo(addr) })
		}
	}
	if in.DefaultLocale != nil {
		loc, err := locale.Check("defaultLocale", *in.DefaultLocale)
		if err != nil {
			return nil, err
		}
		sets = append(sets, func(up *ent.OrganizationUpdateOne) { up.SetDefaultLocale(loc) })
	}
	if in.SignInURL != nil {
		if strings.TrimSpace(*in.SignInURL) == "" {
			sets = append(sets, func(up *ent.OrganizationUpdateOne) { up.ClearSignInURL() })
		} else {
			u, err := CheckSignInURL(*in.SignInURL)
			if err != nil {
				return nil, err
			}
			sets = append(sets, func(up *ent.OrganizationUpdateOne) { up.SetSignInURL(u) })
		}
	}
	if in.ScimInviteOnProvision != nil {
		sets = append(sets, func(up *ent.OrganizationUpdateOne) { up.SetScimInviteOnProvision(*in.ScimInviteOnProvision) })
	}
	if p := in.Reminders; p != nil {
		if err := reminder.Check(*p); err != nil {
			return nil, err
		}
		hours := append([]int{}, p.AfterHours...)
		sets = append(sets, func(up *ent.OrganizationUpdateOne) {
			up.SetRemindersEnabled(p.Enabled).SetReminderAfterHours(hours).SetNillableReminderExpiryWarningHours(p.ExpiryWarningHours)
			if p.ExpiryWarningHours == nil {
				up.ClearReminderExpiryWarningHours()
			}
		})
	}
	err = db.InTx(ctx, s.client, func(tx *ent.Client) error {
		up := tx.Organization.UpdateOneID(o.ID).SetUpdatedAt(s.clock.Now())
		for _, f := range sets {
			f(up)
		}
		if err := up.Exec(ctx); err != nil {
			return fmt.Errorf("update organisation: %w", err)
		}
		if err := withdrawProducts(ctx, tx, o.ID, removed); err != nil {
			return err
		}
		return s.audit.Record(ctx, tx, o.ID, audit.Event{Action: "organization.updated",
			TargetType: "Organization", TargetID: o.ID, TargetLabel: o.Slug})
	})
	if err != nil {
		return nil, err
	}
	return s.Current(ctx)
}

// CheckSignInURL trims raw and refuses, as BAD_USER_INPUT on signInURL,
// anything but an absolute http or https URL with a host, of at most
// MaxSignInURL bytes, without spaces or control characters, and without a
// user name or password (the link goes out in every email).
func CheckSignInURL(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	bad := func(msg string) (string, error) { return "", apperr.Invalid("signInURL", msg) }
	if len(raw) > MaxSignInURL {
		return bad(fmt.Sprintf("a sign-in URL has at most %d bytes", MaxSignInURL))
	}
	if strings.ContainsFunc(raw, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return bad("a sign-in URL holds no spaces or control characters")
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() {
		return bad("the sign-in URL must be an absolute URL, such as https://app.example.com/login")
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
	default:
		return bad(fmt.Sprintf("the sign-in URL must start with https:// or http://, not %s:", u.Scheme))
	}
	switch {
	case u.Host == "" || u.Hostname() == "":
		return bad("the sign-in URL has no host, as in https://app.example.com/login")
	case u.User != nil:
		return bad("the sign-in URL may not hold a user name or password")
	case u.Opaque != "":
		return bad("the sign-in URL must be an absolute URL, such as https://app.example.com/login")
	}
	return raw, nil
}

// withdrawProducts takes products away from everyone of organisation orgID
// who has them (another organisation's product of the same name is its own).
func withdrawProducts(ctx context.Context, client *ent.Client, orgID int, products []string) error {
	for _, p := range products {
		holders, err := client.User.Query().
			Where(user.OrganizationID(orgID), func(s *sql.Selector) { s.Where(sqljson.ValueContains(user.FieldProducts, p)) }).
			All(auth.AsSystem(ctx))
		if err != nil {
			return fmt.Errorf("find holders of %s: %w", p, err)
		}
		for _, u := range holders {
			kept := slices.DeleteFunc(slices.Clone(u.Products), func(x string) bool { return x == p })
			if err := client.User.UpdateOneID(u.ID).SetProducts(kept).Exec(auth.AsSystem(ctx)); err != nil {
				return fmt.Errorf("withdraw %s: %w", p, err)
			}
		}
	}
	return nil
}

// checkName refuses an organisation name (trimmed) that is empty, longer
// than 200 bytes, or holds a character the text rule refuses in names.
func checkName(name string) error {
	if name == "" || len(name) > 200 {
		return apperr.Invalid("name", "a name has 1 to 200 characters")
	}
	if err := plaintext.Check(plaintext.Name, name); err != nil {
		return apperr.Invalid("name", "the organisation name "+err.Error())
	}
	return nil
}

// cleanSlug lower-cases and trims an organisation's slug, and refuses one
// that is not lower-case letters, digits and dashes (schema.SlugPattern).
func cleanSlug(s string) (string, error) {
	slug := strings.ToLower(strings.TrimSpace(s))
	if !schema.SlugPattern.MatchString(slug) {
		return "", apperr.Invalid("slug", "slug must be lower-case letters, digits and dashes")
	}
	return slug, nil
}

// checkTTL refuses a link lifetime (field, in seconds; nil when unchanged)
// outside 1 second to MaxTTLSeconds.
func checkTTL(field string, ttl *int) error {
	if ttl != nil && (*ttl < 1 || *ttl > MaxTTLSeconds) {
		return apperr.Invalid(field, fmt.Sprintf("must be from 1 to %d seconds (30 days)", MaxTTLSeconds))
	}
	return nil
}

// checkSenderName refuses a sender name (trimmed; "" is the default) that
// holds a character the text rule refuses in names, or is longer than 200
// bytes: it goes into every email's From header.
func checkSenderName(name string) error {
	if err := plaintext.Check(plaintext.Name, name); err != nil {
		return apperr.Invalid("emailFromName", "the sender name "+err.Error())
	}
	if len(name) > 200 {
		return apperr.Invalid("emailFromName", "a sender name has at most 200 characters on one line")
	}
	return nil
}

// cleanReplyTo returns the reply-to address as stored, "" to clear it (a
// blank input), refusing what emailaddr.Normalize refuses.
func cleanReplyTo(v string) (string, error) {
	if strings.TrimSpace(v) == "" {
		return "", nil
	}
	addr, _, err := emailaddr.Normalize(v)
	if err != nil {
		return "", apperr.Invalid("replyTo", err.Error())
	}
	return addr, nil
}

// cleanProducts trims, checks and de-duplicates product names.
func cleanProducts(in []string) ([]string, error) {
	out := []string{}
	for _, p := range in {
		p = strings.TrimSpace(p)
		if p == "" || len(p) > 100 {
			return nil, apperr.Invalid("products", "a product name has 1 to 100 characters")
		}
		if err := plaintext.Check(plaintext.Name, p); err != nil {
			return nil, apperr.Invalid("products", "a product name "+err.Error())
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	if len(out) > 100 {
		return nil, apperr.Invalid("products", "at most 100 products")
	}
	return out, nil
}
