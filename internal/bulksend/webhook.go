package bulksend

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/delivery"
	"github.com/rollcall/rollcall/ent/schema/enum"
	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/auth"
	"github.com/rollcall/rollcall/internal/db"
	"github.com/rollcall/rollcall/internal/webhook"
)

// rank orders what the provider reports after a send: a report only
// replaces one of lower rank (a bounce after "delivered" is news, "delivered"
// after a complaint is not). Deliveries not sent have no rank.
var rank = map[enum.DeliveryStatus]int{
	enum.DeliverySent: 1, enum.DeliveryDelivered: 2, enum.DeliveryBounced: 3, enum.DeliveryComplained: 4,
}

// ApplyDeliveryEvent records a provider's report on the delivery it names
// (by delivery_id, else by message id and recipient) and on the person's
// lastEmailStatus. Bounced and complained addresses are then skipped by
// later sends until the address changes. Reports that match nothing are
// ignored.
func (s *Service) ApplyDeliveryEvent(ctx context.Context, e webhook.Event) error {
	ctx = auth.AsSystem(ctx)
	d, err := s.findDelivery(ctx, e)
	if d == nil || err != nil {
		return err
	}
	if d.Status == enum.DeliveryQueued {
		// The worker has not recorded the send yet (or died doing so):
		// writing now would take the row from it, and its send would
		// never be counted. The error makes Mailgun deliver the event
		// again later.
		return fmt.Errorf("delivery %d: outcome not recorded yet", d.ID)
	}
	if e.Status == "" { // a temporary failure: the provider retries by itself
		return s.client.Delivery.UpdateOne(d).SetError(clip("provider retrying: " + e.Reason)).Exec(ctx)
	}
	var earlier []enum.DeliveryStatus // what this event may replace
	for st, r := range rank {
		if r < rank[e.Status] {
			earlier = append(earlier, st)
		}
	}
	return db.InTx(ctx, s.client, func(tx *ent.Client) error {
		// Conditional, so two events racing keep the stronger one.
		up := tx.Delivery.Update().Where(delivery.ID(d.ID), delivery.StatusIn(earlier...)).
			SetStatus(e.Status).SetUpdatedAt(s.clock.Now())
		if e.Reason != "" {
			up.SetError(clip(e.Reason))
		}
		n, err := up.Save(ctx)
		if err != nil {
			return fmt.Errorf("record delivery event: %w", err)
		}
		if n == 0 {
			return nil // a stronger report came first
		}
		if d.UserID == nil {
			return nil // the person was erased
		}
		// Only while the person still has the address the report is about.
		err = tx.User.Update().Where(user.ID(*d.UserID), user.EmailNormalized(strings.ToLower(d.Email))).
			SetLastEmailStatus(e.Status).Exec(ctx)
		if err != nil {
			return fmt.Errorf("record email status: %w", err)
		}
		return nil
	})
}

// findDelivery finds the delivery an event is about, or nil.
func (s *Service) findDelivery(ctx context.Context, e webhook.Event) (*ent.Delivery, error) {
	q := s.client.Delivery.Query()
	if id, err := strconv.Atoi(e.DeliveryID); err == nil {
		q = q.Where(delivery.ID(id))
	} else if e.MessageID != "" {
		// A batch shares one message id: the recipient tells them apart.
		q = q.Where(delivery.ProviderMessageID(e.MessageID), delivery.EmailEqualFold(e.Recipient))
	} else {
		return nil, nil
	}
	d, err := q.First(ctx)
	if ent.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("find delivery: %w", err)
	}
	if e.Recipient != "" && !strings.EqualFold(d.Email, e.Recipient) {
		return nil, nil // a forged or stale delivery id
	}
	return d, nil
}
