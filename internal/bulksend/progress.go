package bulksend

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/bulksend"
	"github.com/rollcall/rollcall/ent/delivery"
	"github.com/rollcall/rollcall/ent/schema/enum"
	"github.com/rollcall/rollcall/internal/apperr"
	"github.com/rollcall/rollcall/internal/auth"
	"github.com/rollcall/rollcall/internal/db"
	"github.com/rollcall/rollcall/internal/events"
	"github.com/rollcall/rollcall/internal/perm"
	"github.com/rollcall/rollcall/internal/viewer"
)

// MaxEventsPerSecond bounds the progress events one subscriber receives
// (the contract allows 10; 5 looks as live and halves the cost of a
// thousand dashboards watching one send).
const MaxEventsPerSecond = 5

// refresh is how often a watcher re-reads its send even without events, in
// case its replica missed some (a dropped LISTEN connection).
const refresh = 30 * time.Second

// Summary is the notification text for a finished send, e.g. "1,204
// invitations or password reset instructions sent, 3 failed".
func Summary(b *ent.BulkSend) string {
	names := map[bulksend.Kind][2]string{ // one, many
		bulksend.KindAUTO:               {"invitation or password reset email", "invitations or password reset instructions"},
		bulksend.KindINVITATION:         {"invitation", "invitations"},
		bulksend.KindPASSWORD_RESET:     {"set of password reset instructions", "password reset instructions"},
		bulksend.KindTEMPORARY_PASSWORD: {"temporary password", "temporary passwords"},
		bulksend.KindREMINDER:           {"reminder", "reminders"},
	}[b.Kind]
	what := names[1]
	if b.Sent == 1 {
		what = names[0]
	}
	msg := fmt.Sprintf("%s %s sent, %s failed", thousands(b.Sent), what, thousands(b.Failed))
	if b.Skipped > 0 {
		msg += fmt.Sprintf(", %s skipped", thousands(b.Skipped))
	}
	if b.Status == bulksend.StatusCANCELLED {
		msg = "Cancelled: " + msg
	}
	return msg
}

// thousands writes n with comma separators.
func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// progress is what a progress event carries: the send's changing fields.
type progress struct {
	Status     bulksend.Status `json:"status"`
	Sent       int             `json:"sent"`
	Failed     int             `json:"failed"`
	Skipped    int             `json:"skipped"`
	FinishedAt *time.Time      `json:"finishedAt,omitempty"`
}

// Queued announces a committed send: workers everywhere wake, watchers see
// it, and a send finished at once (nothing to deliver) notifies its creator.
func (s *Service) Queued(ctx context.Context, b *ent.BulkSend) {
	s.wake.kick()
	ctx = context.WithoutCancel(ctx)
	if err := s.bus.Publish(ctx, s.workHint()); err != nil {
		s.log.WarnContext(ctx, "announce bulk send", slog.String("error", err.Error()))
	}
	s.published(ctx, b)
}

// published tells watchers of b its state and, once it has finished, its
// creator's notification feed.
func (s *Service) published(ctx context.Context, b *ent.BulkSend) {
	ctx = context.WithoutCancel(ctx)
	payload, _ := json.Marshal(progressOf(b))
	if err := s.bus.Publish(ctx, events.Event{Topic: ProgressTopic(b.ID), Payload: payload}); err != nil {
		s.log.WarnContext(ctx, "publish bulk send progress", slog.String("error", err.Error()))
	}
	if b.FinishedAt != nil && b.CreatedByID != nil {
		if err := s.notify.Published(ctx, *b.CreatedByID); err != nil {
			s.log.WarnContext(ctx, "publish notification", slog.String("error", err.Error()))
		}
	}
}

// Get returns a send of the viewer's organisation, or NOT_FOUND.
func (s *Service) Get(ctx context.Context, id int) (*ent.BulkSend, error) {
	if _, err := viewer.Signed(ctx); err != nil {
		return nil, err
	}
	b, err := s.client.BulkSend.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, apperr.New(apperr.NotFound, "bulk send not found")
	}
	return b, err
}

// ownSend reports whether v started b: as the person, or as the API key.
func ownSend(v *viewer.Viewer, b *ent.BulkSend) bool {
	if v.IsKey() {
		return b.APIKeyID != nil && *b.APIKeyID == v.APIKeyID
	}
	return b.CreatedByID != nil && *b.CreatedByID == v.UserID
}

// Cancel stops a send: deliveries nobody holds are skipped at once, and those
// being sent finish as they will. people.invite cancels one's own sends,
// people.manage anyone's. Cancelling a finished send changes nothing.
func (s *Service) Cancel(ctx context.Context, id int) (*ent.BulkSend, error) {
	v, err := viewer.Signed(ctx)
	if err != nil {
		return nil, err
	}
	if !v.CanAny(perm.PeopleInvite, perm.PeopleManage) {
		return nil, apperr.New(apperr.Forbidden, "cancelling a send needs people.invite or people.manage")
	}
	b, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if !ownSend(v, b) && !v.Can(perm.PeopleManage) {
		return nil, apperr.New(apperr.Forbidden, "only people.manage can cancel a send someone else started")
	}
	if b.FinishedAt != nil || b.Status == bulksend.StatusCANCELLED {
		return b, nil
	}
	now := s.clock.Now()
	err = db.InTx(ctx, s.client, func(tx *ent.Client) error {
		sys := auth.AsSystem(ctx)
		// Deliveries first, then the send: the order a worker recording
		// its unit takes them in, so the two never wait on each other.
		n, err := tx.Delivery.Update().
			Where(delivery.BulkSendID(id), delivery.StatusEQ(enum.DeliveryQueued),
				delivery.Or(delivery.LeasedByIsNil(), delivery.LeaseExpiresAtLT(now))).
			SetStatus(enum.DeliverySkipped).SetError("cancelled").ClearLeasedBy().ClearLeaseExpiresAt().
			SetUpdatedAt(now).Save(sys)
		if err != nil {
			return fmt.Errorf("cancel deliveries: %w", err)
		}
		q := tx.BulkSend.Query().Where(bulksend.ID(id))
		if s.store.locks() {
			q = q.ForUpdate()
		}
		if b, err = q.Only(sys); err != nil {
			return fmt.Errorf("read bulk send: %w", err)
		}
		if b.FinishedAt != nil {
			return nil
		}
		if b, err = b.Update().SetStatus(bulksend.StatusCANCELLED).AddSkipped(n).SetUpdatedAt(now).Save(sys); err != nil {
			return fmt.Errorf("cancel bulk send: %w", err)
		}
		if b.Sent+b.Failed+b.Skipped >= b.Total {
			b, err = s.finish(ctx, tx, id)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	s.published(ctx, b)
	return b, nil
}

// Watch streams a send of the viewer's organisation: its state at once, then
// its changes at most MaxEventsPerSecond times a second, then its final
// state, after which the channel closes. It also closes when ctx ends.
func (s *Service) Watch(ctx context.Context, id int) (<-chan *ent.BulkSend, error) {
	f, leave := s.feeds.join(id) // before reading, so no change is missed
	b, err := s.Get(ctx, id)
	if err != nil {
		leave()
		if ctx.Err() != nil {
			// The subscriber left, or its session ended, while it
			// started: the stream is over (the transport says why).
			out := make(chan *ent.BulkSend)
			close(out)
			return out, nil
		}
		return nil, err
	}
	out := make(chan *ent.BulkSend, 1)
	out <- b
	go func() {
		defer close(out)
		defer leave()
		s.follow(ctx, b, f, out)
	}()
	return out, nil
}

// follow forwards b's changes to out until b finishes or ctx ends.
func (s *Service) follow(ctx context.Context, b *ent.BulkSend, f *feed, out chan<- *ent.BulkSend) {
	timer := time.NewTicker(refresh)
	defer timer.Stop()
	gap := time.Second / MaxEventsPerSecond
	last := time.Now()
	for cur := progressOf(b); cur.FinishedAt == nil; {
		changed := f.changed.wait() // before reading, so no change is missed
		next, ok := f.after(cur)
		if !ok {
			select {
			case <-ctx.Done():
				return
			case <-f.done:
				if next, ok = f.after(cur); !ok {
					return
				}
			case <-changed:
				continue
			case <-timer.C:
				fresh, err := s.client.BulkSend.Get(ctx, b.ID)
				if err != nil {
					return
				}
				if next = progressOf(fresh); !next.after(cur) {
					continue
				}
			}
		}
		cur = next
		if cur.FinishedAt == nil {
			// Coalesce: wait out the gap, then take the newest state.
			if wait := gap - time.Since(last); wait > 0 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(wait):
				}
				if next, ok := f.after(cur); ok {
					cur = next
				}
			}
		}
		last = time.Now()
		b = cur.on(b) // a new value each time: the last one may still be being written out
		select {
		case out <- b:
		case <-ctx.Done():
			return
		}
	}
}

// progressOf is b's changing fields.
func progressOf(b *ent.BulkSend) progress {
	return progress{Status: b.Status, Sent: b.Sent, Failed: b.Failed, Skipped: b.Skipped, FinishedAt: b.FinishedAt}
}

// on returns a copy of b with p's fields.
func (p progress) on(b *ent.BulkSend) *ent.BulkSend {
	c := *b
	c.Status, c.Sent, c.Failed, c.Skipped, c.FinishedAt = p.Status, p.Sent, p.Failed, p.Skipped, p.FinishedAt
	return &c
}

// after reports whether p is later than q: events from concurrent workers
// may arrive out of order, and counters only grow.
func (p progress) after(q progress) bool {
	if q.FinishedAt != nil {
		return false
	}
	if p.FinishedAt != nil {
		return true
	}
	a, b := p.Sent+p.Failed+p.Skipped, q.Sent+q.Failed+q.Skipped
	return a > b || (a == b && p.Status != q.Status && p.Status != bulksend.StatusQUEUED)
}
