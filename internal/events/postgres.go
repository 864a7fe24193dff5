package events

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rollcall/rollcall/internal/backoff"
)

// channel is the NOTIFY channel every replica publishes on and listens to.
const channel = "rollcall_events"

const (
	// connectTimeout bounds one attempt to connect and LISTEN.
	connectTimeout = 10 * time.Second
	// closeTimeout bounds saying goodbye to the server on a connection.
	closeTimeout = 5 * time.Second
)

// timing is how the listener paces itself; tests shorten it.
type timing struct {
	// minBackoff and maxBackoff bound the wait before each reconnection
	// attempt: it doubles from minBackoff up to maxBackoff, jittered down by
	// up to half so replicas do not reconnect in step.
	minBackoff, maxBackoff time.Duration
	// idleCheck is how long the listener waits for a notification before it
	// pings the server, so that a connection that died silently (no reset,
	// as after some failovers) is noticed within about two idleChecks.
	idleCheck time.Duration
}

func defaultTiming() timing {
	return timing{
		minBackoff: 200 * time.Millisecond,
		maxBackoff: 15 * time.Second,
		idleCheck:  30 * time.Second,
	}
}

// Postgres is a [Bus] shared by every replica on one PostgreSQL database.
//
// Publish sends pg_notify on channel "rollcall_events" through the pool it
// was given. Each Postgres listens on a dedicated connection of its own (url
// must reach PostgreSQL directly or through a session-mode pooler: LISTEN
// does not work through a transaction-mode one) and serves its subscribers
// from the notifications it receives, its own included, so every replica
// delivers the same way. If the listening connection drops, Postgres reconnects with
// capped, jittered exponential backoff and listens again; events published
// meanwhile are lost to its subscribers, who should also re-read on a timer.
type Postgres struct {
	hub    *hub
	db     *sql.DB
	config *pgx.ConnConfig
	log    *slog.Logger
	timing timing

	pid atomic.Uint32 // backend PID of the listening connection; 0 while down

	closeOnce sync.Once
	cancel    context.CancelFunc // stops run
	done      chan struct{}      // closed when run has returned
}

var _ Bus = (*Postgres)(nil)

// NewPostgres returns a bus that publishes with pg_notify through db and
// listens on a dedicated pgx connection to url, logging connection trouble
// with log (nil discards). It fails if it cannot connect and LISTEN at once;
// ctx bounds that first connection only. Close stops the listener; db stays
// open, it belongs to the caller.
func NewPostgres(ctx context.Context, url string, db *sql.DB, log *slog.Logger) (*Postgres, error) {
	return newPostgres(ctx, url, db, log, defaultTiming())
}

func newPostgres(ctx context.Context, url string, db *sql.DB, log *slog.Logger, timing timing) (*Postgres, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	config, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	if _, ok := config.RuntimeParams["application_name"]; !ok {
		config.RuntimeParams["application_name"] = "rollcall-events"
	}
	p := &Postgres{
		hub:    newHub(buffer),
		db:     db,
		config: config,
		log:    log,
		timing: timing,
		done:   make(chan struct{}),
	}
	conn, err := p.connect(ctx)
	if err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p.cancel = cancel
	go p.run(runCtx, conn)
	return p, nil
}

// Publish sends e with pg_notify to every replica, this one included. It
// returns once PostgreSQL has accepted the notification; subscribers get it
// from the listener.
func (p *Postgres) Publish(ctx context.Context, e Event) error {
	e, err := normalize(e)
	if err != nil {
		return err
	}
	if p.hub.isClosed() {
		return ErrClosed
	}
	msg, err := encode(e)
	if err != nil {
		return err
	}
	if _, err := p.db.ExecContext(ctx, `SELECT pg_notify($1, $2)`, channel, string(msg)); err != nil {
		return fmt.Errorf("publish %q: %w", e.Topic, err)
	}
	return nil
}

// Subscribe implements [Bus.Subscribe]. While the listening connection is
// down the subscriber receives nothing.
func (p *Postgres) Subscribe(ctx context.Context, topic string) (<-chan Event, func()) {
	return p.hub.subscribe(ctx, topic)
}

// Close closes every subscriber's channel, then closes the listening
// connection and waits for the listener to stop. It always returns nil.
func (p *Postgres) Close() error {
	p.closeOnce.Do(func() {
		p.hub.close()
		p.cancel()
		<-p.done
	})
	return nil
}

// run owns the listening connection: it delivers what arrives on conn and,
// whenever conn fails, replaces it, until ctx ends.
func (p *Postgres) run(ctx context.Context, conn *pgx.Conn) {
	defer close(p.done)
	// A connection that failed is closed in the background by pgx; wait for
	// those goroutines before returning, so none outlives Close.
	var closing []<-chan struct{}
	defer func() {
		for _, c := range closing {
			<-c
		}
	}()
	for {
		err := p.listen(ctx, conn)
		p.pid.Store(0)
		closing = append(pending(closing), closeConn(conn))
		if ctx.Err() != nil {
			return
		}
		p.log.WarnContext(ctx, "events: listener connection lost; reconnecting", slog.String("error", err.Error()))
		if conn = p.reconnect(ctx); conn == nil {
			return
		}
	}
}

// listen delivers the notifications arriving on conn until conn fails or ctx
// ends. When nothing arrives for a while it pings, to find out whether the
// connection is quiet or dead.
func (p *Postgres) listen(ctx context.Context, conn *pgx.Conn) error {
	for {
		waitCtx, cancel := context.WithTimeout(ctx, p.timing.idleCheck)
		n, err := conn.WaitForNotification(waitCtx)
		idle := errors.Is(waitCtx.Err(), context.DeadlineExceeded)
		cancel()
		if n != nil {
			p.receive(ctx, n.Channel, n.Payload)
		}
		switch {
		case err == nil:
			continue
		case ctx.Err() != nil:
			return ctx.Err()
		case !idle || conn.IsClosed():
			return err
		}
		pingCtx, cancel := context.WithTimeout(ctx, p.timing.idleCheck)
		err = conn.Ping(pingCtx)
		cancel()
		if err != nil {
			return fmt.Errorf("ping idle listener: %w", err)
		}
	}
}

// receive delivers one notification to this replica's subscribers.
func (p *Postgres) receive(ctx context.Context, ch, msg string) {
	if ch != channel {
		return
	}
	e, err := decode(msg)
	if err != nil {
		p.log.WarnContext(ctx, "events: ignoring a malformed notification", slog.String("error", err.Error()), slog.Int("bytes", len(msg)))
		return
	}
	_ = p.hub.deliver(e) // fails only once closed, when nobody is left to tell
}

// reconnect connects and listens again, waiting longer after each failure; it
// returns nil once ctx ends.
func (p *Postgres) reconnect(ctx context.Context) *pgx.Conn {
	lost := time.Now()
	for attempt := 1; ; attempt++ {
		wait := backoff.Delay(attempt, p.timing.minBackoff, p.timing.maxBackoff)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		conn, err := p.connect(ctx)
		if err == nil {
			p.log.InfoContext(ctx, "events: listening again; events published while disconnected were lost",
				slog.Int("attempts", attempt), slog.Duration("down", time.Since(lost)))
			return conn
		}
		if ctx.Err() != nil {
			return nil
		}
		p.log.WarnContext(ctx, "events: reconnecting listener failed",
			slog.Int("attempt", attempt), slog.String("error", err.Error()))
	}
}

// connect opens a listening connection.
func (p *Postgres) connect(ctx context.Context) (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, p.config)
	if err != nil {
		return nil, fmt.Errorf("connect listener: %w", err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+channel); err != nil {
		<-closeConn(conn)
		return nil, fmt.Errorf("listen on %s: %w", channel, err)
	}
	p.pid.Store(conn.PgConn().PID())
	return conn, nil
}

// closeConn closes conn and returns a channel closed once pgx has finished
// with it. pgx closes a failed connection in the background, first sending
// a cancel request and draining the socket for up to 15 seconds, which on a
// dead network would hold up Close; closing the socket cuts the draining
// short (the cancel request, on a connection of its own, is usually quick).
func closeConn(conn *pgx.Conn) <-chan struct{} {
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	_ = conn.Close(ctx)              // the connection is done with either way
	_ = conn.PgConn().Conn().Close() // usually closed already
	return conn.PgConn().CleanupDone()
}

// pending returns those of chans that are not closed yet.
func pending(chans []<-chan struct{}) []<-chan struct{} {
	open := chans[:0]
	for _, c := range chans {
		select {
		case <-c:
		default:
			open = append(open, c)
		}
	}
	return open
}
