package events

import "context"

// Local is an in-process [Bus], for a single instance (SQLite) and tests.
type Local struct {
	hub *hub
}

var _ Bus = (*Local)(nil)

// NewLocal returns an in-process bus.
func NewLocal() *Local {
	return &Local{hub: newHub(buffer)}
}

// Publish delivers e to this process's subscribers of e.Topic. It checks e as
// Postgres.Publish does, so code tested on Local behaves the same on
// PostgreSQL.
func (l *Local) Publish(ctx context.Context, e Event) error {
	e, err := normalize(e)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return l.hub.deliver(e)
}

// Subscribe implements [Bus.Subscribe].
func (l *Local) Subscribe(ctx context.Context, topic string) (<-chan Event, func()) {
	return l.hub.subscribe(ctx, topic)
}

// Close closes every subscriber's channel. It always returns nil.
func (l *Local) Close() error {
	l.hub.close()
	return nil
}
