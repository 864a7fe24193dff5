// Package wsgorilla runs gqlgen's websocket transport over gorilla/websocket.
// gqlgen ships only a coder/websocket implementation since v0.17.92; this
// adapter keeps the read limit and read deadline (pong timeout) working, and
// lets the server pace how fast a connection's messages are read.
package wsgorilla

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/gorilla/websocket"
)

// Implementation accepts websocket connections with a gorilla Upgrader.
// Upgrader.CheckOrigin decides which browser origins may connect.
type Implementation struct {
	Upgrader websocket.Upgrader
	// WriteTimeout bounds each message's write (0: none). gqlgen writes
	// one message at a time under a lock, so a client that stops reading
	// would otherwise block every answer, and the close, forever; past the
	// timeout the write fails and gqlgen closes the connection.
	WriteTimeout time.Duration
}

var _ transport.WebsocketImplementation = (*Implementation)(nil)

// Accept upgrades the request, offering gqlgen's subprotocols.
func (i *Implementation) Accept(w http.ResponseWriter, r *http.Request, opts transport.WebsocketAcceptOptions) (transport.WebsocketConn, error) {
	up := i.Upgrader
	up.Subprotocols = slices.Clone(up.Subprotocols)
	for _, p := range opts.Subprotocols {
		if !slices.Contains(up.Subprotocols, p) {
			up.Subprotocols = append(up.Subprotocols, p)
		}
	}
	c, err := up.Upgrade(w, r, opts.ResponseHeader)
	if err != nil {
		return nil, err
	}
	gate, _ := r.Context().Value(gateKey{}).(ReadGate)
	return conn{Conn: c, gate: gate, writeTimeout: i.WriteTimeout}, nil
}

// ReadGate paces a connection: gqlgen reads the next message from the
// client only once Wait returns. gqlgen runs each operation in a goroutine
// of its own as soon as its message is read, so holding back the reading
// is what bounds the operations a client can have waiting.
type ReadGate interface {
	Wait()
}

type gateKey struct{}

// WithReadGate returns ctx carrying g: a websocket accepted for a request
// with this context reads through g.
func WithReadGate(ctx context.Context, g ReadGate) context.Context {
	return context.WithValue(ctx, gateKey{}, g)
}

// conn adapts *websocket.Conn; gqlgen serialises writes itself.
type conn struct {
	*websocket.Conn
	gate         ReadGate // nil: read at once
	writeTimeout time.Duration
}

var (
	_ transport.WebsocketConn          = conn{}
	_ transport.WebsocketReadLimiter   = conn{}
	_ transport.WebsocketReadDeadliner = conn{}
)

// NextReader waits for the gate, then reads the next message. It reports a
// normal close as transport.ErrWebsocketClosed.
func (c conn) NextReader() (int, io.Reader, error) {
	if c.gate != nil {
		c.gate.Wait()
	}
	t, r, err := c.Conn.NextReader()
	if websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseNoStatusReceived) {
		return t, nil, transport.ErrWebsocketClosed
	}
	return t, r, err
}

// WriteJSON writes one message within the write timeout. gqlgen only
// reports a failed write, so a failure closes the connection here: every
// later write fails at once, the operations end, and with them the read.
func (c conn) WriteJSON(v any) error {
	if c.writeTimeout > 0 {
		if err := c.SetWriteDeadline(time.Now().Add(c.writeTimeout)); err != nil {
			return err
		}
	}
	err := c.Conn.WriteJSON(v)
	if err != nil {
		_ = c.Conn.Close()
	}
	return err
}

// WriteClose sends a close frame with the code and reason.
func (c conn) WriteClose(code int, message string) error {
	err := c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, message), time.Now().Add(time.Second))
	if errors.Is(err, websocket.ErrCloseSent) {
		return nil
	}
	return err
}
