// Package apikey manages API keys: secrets that scripts and other backends
// send as "Authorization: Bearer rk_…" to act in one organisation as a
// machine. A key holds permissions chosen from its creator's; what it may do
// at each request is those intersected with its creator's current role, so a
// demoted creator's keys shrink and a deactivated or erased creator's keys
// stop. Only the SHA-256 of a secret is stored: a secret is 32 random bytes,
// so a fast hash is as safe as a slow one and costs nothing per request.
//
// Keys are read from the database at every request (one query by the
// unique hash, joined to the creator and the creator's role), never
// cached, so a revocation or an expiry holds at once on every replica; a
// revocation is also announced on the event bus, so open websockets of the
// key close (auth.Watch).
package apikey

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"entgo.io/ent/dialect/sql"

	"github.com/rollcall/rollcall/ent"
	entkey "github.com/rollcall/rollcall/ent/apikey"
	"github.com/rollcall/rollcall/ent/predicate"
	"github.com/rollcall/rollcall/ent/role"
	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/apperr"
	"github.com/rollcall/rollcall/internal/audit"
	"github.com/rollcall/rollcall/internal/auth"
	"github.com/rollcall/rollcall/internal/clock"
	"github.com/rollcall/rollcall/internal/db"
	"github.com/rollcall/rollcall/internal/events"
	"github.com/rollcall/rollcall/internal/perm"
	"github.com/rollcall/rollcall/internal/plaintext"
	"github.com/rollcall/rollcall/internal/token"
	"github.com/rollcall/rollcall/internal/viewer"
)

// TouchEvery is the granularity of lastUsedAt: a key's use is written at
// most once per this interval, so a busy key costs one write a minute, not
// one per request.
const TouchEvery = time.Minute

// prefixLen is how much of a secret a key's prefix shows: "rk_" and eight
// characters (48 of its 256 random bits).
const prefixLen = len(token.KeyPrefix) + 8

// maxNameBytes is the longest key name.
const maxNameBytes = 100

// maxTouched bounds the memory of recent writes before stale entries go.
const maxTouched = 4096

// Service creates, lists, revokes and authenticates API keys.
type Service struct {
	client *ent.Client
	clock  clock.Clock
	audit  *audit.Log
	bus    events.Bus // nil: revocations are not announced
	log    *slog.Logger

	// touched is when this replica last wrote each key's last_used_at. It
	// only spares writes between requests that read the same stale value
	// at once; the conditional UPDATE keeps last_used_at right without it.
	mu      sync.Mutex
	touched map[int]time.Time
}

// New returns the API key service. bus, when not nil, carries revocations
// to every replica's open websockets.
func New(client *ent.Client, clk clock.Clock, auditLog *audit.Log, bus events.Bus, log *slog.Logger) *Service {
	return &Service{client: client, clock: clk, audit: auditLog, bus: bus, log: log, touched: map[int]time.Time{}}
}

// Label names a key in the audit log and in messages: its name and prefix,
// e.g. `API key "deploy" (rk_ab12cd34…)`.
func Label(k *ent.ApiKey) string {
	return fmt.Sprintf("API key %q (%s…)", k.Name, k.Prefix)
}

// CreateInput is a new key's name, permissions and optional expiry.
type CreateInput struct {
	Name        string
	Permissions []string
	ExpiresAt   *time.Time
}

// Created is a new key and its secret, which is shown only here.
type Created struct {
	Key    *ent.ApiKey
	Secret string
}

// Create makes a key for the viewer's organisation. It needs
// organization.manage and a person: a key cannot make keys (one that
// expires could otherwise outlive itself). The permissions must be known
// and held by the creator (BAD_USER_INPUT for an unknown one, FORBIDDEN for
// one the creator lacks, both naming the field); the name has 1 to 100
// bytes of plain text; an expiry must lie in the future.
func (s *Service) Create(ctx context.Context, in CreateInput) (*Created, error) {
	v, err := viewer.SignedPerson(ctx, "create API keys")
	if err != nil {
		return nil, err
	}
	if err := viewer.Require(ctx, perm.OrganizationManage); err != nil {
		return nil, err
	}
	name, err := checkName(in.Name)
	if err != nil {
		return nil, err
	}
	perms, err := checkPermissions(v, in.Permissions)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	if in.ExpiresAt != nil && !in.ExpiresAt.After(now) {
		return nil, apperr.Invalid("expiresAt", "the expiry must be in the future")
	}
	secret, hash := token.NewKey()
	var k *ent.ApiKey
	err = db.InTx(ctx, s.client, func(tx *ent.Client) error {
		k, err = tx.ApiKey.Create().SetOrganizationID(v.OrgID).SetName(name).
			SetPrefix(secret[:prefixLen]).SetSecretHash(hash).SetPermissions(perms).
			SetCreatedByID(v.UserID).SetCreatedAt(now).SetNillableExpiresAt(in.ExpiresAt).
			Save(ctx)
		if err != nil {
			return fmt.Errorf("create API key: %w", err)
		}
		details := map[string]any{"permissions": perms}
		if in.ExpiresAt != nil {
			details["expiresAt"] = in.ExpiresAt.UTC().Format(time.RFC3339)
		}
		return s.audit.Record(ctx, tx, v.OrgID, audit.Event{Action: "api_key.created",
			TargetType: "ApiKey", TargetID: k.ID, TargetLabel: Label(k), Details: details})
	})
	if err != nil {
		return nil, err
	}
	return &Created{Key: k.Unwrap(), Secret: secret}, nil
}

// checkName trims a key's name and refuses an empty or over-long one, or
// one holding a character the text rule refuses in names.
func checkName(raw string) (string, error) {
	name := strings.TrimSpace(raw)
	if name == "" || len(name) > maxNameBytes {
		return "", apperr.Invalid("name", fmt.Sprintf("a key's name has 1 to %d characters", maxNameBytes))
	}
	if err := plaintext.Check(plaintext.Name, name); err != nil {
		return "", apperr.Invalid("name", "the key's name "+err.Error())
	}
	return name, nil
}

// checkPermissions returns the key's permissions, without repeats, in the
// order of perm.All; each must be known and held by v.
func checkPermissions(v *viewer.Viewer, asked []string) ([]string, error) {
	if len(asked) == 0 {
		return nil, apperr.Invalid("permissions", "give the key at least one permission")
	}
	for _, p := range asked {
		if !perm.Valid(p) {
			return nil, apperr.Invalid("permissions", fmt.Sprintf("unknown permission %q; known: %s", p, strings.Join(perm.All(), ", ")))
		}
		if !v.Can(p) {
			return nil, &apperr.Error{Code: apperr.Forbidden, Field: "permissions",
				Message: fmt.Sprintf("you cannot give a key %s: you do not hold it", p)}
		}
	}
	out := []string{}
	for _, p := range perm.All() {
		if slices.Contains(asked, p) {
			out = append(out, p)
		}
	}
	return out, nil
}

// List returns the organisation's keys, revoked ones included, newest
// first. Needs organization.manage.
func (s *Service) List(ctx context.Context) ([]*ent.ApiKey, error) {
	if err := viewer.Require(ctx, perm.OrganizationManage); err != nil {
		return nil, err
	}
	// Creators in one more query, not one per key (those the viewer may
	// not read stay unloaded, and show as null).
	keys, err := s.client.ApiKey.Query().WithCreatedBy().
		Order(ent.Desc(entkey.FieldCreatedAt), ent.Desc(entkey.FieldID)).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("list API keys: %w", err)
	}
	return keys, nil
}

// Revoke stops key id at once, on every replica: its next request is
// UNAUTHENTICATED and its open websockets close. Needs organization.manage;
// another organisation's key is NOT_FOUND. Revoking a revoked key changes
// nothing (its revokedAt stays the first one).
func (s *Service) Revoke(ctx context.Context, id int) (*ent.ApiKey, error) {
	v, err := viewer.Signed(ctx)
	if err != nil {
		return nil, err
	}
	if err := viewer.Require(ctx, perm.OrganizationManage); err != nil {
		return nil, err
	}
	k, err := s.client.ApiKey.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, apperr.New(apperr.NotFound, "API key not found")
	}
	if err != nil {
		return nil, fmt.Errorf("read API key %d: %w", id, err)
	}
	revoked := false
	now := s.clock.Now()
	err = db.InTx(ctx, s.client, func(tx *ent.Client) error {
		n, err := tx.ApiKey.Update().Where(entkey.ID(id), entkey.RevokedAtIsNil()).SetRevokedAt(now).Save(ctx)
		if err != nil {
			return fmt.Errorf("revoke API key %d: %w", id, err)
		}
		if revoked = n == 1; !revoked {
			return nil
		}
		return s.audit.Record(ctx, tx, v.OrgID, audit.Event{Action: "api_key.revoked",
			TargetType: "ApiKey", TargetID: k.ID, TargetLabel: Label(k)})
	})
	if err != nil {
		return nil, err
	}
	if revoked {
		s.announce(ctx, id)
	}
	return s.client.ApiKey.Get(ctx, id)
}

// announce tells every replica that key id stopped, so its websockets
// close. A lost event only delays that to the watchers' next check; the
// key's requests are refused at once regardless.
func (s *Service) announce(ctx context.Context, id int) {
	s.mu.Lock()
	delete(s.touched, id)
	s.mu.Unlock()
	if s.bus == nil {
		return
	}
	if err := s.bus.Publish(context.WithoutCancel(ctx), events.Event{Topic: auth.KeyTopic(id)}); err != nil {
		s.log.WarnContext(ctx, "announce revoked API key", slog.Int("api_key_id", id), slog.String("error", err.Error()))
	}
}

// Authenticate returns the machine viewer of secret, recording the use
// (see TouchEvery). A secret that is malformed, unknown, revoked or expired,
// or whose key's creator is erased or no longer ACTIVE, is
// auth.ErrInvalidSession, the same for each.
func (s *Service) Authenticate(ctx context.Context, secret string) (*viewer.Viewer, error) {
	if !token.WellFormedKey(secret) {
		return nil, auth.ErrInvalidSession
	}
	return s.viewerOf(ctx, entkey.SecretHash(token.Hash(secret)), true)
}

// Current re-reads the key behind v and returns its viewer as it is now
// (the creator's current role bounds it); with touch it records the use.
func (s *Service) Current(ctx context.Context, v *viewer.Viewer, touch bool) (*viewer.Viewer, error) {
	return s.viewerOf(ctx, entkey.ID(v.APIKeyID), touch)
}

// viewerOf reads the key matching which with its creator's status, role
// and the role's permissions, in one query (a key is checked at every
// request), and returns its viewer if it works.
func (s *Service) viewerOf(ctx context.Context, which predicate.ApiKey, touch bool) (*viewer.Viewer, error) {
	ctx = auth.AsSystem(ctx)
	now := s.clock.Now()
	k, err := s.client.ApiKey.Query().Where(which).
		Modify(func(sel *sql.Selector) {
			u := sql.Table(user.Table).As("creator")
			r := sql.Table(role.Table).As("creator_role")
			sel.LeftJoin(u).On(sel.C(entkey.FieldCreatedByID), u.C(user.FieldID)).
				LeftJoin(r).On(u.C(user.FieldRoleID), r.C(role.FieldID)).
				// Never NULL (an erased creator reads as none), so every
				// driver reports the columns' types.
				AppendSelectExprAs(sql.Expr(fmt.Sprintf("COALESCE(%s, '')", u.C(user.FieldStatus))), colCreatorStatus).
				AppendSelectExprAs(sql.Expr(fmt.Sprintf("COALESCE(%s, 0)", u.C(user.FieldRoleID))), colCreatorRole).
				AppendSelectExprAs(sql.Expr(fmt.Sprintf("COALESCE(CAST(%s AS TEXT), '')", r.C(role.FieldPermissions))), colCreatorPerms)
		}).
		Only(ctx)
	if ent.IsNotFound(err) {
		return nil, auth.ErrInvalidSession
	}
	if err != nil {
		return nil, fmt.Errorf("find API key: %w", err)
	}
	c, err := creatorOf(k)
	if err != nil {
		return nil, fmt.Errorf("read creator of API key %d: %w", k.ID, err)
	}
	switch {
	case k.RevokedAt != nil,
		k.ExpiresAt != nil && !now.Before(*k.ExpiresAt),
		k.CreatedByID == nil, // erased
		c.status != user.StatusActive,
		!c.hasRole:
		return nil, auth.ErrInvalidSession
	}
	if touch {
		if err := s.touch(ctx, k, now); err != nil {
			return nil, err
		}
	}
	held := c.permissions
	perms := slices.DeleteFunc(slices.Clone(k.Permissions), func(p string) bool { return !slices.Contains(held, p) })
	v := &viewer.Viewer{OrgID: k.OrganizationID, APIKeyID: k.ID, KeyCreatorID: *k.CreatedByID, RoleID: c.roleID,
		Label: Label(k), Permissions: perms, KeyCreatorPermissions: slices.Clone(held)}
	if k.ExpiresAt != nil {
		v.KeyExpiresAt = *k.ExpiresAt
	}
	return v, nil
}

// The columns viewerOf adds to a key's row.
const (
	colCreatorStatus = "creator_status"
	colCreatorRole   = "creator_role_id"
	colCreatorPerms  = "creator_permissions"
)

// creator is what a key's check needs of its creator.
type creator struct {
	status      user.Status
	roleID      int
	hasRole     bool
	permissions []string
}

// creatorOf reads the creator columns viewerOf joined to key k (empty when
// the creator is erased). Drivers hand text back as strings or bytes.
func creatorOf(k *ent.ApiKey) (creator, error) {
	var c creator
	status, _ := k.Value(colCreatorStatus)
	c.status = user.Status(asText(status))
	roleID, _ := k.Value(colCreatorRole)
	id, ok := roleID.(int64) // database/sql hands integers back as int64
	if !ok {
		return c, fmt.Errorf("role id of type %T", roleID)
	}
	c.roleID = int(id)
	perms, _ := k.Value(colCreatorPerms)
	text := asText(perms)
	if text == "" {
		return c, nil
	}
	c.hasRole = true
	if err := json.Unmarshal([]byte(text), &c.permissions); err != nil {
		return c, fmt.Errorf("role permissions: %w", err)
	}
	return c, nil
}

func asText(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case []byte:
		return string(t)
	}
	return ""
}

// touch records that k was used at now, at most once per TouchEvery: not
// when the stored value is that recent, nor when this replica wrote it that
// recently (requests arriving together all read the old value); and the
// UPDATE's condition keeps replicas from writing it more often between them.
func (s *Service) touch(ctx context.Context, k *ent.ApiKey, now time.Time) error {
	if k.LastUsedAt != nil && now.Sub(*k.LastUsedAt) < TouchEvery {
		return nil
	}
	if !s.due(k.ID, now) {
		return nil
	}
	err := s.client.ApiKey.Update().
		Where(entkey.ID(k.ID), entkey.Or(entkey.LastUsedAtIsNil(), entkey.LastUsedAtLTE(now.Add(-TouchEvery)))).
		SetLastUsedAt(now).Exec(ctx)
	if err != nil {
		s.mu.Lock()
		delete(s.touched, k.ID)
		s.mu.Unlock()
		return fmt.Errorf("record use of API key %d: %w", k.ID, err)
	}
	return nil
}

// due reports whether this replica should write key id's use at now, and
// if so notes that it does.
func (s *Service) due(id int, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.touched[id]; ok && !now.Before(t) && now.Sub(t) < TouchEvery {
		return false
	}
	s.touched[id] = now
	if len(s.touched) > maxTouched {
		for other, t := range s.touched {
			if now.Sub(t) >= TouchEvery {
				delete(s.touched, other)
			}
		}
	}
	return true
}
