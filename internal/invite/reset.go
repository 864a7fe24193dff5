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
	"github.com/rollcall/rollcall/ent/delivery"
	"github.com/rollcall/rollcall/ent/organization"
	"github.com/rollcall/rollcall/ent/passwordresetrequest"
	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/audit"
	"github.com/rollcall/rollcall/internal/auth"
	"github.com/rollcall/rollcall/internal/clientip"
	"github.com/rollcall/rollcall/internal/db"
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

// resetAction is the email a reset request sends a person of status (a
// reset request reaches only the active and the invited): a fresh invitation
// to the invited, reset instructions to an account.
func resetAction(status user.Status) delivery.Action {
	if status == user.StatusInvited {
		return delivery.ActionINVITATION
	}
	return delivery.ActionPASSWORD_RESET
}

// errClaimLost means a request's lease lapsed and another worker took it.
var errClaimLost = errors.New("the request's lease lapsed and another worker took it")

// resolveReset does what a reset request asks: queues reset instructions for
// an ACTIVE person with the address, a fresh invitation for an INVITED one,
// nothing otherwise, as deliveries the bulk-send engine works (it issues the
// links as they leave); and deletes the request, in the same transaction,
// which first checks the claim still holds. So a crash never loses a request
// nor queues its emails twice: either the deliveries and the deletion
// committed, or neither did and the request is claimed again once its lease
// lapses.
func (s *Service) resolveReset(ctx context.Context, claim string, r *ent.PasswordResetRequest) error {
	// The audit log names the address the request came from.
	sys := auth.AsSystem(clientip.NewContext(ctx, r.ClientIP))
	var people []*ent.User
	if r.Attempts <= resetAttempts {
		q := s.client.User.Query().Where(user.EmailNormalized(r.Email), user.StatusIn(user.StatusActive, user.StatusInvited))
		if r.OrganizationSlug != "" {
			q = q.Where(user.HasOrganizationWith(organization.Slug(r.OrganizationSlug)))
		}
		var err error
		if people, err = q.All(sys); err != nil {
			return fmt.Errorf("find person: %w", err)
		}
	} else {
		s.log.ErrorContext(ctx, "password reset request dropped after repeated failures", slog.Int("request_id", r.ID))
	}
	var ids []int
	err := db.InTx(sys, s.client, func(tx *ent.Client) error {
		n, err := tx.PasswordResetRequest.Delete().
			Where(passwordresetrequest.ID(r.ID), passwordresetrequest.LeasedBy(claim),
				passwordresetrequest.LeaseExpiresAtGT(s.clock.Now())).Exec(sys)
		if err != nil {
			return fmt.Errorf("delete reset request %d: %w", r.ID, err)
		}
		if n != 1 {
			return errClaimLost
		}
		for _, u := range people {
			id, err := s.bulk.QueueOne(sys, tx, OneEmail{OrgID: u.OrganizationID, UserID: u.ID, To: u.Email,
				Action: resetAction(u.Status), Last: u.LastEmailStatus})
			if err != nil {
				return fmt.Errorf("reset for person %d: %w", u.ID, err)
			}
			ids = append(ids, id)
			if err := s.audit.Record(as(ctx, u), tx, u.OrganizationID, audit.PersonEvent("password_reset.requested", u)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(ids) > 0 {
		s.bulk.Dispatch(ctx, false, ids...)
	}
	return nil
}
