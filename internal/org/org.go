// Package org creates organisations with their built-in roles and Owner, and
// reads the viewer's organisation.
package org

import (
	"context"
	"fmt"
	"strings"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/organization"
	"github.com/rollcall/rollcall/ent/role"
	"github.com/rollcall/rollcall/ent/schema"
	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/apperr"
	"github.com/rollcall/rollcall/internal/auth"
	"github.com/rollcall/rollcall/internal/clock"
	"github.com/rollcall/rollcall/internal/emailaddr"
	"github.com/rollcall/rollcall/internal/perm"
	"github.com/rollcall/rollcall/internal/token"
	"github.com/rollcall/rollcall/internal/viewer"
)

// Service manages organisations.
type Service struct {
	client *ent.Client
	clock  clock.Clock
	hash   func(password string) string
}

// New returns the organisation service; hash hashes owner passwords.
func New(client *ent.Client, clk clock.Clock, hash func(string) string) *Service {
	return &Service{client: client, clock: clk, hash: hash}
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
func (s *Service) Create(ctx context.Context, in CreateInput) (*Created, error) {
	slug := strings.ToLower(strings.TrimSpace(in.Slug))
	if !schema.SlugPattern.MatchString(slug) {
		return nil, apperr.Invalid("slug", "slug must be lower-case letters, digits and dashes")
	}
	name := strings.TrimSpace(in.Name)
	if name == "" {
		name = slug
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
	hash := s.hash(password)
	err = withTx(ctx, s.client, func(tx *ent.Tx) error {
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

// withTx runs fn in a transaction, rolling back on error.
func withTx(ctx context.Context, client *ent.Client, fn func(*ent.Tx) error) error {
	tx, err := client.Tx(ctx)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}
