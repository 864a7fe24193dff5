package wsgorilla_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql/handler/testserver"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/rollcall/rollcall/internal/wsgorilla"
)

type message struct {
	ID      string         `json:"id,omitempty"`
	Type    string         `json:"type"`
	Payload map[string]any `json:"payload,omitempty"`
}

func serve(t *testing.T, limit int64) (*testserver.TestServer, string) {
	t.Helper()
	srv := testserver.New()
	srv.AddTransport(transport.Websocket{
		Implementation: &wsgorilla.Implementation{Upgrader: websocket.Upgrader{
			CheckOrigin: func(r *http.Request) bool { return r.Header.Get("Origin") != "https://evil.test" },
		}},
		PayloadReadLimit: &limit,
	})
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return srv, "ws" + strings.TrimPrefix(ts.URL, "http")
}

func dial(t *testing.T, url, protocol string, header http.Header) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{Subprotocols: []string{protocol}, HandshakeTimeout: 5 * time.Second}
	c, res, err := d.Dial(url, header)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, protocol, c.Subprotocol())
	t.Cleanup(func() { c.Close() })
	return c
}

func read(t *testing.T, c *websocket.Conn) message {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	var m message
	require.NoError(t, c.ReadJSON(&m))
	return m
}

func TestSubscriptionOverBothProtocols(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	for _, proto := range []struct{ name, subscribe, next string }{
		{"graphql-transport-ws", "subscribe", "next"},
		{"graphql-ws", "start", "data"},
	} {
		t.Run(proto.name, func(t *testing.T) {
			srv, url := serve(t, 1<<20)
			c := dial(t, url, proto.name, nil)
			require.NoError(t, c.WriteJSON(message{Type: "connection_init"}))
			require.Equal(t, "connection_ack", read(t, c).Type)
			require.NoError(t, c.WriteJSON(message{ID: "1", Type: proto.subscribe, Payload: map[string]any{"query": "subscription { name }"}}))
			srv.SendNextSubscriptionMessage()
			m := read(t, c)
			for m.Type == "ka" || m.Type == "ping" || m.Type == "pong" {
				m = read(t, c)
			}
			require.Equal(t, proto.next, m.Type)
			require.Equal(t, map[string]any{"name": "test"}, m.Payload["data"])
			srv.SendCompleteSubscriptionMessage()
			m = read(t, c)
			require.Equal(t, "complete", m.Type)
			require.NoError(t, c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye")))
		})
	}
}

func TestReadLimitClosesTheConnection(t *testing.T) {
	_, url := serve(t, 256)
	c := dial(t, url, "graphql-transport-ws", nil)
	require.NoError(t, c.WriteJSON(message{Type: "connection_init"}))
	require.Equal(t, "connection_ack", read(t, c).Type)
	big := message{ID: "1", Type: "subscribe", Payload: map[string]any{"query": "subscription { name }", "pad": strings.Repeat("x", 1024)}}
	require.NoError(t, c.WriteJSON(big))
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, _, err := c.ReadMessage()
	require.Error(t, err)
	var closeErr *websocket.CloseError
	require.ErrorAs(t, err, &closeErr, "the server closes rather than reading past the limit")
}

func TestOriginCheck(t *testing.T) {
	_, url := serve(t, 1<<20)
	d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}}
	_, res, err := d.Dial(url, http.Header{"Origin": {"https://evil.test"}})
	require.Error(t, err)
	require.Equal(t, http.StatusForbidden, res.StatusCode)
	res.Body.Close()
}

// gate lets one read through per permit and tells when a read waits.
type gate struct {
	permits chan struct{}
	waiting chan struct{}
}

func (g gate) Wait() {
	select {
	case g.waiting <- struct{}{}:
	default:
	}
	<-g.permits
}

func TestReadGate(t *testing.T) {
	g := gate{permits: make(chan struct{}, 10), waiting: make(chan struct{}, 1)}
	srv := testserver.New()
	srv.AddTransport(transport.Websocket{Implementation: &wsgorilla.Implementation{}})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		srv.ServeHTTP(w, r.WithContext(wsgorilla.WithReadGate(r.Context(), g)))
	}))
	t.Cleanup(ts.Close)
	c := dial(t, "ws"+strings.TrimPrefix(ts.URL, "http"), "graphql-transport-ws", nil)

	<-g.waiting // nothing is read before the gate says so
	g.permits <- struct{}{}
	require.NoError(t, c.WriteJSON(message{Type: "connection_init"}))
	require.Equal(t, "connection_ack", read(t, c).Type)

	<-g.waiting
	require.NoError(t, c.WriteJSON(message{ID: "1", Type: "subscribe", Payload: map[string]any{"query": "subscription { name }"}}))
	g.permits <- struct{}{}
	srv.SendNextSubscriptionMessage()
	m := read(t, c)
	for m.Type == "ka" || m.Type == "ping" || m.Type == "pong" {
		m = read(t, c)
	}
	require.Equal(t, "next", m.Type)
	g.permits <- struct{}{} // the close frame
	require.NoError(t, c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye")))
}
