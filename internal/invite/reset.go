package invite

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/delivery"
	"github.com/rollcall/rollcall/ent/organization"
	"github.com/rollcall/rollcall/ent/passwordresetrequest"
	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/audit"
	"github.com/rollcall/rollcall/internal/auth"
	"github.com/rollcall/rollcall/internal/backoff"
	"github.com/rollcall/rollcall/internal/clientip"
	"github.com/rollcall/rollcall/internal/db"
	"github.com/rollcall/rollcall/internal/queue"
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
	// (a claim whose work fails is retried with backoff; one whose worker
	// stopped lets its lease lapse).
	resetAttempts = 5
	// resetRetryMin is the first retry's delay after a failure; it doubles
	// up to a lease.
	resetRetryMin = time.Second
)

// wakeResets tells this replica's worker a request is waiting. It never
// blocks: a worker already woken will see every row.
func (s *Service) wakeResets() { s.resetWake.Wake() }

// RunResets resolves password-reset requests until ctx ends: shortly after a
// request arrives at this replica (ResetConfig.Delay), every
// ResetConfig.Poll on the service's clock (and when it starts) for the
// others, and when a failed request's retry falls due. The requests in hand
// when ctx ends are finished.
func (s *Service) RunResets(ctx context.Context) {
	queue.Loop{
		Name: "password reset worker", Clock: s.clock, Poll: s.resets.Poll, Wake: s.resetWake, Log: s.log,
		Work: func(ctx context.Context) (bool, error) {
			n, err := s.ResolveResets(ctx)
			return n >= resetBatch, err
		},
		Next: s.resetQueue.NextDue,
	}.Run(ctx)
}

// ResolveResets claims up to a batch of waiting requests and resolves them
// (see resolveReset), returning how many it claimed. Each request is claimed
// by exactly one worker, whatever the number of replicas (internal/queue). A
// request whose work failed is retried with backoff; one whose worker
// stopped before deleting it is claimed again once its lease lapses.
func (s *Service) ResolveResets(ctx context.Context) (int, error) {
	// What is claimed is worked to the end even if ctx ends meanwhile,
	// within the lease.
	work, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.resets.Lease)
	defer cancel()
	lease, jobs, err := s.resetQueue.Claim(work, resetBatch)
	if err != nil || len(jobs) == 0 {
		return 0, err
	}
	ids := make([]int, len(jobs))
	for i, j := range jobs {
		ids[i] = j.ID
	}
	requests, err := s.client.PasswordResetRequest.Query().Where(passwordresetrequest.IDIn(ids...)).All(auth.AsSystem(work))
	if err != nil {
		return 0, fmt.Errorf("read reset requests: %w", err)
	}
	var wg sync.WaitGroup
	for _, r := range requests {
		wg.Go(func() {
			err := s.resolveReset(work, lease, r)
			if err == nil {
				return
			}
			s.log.ErrorContext(work, "password reset request failed", slog.Int("request_id", r.ID),
				slog.Int("attempt", r.Attempts), slog.String("error", err.Error()))
			if errors.Is(err, queue.ErrLeaseLost) {
				return
			}
			at := s.clock.Now().Add(backoff.Delay(r.Attempts, resetRetryMin, s.resets.Lease))
			if err := s.resetQueue.Retry(work, nil, lease, r.ID, at, nil); err != nil {
				s.log.WarnContext(work, "password reset request: schedule retry", slog.Int("request_id", r.ID), slog.String("error", err.Error()))
			}
		})
	}
	wg.Wait()
	return len(jobs), nil
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

// resolveReset does what a reset request asks: queues reset instructions for
// an ACTIVE person with the address, a fresh invitation for an INVITED one,
// nothing otherwise, as deliveries the bulk-send engine works (it issues the
// links as they leave); and deletes the request, in the same transaction,
// which first checks the lease still holds. So a crash never loses a request
// nor queues its emails twice: either the deliveries and the deletion
// committed, or neither did and the request is claimed again once its lease
// lapses.
func (s *Service) resolveReset(ctx context.Context, lease queue.Lease, r *ent.PasswordResetRequest) error {
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
		if err := s.resetQueue.Delete(sys, tx, lease, r.ID); err != nil {
			return err
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
