package auth

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"time"

	"github.com/rollcall/rollcall/ent/session"
	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/events"
	"github.com/rollcall/rollcall/internal/viewer"
)

// ErrSessionEnded is the cause of a Watch context cancelled because its
// session ended.
var ErrSessionEnded = errors.New("session ended")

// errBusClosed is the cause of a Watch context cancelled because the event
// bus closed: the server is stopping.
var errBusClosed = errors.New("auth: event bus closed")

// defaultSessionCheck is Config.SessionCheck when unset.
const defaultSessionCheck = 30 * time.Second

// SessionTopic is the event topic announcing that sessions of the person
// userID ended. The payload says which: {"session": id} that one only, else
// every one but {"keep": id} when given.
func SessionTopic(userID int) string { return "sessions:" + strconv.Itoa(userID) }

// ended is the payload of a SessionTopic event.
type ended struct {
	Session int `json:"session,omitempty"`
	Keep    int `json:"keep,omitempty"`
}

// includes reports whether session id is one of those that ended.
func (e ended) includes(id int) bool {
	if e.Session != 0 {
		return e.Session == id
	}
	return e.Keep != id
}

// announce publishes that sessions of userID ended. A failure is logged, not
// returned: the sessions have ended all the same, and watchers notice on
// their next check.
func (s *Service) announce(ctx context.Context, userID int, e ended) {
	if s.bus == nil {
		return
	}
	payload, err := json.Marshal(e)
	if err == nil {
		err = s.bus.Publish(context.WithoutCancel(ctx), events.Event{Topic: SessionTopic(userID), Payload: payload})
	}
	if err != nil {
		s.log.WarnContext(ctx, "announce ended session", slog.Int("user_id", userID), slog.String("error", err.Error()))
	}
}

// Watch returns a context derived from ctx that is cancelled, with cause
// ErrSessionEnded, when v's session ends: logout, deactivation, a password
// reset, set or changed elsewhere, deletion or expiry. It is meant for a
// websocket, whose subscriptions must end with the session.
//
// Ends are announced on the event bus (see WithBus). Events can be lost (a
// replica's listening connection was down, or the session ended while v was
// being authenticated), so Watch also re-reads the session every
// Config.SessionCheck. If the bus closes, the context is cancelled with
// another cause. Watch's goroutine and subscription end with the context.
func (s *Service) Watch(ctx context.Context, v *viewer.Viewer) context.Context {
	ctx, cancel := context.WithCancelCause(ctx)
	var hints <-chan events.Event // nil without a bus: never ready
	unsubscribe := func() {}
	if s.bus != nil {
		hints, unsubscribe = s.bus.Subscribe(ctx, SessionTopic(v.UserID))
	}
	every := s.cfg.SessionCheck
	if every <= 0 {
		every = defaultSessionCheck
	}
	go func() {
		defer unsubscribe()
		cancel(s.watch(ctx, v.SessionID, hints, every))
	}()
	return ctx
}

// watch waits until session id ends or ctx does, and says which.
func (s *Service) watch(ctx context.Context, id int, hints <-chan events.Event, every time.Duration) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case e, ok := <-hints:
			if !ok {
				if ctx.Err() != nil {
					return context.Cause(ctx)
				}
				return errBusClosed
			}
			var end ended
			if err := json.Unmarshal(e.Payload, &end); err != nil || end.includes(id) {
				return ErrSessionEnded // an unreadable event errs on the safe side
			}
		case <-t.C:
			live, err := s.live(ctx, id)
			if err != nil {
				if ctx.Err() == nil {
					s.log.WarnContext(ctx, "check session", slog.Int("session_id", id), slog.String("error", err.Error()))
				}
				continue
			}
			if !live {
				return ErrSessionEnded
			}
		}
	}
}

// live reports whether session id is still open: not ended or expired, and
// its person still active.
func (s *Service) live(ctx context.Context, id int) (bool, error) {
	return s.client.Session.Query().
		Where(session.ID(id), session.ExpiresAtGT(s.clock.Now()), session.HasUserWith(user.StatusEQ(user.StatusActive))).
		Exist(AsSystem(ctx))
}
