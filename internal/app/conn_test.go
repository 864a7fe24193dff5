package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/config"
	"github.com/rollcall/rollcall/internal/server"
	"github.com/rollcall/rollcall/internal/testkit"
)

// serveReal starts s's HTTP server as `rollcall serve` runs it (its
// timeouts and connection caps) on a loopback port of its own, and returns
// the port's address.
func serveReal(t *testing.T, s *testkit.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	base, cancel := context.WithCancel(context.Background())
	srv := s.HTTPServer(base)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		cancel() // ends websockets
		ctx, stop := context.WithTimeout(context.Background(), 5*time.Second)
		defer stop()
		_ = srv.Shutdown(ctx)
		require.ErrorIs(t, <-done, http.ErrServerClosed)
	})
	return ln.Addr().String()
}

// connLimits are limits small enough to reach in a test.
func connLimits(modify func(*server.ConnLimits)) func(*config.Config) {
	return func(c *config.Config) {
		c.Conns = server.DefaultConnLimits()
		modify(&c.Conns)
	}
}

// openWS upgrades to a websocket at addr with header; it does not fail the
// test when the upgrade is refused.
func openWS(t *testing.T, addr string, header http.Header) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}, HandshakeTimeout: 5 * time.Second}
	c, res, err := d.Dial("ws://"+addr+"/graphql", header)
	if c != nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, res, err
}

// openSignedIn opens a websocket signed in with token and waits for the
// connection_ack.
func openSignedIn(t *testing.T, addr, token string, header http.Header) *websocket.Conn {
	t.Helper()
	c, res, err := openWS(t, addr, header)
	require.NoError(t, err)
	res.Body.Close()
	require.NoError(t, c.WriteJSON(wsMessage{Type: "connection_init", Payload: map[string]any{"authorization": "Bearer " + token}}))
	m, err := wsRead(t, c)
	require.NoError(t, err)
	require.Equal(t, "connection_ack", m.Type)
	return c
}

// requireRefused asserts that a websocket upgrade is refused with 429
// RATE_LIMITED, and returns the message.
func requireUpgradeRefused(t *testing.T, addr string, header http.Header) string {
	t.Helper()
	_, res, err := openWS(t, addr, header)
	require.ErrorIs(t, err, websocket.ErrBadHandshake)
	defer res.Body.Close()
	require.Equal(t, http.StatusTooManyRequests, res.StatusCode)
	var body testkit.Response
	require.NoError(t, json.NewDecoder(res.Body).Decode(&body))
	require.Equal(t, "RATE_LIMITED", body.Code())
	return body.Errors[0].Message
}

// closeWS closes c as a client does and waits until the server has let the
// socket go (it answers the close frame, then closes).
func closeWS(t *testing.T, c *websocket.Conn) {
	t.Helper()
	require.NoError(t, c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye")))
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	for {
		if _, _, err := c.ReadMessage(); err != nil {
			var netErr net.Error
			require.False(t, errors.As(err, &netErr) && netErr.Timeout(), "the server did not close the socket")
			break
		}
	}
	c.Close()
}

// eventuallyOpens retries an upgrade that may be refused until the
// server has freed a slot.
func eventuallyOpens(t *testing.T, addr, token string, header http.Header) *websocket.Conn {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, res, err := openWS(t, addr, header)
		if err == nil {
			res.Body.Close()
			require.NoError(t, c.WriteJSON(wsMessage{Type: "connection_init", Payload: map[string]any{"authorization": "Bearer " + token}}))
			m, err := wsRead(t, c)
			require.NoError(t, err)
			require.Equal(t, "connection_ack", m.Type)
			return c
		}
		require.ErrorIs(t, err, websocket.ErrBadHandshake)
		require.Equal(t, http.StatusTooManyRequests, res.StatusCode)
		res.Body.Close()
		require.True(t, time.Now().Before(deadline), "no slot freed within 5s")
		time.Sleep(5 * time.Millisecond)
	}
}

func forwardedFor(addr string) http.Header {
	return http.Header{"X-Forwarded-For": {"203.0.113.66, " + addr}} // a spoofed first entry
}

func TestWebsocketCapPerAddress(t *testing.T) {
	t.Parallel()
	s := testkit.NewServer(t, connLimits(func(l *server.ConnLimits) { l.MaxWebsocketsPerIP = 2 }))
	addr := serveReal(t, s)
	tok := s.Login(t, "default", "owner@example.com", testkit.OwnerPassword)

	first := openSignedIn(t, addr, tok, nil)
	openSignedIn(t, addr, tok, nil)
	require.Contains(t, requireUpgradeRefused(t, addr, nil), "too many websockets and event streams from your address (at most 2)")
	require.Contains(t, requireUpgradeRefused(t, addr, nil), "at most 2", "a refusal takes no slot")

	// Closing one frees its slot, once.
	closeWS(t, first)
	eventuallyOpens(t, addr, tok, nil)
	requireUpgradeRefused(t, addr, nil)

	t.Run("behind a proxy: the address it saw, IPv6 per /64", func(t *testing.T) {
		t.Parallel()
		s := testkit.NewServer(t, connLimits(func(l *server.ConnLimits) { l.MaxWebsocketsPerIP = 2 }),
			func(c *config.Config) { c.TrustProxy = 1 })
		addr := serveReal(t, s)
		tok := s.Login(t, "default", "owner@example.com", testkit.OwnerPassword)
		openSignedIn(t, addr, tok, forwardedFor("2001:db8:0:1::1"))
		openSignedIn(t, addr, tok, forwardedFor("2001:db8:0:1::2"))
		requireUpgradeRefused(t, addr, forwardedFor("2001:db8:0:1:ffff::3")) // the same /64
		requireUpgradeRefused(t, addr, http.Header{"X-Forwarded-For": {"2001:db8:0:1::4"}})
		openSignedIn(t, addr, tok, forwardedFor("2001:db8:0:2::1")) // the next /64
		openSignedIn(t, addr, tok, forwardedFor("198.51.100.1"))
		openSignedIn(t, addr, tok, forwardedFor("198.51.100.2"))
		openSignedIn(t, addr, tok, forwardedFor("198.51.100.1"))
		requireUpgradeRefused(t, addr, forwardedFor("::ffff:198.51.100.1"))
	})
}

func TestWebsocketCapTotal(t *testing.T) {
	t.Parallel()
	s := testkit.NewServer(t, connLimits(func(l *server.ConnLimits) { l.MaxWebsockets = 2 }),
		func(c *config.Config) { c.TrustProxy = 1 })
	addr := serveReal(t, s)
	tok := s.Login(t, "default", "owner@example.com", testkit.OwnerPassword)

	first := openSignedIn(t, addr, tok, forwardedFor("198.51.100.1"))
	openSignedIn(t, addr, tok, forwardedFor("198.51.100.2"))
	require.Contains(t, requireUpgradeRefused(t, addr, forwardedFor("198.51.100.3")), "the server holds its most websockets and event streams (2)")

	closeWS(t, first)
	eventuallyOpens(t, addr, tok, forwardedFor("198.51.100.3"))
	requireUpgradeRefused(t, addr, forwardedFor("198.51.100.4"))

	// Plain requests are not websockets and are not refused.
	res, err := http.Get("http://" + addr + "/healthz")
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
}

// subscriptionCapClient drives one websocket for TestSubscriptionCap.
type subscriptionCapClient struct{ *wsClient }

// requireRefusal reads until one of ids is refused (a RATE_LIMITED result,
// then complete) and returns it; no other message may come meanwhile.
func (w subscriptionCapClient) requireRefusal(ids ...string) string {
	w.t.Helper()
	m, err := w.read(5 * time.Second)
	require.NoError(w.t, err)
	require.Equal(w.t, w.p.next, m.Type, "%+v", m)
	require.Contains(w.t, ids, m.ID)
	var r wsResult
	require.NoError(w.t, json.Unmarshal(m.Payload, &r))
	require.Len(w.t, r.Errors, 1, "%s", m.Payload)
	require.Equal(w.t, "RATE_LIMITED", r.Errors[0].Code())
	require.Contains(w.t, r.Errors[0].Message, "at most 3 at once")
	done, err := w.read(5 * time.Second)
	require.NoError(w.t, err)
	require.Equal(w.t, "complete", done.Type)
	require.Equal(w.t, m.ID, done.ID)
	return m.ID
}

// stop stops subscription id, which must be running (not refused).
func (w subscriptionCapClient) stop(id string) {
	w.t.Helper()
	stop := "complete"
	if w.p.name == "graphql-ws" {
		stop = "stop"
	}
	require.NoError(w.t, w.c.WriteJSON(wsMessage{ID: id, Type: stop}))
	for {
		m, err := w.read(5 * time.Second)
		require.NoError(w.t, err)
		require.Equal(w.t, id, m.ID, "%s", m.Payload)
		if m.Type == "complete" {
			return
		}
		// One stopped while it was still subscribing ends with an error,
		// but not the refusal.
		require.Equal(w.t, w.p.next, m.Type)
		require.NotContains(w.t, string(m.Payload), "RATE_LIMITED", "%s was not running", id)
	}
}

func TestSubscriptionCap(t *testing.T) {
	t.Parallel()
	for _, p := range wsProtocols {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			s := testkit.NewServer(t, connLimits(func(l *server.ConnLimits) { l.MaxSubscriptionsPerConnection = 3 }))
			a := signIn(t, s, "acme")
			s.AddPeople(t, a.org, testkit.Person{Email: "member@acme.test", Status: user.StatusActive, Password: "member-password-1"})
			tok := s.Login(t, "acme", "member@acme.test", "member-password-1")
			w := subscriptionCapClient{wsOpen(t, s, p, tok)}

			// Four at once: three run, one (whichever comes last) is refused.
			ids := []string{"1", "2", "3", "4"}
			for _, id := range ids {
				w.subscribe(id, notificationSubscription, nil)
			}
			refused := w.requireRefusal(ids...)
			var running []string
			for _, id := range ids {
				if id != refused {
					running = append(running, id)
				}
			}
			w.subscribe("5", notificationSubscription, nil)
			w.requireRefusal("5")

			// Queries and mutations on the same connection still run.
			w.subscribe("q", `{ viewer { email } }`, nil)
			r := w.next("q", 5*time.Second)
			require.Empty(t, r.Errors)
			require.JSONEq(t, `{"viewer": {"email": "member@acme.test"}}`, string(r.Data))
			m, err := w.read(5 * time.Second)
			require.NoError(t, err)
			require.Equal(t, "complete", m.Type)

			// Stopping one frees its place: of two more, one runs.
			w.stop(running[0])
			w.subscribe("6", notificationSubscription, nil)
			w.subscribe("7", notificationSubscription, nil)
			refused = w.requireRefusal("6", "7")
			started := map[string]string{"6": "7", "7": "6"}[refused]
			for _, id := range append(running[1:], started) {
				w.stop(id)
			}
			// All stopped: three run again.
			for _, id := range []string{"8", "9", "10"} {
				w.subscribe(id, notificationSubscription, nil)
			}
			w.subscribe("11", notificationSubscription, nil)
			w.requireRefusal("8", "9", "10", "11")
		})
	}
}

// A Member floods one websocket with subscriptions: all but the cap are
// refused, and the server holds no more than the cap.
func TestSubscriptionFlood(t *testing.T) {
	s := testkit.NewServer(t, connLimits(func(l *server.ConnLimits) { l.MaxSubscriptionsPerConnection = 5 }))
	a := signIn(t, s, "acme")
	s.AddPeople(t, a.org, testkit.Person{Email: "member@acme.test", Status: user.StatusActive, Password: "member-password-1"})
	tok := s.Login(t, "acme", "member@acme.test", "member-password-1")
	w := wsOpen(t, s, wsProtocols[0], tok)
	before := runtime.NumGoroutine()

	const n = 5000
	sent := make(chan error, 1)
	go func() {
		for i := range n {
			msg := map[string]any{"id": fmt.Sprint(i), "type": "subscribe", "payload": map[string]any{"query": notificationSubscription}}
			if err := w.c.WriteJSON(msg); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	refused := 0
	for refused < n-5 {
		m, err := w.read(10 * time.Second)
		require.NoError(t, err, "after %d refusals", refused)
		if m.Type == "complete" {
			refused++
			continue
		}
		require.Equal(t, "next", m.Type)
		var r wsResult
		require.NoError(t, json.Unmarshal(m.Payload, &r))
		require.Equal(t, "RATE_LIMITED", r.Errors[0].Code())
	}
	require.NoError(t, <-sent)
	require.Less(t, runtime.NumGoroutine()-before, 100, "the server holds the 5 running subscriptions, not %d", n)
}

// A client that sends operations without reading the answers is read more
// slowly: the server holds a bounded number of them, and the connection
// carries on once the client reads.
func TestWebsocketNotReading(t *testing.T) {
	s := testkit.NewServer(t, connLimits(func(l *server.ConnLimits) { l.MaxSubscriptionsPerConnection = 2 }))
	addr := serveReal(t, s)
	tok := s.Login(t, "default", "owner@example.com", testkit.OwnerPassword)
	d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}, HandshakeTimeout: 5 * time.Second,
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err == nil {
				err = c.(*net.TCPConn).SetReadBuffer(4096) // so the server's writes block soon
			}
			return c, err
		}}
	c, res, err := d.Dial("ws://"+addr+"/graphql", nil)
	require.NoError(t, err)
	res.Body.Close()
	t.Cleanup(func() { c.Close() })
	w := &wsClient{t: t, p: wsProtocols[0], c: c}
	require.NoError(t, c.WriteJSON(wsMessage{Type: "connection_init", Payload: map[string]any{"authorization": "Bearer " + tok}}))
	m, err := w.read(5 * time.Second)
	require.NoError(t, err)
	require.Equal(t, "connection_ack", m.Type)
	before := runtime.NumGoroutine()

	// Send without reading until the server stops taking more: the
	// answers fill the buffers, the server stops reading, then so do the
	// buffers the other way.
	sent := 0
	for {
		require.NoError(t, c.SetWriteDeadline(time.Now().Add(time.Second)))
		err := c.WriteJSON(map[string]any{"id": fmt.Sprint(sent), "type": "subscribe", "payload": map[string]any{"query": notificationSubscription}})
		if err != nil {
			var netErr net.Error
			require.True(t, errors.As(err, &netErr) && netErr.Timeout(), "the server closed the connection: %v", err)
			break
		}
		sent++
		require.Less(t, sent, 1_000_000, "the server reads whatever is sent")
	}
	t.Logf("%d operations sent before the server stopped reading", sent)
	require.Less(t, runtime.NumGoroutine()-before, 100, "%d operations sent, held by the server", sent)

	// gorilla cannot write after a timeout, but the connection is alive:
	// the answers come as the client reads.
	for refused := 0; refused < 20; {
		m, err := w.read(5 * time.Second)
		require.NoError(t, err)
		if m.Type == "complete" {
			refused++
		}
	}
}

// trickle sends a request whose body never ends, a byte every interval,
// and returns the connection and its response.
func trickle(t *testing.T, addr string, interval time.Duration) (net.Conn, *http.Response) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	_, err = fmt.Fprintf(c, "POST /graphql HTTP/1.1\r\nHost: rollcall.test\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{")
	require.NoError(t, err)
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	go func() {
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if _, err := c.Write([]byte(" ")); err != nil {
					return
				}
			}
		}
	}()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
	br := bufio.NewReader(c)
	res, err := http.ReadResponse(br, nil)
	require.NoError(t, err, "no answer: the body is still being read")
	t.Cleanup(func() { res.Body.Close() })
	return &bufferedConn{Conn: c, r: br}, res
}

type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (b *bufferedConn) Read(p []byte) (int, error) { return b.r.Read(p) }

// requireClosedByServer waits for the server to close c.
func requireClosedByServer(t *testing.T, c net.Conn) {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
	_, err := io.Copy(io.Discard, c)
	var netErr net.Error
	require.False(t, errors.As(err, &netErr) && netErr.Timeout(), "the connection is still open: %v", err)
}

func TestSlowBodyIsCut(t *testing.T) {
	t.Parallel()
	s := testkit.NewServer(t, connLimits(func(l *server.ConnLimits) { l.ReadTimeout = 500 * time.Millisecond }))
	addr := serveReal(t, s)
	c, res := trickle(t, addr, 50*time.Millisecond) // each byte comes in time; the body does not
	require.Equal(t, http.StatusRequestTimeout, res.StatusCode)
	var body testkit.Response
	require.NoError(t, json.NewDecoder(res.Body).Decode(&body))
	require.Equal(t, "BAD_USER_INPUT", body.Code())
	requireClosedByServer(t, c)
}

func TestIdleKeepAliveIsClosed(t *testing.T) {
	t.Parallel()
	s := testkit.NewServer(t, connLimits(func(l *server.ConnLimits) { l.IdleTimeout = 300 * time.Millisecond }))
	addr := serveReal(t, s)
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	br := bufio.NewReader(c)
	for range 2 { // the connection is kept alive between requests
		_, err = fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: rollcall.test\r\n\r\n")
		require.NoError(t, err)
		res, err := http.ReadResponse(br, nil)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.False(t, res.Close)
	}
	requireClosedByServer(t, &bufferedConn{Conn: c, r: br})
}

func TestWebsocketOutlivesReadTimeout(t *testing.T) {
	t.Parallel()
	s := testkit.NewServer(t, connLimits(func(l *server.ConnLimits) { l.ReadTimeout = 300 * time.Millisecond }))
	addr := serveReal(t, s)
	tok := s.Login(t, "default", "owner@example.com", testkit.OwnerPassword)
	c := openSignedIn(t, addr, tok, nil)

	// A request begun after the websocket's is cut by the read timeout: by
	// then the websocket's request is older than the timeout too.
	_, res := trickle(t, addr, 50*time.Millisecond)
	require.Equal(t, http.StatusRequestTimeout, res.StatusCode)

	require.NoError(t, c.WriteJSON(wsMessage{Type: "ping"}))
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	var m wsMessage
	require.NoError(t, c.ReadJSON(&m))
	require.Equal(t, "pong", m.Type)
	require.NoError(t, c.WriteJSON(wsMessage{ID: "1", Type: "subscribe", Payload: map[string]any{"query": "{ viewer { email } }"}}))
	m, err := wsRead(t, c)
	require.NoError(t, err)
	require.Equal(t, "next", m.Type)
	require.Equal(t, map[string]any{"viewer": map[string]any{"email": "owner@example.com"}}, m.Payload["data"])
}

// askHealthz asks for /healthz on a new connection and returns it, open,
// with the answer's status. A connection refused at the cap gives 503, or
// an error when its close overtook the answer.
func askHealthz(t *testing.T, addr, connection string) (net.Conn, int, error) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	_, err = fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: rollcall.test\r\nConnection: %s\r\n\r\n", connection)
	require.NoError(t, err)
	br := bufio.NewReader(c)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		var netErr net.Error
		require.False(t, errors.As(err, &netErr) && netErr.Timeout(), "no answer: the connection waits")
		return c, 0, err
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return &bufferedConn{Conn: c, r: br}, res.StatusCode, nil
}

// healthz asks for /healthz on a new kept-alive connection until it is
// answered (a transient refusal at the cap is retried) and returns the
// connection.
func healthz(t *testing.T, addr string) net.Conn {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, status, err := askHealthz(t, addr, "keep-alive")
		if status == http.StatusOK {
			return c
		}
		require.True(t, status == http.StatusServiceUnavailable || err != nil, "status %d", status)
		require.True(t, time.Now().Before(deadline), "not answered within 5s: %d %v", status, err)
		time.Sleep(5 * time.Millisecond)
	}
}

func TestConnectionCap(t *testing.T) {
	t.Parallel()
	s := testkit.NewServer(t, connLimits(func(l *server.ConnLimits) { l.MaxConnections = 2 }))
	addr := serveReal(t, s)

	t.Run("idle keep-alives make room", func(t *testing.T) {
		idle := []net.Conn{healthz(t, addr), healthz(t, addr)}
		healthz(t, addr) // the cap is reached: an idle one goes
		closed := make(chan error, len(idle))
		for _, c := range idle {
			require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
			go func() {
				_, err := io.Copy(io.Discard, c)
				closed <- err
			}()
		}
		err := <-closed
		var netErr net.Error
		require.False(t, errors.As(err, &netErr) && netErr.Timeout(), "both are still open: %v", err)
	})

	t.Run("nothing idle: refused at once, not queued", func(t *testing.T) {
		// Connections that have not sent a request are not idle.
		var silent []net.Conn
		for range 2 {
			c, err := net.Dial("tcp", addr)
			require.NoError(t, err)
			t.Cleanup(func() { c.Close() })
			silent = append(silent, c)
		}
		// Once the server has taken both, a health check is refused at
		// once (503, or a reset that overtook it) rather than left waiting.
		deadline := time.Now().Add(5 * time.Second)
		for {
			_, status, err := askHealthz(t, addr, "close")
			if status != http.StatusOK {
				require.True(t, status == http.StatusServiceUnavailable || err != nil, "status %d", status)
				break
			}
			require.True(t, time.Now().Before(deadline), "never refused")
		}
		// One leaves: a health check gets through.
		silent[0].Close()
		deadline = time.Now().Add(5 * time.Second)
		for {
			if _, status, _ := askHealthz(t, addr, "close"); status == http.StatusOK {
				break
			}
			require.True(t, time.Now().Before(deadline), "no room after a connection left")
			time.Sleep(5 * time.Millisecond)
		}
	})
}

// A client that floods operations and never reads is disconnected once an
// answer cannot be written within the write timeout, which frees its
// goroutines and its place under the per-address cap.
func TestWebsocketThatNeverReadsIsDropped(t *testing.T) {
	s := testkit.NewServer(t, connLimits(func(l *server.ConnLimits) {
		l.MaxSubscriptionsPerConnection = 2
		l.MaxWebsocketsPerIP = 1
	}), func(c *config.Config) { c.Limits.WebsocketWrite = 200 * time.Millisecond })
	addr := serveReal(t, s)
	tok := s.Login(t, "default", "owner@example.com", testkit.OwnerPassword)
	d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}, HandshakeTimeout: 5 * time.Second,
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err == nil {
				err = c.(*net.TCPConn).SetReadBuffer(4096) // so the server's writes block soon
			}
			return c, err
		}}
	c, res, err := d.Dial("ws://"+addr+"/graphql", nil)
	require.NoError(t, err)
	res.Body.Close()
	t.Cleanup(func() { c.Close() })
	require.NoError(t, c.WriteJSON(wsMessage{Type: "connection_init", Payload: map[string]any{"authorization": "Bearer " + tok}}))
	// Large answers fill the buffers soon; keep sending until the server
	// drops the connection (a write that fails but not for a deadline).
	query := map[string]any{"query": "{ __schema { types { name description fields { name description } } } }"}
	stop := time.Now().Add(30 * time.Second)
	for sent := 0; ; sent++ {
		require.True(t, time.Now().Before(stop), "the server still holds the connection after %d operations", sent)
		require.NoError(t, c.SetWriteDeadline(time.Now().Add(100*time.Millisecond)))
		err := c.WriteJSON(map[string]any{"id": fmt.Sprint(sent), "type": "subscribe", "payload": query})
		var netErr net.Error
		if err != nil && !(errors.As(err, &netErr) && netErr.Timeout()) {
			break // dropped
		}
		if err != nil {
			// gorilla cannot write after a timeout: go on at the TCP level
			// with what a client would send, a ping frame.
			raw := c.NetConn()
			require.NoError(t, raw.SetWriteDeadline(time.Now().Add(100*time.Millisecond)))
			if _, err := raw.Write([]byte{0x89, 0x80, 0, 0, 0, 0}); err != nil && !(errors.As(err, &netErr) && netErr.Timeout()) {
				break
			}
		}
	}
	// The only place for this address frees once the server has dropped
	// the connection that never read.
	require.Eventually(t, func() bool {
		other, res, err := openWS(t, addr, nil)
		if err != nil {
			return false
		}
		res.Body.Close()
		other.Close()
		return true
	}, 20*time.Second, 50*time.Millisecond)
}
