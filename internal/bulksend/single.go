package bulksend

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/delivery"
	"github.com/rollcall/rollcall/ent/schema/enum"
	"github.com/rollcall/rollcall/internal/auth"
	"github.com/rollcall/rollcall/internal/invite"
)

// QueueOne writes one person's email as a delivery with no BulkSend through
// tx, a transaction's client, and returns its id. A suppressed address
// (e.Last bounced or complained) gets a SKIPPED delivery with the reason
// unless e.Force. Call Dispatch with the id after the transaction commits;
// a replica's workers would otherwise find it at their next poll.
func (s *Service) QueueOne(ctx context.Context, tx *ent.Client, e invite.OneEmail) (int, error) {
	now := s.clock.Now()
	c := tx.Delivery.Create().SetOrganizationID(e.OrgID).SetUserID(e.UserID).SetEmail(e.To).
		SetAction(e.Action).SetNillableRequestedByID(e.RequestedBy.Person()).SetNillableRequestedByKeyID(e.RequestedBy.Key()).
		SetForce(e.Force).
		SetCreatedAt(now).SetUpdatedAt(now)
	if e.NewEmail != "" {
		c.SetNewEmail(e.NewEmail)
	}
	if reason := suppressed(e.Last); reason != "" && !e.Force {
		c.SetStatus(enum.DeliverySkipped).SetError(reason)
	}
	d, err := c.Save(auth.AsSystem(ctx))
	if err != nil {
		return 0, fmt.Errorf("queue %s email: %w", e.Action, err)
	}
	return d.ID, nil
}

// Dispatch announces committed deliveries: this replica's express worker
// takes them at once, other replicas' workers hear of them through the
// events bus. With wait, it returns once this replica has recorded the
// outcome of each of ids (sent, failed, skipped or to be retried), or
// after Config.SingleWait (another replica took them, or the provider is
// slow), or when ctx ends.
func (s *Service) Dispatch(ctx context.Context, wait bool, ids ...int) {
	var chans []chan struct{}
	if wait {
		chans = s.waiters.add(ids)
		defer s.waiters.remove(ids, chans)
	}
	s.express.kick()
	s.wake.kick()
	if err := s.bus.Publish(context.WithoutCancel(ctx), s.workHint()); err != nil {
		s.log.WarnContext(ctx, "announce deliveries", slog.String("error", err.Error()))
	}
	if !wait {
		return
	}
	t := time.NewTimer(s.cfg.SingleWait)
	defer t.Stop()
	for _, ch := range chans {
		select {
		case <-ch:
		case <-t.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// waiters are the callers of Dispatch waiting for deliveries' outcomes.
type waiters struct {
	mu sync.Mutex
	m  map[int][]chan struct{}
}

func (w *waiters) add(ids []int) []chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]chan struct{}, len(ids))
	for i, id := range ids {
		out[i] = make(chan struct{})
		w.m[id] = append(w.m[id], out[i])
	}
	return out
}

// remove forgets chans (whether or not they were closed).
func (w *waiters) remove(ids []int, chans []chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i, id := range ids {
		list := w.m[id]
		for k, ch := range list {
			if ch == chans[i] {
				list = append(list[:k], list[k+1:]...)
				break
			}
		}
		if len(list) == 0 {
			delete(w.m, id)
		} else {
			w.m[id] = list
		}
	}
}

// done wakes whoever waits for the deliveries of jobs.
func (w *waiters) done(jobs []*job) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.m) == 0 {
		return
	}
	for _, j := range jobs {
		for _, ch := range w.m[j.id] {
			close(ch)
		}
		delete(w.m, j.id)
	}
}

// single says whether a delivery is one person's email, outside any send.
func single(c *claimed) bool { return c.bulkSendID == 0 }

// personal reports whether an action's outcome belongs to the person's
// current address (everything but EMAIL_CHANGED, which goes to the old one).
func personal(a delivery.Action) bool { return a != delivery.ActionEMAIL_CHANGED }
