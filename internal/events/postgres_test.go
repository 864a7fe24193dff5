package events

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	neturl "net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/rollcall/rollcall/internal/testdb"
)

// postgresURL returns a fresh database for a replica test, or skips the test
// on SQLite.
func postgresURL(t *testing.T) string {
	t.Helper()
	if !testdb.Postgres() {
		t.Skipf("replica tests need PostgreSQL: set %s", testdb.EnvDatabaseURL)
	}
	return testdb.DatabaseURL(t)
}

// replica is one Rollcall process: its own pool and its own bus.
type replica struct {
	bus *Postgres
	db  *sql.DB
}

func newReplica(t *testing.T, url string, log *slog.Logger) replica {
	t.Helper()
	db, err := sql.Open("pgx", url)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	bus, err := NewPostgres(t.Context(), url, db, log)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, bus.Close()) })
	return replica{bus: bus, db: db}
}

func TestPostgresReplicas(t *testing.T) {
	t.Parallel()
	url := postgresURL(t)
	logs := &logBuffer{}
	a, b := newReplica(t, url, logs.logger()), newReplica(t, url, nil)
	ctx := t.Context()
	onA, cancel := a.bus.Subscribe(ctx, "bulksend:7")
	t.Cleanup(cancel)
	onB, cancel := b.bus.Subscribe(ctx, "bulksend:7")
	t.Cleanup(cancel)
	otherOnB, cancel := b.bus.Subscribe(ctx, "bulksend:8")
	t.Cleanup(cancel)

	t.Run("publish on A reaches B and A", func(t *testing.T) {
		e := Event{Topic: "bulksend:7", Payload: json.RawMessage(`{"sent": 3, "note": "<café & co>"}`)}
		require.NoError(t, a.bus.Publish(ctx, e))
		want := Event{Topic: "bulksend:7", Payload: json.RawMessage(`{"sent":3,"note":"<café & co>"}`)}
		require.Equal(t, want, receive(t, onB))
		require.Equal(t, want, receive(t, onA), "a replica receives its own events")
	})
	t.Run("topics match exactly", func(t *testing.T) {
		require.NoError(t, b.bus.Publish(ctx, Event{Topic: "bulksend:8"}))
		require.NoError(t, b.bus.Publish(ctx, Event{Topic: "bulksend:7"}))
		// One session's notifications arrive in order, so bulksend:8 went by.
		require.Equal(t, Event{Topic: "bulksend:7"}, receive(t, onB))
		require.Equal(t, Event{Topic: "bulksend:7"}, receive(t, onA))
		require.Equal(t, Event{Topic: "bulksend:8"}, receive(t, otherOnB))
		requireEmpty(t, onA)
		requireEmpty(t, onB)
	})
	t.Run("the largest event fits NOTIFY", func(t *testing.T) {
		e := Event{Topic: strings.Repeat("\x01", maxTopic), Payload: json.RawMessage(`"` + strings.Repeat("<", MaxPayload-2) + `"`)}
		big, cancel := b.bus.Subscribe(ctx, e.Topic)
		defer cancel()
		require.NoError(t, a.bus.Publish(ctx, e))
		require.Equal(t, e, receive(t, big))
	})
	t.Run("invalid events fail", func(t *testing.T) {
		require.ErrorIs(t, a.bus.Publish(ctx, Event{Topic: "t", Payload: jsonString(MaxPayload + 1)}), ErrPayloadTooLarge)
		require.ErrorIs(t, a.bus.Publish(ctx, Event{Topic: "t", Payload: json.RawMessage(`{`)}), ErrInvalid)
		require.ErrorIs(t, a.bus.Publish(ctx, Event{}), ErrInvalid)
	})
	t.Run("malformed notifications are ignored", func(t *testing.T) {
		_, err := b.db.ExecContext(ctx, `SELECT pg_notify($1, 'not json')`, channel)
		require.NoError(t, err)
		require.NoError(t, b.bus.Publish(ctx, Event{Topic: "bulksend:7", Payload: json.RawMessage(`1`)}))
		require.Equal(t, Event{Topic: "bulksend:7", Payload: json.RawMessage(`1`)}, receive(t, onA))
		require.Contains(t, logs.String(), "malformed notification")
	})
	t.Run("database errors are returned", func(t *testing.T) {
		done, cancel := context.WithCancel(ctx)
		cancel()
		require.ErrorIs(t, a.bus.Publish(done, Event{Topic: "t"}), context.Canceled)
	})
}

func TestPostgresReconnects(t *testing.T) {
	t.Parallel()
	url := postgresURL(t)
	logs := &logBuffer{}
	a, b := newReplica(t, url, logs.logger()), newReplica(t, url, nil)
	ctx := t.Context()
	onA, cancel := a.bus.Subscribe(ctx, "session:1")
	t.Cleanup(cancel)
	onB, cancel := b.bus.Subscribe(ctx, "session:1")
	t.Cleanup(cancel)
	require.NoError(t, a.bus.Publish(ctx, Event{Topic: "session:1"}))
	receive(t, onA)
	receive(t, onB)

	// Kill both listening connections, as a failover or an administrator would.
	pidA, pidB := a.bus.pid.Load(), b.bus.pid.Load()
	require.NotZero(t, pidA)
	require.NotZero(t, pidB)
	for _, pid := range []uint32{pidA, pidB} {
		var killed bool
		require.NoError(t, a.db.QueryRowContext(ctx, `SELECT pg_terminate_backend($1)`, int64(pid)).Scan(&killed))
		require.True(t, killed)
	}

	// Termination is asynchronous: a notification may still arrive on the old
	// connection. Wait until both replicas listen on new connections, then
	// show that events flow on them. Events published while a listener is
	// down are lost (they are hints), so publish until both hear.
	require.Eventually(t, func() bool {
		pa, pb := a.bus.pid.Load(), b.bus.pid.Load()
		return pa != 0 && pa != pidA && pb != 0 && pb != pidB
	}, 10*time.Second, 20*time.Millisecond, "both replicas listen on new connections")
	drain(onA) // anything the old connections delivered
	drain(onB)
	var gotA, gotB bool
	n := 0
	require.Eventually(t, func() bool {
		n++
		if err := a.bus.Publish(ctx, Event{Topic: "session:1", Payload: fmt.Appendf(nil, "%d", n)}); err != nil {
			t.Logf("publish: %v", err)
		}
		gotA = gotA || heard(onA, 20*time.Millisecond)
		gotB = gotB || heard(onB, 20*time.Millisecond)
		return gotA && gotB
	}, 10*time.Second, 50*time.Millisecond)
	t.Logf("both replicas heard again after %d attempts", n)
	require.Contains(t, logs.String(), "listener connection lost")
	require.Contains(t, logs.String(), "listening again")
}

// TestPostgresClose runs alone: it checks that nothing of the bus outlives
// Close, whether the listener is connected or reconnecting.
func TestPostgresClose(t *testing.T) {
	url := postgresURL(t)
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx := context.Background()
	db, err := sql.Open("pgx", url)
	require.NoError(t, err)
	defer db.Close()

	bus, err := NewPostgres(ctx, url, db, nil)
	require.NoError(t, err)
	ch, cancel := bus.Subscribe(ctx, "user:1")
	defer cancel()
	require.NoError(t, bus.Publish(ctx, Event{Topic: "user:1"}))
	require.Equal(t, Event{Topic: "user:1"}, receive(t, ch))
	require.NoError(t, bus.Close())
	requireClosed(t, ch)
	require.NoError(t, bus.Close(), "Close is idempotent")
	require.ErrorIs(t, bus.Publish(ctx, Event{Topic: "user:1"}), ErrClosed)
	late, _ := bus.Subscribe(ctx, "user:1")
	requireClosed(t, late)

	// Close while the listener waits to reconnect.
	bus, err = NewPostgres(ctx, url, db, nil)
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, `SELECT pg_terminate_backend($1)`, int64(bus.pid.Load()))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return bus.pid.Load() == 0 }, 5*time.Second, time.Millisecond)
	start := time.Now()
	require.NoError(t, bus.Close())
	require.Less(t, time.Since(start), time.Second)
	require.NoError(t, db.Close())
}

func TestNewPostgresFails(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err := NewPostgres(ctx, "postgres://rollcall:hunter2@127.0.0.1:1/none?sslmode=disable&connect_timeout=5", nil, nil)
	require.Error(t, err, "nothing listens on port 1")
	require.NotContains(t, err.Error(), "hunter2")
	_, err = NewPostgres(ctx, "postgres://rollcall:hunter2@127.0.0.1:bad/none", nil, nil)
	require.Error(t, err)
	require.NotContains(t, err.Error(), "hunter2")
}

// drain empties ch and reports whether it held an event.
// heard reports whether an event arrives on ch within d, draining any
// others pending. Events published while a listener reconnects are lost, so
// callers publish again until one is heard.
func heard(ch <-chan Event, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case _, ok := <-ch:
		if !ok {
			return false
		}
		drain(ch)
		return true
	case <-t.C:
		return false
	}
}

func drain(ch <-chan Event) bool {
	got := false
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return got
			}
			got = true
		default:
			return got
		}
	}
}

// logBuffer collects log lines from several goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

func TestPostgresNoticesSilentlyDeadConnection(t *testing.T) {
	t.Parallel()
	url := postgresURL(t)
	px := newProxy(t, url)
	db, err := sql.Open("pgx", url)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	logs := &logBuffer{}
	quick := timing{minBackoff: 10 * time.Millisecond, maxBackoff: 100 * time.Millisecond, idleCheck: 100 * time.Millisecond}
	bus, err := newPostgres(t.Context(), px.url, db, logs.logger(), quick)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, bus.Close()) })
	ctx := t.Context()
	ch, cancel := bus.Subscribe(ctx, "user:1")
	t.Cleanup(cancel)

	// A quiet but healthy connection survives its idle checks: each is a
	// ping the proxy forwards.
	pid := bus.pid.Load()
	px.awaitToServer(t, px.toServer.Load()+3)
	require.NoError(t, bus.Publish(ctx, Event{Topic: "user:1"}))
	require.Equal(t, Event{Topic: "user:1"}, receive(t, ch))
	require.Equal(t, pid, bus.pid.Load(), "still the same connection")

	// The network drops everything without a reset: only the idle check can tell.
	px.blackhole()
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "ping idle listener") }, 5*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool {
		if err := bus.Publish(ctx, Event{Topic: "user:1"}); err != nil {
			t.Logf("publish: %v", err)
		}
		return heard(ch, 20*time.Millisecond)
	}, 10*time.Second, 50*time.Millisecond)
	require.NotContains(t, []uint32{0, pid}, bus.pid.Load())
}

// proxy forwards TCP connections to a PostgreSQL server until told to
// swallow everything on the connections it has so far.
type proxy struct {
	url      string
	upstream string
	ln       net.Listener

	mu    sync.Mutex
	conns []*proxied
	wg    sync.WaitGroup

	// toServer counts the reads forwarded from clients to the server; each
	// one sends on forwarded, if nothing is pending there.
	toServer  atomic.Int64
	forwarded chan struct{}
}

type proxied struct {
	client, server net.Conn
	dropping       atomic.Bool
	px             *proxy
}

func newProxy(t *testing.T, rawURL string) *proxy {
	t.Helper()
	u, err := neturl.Parse(rawURL)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	px := &proxy{upstream: u.Host, ln: ln, forwarded: make(chan struct{}, 1)}
	u.Host = ln.Addr().String()
	px.url = u.String()
	px.wg.Go(px.accept)
	t.Cleanup(px.close)
	return px
}

func (px *proxy) accept() {
	for {
		client, err := px.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", px.upstream)
		if err != nil {
			client.Close()
			continue
		}
		c := &proxied{client: client, server: server, px: px}
		px.mu.Lock()
		px.conns = append(px.conns, c)
		px.mu.Unlock()
		px.wg.Go(func() { c.pipe(client, server) })
		px.wg.Go(func() { c.pipe(server, client) })
	}
}

// pipe copies from src to dst, or discards once the connection is dropping.
func (c *proxied) pipe(src, dst net.Conn) {
	defer c.client.Close()
	defer c.server.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			return
		}
		if c.dropping.Load() {
			continue
		}
		if _, err := dst.Write(buf[:n]); err != nil {
			return
		}
		if src == c.client {
			c.px.toServer.Add(1)
			select {
			case c.px.forwarded <- struct{}{}:
			default:
			}
		}
	}
}

// awaitToServer waits until n reads in all have been forwarded from clients
// to the server, failing after 10 seconds.
func (px *proxy) awaitToServer(t *testing.T, n int64) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for px.toServer.Load() < n {
		select {
		case <-px.forwarded:
		case <-deadline:
			t.Fatalf("%d of %d reads forwarded to the server after 10s", px.toServer.Load(), n)
		}
	}
}

// blackhole makes every connection so far swallow what is sent either way.
func (px *proxy) blackhole() {
	px.mu.Lock()
	defer px.mu.Unlock()
	for _, c := range px.conns {
		c.dropping.Store(true)
	}
}

func (px *proxy) close() {
	px.ln.Close()
	px.mu.Lock()
	for _, c := range px.conns {
		c.client.Close()
		c.server.Close()
	}
	px.mu.Unlock()
	px.wg.Wait()
}
