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
	"github.com/rollcall/rollcall/internal/event"
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
	// Rows are locked in the order the workers' record step locks them
	// (deliveries, people, sends), so the two never deadlock.
	return db.InTx(ctx, s.client, func(tx *ent.Client) error {
		from, moved, err := s.advance(ctx, tx, d, e)
		if err != nil || !moved {
			return err
		}
		var person *ent.User
		if d.UserID != nil { // else the person was erased
			// Only while the person still has the address the report is about.
			err = tx.User.Update().Where(user.ID(*d.UserID), user.EmailNormalized(strings.ToLower(d.Email))).
				SetLastEmailStatus(e.Status).Exec(ctx)
			if err != nil {
				return fmt.Errorf("record email status: %w", err)
			}
			if person, err = tx.User.Query().Where(user.ID(*d.UserID)).WithRole().Only(ctx); err != nil && !ent.IsNotFound(err) {
				return fmt.Errorf("read person: %w", err)
			}
		}
		if typ := reportTypes[e.Status]; typ != "" {
			err := s.events.Record(ctx, tx, d.OrganizationID, event.EmailEvent(typ, event.Email{OrgID: d.OrganizationID,
				DeliveryID: d.ID, BulkSendID: d.BulkSendID, Kind: string(d.Action), To: d.Email, Person: personOf(person), Reason: clip(e.Reason)}))
			if err != nil {
				return err
			}
		}
		return s.recount(ctx, tx, d.BulkSendID, from, e.Status)
	})
}

// reportTypes are the event types of the provider's reports.
var reportTypes = map[enum.DeliveryStatus]string{
	enum.DeliveryDelivered: event.EmailDelivered, enum.DeliveryBounced: event.EmailBounced, enum.DeliveryComplained: event.EmailComplained,
}

// advance moves delivery d to the status event e reports, if that is
// stronger than where it stands, and returns the status it replaced and
// whether it moved. The update names the status it replaces, so of two
// reports racing, or one replayed, each move is made (and counted, by
// recount in the same transaction) once: the loser reads the row again and
// stops when the winner's status is as strong.
func (s *Service) advance(ctx context.Context, tx *ent.Client, d *ent.Delivery, e webhook.Event) (enum.DeliveryStatus, bool, error) {
	from := d.Status
	for range len(rank) + 1 { // each lost race leaves a stronger status
		if _, ok := rank[from]; !ok || rank[from] >= rank[e.Status] {
			return from, false, nil // not sent, or a report as strong came first
		}
		up := tx.Delivery.Update().Where(delivery.ID(d.ID), delivery.StatusEQ(from)).
			SetStatus(e.Status).SetUpdatedAt(s.clock.Now())
		if from == enum.DeliverySent {
			up.SetReportedAt(s.clock.Now()) // the first report
		}
		if e.Reason != "" {
			up.SetError(clip(e.Reason))
		} else {
			up.ClearError() // an earlier "provider retrying" no longer applies
		}
		n, err := up.Save(ctx)
		if err != nil {
			return from, false, fmt.Errorf("record delivery event: %w", err)
		}
		if n == 1 {
			return from, true, nil
		}
		cur, err := tx.Delivery.Query().Where(delivery.ID(d.ID)).Select(delivery.FieldStatus).Only(ctx)
		if err != nil {
			return from, false, fmt.Errorf("read delivery: %w", err)
		}
		from = cur.Status
	}
	return from, false, fmt.Errorf("delivery %d: status keeps changing", d.ID)
}

// recount moves send id's report counters (delivered, bounced and
// complained each count the send's deliveries now in that status) for one
// delivery going from one status to another; one person's email (id nil)
// has none.
func (s *Service) recount(ctx context.Context, tx *ent.Client, id *int, from, to enum.DeliveryStatus) error {
	if id == nil {
		return nil
	}
	up := tx.BulkSend.UpdateOneID(*id).SetUpdatedAt(s.clock.Now())
	for st, delta := range map[enum.DeliveryStatus]int{from: -1, to: 1} {
		switch st {
		case enum.DeliveryDelivered:
			up.AddDelivered(delta)
		case enum.DeliveryBounced:
			up.AddBounced(delta)
		case enum.DeliveryComplained:
			up.AddComplained(delta)
		}
	}
	if err := up.Exec(ctx); err != nil && !ent.IsNotFound(err) {
		return fmt.Errorf("count delivery report: %w", err)
	}
	return nil
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
