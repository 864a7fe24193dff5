// Package events is Rollcall's publish/subscribe for live updates: bulk-send
// progress, notifications, ended sessions.
//
// Services publish small events after their transaction commits; GraphQL
// subscriptions listen. An event is a hint, not a record: a subscriber that
// receives one re-reads the state it cares about. So a slow subscriber may
// miss intermediate events, but it never blocks a publisher, and it always
// eventually sees the newest event of its topic (see [Bus.Subscribe]).
//
// [Local] serves a single process (SQLite, tests). [Postgres] carries events
// between replicas with LISTEN/NOTIFY. Events published while a replica's
// listening connection is down are lost to that replica, so a subscriber that
// must not stay stale also re-reads on a timer (say every 30 seconds) as a
// fallback.
package events

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// MaxPayload is the largest Payload, in bytes, that Publish accepts. It keeps
// an encoded event under PostgreSQL's NOTIFY limit of 8000 bytes.
const MaxPayload = 4000

// maxTopic is the longest topic, in bytes. Even fully escaped (six bytes a
// byte) it leaves the encoded event well under the NOTIFY limit.
const maxTopic = 200

// maxNotify is the largest NOTIFY payload PostgreSQL accepts by default.
const maxNotify = 7999

// buffer is how many events wait for each subscriber before the oldest is
// replaced by the newest.
const buffer = 16

// Event is a change worth telling listeners about.
type Event struct {
	// Topic names what changed, e.g. "bulksend:4294967297" or
	// "user:42949672961". Subscribers match it exactly.
	Topic string `json:"t"`
	// Payload is small, valid JSON (at most MaxPayload bytes), or empty.
	// Subscribers receive it compacted, share it, and must not modify it.
	Payload json.RawMessage `json:"p,omitempty"`
}

// Bus publishes events and delivers them to subscribers of their topic.
type Bus interface {
	// Publish delivers e to every subscriber of e.Topic on every replica. It
	// never blocks on subscribers. It fails if the event is invalid (empty or
	// over-long topic, payload that is not JSON or larger than MaxPayload),
	// the bus is closed, ctx is done, or the database fails. Publish after the
	// transaction that made the change commits, with a context that outlives
	// the request if the event must not be lost to a disconnecting client
	// (context.WithoutCancel).
	Publish(ctx context.Context, e Event) error
	// Subscribe returns a channel of events for topic and a cancel func that
	// unsubscribes and closes the channel; cancel may be called more than
	// once. The channel also closes when ctx ends or the bus closes. Each
	// subscriber has a buffer of pending events; when it is full the oldest
	// pending event is dropped to make room for the newest (coalescing), so
	// the subscriber always eventually sees the latest event.
	Subscribe(ctx context.Context, topic string) (<-chan Event, func())
	// Close closes every subscriber's channel and stops the bus's goroutines.
	// It is idempotent.
	Close() error
}

var (
	// ErrClosed is returned by Publish after Close.
	ErrClosed = errors.New("events: bus closed")
	// ErrPayloadTooLarge is returned by Publish for a payload over MaxPayload.
	ErrPayloadTooLarge = errors.New("events: payload too large")
	// ErrInvalid is returned by Publish for an event it cannot carry: an
	// empty, over-long or non-UTF-8 topic, or a payload that is not JSON.
	ErrInvalid = errors.New("events: invalid event")
)

// normalize checks e and returns it with a compacted copy of its payload, so
// every implementation delivers the same bytes and the publisher may reuse
// its buffer.
func normalize(e Event) (Event, error) {
	switch {
	case e.Topic == "":
		return Event{}, fmt.Errorf("%w: empty topic", ErrInvalid)
	case len(e.Topic) > maxTopic:
		return Event{}, fmt.Errorf("%w: topic of %d bytes, want at most %d", ErrInvalid, len(e.Topic), maxTopic)
	case !utf8.ValidString(e.Topic):
		return Event{}, fmt.Errorf("%w: topic %q is not UTF-8", ErrInvalid, e.Topic)
	case len(e.Payload) > MaxPayload:
		return Event{}, fmt.Errorf("%w: topic %q: %d bytes, want at most %d", ErrPayloadTooLarge, e.Topic, len(e.Payload), MaxPayload)
	case len(e.Payload) == 0:
		return Event{Topic: e.Topic}, nil
	case !utf8.Valid(e.Payload):
		return Event{}, fmt.Errorf("%w: topic %q: payload is not UTF-8", ErrInvalid, e.Topic)
	}
	var b bytes.Buffer
	if err := json.Compact(&b, e.Payload); err != nil {
		return Event{}, fmt.Errorf("%w: topic %q: payload is not JSON: %w", ErrInvalid, e.Topic, err)
	}
	return Event{Topic: e.Topic, Payload: b.Bytes()}, nil
}

// encode returns the NOTIFY payload for a normalized event: its JSON, with
// no HTML escaping (which could grow the payload sixfold).
func encode(e Event) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(e); err != nil {
		return nil, fmt.Errorf("encode event %q: %w", e.Topic, err)
	}
	msg := bytes.TrimSuffix(b.Bytes(), []byte("\n"))
	if len(msg) > maxNotify {
		return nil, fmt.Errorf("%w: topic %q: encoded event of %d bytes, want at most %d", ErrPayloadTooLarge, e.Topic, len(msg), maxNotify)
	}
	return msg, nil
}

// decode parses a NOTIFY payload.
func decode(msg string) (Event, error) {
	var e Event
	if err := json.Unmarshal([]byte(msg), &e); err != nil {
		return Event{}, err
	}
	if e.Topic == "" {
		return Event{}, errors.New("no topic")
	}
	if len(e.Payload) == 0 {
		e.Payload = nil
	}
	return e, nil
}
