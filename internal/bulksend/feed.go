package bulksend

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/rollcall/rollcall/internal/events"
)

// feeds share one bus subscription per watched send among this process's
// watchers, so each progress event is decoded once, however many dashboards
// watch the send.
type feeds struct {
	bus events.Bus
	mu  sync.Mutex
	m   map[int]*feed
}

// feed holds the newest progress heard for one send.
type feed struct {
	changed *signal       // broadcast on every event
	done    chan struct{} // closed when the subscription ends
	stop    func()
	watched int // watchers holding it; guarded by feeds.mu

	mu     sync.Mutex
	latest *progress
}

// join returns the feed of send id, subscribing for it first if nobody in
// this process watches it yet. Call leave when done.
func (fs *feeds) join(id int) (f *feed, leave func()) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if f = fs.m[id]; f == nil {
		ctx, cancel := context.WithCancel(context.Background())
		hints, unsubscribe := fs.bus.Subscribe(ctx, ProgressTopic(id))
		f = &feed{changed: newSignal(), done: make(chan struct{}), stop: func() { unsubscribe(); cancel() }}
		fs.m[id] = f
		go f.run(hints, func() { fs.drop(id, f) })
	}
	f.watched++
	return f, func() {
		fs.mu.Lock()
		f.watched--
		last := f.watched == 0
		if last && fs.m[id] == f {
			delete(fs.m, id)
		}
		fs.mu.Unlock()
		if last {
			f.stop()
		}
	}
}

// drop forgets f, if it is still the feed of id.
func (fs *feeds) drop(id int, f *feed) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.m[id] == f {
		delete(fs.m, id)
	}
}

// run decodes events until the subscription ends.
func (f *feed) run(hints <-chan events.Event, forget func()) {
	for e := range hints {
		var p progress
		if json.Unmarshal(e.Payload, &p) != nil {
			continue
		}
		f.mu.Lock()
		if f.latest == nil || p.after(*f.latest) {
			f.latest = &p
		}
		f.mu.Unlock()
		f.changed.broadcast()
	}
	close(f.done)
	forget()
}

// after returns the newest progress heard, if it is later than cur.
func (f *feed) after(cur progress) (progress, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.latest == nil || !f.latest.after(cur) {
		return progress{}, false
	}
	return *f.latest, true
}

// signal wakes every waiter at once.
type signal struct {
	mu sync.Mutex
	ch chan struct{}
}

func newSignal() *signal { return &signal{ch: make(chan struct{})} }

// wait returns a channel closed by the next broadcast.
func (s *signal) wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ch
}

func (s *signal) broadcast() {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.ch)
	s.ch = make(chan struct{})
}
