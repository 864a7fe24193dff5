package event

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/privacy"
	"github.com/rollcall/rollcall/internal/events"
)

// WakeTopic is the events-bus topic on which every commit that wrote events
// is announced, with payload {"org": id}. It carries no event: readers read
// the rows (After), so a lost or repeated announcement costs a read, never
// an event.
const WakeTopic = "event-log:committed"

// wake is WakeTopic's payload.
type wake struct {
	Org int `json:"org"`
}

// Wake subscribes to the announcements of commits that wrote events, on
// every replica: read the log after your position when one arrives, and
// also on a timer, since announcements can be lost (a replica's listening
// connection was down) and a commit can still be held back when announced
// (see Unsettled). The channel closes when ctx
// ends, cancel is called or the bus closes; it is nil without a bus.
func (l *Log) Wake(ctx context.Context) (<-chan events.Event, func()) {
	if l.bus == nil {
		return nil, func() {}
	}
	return l.bus.Subscribe(ctx, WakeTopic)
}

// Committed announces that events of orgs have committed. Record does it
// itself for ent transactions; call it after committing a transaction ent
// does not know of (one begun on a reserved connection). A failure is
// logged, not returned: the change has committed, and readers poll.
func (l *Log) Committed(ctx context.Context, orgs ...int) {
	if l.bus == nil {
		return
	}
	ctx = context.WithoutCancel(ctx)
	for _, org := range orgs {
		payload, _ := json.Marshal(wake{Org: org})
		if err := l.bus.Publish(ctx, events.Event{Topic: WakeTopic, Payload: payload}); err != nil {
			l.log.WarnContext(ctx, "announce committed events", slog.Int("org_id", org), slog.String("error", err.Error()))
		}
	}
}

// announceOnCommit calls Committed for orgs once the transaction m runs in
// commits, or at once if m ran outside any transaction of ent's.
func (l *Log) announceOnCommit(ctx context.Context, m *ent.EventMutation, orgs []int) {
	if l.bus == nil {
		return
	}
	tx, err := m.Tx()
	if err != nil { // not in an ent transaction: written already
		l.Committed(ctx, orgs...)
		return
	}
	tx.OnCommit(func(next ent.Committer) ent.Committer {
		return ent.CommitFunc(func(c context.Context, tx *ent.Tx) error {
			if err := next.Commit(c, tx); err != nil {
				return err
			}
			l.Committed(ctx, orgs...)
			return nil
		})
	})
}

// Follow calls poke each time a commit that wrote events is announced, and
// again shortly after, backing off, while events after the reader's
// position (pos) have committed but are still held back by an older
// running transaction (see Unsettled): their commit was announced before a
// read could see them. It returns when ctx ends or the bus closes; without
// a bus it returns at once (the reader polls).
func (l *Log) Follow(ctx context.Context, pos func(context.Context) (Position, error), poke func()) {
	wakes, unsubscribe := l.Wake(ctx)
	defer unsubscribe()
	if wakes == nil {
		return
	}
	ctx = privacy.DecisionContext(ctx, privacy.Allow) // it looks at every organisation's events
	timer := time.NewTimer(0)
	<-timer.C
	defer timer.Stop()
	retry := settleRetry
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-wakes:
			if !ok {
				return
			}
			poke()
			retry = settleRetry
		case <-timer.C:
			p, err := pos(ctx)
			held := true // on an error, look again
			if err == nil {
				held, err = l.Unsettled(ctx, p)
			}
			if err != nil && ctx.Err() == nil {
				l.log.WarnContext(ctx, "look for unsettled events", slog.String("error", err.Error()))
			}
			if !held {
				retry = settleRetry
				continue
			}
			poke()
			retry = min(2*retry, settleRetryMax)
		}
		timer.Reset(retry)
	}
}
