// Package wsgorilla runs gqlgen's websocket transport over gorilla/websocket.
// gqlgen ships only a coder/websocket implementation since v0.17.92; this
// adapter keeps the read limit and read deadline (pong timeout) working.
package wsgorilla

import (
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
	return conn{c}, nil
}

// conn adapts *websocket.Conn; gqlgen serialises writes itself.
type conn struct{ *websocket.Conn }

var (
	_ transport.WebsocketConn          = conn{}
	_ transport.WebsocketReadLimiter   = conn{}
	_ transport.WebsocketReadDeadliner = conn{}
)

// NextReader reports a normal close as transport.ErrWebsocketClosed.
func (c conn) NextReader() (int, io.Reader, error) {
	t, r, err := c.Conn.NextReader()
	if websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseNoStatusReceived) {
		return t, nil, transport.ErrWebsocketClosed
	}
	return t, r, err
}

// WriteClose sends a close frame with the code and reason.
func (c conn) WriteClose(code int, message string) error {
	err := c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, message), time.Now().Add(time.Second))
	if errors.Is(err, websocket.ErrCloseSent) {
		return nil
	}
	return err
}
