package app_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/internal/config"
	"github.com/rollcall/rollcall/internal/testkit"
)

type wsMessage struct {
	ID      string         `json:"id,omitempty"`
	Type    string         `json:"type"`
	Payload map[string]any `json:"payload,omitempty"`
}

type wsProtocol struct{ name, subscribe, next string }

var wsProtocols = []wsProtocol{
	{"graphql-transport-ws", "subscribe", "next"},
	{"graphql-ws", "start", "data"},
}

func wsDial(t *testing.T, s *testkit.Server, protocol string, header http.Header) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	d := websocket.Dialer{Subprotocols: []string{protocol}, HandshakeTimeout: 5 * time.Second}
	c, res, err := d.Dial("ws"+strings.TrimPrefix(s.URL, "http")+"/graphql", header)
	if c != nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, res, err
}

// wsRead returns the next message that is not a keep-alive.
func wsRead(t *testing.T, c *websocket.Conn) (wsMessage, error) {
	t.Helper()
	for {
		require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
		var m wsMessage
		if err := c.ReadJSON(&m); err != nil {
			return m, err
		}
		if m.Type != "ka" && m.Type != "ping" && m.Type != "pong" {
			return m, nil
		}
	}
}

// wsViewer opens a connection with payload and asks for the viewer's email.
func wsViewer(t *testing.T, s *testkit.Server, p wsProtocol, payload map[string]any) any {
	t.Helper()
	c, res, err := wsDial(t, s, p.name, nil)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, p.name, c.Subprotocol())
	require.NoError(t, c.WriteJSON(wsMessage{Type: "connection_init", Payload: payload}))
	m, err := wsRead(t, c)
	require.NoError(t, err)
	require.Equal(t, "connection_ack", m.Type)
	require.NoError(t, c.WriteJSON(wsMessage{ID: "1", Type: p.subscribe, Payload: map[string]any{"query": "{ viewer { email } }"}}))
	m, err = wsRead(t, c)
	require.NoError(t, err)
	require.Equal(t, p.next, m.Type, "%+v", m)
	data := m.Payload["data"].(map[string]any)
	m, err = wsRead(t, c)
	require.NoError(t, err)
	require.Equal(t, "complete", m.Type)
	if v, ok := data["viewer"].(map[string]any); ok {
		return v["email"]
	}
	return nil
}

// wsRefusal opens a connection with payload and describes how it is
// refused: the close code and reason, or the connection_error.
func wsRefusal(t *testing.T, s *testkit.Server, p wsProtocol, payload map[string]any) string {
	t.Helper()
	c, res, err := wsDial(t, s, p.name, nil)
	require.NoError(t, err)
	res.Body.Close()
	require.NoError(t, c.WriteJSON(wsMessage{Type: "connection_init", Payload: payload}))
	m, err := wsRead(t, c)
	if err == nil {
		require.Equal(t, "connection_error", m.Type, "refused, not acknowledged: %+v", m)
		return fmt.Sprintf("connection_error %v", m.Payload)
	}
	var closeErr *websocket.CloseError
	require.ErrorAs(t, err, &closeErr)
	return fmt.Sprintf("close %d %s", closeErr.Code, closeErr.Text)
}

func TestWebsocketAuth(t *testing.T) {
	t.Parallel()
	s := testkit.NewServer(t)
	tok := s.Login(t, "default", "owner@example.com", testkit.OwnerPassword)
	for _, p := range wsProtocols {
		t.Run(p.name, func(t *testing.T) {
			require.Equal(t, "owner@example.com", wsViewer(t, s, p, map[string]any{"authorization": "Bearer " + tok}))
			require.Equal(t, "owner@example.com", wsViewer(t, s, p, map[string]any{"Authorization": "bearer " + tok}), "key and scheme case-insensitive")
			// A missing and a bad credential are refused alike.
			missing := wsRefusal(t, s, p, nil)
			require.Equal(t, missing, wsRefusal(t, s, p, map[string]any{"authorization": "Bearer expired-or-made-up"}))
			require.Equal(t, missing, wsRefusal(t, s, p, map[string]any{"authorization": "Bearer AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}))
			require.Equal(t, missing, wsRefusal(t, s, p, map[string]any{"authorization": "Basic b3duZXI="}))
			if p.name == "graphql-transport-ws" {
				require.Contains(t, missing, "close 4403")
			}
		})
	}
}

func TestWebsocketOrigins(t *testing.T) {
	t.Parallel()
	s := testkit.NewServer(t, func(c *config.Config) { c.CORSOrigins = []string{"https://app.example.com"} })
	for origin, allowed := range map[string]bool{
		"https://app.example.com":  true,
		s.URL:                      true, // same origin: GraphiQL served here
		"https://evil.example.com": false,
	} {
		_, res, err := wsDial(t, s, "graphql-transport-ws", http.Header{"Origin": {origin}})
		if allowed {
			require.NoError(t, err, origin)
		} else {
			require.Error(t, err, origin)
			require.Equal(t, http.StatusForbidden, res.StatusCode)
		}
		if res != nil {
			res.Body.Close()
		}
	}
}
