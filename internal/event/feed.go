package event

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/privacy"
	"github.com/rollcall/rollcall/internal/apperr"
	"github.com/rollcall/rollcall/internal/perm"
	"github.com/rollcall/rollcall/internal/viewer"
)

// FeedConfig tunes a Feed.
type FeedConfig struct {
	// Poll is how often the tailer reads the log without being woken (an
	// announcement lost while this replica's listener was down); default 5s.
	Poll time.Duration
	// Buffer is how many events wait for one subscriber; one more ends
	// that subscription with ErrSlowSubscriber. Default 1000.
	Buffer int
	// Batch is how many events the tailer reads at once; default 500.
	Batch int
}

func (c FeedConfig) withDefaults() FeedConfig {
	if c.Poll <= 0 {
		c.Poll = 5 * time.Second
	}
	if c.Buffer <= 0 {
		c.Buffer = 1000
	}
	if c.Batch <= 0 {
		c.Batch = 500
	}
	return c
}

// ErrSlowSubscriber ends a subscription that fell Buffer events behind:
// the others are not held up for it, and it is told rather than silently
// missing events. It can catch up from the events log.
var ErrSlowSubscriber = apperr.New(apperr.RateLimited,
	"the subscription fell too far behind the events and was ended; read what you missed from the events log and subscribe again")

// settleRetry is the first wait before reading again when committed events
// are held back by an older running transaction (see Unsettled); it doubles
// up to settleRetryMax (or Poll, if shorter). These waits, like Poll, are on
// the real clock: they follow the database, not the business time of the
// injected clock.
const (
	settleRetry    = 10 * time.Millisecond
	settleRetryMax = 500 * time.Millisecond
)

// Feed streams the log live to this replica's subscribers. One tailer reads
// the events after where it stands, in commit order, for every organisation
// at once: when a commit anywhere announces itself (Wake), every Poll, and
// again shortly while committed events are held back. It hands each
// subscriber the events of its organisation and types, without ever
// waiting for one: a subscriber Buffer events behind is ended with
// ErrSlowSubscriber. The tailer runs while there are subscribers.
type Feed struct {
	log *Log
	cfg FeedConfig

	ctx    context.Context // the tailer's; cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // the tailer
	idle   chan struct{}  // tells the tailer the last subscriber left

	mu      sync.Mutex
	subs    map[*Subscription]struct{}
	running bool
	closed  bool
}

// NewFeed returns a feed of log's events.
func NewFeed(log *Log, cfg FeedConfig) *Feed {
	ctx, cancel := context.WithCancel(context.Background())
	return &Feed{log: log, cfg: cfg.withDefaults(), ctx: ctx, cancel: cancel,
		idle: make(chan struct{}, 1), subs: map[*Subscription]struct{}{}}
}

// Subscription is one subscriber's stream.
type Subscription struct {
	// C carries the events, oldest first; it closes when the subscription
	// ends (then see Err).
	C     <-chan *ent.Event
	ch    chan *ent.Event
	feed  *Feed
	org   int
	types []string // nil: all
	stop  func() bool
	err   error // guarded by feed.mu
	ended bool  // guarded by feed.mu
}

// Subscribe streams the events of the viewer's organisation committed from
// now on, of types only when given, until ctx ends or Close is called. Needs
// people.read; unknown types are BAD_USER_INPUT.
func (f *Feed) Subscribe(ctx context.Context, types []string) (*Subscription, error) {
	if err := viewer.Require(ctx, perm.PeopleRead); err != nil {
		return nil, err
	}
	types, err := CheckTypes("types", types)
	if err != nil {
		return nil, err
	}
	ch := make(chan *ent.Event, f.cfg.Buffer)
	s := &Subscription{C: ch, ch: ch, feed: f, org: viewer.FromContext(ctx).OrgID, types: types}
	if err := f.add(ctx, s); err != nil {
		return nil, err
	}
	return s, nil
}

// add registers s until ctx ends, starting the tailer at the head of the log
// if it is not running; s then receives what the tailer reads from now on.
func (f *Feed) add(ctx context.Context, s *Subscription) error {
	var head *Position // read outside the lock, when the tailer must start
	for {
		f.mu.Lock()
		if f.closed {
			f.mu.Unlock()
			return errors.New("events feed closed")
		}
		if f.running || head != nil {
			f.subs[s] = struct{}{}
			s.stop = context.AfterFunc(ctx, s.Close) // runs Close in a goroutine of its own
			if !f.running {
				f.running = true
				f.wg.Add(1)
				go f.tail(*head)
			}
			f.mu.Unlock()
			return nil
		}
		f.mu.Unlock()
		h, err := f.log.Head(privacy.DecisionContext(ctx, privacy.Allow))
		if err != nil {
			return err
		}
		head = &h
	}
}

// Err says why C closed: ErrSlowSubscriber, or nil (the subscriber left or
// the feed closed).
func (s *Subscription) Err() error {
	s.feed.mu.Lock()
	defer s.feed.mu.Unlock()
	return s.err
}

// Close ends the subscription; it may be called more than once.
func (s *Subscription) Close() {
	s.feed.mu.Lock()
	defer s.feed.mu.Unlock()
	s.feed.end(s, nil)
}

// end closes s's channel with cause err, once. mu must be held.
func (f *Feed) end(s *Subscription, err error) {
	if s.ended {
		return
	}
	s.ended, s.err = true, err
	if s.stop != nil {
		s.stop()
	}
	close(s.ch)
	delete(f.subs, s)
	if len(f.subs) == 0 {
		select {
		case f.idle <- struct{}{}:
		default:
		}
	}
}

// Subscribers reports how many subscriptions are open on this replica.
func (f *Feed) Subscribers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.subs)
}

// Close ends every subscription and stops the tailer.
func (f *Feed) Close() {
	f.mu.Lock()
	f.closed = true
	for s := range f.subs {
		f.end(s, nil)
	}
	f.mu.Unlock()
	f.cancel()
	f.wg.Wait()
}

// tail is the tailer, from position pos until the last subscriber leaves or
// the feed closes.
func (f *Feed) tail(pos Position) {
	defer f.wg.Done()
	ctx := privacy.DecisionContext(f.ctx, privacy.Allow) // it reads every organisation
	wakes, unsubscribe := f.log.Wake(ctx)
	defer unsubscribe()
	timer := time.NewTimer(f.cfg.Poll)
	defer timer.Stop()
	retry := settleRetry
	for {
		var err error
		if pos, err = f.catchUp(ctx, pos); err != nil && ctx.Err() == nil {
			f.log.log.WarnContext(ctx, "read events for subscribers", slog.String("error", err.Error()))
		}
		wait := f.cfg.Poll
		if held, err := f.log.Unsettled(ctx, pos); err == nil && held {
			wait, retry = min(retry, f.cfg.Poll), min(2*retry, settleRetryMax)
		} else {
			retry = settleRetry
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
		case _, ok := <-wakes:
			if !ok {
				wakes = nil // the bus closed: poll only
			}
		case <-timer.C:
		case <-f.idle:
		}
		if f.stopIfIdle() {
			return
		}
	}
}

// catchUp reads and hands out every settled event after pos, and returns
// where it got to.
func (f *Feed) catchUp(ctx context.Context, pos Position) (Position, error) {
	for {
		batch, err := f.log.After(ctx, pos, f.cfg.Batch)
		if err != nil {
			return pos, fmt.Errorf("tail events: %w", err)
		}
		if len(batch) > 0 {
			pos = Of(batch[len(batch)-1])
			f.deliver(batch)
		}
		if len(batch) < f.cfg.Batch || ctx.Err() != nil {
			return pos, nil
		}
	}
}

// deliver hands batch to the subscribers it concerns, ending those whose
// buffer is full.
func (f *Feed) deliver(batch []*ent.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for s := range f.subs {
		for _, e := range batch {
			if e.OrganizationID != s.org || (s.types != nil && !slices.Contains(s.types, e.Type)) {
				continue
			}
			select {
			case s.ch <- e:
			default:
				f.end(s, ErrSlowSubscriber)
			}
			if s.ended {
				break
			}
		}
	}
}

// stopIfIdle marks the tailer stopped when nobody subscribes (or the feed
// closed), and reports whether it did.
func (f *Feed) stopIfIdle() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.subs) > 0 && !f.closed && f.ctx.Err() == nil {
		return false
	}
	f.running = false
	return true
}
