package webhookout

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/webhookcursor"
	"github.com/rollcall/rollcall/ent/webhookdelivery"
	"github.com/rollcall/rollcall/ent/webhookendpoint"
	"github.com/rollcall/rollcall/internal/auth"
	"github.com/rollcall/rollcall/internal/db"
	"github.com/rollcall/rollcall/internal/event"
	"github.com/rollcall/rollcall/internal/queue"
)

const (
	// cursorName names the fan-out cursor's row.
	cursorName = "webhooks"
	// fanBatch is how many events one fan-out transaction reads.
	fanBatch = 500
	// insertChunk is how many deliveries one statement writes.
	insertChunk = 1000
)

// FanOut turns the events after the cursor into deliveries, one batch, if
// this replica can take the cursor's lease (another replica holding it is
// doing the work); more reports a full batch. The deliveries and the
// cursor's new position commit together, and only while the lease holds,
// so each (endpoint, event) is written once whichever replicas run; the
// unique index on the pair makes sure of it.
func (s *Service) FanOut(ctx context.Context) (more bool, err error) {
	sys := auth.AsSystem(ctx)
	if err := s.ensureCursor(sys); err != nil {
		return false, err
	}
	lease, jobs, err := s.cursor.Claim(sys, 1)
	if err != nil || len(jobs) == 0 {
		return false, err
	}
	n, err := s.fanOutBatch(sys, lease, jobs[0].ID)
	if err != nil {
		// Hand the cursor back rather than leave it to its lease.
		if ferr := s.cursor.Finish(context.WithoutCancel(sys), nil, lease, jobs[0].ID, nil); ferr != nil && !errors.Is(ferr, queue.ErrLeaseLost) {
			err = errors.Join(err, ferr)
		}
		return false, err
	}
	return n == fanBatch, nil
}

// ensureCursor creates the cursor's row, at the start of the log, the first
// time fan-out runs on a database. It reads the retained log through once
// then, writing nothing for events older than every endpoint (subscribed);
// starting at the log's head instead would skip the events written before
// the first fan-out ran.
func (s *Service) ensureCursor(ctx context.Context) error {
	if s.cursorReady.Load() {
		return nil
	}
	exists, err := s.client.WebhookCursor.Query().Where(webhookcursor.Name(cursorName)).Exist(ctx)
	if err != nil {
		return fmt.Errorf("read the webhook cursor: %w", err)
	}
	if !exists {
		err = s.client.WebhookCursor.Create().SetName(cursorName).
			OnConflictColumns(webhookcursor.FieldName).DoNothing().Exec(ctx)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("create the webhook cursor: %w", err)
		}
	}
	s.cursorReady.Store(true)
	return nil
}

// position is where fan-out stands in the log (the start before it first
// ran).
func (s *Service) position(ctx context.Context) (event.Position, error) {
	c, err := s.client.WebhookCursor.Query().Where(webhookcursor.Name(cursorName)).Only(auth.AsSystem(ctx))
	switch {
	case ent.IsNotFound(err):
		return event.Position{}, nil
	case err != nil:
		return event.Position{}, fmt.Errorf("read the webhook cursor: %w", err)
	}
	return event.Position{Tx: c.Txid, ID: c.EventID}, nil
}

// fanOutBatch reads up to fanBatch events after the cursor, writes their
// deliveries and moves the cursor past them, and returns how many events
// it read.
func (s *Service) fanOutBatch(ctx context.Context, lease queue.Lease, cursorID int) (int, error) {
	c, err := s.client.WebhookCursor.Get(ctx, cursorID)
	if err != nil {
		return 0, fmt.Errorf("read the webhook cursor: %w", err)
	}
	events, err := s.events.After(ctx, event.Position{Tx: c.Txid, ID: c.EventID}, fanBatch)
	if err != nil {
		return 0, err
	}
	if len(events) == 0 {
		return 0, s.cursor.Finish(ctx, nil, lease, cursorID, nil)
	}
	var orgs []int
	for _, e := range events {
		if !slices.Contains(orgs, e.OrganizationID) {
			orgs = append(orgs, e.OrganizationID)
		}
	}
	endpoints, err := s.client.WebhookEndpoint.Query().
		Where(webhookendpoint.OrganizationIDIn(orgs...), webhookendpoint.Enabled(true)).All(ctx)
	if err != nil {
		return 0, fmt.Errorf("read webhook endpoints: %w", err)
	}
	type pair struct{ endpoint, event int }
	var pairs []pair
	for _, e := range events {
		for _, ep := range endpoints {
			if subscribed(ep, e) {
				pairs = append(pairs, pair{ep.ID, e.ID})
			}
		}
	}
	now := s.clock.Now()
	last := event.Of(events[len(events)-1])
	err = db.InTx(ctx, s.client, func(tx *ent.Client) error {
		for start := 0; start < len(pairs); start += insertChunk {
			chunk := pairs[start:min(start+insertChunk, len(pairs))]
			creates := make([]*ent.WebhookDeliveryCreate, len(chunk))
			for i, p := range chunk {
				creates[i] = tx.WebhookDelivery.Create().SetEndpointID(p.endpoint).SetEventID(p.event).
					SetCreatedAt(now).SetUpdatedAt(now)
			}
			err := tx.WebhookDelivery.CreateBulk(creates...).
				OnConflictColumns(webhookdelivery.FieldEndpointID, webhookdelivery.FieldEventID).DoNothing().Exec(ctx)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("write webhook deliveries: %w", err)
			}
		}
		return s.cursor.Finish(ctx, tx, lease, cursorID, queue.Set{"txid": last.Tx, "event_id": last.ID})
	})
	if err != nil {
		return 0, err
	}
	if len(pairs) > 0 {
		s.deliverWake.Wake()
	}
	return len(events), nil
}

// subscribed reports whether endpoint ep gets event e: of its organisation,
// of a type it asked for (all when it named none), and not older than the
// endpoint.
func subscribed(ep *ent.WebhookEndpoint, e *ent.Event) bool {
	return ep.OrganizationID == e.OrganizationID &&
		(len(ep.EventTypes) == 0 || slices.Contains(ep.EventTypes, e.Type)) &&
		!e.OccurredAt.Before(ep.CreatedAt)
}
