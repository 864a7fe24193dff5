package server

import (
	"container/list"
	"context"
	"net"
	"net/http"
	"sync"
	"time"
)

// ConnLimits bound the connections a server holds and how long a client may
// take. A zero duration means no timeout. A zero MaxWebsockets or
// MaxConnections is fitted to the open-file limit (FitDescriptors); a zero
// per-address or per-connection cap means none.
type ConnLimits struct {
	// MaxWebsockets is how many websockets the server holds open at once;
	// beyond it an upgrade is refused with 429 before it happens.
	MaxWebsockets int
	// MaxWebsocketsPerIP is the same per client address (clientip.Key: an
	// IPv4 address, or an IPv6 /64).
	MaxWebsocketsPerIP int
	// MaxSubscriptionsPerConnection is how many subscriptions may run at
	// once on one websocket; one more is answered with a RATE_LIMITED error
	// and the rest of the connection carries on. It also paces reading: a
	// client with twice that many operations of any kind unanswered is read
	// no further until some are answered.
	MaxSubscriptionsPerConnection int
	// MaxConnections is how many HTTP connections other than websockets the
	// server holds open. At the cap the longest-idle keep-alive connection
	// is closed to make room; when none is idle the new connection is
	// closed at once, never queued (a queue would make health checks wait
	// behind the load).
	MaxConnections int
	// ReadTimeout is the time a client has to send a whole request, headers
	// and body; an unfinished body is answered 408 and the connection closed.
	ReadTimeout time.Duration
	// ReadHeaderTimeout is the time a client has to send a request's headers.
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes a keep-alive connection unused this long.
	IdleTimeout time.Duration
}

// DefaultConnLimits are API.md's limits. MaxConnections is left to
// FitDescriptors, which derives it from the open-file limit.
func DefaultConnLimits() ConnLimits {
	return ConnLimits{
		MaxWebsockets:                 10_000,
		MaxWebsocketsPerIP:            500,
		MaxSubscriptionsPerConnection: 50,
		ReadTimeout:                   30 * time.Second,
		ReadHeaderTimeout:             10 * time.Second,
		IdleTimeout:                   120 * time.Second,
	}
}

// HTTPServer is Rollcall's http.Server with its connection limits. It never
// sets a write timeout: that would cut long answers and event streams.
type HTTPServer struct {
	srv   *http.Server
	conns *connBudget
}

// NewHTTPServer returns a server for h. Requests' contexts derive from base,
// which may outlive a Shutdown so websockets end when the caller says.
func NewHTTPServer(base context.Context, h http.Handler, l ConnLimits) *HTTPServer {
	b := &connBudget{max: l.MaxConnections, open: map[net.Conn]*list.Element{}, idle: list.New()}
	return &HTTPServer{conns: b, srv: &http.Server{
		Handler:           h,
		ReadTimeout:       l.ReadTimeout,
		ReadHeaderTimeout: l.ReadHeaderTimeout,
		IdleTimeout:       l.IdleTimeout,
		ConnState:         b.track,
		BaseContext:       func(net.Listener) context.Context { return base },
	}}
}

// Serve accepts connections on ln until Shutdown. It returns
// http.ErrServerClosed after a Shutdown.
func (s *HTTPServer) Serve(ln net.Listener) error {
	return s.srv.Serve(budgetListener{Listener: ln, b: s.conns})
}

// Shutdown stops accepting connections and waits for requests in flight,
// until ctx ends. Websockets are not waited for: they end with the base
// context.
func (s *HTTPServer) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }

// connBudget counts the HTTP connections the server holds (websockets leave
// the count once hijacked: they have their own caps) and keeps the idle
// ones in order, the longest idle first.
type connBudget struct {
	max  int // 0 = no cap
	mu   sync.Mutex
	open map[net.Conn]*list.Element // counted connections; the element when idle
	idle *list.List                 // of net.Conn
}

// admit counts c in, closing the longest-idle connection to make room at
// the cap. It reports false when the cap is reached and nothing is idle.
func (b *connBudget) admit(c net.Conn) bool {
	b.mu.Lock()
	if b.max <= 0 || len(b.open) < b.max {
		b.open[c] = nil
		b.mu.Unlock()
		return true
	}
	front := b.idle.Front()
	if front == nil {
		b.mu.Unlock()
		return false
	}
	evict := b.idle.Remove(front).(net.Conn)
	delete(b.open, evict)
	b.open[c] = nil
	b.mu.Unlock()
	// The server's read of the next request fails and it forgets the
	// connection; a client that was about to reuse it retries on a new one.
	_ = evict.Close()
	return true
}

// track follows the server's view of each connection (http.Server.ConnState).
func (b *connBudget) track(c net.Conn, state http.ConnState) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, counted := b.open[c]
	if !counted {
		return // evicted, or served without the budget listener
	}
	if e != nil {
		b.idle.Remove(e)
		b.open[c] = nil
	}
	switch state {
	case http.StateIdle:
		b.open[c] = b.idle.PushBack(c)
	case http.StateHijacked, http.StateClosed:
		delete(b.open, c)
	}
}

// budgetListener applies a connBudget as connections arrive. Unlike a
// listener that waits for a free slot, it never lets connections queue:
// one refused gets a 503 and is closed at once.
type budgetListener struct {
	net.Listener
	b *connBudget
}

// overloaded is written to a connection refused at the cap.
const overloaded = "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\nRetry-After: 1\r\n\r\n"

func (l budgetListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.b.admit(c) {
			return c, nil
		}
		_ = c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		_, _ = c.Write([]byte(overloaded))
		_ = c.Close()
	}
}
