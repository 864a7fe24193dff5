// Package auth signs people in and out and turns a bearer token back into a
// viewer. Sessions are opaque random tokens stored as SHA-256 hashes, with a
// sliding idle expiry under a fixed maximum lifetime.
package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/organization"
	"github.com/rollcall/rollcall/ent/predicate"
	"github.com/rollcall/rollcall/ent/privacy"
	"github.com/rollcall/rollcall/ent/session"
	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/apperr"
	"github.com/rollcall/rollcall/internal/clientip"
	"github.com/rollcall/rollcall/internal/clock"
	"github.com/rollcall/rollcall/internal/events"
	"github.com/rollcall/rollcall/internal/throttle"
	"github.com/rollcall/rollcall/internal/token"
	"github.com/rollcall/rollcall/internal/viewer"
)

// AsSystem returns a context that passes every privacy rule. Only services
// use it, for work no signed-in person performs (sign-in, bootstrap, workers).
func AsSystem(ctx context.Context) context.Context {
	return privacy.DecisionContext(ctx, privacy.Allow)
}

// Config tunes sessions, password hashing and sign-in throttling.
type Config struct {
	SessionIdle time.Duration // a session unused this long expires
	SessionMax  time.Duration // no session lives longer
	Argon2      Argon2Params
	// HashConcurrency is the most argon2id computations run at once;
	// below 1, DefaultHashConcurrency.
	HashConcurrency int
	// At most AccountAttempts sign-ins per login name and ClientFailures
	// failed ones per client address, within each ThrottleWindow.
	AccountAttempts int
	ClientFailures  int
	ThrottleWindow  time.Duration
	// SessionCheck is how often a watched session (an open websocket) is
	// re-read, in case the event that ended it was lost; 0 means 30 seconds.
	SessionCheck time.Duration
}

// DefaultConfig is the production configuration.
func DefaultConfig() Config {
	return Config{
		SessionIdle:     24 * time.Hour,
		SessionMax:      30 * 24 * time.Hour,
		Argon2:          DefaultArgon2,
		AccountAttempts: 10,
		ClientFailures:  50,
		ThrottleWindow:  15 * time.Minute,
		SessionCheck:    defaultSessionCheck,
	}
}

// touchEvery limits how often a session's sliding expiry is written.
const touchEvery = time.Minute

// Service signs people in and authenticates their requests.
type Service struct {
	client  *ent.Client
	clock   clock.Clock
	limiter *throttle.Limiter
	cfg     Config
	log     *slog.Logger
	bus     events.Bus // nil: ended sessions are not announced
	hasher  *Hasher
	keys    Keys // nil: API keys are not accepted
}

// Keys authenticates API keys (package apikey implements it). Both methods
// return ErrInvalidSession for a key that is unknown, revoked or expired,
// or whose creator may no longer sign in, and nothing else for those.
type Keys interface {
	// Authenticate returns the machine viewer of an API key secret,
	// recording its use.
	Authenticate(ctx context.Context, secret string) (*viewer.Viewer, error)
	// Current re-reads the key behind v (v.APIKeyID) and returns the viewer
	// as it is now; with touch, it records the use.
	Current(ctx context.Context, v *viewer.Viewer, touch bool) (*viewer.Viewer, error)
}

// New returns the auth service.
func New(client *ent.Client, clk clock.Clock, limiter *throttle.Limiter, cfg Config, log *slog.Logger, opts ...Option) *Service {
	s := &Service{client: client, clock: clk, limiter: limiter, cfg: cfg, log: log,
		hasher: NewHasher(cfg.Argon2, cfg.HashConcurrency)}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Option configures a Service.
type Option func(*Service)

// WithKeys accepts API key secrets (token.KeyPrefix…) wherever a session
// token is accepted, authenticated by keys.
func WithKeys(keys Keys) Option { return func(s *Service) { s.keys = keys } }

// WithBus announces ended sessions on bus, so that Watch ends websockets at
// once. Without it, Watch notices only when it re-reads the session.
func WithBus(bus events.Bus) Option { return func(s *Service) { s.bus = bus } }

// HashPassword hashes a password with the configured argon2id parameters,
// waiting (with ctx) for its turn among the hashes running at once.
func (s *Service) HashPassword(ctx context.Context, password string) (string, error) {
	return s.hasher.Hash(ctx, password)
}

// Hasher is the service's password hasher, shared by everything that hashes
// or checks a password.
func (s *Service) Hasher() *Hasher { return s.hasher }

// LoginInput is what a person types to sign in.
type LoginInput struct {
	Organization string // slug; may be empty when the login is unique
	Login        string // email or username
	Password     string
	ClientIP     string
}

// Session is a new session's token, shown once, and its person.
type Session struct {
	Token string
	User  *ent.User
}

var errBadCredentials = apperr.New(apperr.Unauthenticated, "invalid login or password")

// Login checks a login and password and opens a session. An unknown login, a
// wrong password (chosen or generated) and an account that may not sign in
// get the same answer after the same work: two throttle statements, one
// query and one argon2id computation (see Hasher.Check). Attempts are
// throttled per login name and failures per client address; both are
// counted before the password is checked, in one statement each, so
// parallel attempts cannot overrun either limit. A sign-in that succeeds
// gives its client failure back.
func (s *Service) Login(ctx context.Context, in LoginInput) (*Session, error) {
	ctx = AsSystem(ctx)
	login := strings.ToLower(strings.TrimSpace(in.Login))
	slug := strings.ToLower(strings.TrimSpace(in.Organization))
	if login == "" || in.Password == "" {
		return nil, errBadCredentials
	}
	// Keyed by the login alone, so naming other organisations does not buy
	// more guesses.
	account := throttle.Rule{Key: "login:account:" + digest(login), Limit: s.cfg.AccountAttempts, Window: s.cfg.ThrottleWindow}
	client := throttle.Rule{Key: "login:client:" + clientip.Key(in.ClientIP), Limit: s.cfg.ClientFailures, Window: s.cfg.ThrottleWindow}
	if ok, wait, err := s.limiter.Take(ctx, client); err != nil {
		return nil, err
	} else if !ok {
		return nil, tooManyAttempts(wait)
	}
	if ok, wait, err := s.limiter.Take(ctx, account); err != nil {
		return nil, err
	} else if !ok {
		// Refused before any password was checked: no failure of the client.
		if err := s.limiter.Release(ctx, client); err != nil {
			return nil, err
		}
		return nil, tooManyAttempts(wait)
	}
	u, err := s.verify(ctx, slug, login, in.Password)
	if err != nil {
		return nil, err
	}
	if u == nil {
		return nil, errBadCredentials
	}
	if err := s.limiter.Release(ctx, client); err != nil {
		return nil, err
	}
	if err := s.limiter.Clear(ctx, account.Key); err != nil {
		return nil, err
	}
	r, err := u.QueryRole().Only(ctx)
	if err != nil {
		return nil, fmt.Errorf("read role of person %d: %w", u.ID, err)
	}
	u.Edges.Role = r
	return s.Open(ctx, u)
}

func tooManyAttempts(wait time.Duration) error {
	minutes := max(1, int(math.Ceil(wait.Minutes())))
	return apperr.New(apperr.RateLimited, fmt.Sprintf("too many sign-in attempts; try again in %d minute(s)", minutes))
}

// verify returns the active person whose login and password match, or nil,
// after one query and exactly one argon2id computation whatever it finds.
// A login held by active people of several organisations matches nobody
// unless the organisation is named: checking each one's password would cost
// one computation per account, and so tell that the login exists.
func (s *Service) verify(ctx context.Context, slug, login, password string) (*ent.User, error) {
	q := s.client.User.Query().
		Where(user.Or(user.EmailNormalized(login), user.UsernameNormalized(login)),
			user.StatusEQ(user.StatusActive), user.PasswordHashNotNil())
	if slug != "" {
		q = q.Where(user.HasOrganizationWith(organization.Slug(slug)))
	}
	candidates, err := q.Limit(2).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("find login: %w", err)
	}
	var match *ent.User
	stored := ""
	if len(candidates) == 1 {
		match, stored = candidates[0], *candidates[0].PasswordHash
	}
	ok, err := s.hasher.Check(ctx, password, stored)
	if errors.Is(err, errBadHash) {
		s.log.ErrorContext(ctx, "stored password hash unreadable", slog.Int("user_id", match.ID))
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, nil
	}
	return match, nil
}

// Open starts a session for u (whose role should be loaded) and records the
// sign-in. Callers have already checked u may sign in.
func (s *Service) Open(ctx context.Context, u *ent.User) (*Session, error) {
	ctx = AsSystem(ctx)
	now := s.clock.Now()
	plain, hash := token.New()
	err := s.client.Session.Create().
		SetOrganizationID(u.OrganizationID).SetUserID(u.ID).SetTokenHash(hash).
		SetCreatedAt(now).SetUpdatedAt(now).SetLastUsedAt(now).
		SetExpiresAt(now.Add(s.cfg.SessionIdle)).SetMaxExpiresAt(now.Add(s.cfg.SessionMax)).
		Exec(ctx)
	if err != nil {
		return nil, fmt.Errorf("create session: %w", err)
	}
	updated, err := u.Update().SetLastLoginAt(now).Save(ctx)
	if err != nil {
		return nil, fmt.Errorf("record sign-in: %w", err)
	}
	// The caller is not signed in yet, so it could not load the role itself.
	updated.Edges = u.Edges
	return &Session{Token: plain, User: updated}, nil
}

// ErrInvalidSession means a bearer token is unknown, expired or belongs to a
// person who may no longer sign in.
var ErrInvalidSession = errors.New("invalid or expired session")

// Authenticate returns the viewer behind a bearer token: a session token,
// sliding the session's expiry forward, or an API key secret (see WithKeys).
// A token that is malformed, unknown, expired, revoked or whose person may
// no longer sign in is ErrInvalidSession, whichever it is; any other error
// means the token could not be checked (the database is unreachable, say)
// and must not be taken for an anonymous request.
func (s *Service) Authenticate(ctx context.Context, bearer string) (*viewer.Viewer, error) {
	switch {
	case token.WellFormed(bearer):
		return s.viewerOf(ctx, session.TokenHash(token.Hash(bearer)), true)
	case token.WellFormedKey(bearer) && s.keys != nil:
		return s.keys.Authenticate(ctx, bearer)
	}
	return nil, ErrInvalidSession
}

// Refresh re-reads v's session (or API key), person and role and returns
// the viewer as it is now, so an operation on a long-lived connection (a
// websocket) runs with the current permissions, not those held when it
// opened. Like any use, it slides the session's idle expiry (or records the
// key's use).
func (s *Service) Refresh(ctx context.Context, v *viewer.Viewer) (*viewer.Viewer, error) {
	if v.IsKey() {
		return s.currentKey(ctx, v, true)
	}
	return s.viewerOf(ctx, session.ID(v.SessionID), true)
}

// current is Refresh without the slide: watching an idle connection is no
// use of the session, which expires as if the connection were closed.
func (s *Service) current(ctx context.Context, v *viewer.Viewer) (*viewer.Viewer, error) {
	if v.IsKey() {
		return s.currentKey(ctx, v, false)
	}
	return s.viewerOf(ctx, session.ID(v.SessionID), false)
}

func (s *Service) currentKey(ctx context.Context, v *viewer.Viewer, touch bool) (*viewer.Viewer, error) {
	if s.keys == nil {
		return nil, ErrInvalidSession
	}
	return s.keys.Current(ctx, v, touch)
}

// viewerOf reads the live session matching which, with its person and role;
// with touch, it slides the session's idle expiry.
func (s *Service) viewerOf(ctx context.Context, which predicate.Session, touch bool) (*viewer.Viewer, error) {
	ctx = AsSystem(ctx)
	now := s.clock.Now()
	sess, err := s.client.Session.Query().
		Where(which, session.ExpiresAtGT(now)).
		WithUser(func(q *ent.UserQuery) { q.WithRole() }).
		Only(ctx)
	if ent.IsNotFound(err) {
		return nil, ErrInvalidSession
	}
	if err != nil {
		return nil, fmt.Errorf("find session: %w", err)
	}
	u := sess.Edges.User
	if u.Status != user.StatusActive {
		return nil, ErrInvalidSession
	}
	if touch && now.Sub(sess.LastUsedAt) >= touchEvery {
		expires := now.Add(s.cfg.SessionIdle)
		if expires.After(sess.MaxExpiresAt) {
			expires = sess.MaxExpiresAt
		}
		if err := sess.Update().SetLastUsedAt(now).SetExpiresAt(expires).Exec(ctx); err != nil {
			return nil, fmt.Errorf("extend session: %w", err)
		}
	}
	return &viewer.Viewer{OrgID: u.OrganizationID, UserID: u.ID, SessionID: sess.ID, RoleID: u.RoleID, Label: u.Email,
		Permissions: u.Edges.Role.Permissions, MustChangePassword: u.MustChangePassword}, nil
}

// Logout ends the viewer's session, and with it the viewer's subscriptions
// on that session (see Watch).
func (s *Service) Logout(ctx context.Context) error {
	v, err := viewer.Signed(ctx)
	if err != nil {
		return err
	}
	if v.IsKey() {
		return apperr.New(apperr.Forbidden, "an API key has no session to end; revoke the key (revokeApiKey) to stop it")
	}
	if err := s.client.Session.DeleteOneID(v.SessionID).Exec(AsSystem(ctx)); err != nil && !ent.IsNotFound(err) {
		return fmt.Errorf("end session: %w", err)
	}
	s.announce(ctx, v.UserID, ended{Session: v.SessionID})
	return nil
}

// EndSessions ends every session of the people userIDs, except keep (0 for
// none), and the subscriptions on them (see Watch). client may be a
// transaction's.
//
// The end is announced at once, before the transaction commits: a watcher
// only closes its websocket, so if the transaction rolls back the client
// reconnects with its still valid token. Announcing after the commit instead
// would need every caller to remember to do it.
func (s *Service) EndSessions(ctx context.Context, client *ent.Client, keep int, userIDs ...int) error {
	announce, err := s.EndSessionsLater(ctx, client, keep, userIDs...)
	if err != nil {
		return err
	}
	announce()
	return nil
}

// EndSessionsLater is EndSessions for a caller that already runs code after
// its transaction commits (people.Admin.DeactivateIn): it ends the sessions
// in client and returns the announcement, to call once that transaction has
// committed.
func (s *Service) EndSessionsLater(ctx context.Context, client *ent.Client, keep int, userIDs ...int) (func(), error) {
	q := client.Session.Delete().Where(session.UserIDIn(userIDs...))
	if keep != 0 {
		q = q.Where(session.IDNEQ(keep))
	}
	if _, err := q.Exec(AsSystem(ctx)); err != nil {
		return nil, fmt.Errorf("end sessions: %w", err)
	}
	return func() {
		for _, id := range userIDs {
			s.announce(ctx, id, ended{Keep: keep})
		}
	}, nil
}

// VerifyPassword checks u's password, at the cost of Hasher.Check whatever
// u's password is; it fails only when ctx ends while it waits its turn.
func (s *Service) VerifyPassword(ctx context.Context, u *ent.User, password string) (bool, error) {
	stored := ""
	if u.PasswordHash != nil {
		stored = *u.PasswordHash
	}
	ok, err := s.hasher.Check(ctx, password, stored)
	if errors.Is(err, errBadHash) {
		s.log.ErrorContext(ctx, "stored password hash unreadable", slog.Int("user_id", u.ID))
		return false, nil
	}
	return ok, err
}

// PruneSessions deletes expired sessions.
func (s *Service) PruneSessions(ctx context.Context) (int, error) {
	return s.client.Session.Delete().Where(session.ExpiresAtLTE(s.clock.Now())).Exec(AsSystem(ctx))
}

// digest keys throttles by a hash, so logins typed by strangers are not stored.
func digest(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:16])
}
