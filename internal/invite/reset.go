package invite

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"entgo.io/ent/dialect"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/invitation"
	"github.com/rollcall/rollcall/ent/organization"
	"github.com/rollcall/rollcall/ent/passwordresetrequest"
	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/audit"
	"github.com/rollcall/rollcall/internal/auth"
	"github.com/rollcall/rollcall/internal/clientip"
	"github.com/rollcall/rollcall/internal/db"
	"github.com/rollcall/rollcall/internal/template"
)

// ResetConfig tunes the worker that resolves password-reset requests.
type ResetConfig struct {
	// Poll is how often a replica looks for requests nobody woke it for:
	// written by another replica, or left by one that stopped.
	Poll time.Duration
	// Lease is how long a claimed request is left to its worker before
	// another may take it over.
	Lease time.Duration
	// Delay is how long after a request its replica's worker is woken:
	// long enough for the answer to have left, so that the work a known
	// address causes never slows the answer down.
	Delay time.Duration
}

// DefaultResetConfig is the production configuration.
func DefaultResetConfig() ResetConfig {
	return ResetConfig{Poll: 10 * time.Second, Lease: time.Minute, Delay: 100 * time.Millisecond}
}

// withDefaults fills in the values left zero.
func (c ResetConfig) withDefaults() ResetConfig {
	d := DefaultResetConfig()
	if c.Poll <= 0 {
		c.Poll = d.Poll
	}
	if c.Lease <= 0 {
		c.Lease = d.Lease
	}
	if c.Delay <= 0 {
		c.Delay = d.Delay
	}
	return c
}

const (
	// resetBatch is how many requests a worker claims, and works, at once.
	resetBatch = 8
	// resetAttempts is how many claims a request gets before it is dropped
	// (each claim that does not finish lets its lease lapse).
	resetAttempts = 5
)

// wakeResets tells this replica's worker a request is waiting. It never
// blocks: a worker already woken will see every row.
func (s *Service) wakeResets() {
	select {
	case s.resetWake <- struct{}{}:
	default:
	}
}

// RunResets resolves password-reset requests until ctx ends: shortly after a
// request arrives at this replica (ResetConfig.Delay), and every
// ResetConfig.Poll (and when it starts) for the others. The requests in hand when ctx ends are finished.
func (s *Service) RunResets(ctx context.Context) {
	poll := time.NewTimer(0)
	defer poll.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.resetWake:
		case <-poll.C:
		}
		for ctx.Err() == nil {
			n, err := s.ResolveResets(ctx)
			if err != nil {
				if ctx.Err() == nil {
					s.log.ErrorContext(ctx, "password reset worker", slog.String("error", err.Error()))
				}
				break
			}
			if n < resetBatch {
				break
			}
		}
		poll.Reset(s.resets.Poll)
	}
}

// ResolveResets claims up to a batch of waiting requests and resolves them
// (see resolveReset), returning how many it claimed. Each request is claimed
// by exactly one worker, whatever the number of replicas: the claim is one
// conditional statement (rows another worker holds are skipped). A request
// whose worker stopped before deleting it is claimed again once its lease
// lapses.
func (s *Service) ResolveResets(ctx context.Context) (int, error) {
	claim, err := newClaimID()
	if err != nil {
		return 0, err
	}
	now := s.clock.Now()
	// What is claimed is worked to the end even if ctx ends meanwhile,
	// within the lease.
	work, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.resets.Lease)
	defer cancel()
	claimed, err := s.claimResets(work, claim, now)
	if err != nil || len(claimed) == 0 {
		return 0, err
	}
	var wg sync.WaitGroup
	for _, r := range claimed {
		wg.Go(func() {
			if err := s.resolveReset(work, claim, r); err != nil {
				s.log.ErrorContext(work, "password reset request failed", slog.Int("request_id", r.ID),
					slog.Int("attempt", r.Attempts), slog.String("error", err.Error()))
			}
		})
	}
	wg.Wait()
	return len(claimed), nil
}

// newClaimID names one claim, so that only its worker finishes its rows.
func newClaimID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("claim id: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// claimResets leases up to resetBatch waiting or lapsed requests to claim.
func (s *Service) claimResets(ctx context.Context, claim string, now time.Time) ([]*ent.PasswordResetRequest, error) {
	const waiting = `lease_expires_at IS NULL OR lease_expires_at < $3`
	// PostgreSQL skips rows another claimer holds; SQLite has one writer
	// at a time, so its statement alone is atomic.
	query := `WITH picked AS (
			SELECT id FROM password_reset_requests WHERE ` + waiting + ` ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED)
		UPDATE password_reset_requests r SET leased_by = $1, lease_expires_at = $2, attempts = r.attempts + 1
		FROM picked WHERE r.id = picked.id
		RETURNING r.id, r.organization_slug, r.email, r.client_ip, r.attempts`
	if s.dialect != dialect.Postgres {
		query = strings.ReplaceAll(`UPDATE password_reset_requests SET leased_by = $1, lease_expires_at = $2, attempts = attempts + 1
			WHERE id IN (SELECT id FROM password_reset_requests WHERE `+waiting+` ORDER BY id LIMIT $4)
			RETURNING id, organization_slug, email, client_ip, attempts`, "$", "?")
	}
	rows, err := s.client.QueryContext(ctx, query, claim, now.Add(s.resets.Lease), now, resetBatch)
	if err != nil {
		return nil, fmt.Errorf("claim reset requests: %w", err)
	}
	defer rows.Close()
	var out []*ent.PasswordResetRequest
	for rows.Next() {
		r := &ent.PasswordResetRequest{}
		if err := rows.Scan(&r.ID, &r.OrganizationSlug, &r.Email, &r.ClientIP, &r.Attempts); err != nil {
			return nil, fmt.Errorf("claim reset requests: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("claim reset requests: %w", err)
	}
	return out, nil
}

// errClaimLost means a request's lease lapsed and another worker took it.
var errClaimLost = errors.New("the request's lease lapsed and another worker took it")

// resolveReset does what a reset request asks: reset instructions to an
// ACTIVE person with the address, a fresh invitation to an INVITED one,
// nothing otherwise; then deletes the request. Each person's links are
// issued in a transaction that first checks the claim still holds (and
// renews it), so a worker whose lease lapsed stops before issuing anything. A worker that
// stops after issuing links but before deleting the request leaves it to be
// claimed again: its people get fresh links (the older ones revoked) rather
// than none.
func (s *Service) resolveReset(ctx context.Context, claim string, r *ent.PasswordResetRequest) error {
	// The audit log names the address the request came from.
	sys := auth.AsSystem(clientip.NewContext(ctx, r.ClientIP))
	if r.Attempts <= resetAttempts {
		if err := s.sendReset(sys, claim, r); err != nil {
			return err
		}
	} else {
		s.log.ErrorContext(ctx, "password reset request dropped after repeated failures", slog.Int("request_id", r.ID))
	}
	_, err := s.client.PasswordResetRequest.Delete().
		Where(passwordresetrequest.ID(r.ID), passwordresetrequest.LeasedBy(claim)).Exec(sys)
	if err != nil {
		return fmt.Errorf("delete reset request %d: %w", r.ID, err)
	}
	return nil
}

// sendReset issues and sends what r's address is due, person by person.
func (s *Service) sendReset(ctx context.Context, claim string, r *ent.PasswordResetRequest) error {
	q := s.client.User.Query().Where(user.EmailNormalized(r.Email), user.StatusIn(user.StatusActive, user.StatusInvited)).
		WithRole().WithOrganization()
	if r.OrganizationSlug != "" {
		q = q.Where(user.HasOrganizationWith(organization.Slug(r.OrganizationSlug)))
	}
	people, err := q.All(ctx)
	if err != nil {
		return fmt.Errorf("find person: %w", err)
	}
	for _, u := range people {
		o := u.Edges.Organization
		var e Email
		err := db.InTx(ctx, s.client, func(tx *ent.Client) error {
			held, err := tx.PasswordResetRequest.Update().
				Where(passwordresetrequest.ID(r.ID), passwordresetrequest.LeasedBy(claim),
					passwordresetrequest.LeaseExpiresAtGT(s.clock.Now())).
				SetLeaseExpiresAt(s.clock.Now().Add(s.resets.Lease)).Save(ctx)
			if err != nil {
				return fmt.Errorf("check claim: %w", err)
			}
			if held != 1 {
				return errClaimLost
			}
			if u.Status == user.StatusInvited {
				tokens, err := s.markInvited(ctx, tx, o, nil, []int{u.ID})
				if err != nil {
					return err
				}
				e = Email{Kind: template.Invitation, URL: s.links.Invite(tokens[0].plain), ExpiresAt: tokens[0].expires,
					TTL: time.Duration(o.InvitationTTLSeconds) * time.Second}
			} else {
				ttl := time.Duration(o.ResetTTLSeconds) * time.Second
				tokens, err := s.issueTokens(ctx, tx, o.ID, invitation.KindPASSWORD_RESET, ttl, nil, u.ID)
				if err != nil {
					return err
				}
				e = Email{Kind: template.PasswordReset, URL: s.links.Reset(tokens[0].plain), ExpiresAt: tokens[0].expires, TTL: ttl}
			}
			return s.audit.Record(as(ctx, u), tx, o.ID, audit.PersonEvent("password_reset.requested", u))
		})
		if err != nil {
			return fmt.Errorf("reset for person %d: %w", u.ID, err)
		}
		e.User, e.Org, e.Role = u, o, u.Edges.Role
		s.send(ctx, []Email{e})
	}
	return nil
}
