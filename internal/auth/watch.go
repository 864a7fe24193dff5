package auth

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/rollcall/rollcall/internal/events"
	"github.com/rollcall/rollcall/internal/viewer"
)

// ErrSessionEnded is the cause of a Watch context cancelled because its
// session ended.
var ErrSessionEnded = errors.New("session ended")

// ErrRightsChanged is the cause of a Watch context cancelled because the
// person's role, or their role's permissions, changed: what was allowed when
// the connection opened may no longer be, so its subscriptions end and a
// reconnecting client is authorised afresh.
var ErrRightsChanged = errors.New("permissions changed")

// errBusClosed is the cause of a Watch context cancelled because the event
// bus closed: the server is stopping.
var errBusClosed = errors.New("auth: event bus closed")

// defaultSessionCheck is Config.SessionCheck when unset.
const defaultSessionCheck = 30 * time.Second

// SessionTopic is the event topic announcing that sessions of the person
// userID ended. The payload says which: {"session": id} that one only, else
// every one but {"keep": id} when given.
func SessionTopic(userID int) string { return "sessions:" + strconv.Itoa(userID) }

// RoleTopic is the event topic announcing that the permissions of role
// roleID changed.
func RoleTopic(roleID int) string { return "roles:" + strconv.Itoa(roleID) }

// KeyTopic is the event topic announcing that API key keyID stopped
// working (it was revoked): the connections it opened end.
func KeyTopic(keyID int) string { return "apikeys:" + strconv.Itoa(keyID) }

// rightsChanged is the payload of a SessionTopic event saying that the
// person's role changed (their sessions stay open).
const rightsChanged = `{"rights":true}`

// RoleChanged announces that the people userIDs now hold another role, so
// their open connections end (see Watch). Like EndSessions it announces at
// once; a rolled-back change only makes clients reconnect.
func (s *Service) RoleChanged(ctx context.Context, userIDs ...int) {
	for _, id := range userIDs {
		s.publish(ctx, SessionTopic(id), []byte(rightsChanged))
	}
}

// PermissionsChanged announces that role roleID's permissions changed, so
// the open connections of everyone holding it end (see Watch).
func (s *Service) PermissionsChanged(ctx context.Context, roleID int) {
	s.publish(ctx, RoleTopic(roleID), []byte(rightsChanged))
}

// ended is the payload of a SessionTopic event.
type ended struct {
	Session int  `json:"session,omitempty"`
	Keep    int  `json:"keep,omitempty"`
	Rights  bool `json:"rights,omitempty"` // not an end: the person's role changed
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
	payload, err := json.Marshal(e)
	if err != nil {
		s.log.WarnContext(ctx, "announce ended session", slog.Int("user_id", userID), slog.String("error", err.Error()))
		return
	}
	s.publish(ctx, SessionTopic(userID), payload)
}

// publish sends an event on the bus, logging a failure: watchers notice on
// their next check.
func (s *Service) publish(ctx context.Context, topic string, payload []byte) {
	if s.bus == nil {
		return
	}
	if err := s.bus.Publish(context.WithoutCancel(ctx), events.Event{Topic: topic, Payload: payload}); err != nil {
		s.log.WarnContext(ctx, "announce session change", slog.String("topic", topic), slog.String("error", err.Error()))
	}
}

// Watch returns a context derived from ctx that is cancelled, with cause
// ErrSessionEnded, when v's session ends: logout, deactivation, a password
// reset, set or changed elsewhere, deletion or expiry; or with cause
// ErrRightsChanged when v's role, or its permissions, change. It is meant for
// a websocket, whose subscriptions must end with the session and must not
// outlive the rights they were opened with.
//
// For an API key, ErrSessionEnded comes when the key is revoked (KeyTopic)
// or expires, or when sessions of its creator end but for a single logout
// (deactivation and erasure end them all; the client reconnects if the key
// still works), and ErrRightsChanged when its creator's role, or the role's
// permissions, change.
//
// Changes are announced on the event bus (see WithBus). Events can be lost (a
// replica's listening connection was down, or the session ended while v was
// being authenticated), so Watch also re-reads the session every
// Config.SessionCheck. If the bus closes, the context is cancelled with
// another cause. Watch's goroutine and subscriptions end with the context.
func (s *Service) Watch(ctx context.Context, v *viewer.Viewer) context.Context {
	ctx, cancel := context.WithCancelCause(ctx)
	var w watched // nil channels without a bus: never ready
	unsubscribe := func() {}
	if s.bus != nil {
		person := v.UserID
		if v.IsKey() {
			person = v.KeyCreatorID
		}
		var endSessions, endRoles, endKey func()
		w.sessions, endSessions = s.bus.Subscribe(ctx, SessionTopic(person))
		w.roles, endRoles = s.bus.Subscribe(ctx, RoleTopic(v.RoleID))
		endKey = func() {}
		if v.IsKey() {
			w.key, endKey = s.bus.Subscribe(ctx, KeyTopic(v.APIKeyID))
		}
		unsubscribe = func() { endSessions(); endRoles(); endKey() }
	}
	if !v.KeyExpiresAt.IsZero() {
		t := s.clock.NewTimer(v.KeyExpiresAt.Sub(s.clock.Now()))
		w.expiry = t.C()
		stop := unsubscribe
		unsubscribe = func() { t.Stop(); stop() }
	}
	every := s.cfg.SessionCheck
	if every <= 0 {
		every = defaultSessionCheck
	}
	go func() {
		defer unsubscribe()
		cancel(s.watch(ctx, v, w, every))
	}()
	return ctx
}

// watched is what Watch listens to: the person's sessions (for an API key,
// its creator's), their role, and for an API key its revocation and expiry.
type watched struct {
	sessions, roles, key <-chan events.Event
	expiry               <-chan time.Time
}

// watch waits until v's session ends, v's rights change or ctx ends, and
// says which.
func (s *Service) watch(ctx context.Context, v *viewer.Viewer, w watched, every time.Duration) error {
	sessions, roles := w.sessions, w.roles
	t := time.NewTicker(every)
	defer t.Stop()
	closed := func() error {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		return errBusClosed
	}
	for {
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case _, ok := <-roles:
			if !ok {
				return closed()
			}
			return ErrRightsChanged
		case e, ok := <-sessions:
			if !ok {
				return closed()
			}
			var end ended
			if err := json.Unmarshal(e.Payload, &end); err != nil {
				return ErrSessionEnded // an unreadable event errs on the safe side
			}
			if end.Rights {
				return ErrRightsChanged
			}
			if v.IsKey() {
				// The creator's sessions ended: all of them (deactivation,
				// erasure) ends the key too; one logout does not.
				if end.Session == 0 {
					return ErrSessionEnded
				}
				continue
			}
			if end.includes(v.SessionID) {
				return ErrSessionEnded
			}
		case _, ok := <-w.key:
			if !ok {
				return closed()
			}
			return ErrSessionEnded
		case <-w.expiry:
			return ErrSessionEnded
		case <-t.C:
			now, err := s.current(ctx, v)
			switch {
			case errors.Is(err, ErrInvalidSession):
				return ErrSessionEnded
			case err != nil:
				if ctx.Err() == nil {
					s.log.WarnContext(ctx, "check session", slog.Int("session_id", v.SessionID), slog.Int("api_key_id", v.APIKeyID), slog.String("error", err.Error()))
				}
			case now.RoleID != v.RoleID || !slices.Equal(now.Permissions, v.Permissions):
				return ErrRightsChanged
			}
		}
	}
}
