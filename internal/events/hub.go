package events

import (
	"context"
	"sync"
)

// hub fans events out to the subscribers of their topic. Both buses use it:
// Local for what it publishes, Postgres for what its listener receives.
//
// Each subscriber has a buffered channel. Delivery never blocks: when a
// subscriber's buffer is full its oldest pending event is dropped to make
// room for the newest. Sends, drops and closes of a channel all happen under
// mu, so the hub is the only sender on each channel and a send never races a
// close.
type hub struct {
	buffer int

	mu     sync.Mutex
	closed bool
	topics map[string]map[*subscription]struct{}
}

// subscription is one subscriber. Its fields are guarded by hub.mu.
type subscription struct {
	topic   string
	ch      chan Event
	stop    func() bool // stops the context.AfterFunc watching the subscriber's ctx
	removed bool
}

func newHub(buffer int) *hub {
	return &hub{buffer: buffer, topics: make(map[string]map[*subscription]struct{})}
}

// subscribe adds a subscriber of topic until cancel is called, ctx ends or
// the hub closes, whichever comes first; then its channel closes.
func (h *hub) subscribe(ctx context.Context, topic string) (<-chan Event, func()) {
	s := &subscription{topic: topic, ch: make(chan Event, h.buffer)}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		close(s.ch)
		return s.ch, func() {}
	}
	subs := h.topics[topic]
	if subs == nil {
		subs = make(map[*subscription]struct{})
		h.topics[topic] = subs
	}
	subs[s] = struct{}{}
	// If ctx is already done, the func runs at once in a goroutine of its
	// own, which waits for mu.
	s.stop = context.AfterFunc(ctx, func() { h.remove(s) })
	return s.ch, func() { h.remove(s) }
}

// remove unsubscribes s and closes its channel; it does nothing the second time.
func (h *hub) remove(s *subscription) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if s.removed {
		return
	}
	subs := h.topics[s.topic]
	delete(subs, s)
	if len(subs) == 0 {
		delete(h.topics, s.topic)
	}
	h.end(s)
}

// end closes s's channel and stops watching its context. mu must be held.
func (h *hub) end(s *subscription) {
	s.removed = true
	s.stop()
	close(s.ch)
}

// deliver hands e to every subscriber of e.Topic without blocking.
func (h *hub) deliver(e Event) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return ErrClosed
	}
	for s := range h.topics[e.Topic] {
		send(s.ch, e)
	}
	return nil
}

// send puts e on ch, dropping the oldest pending event if ch is full. The
// caller must be the only sender on ch (hub.mu makes it so); the receiver may
// take events meanwhile, so after at most one drop there is room.
func send(ch chan Event, e Event) {
	for {
		select {
		case ch <- e:
			return
		default:
		}
		select {
		case <-ch:
		default:
		}
	}
}

func (h *hub) isClosed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closed
}

// close closes every subscriber's channel; later deliveries fail with
// ErrClosed and later subscriptions get a closed channel.
func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.closed = true
	for _, subs := range h.topics {
		for s := range subs {
			h.end(s)
		}
	}
	h.topics = nil
}
