package app_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/internal/config"
	"github.com/rollcall/rollcall/internal/testkit"
)

func TestRequestLimits(t *testing.T) {
	t.Parallel()
	s := testkit.NewServer(t)
	tok := s.Login(t, "default", "owner@example.com", testkit.OwnerPassword)

	t.Run("GraphiQL's introspection passes the depth limit", func(t *testing.T) {
		var data map[string]any
		s.Query(t, tok, introspection(t), nil).Decode(t, &data)
		require.Contains(t, data, "__schema")
	})

	t.Run("deeper than 15 is refused", func(t *testing.T) {
		deep := `{ __schema { types { fields { type ` + strings.Repeat(`{ ofType `, 12) + `{ name }` + strings.Repeat(` }`, 12) + ` } } } }`
		resp := s.Query(t, tok, deep, nil)
		require.Equal(t, "BAD_USER_INPUT", resp.Code())
		require.Contains(t, resp.Errors[0].Message, "depth 17 exceeds the limit of 15")
		// Depth through fragments counts the same.
		viaFragment := `query { __schema { ...F } } fragment F on __Schema { types { fields { type ` + strings.Repeat(`{ ofType `, 12) + `{ name }` + strings.Repeat(` }`, 12) + ` } } }`
		require.Equal(t, "BAD_USER_INPUT", s.Query(t, tok, viaFragment, nil).Code())
	})

	t.Run("6,000 aliases are refused", func(t *testing.T) {
		var q strings.Builder
		q.WriteString("{")
		for i := range 6000 {
			fmt.Fprintf(&q, " a%d: viewer { id }", i)
		}
		q.WriteString("}")
		resp := s.Query(t, tok, q.String(), nil)
		require.Equal(t, "BAD_USER_INPUT", resp.Code())
		require.Contains(t, resp.Errors[0].Message, "tokens")
	})

	t.Run("bad JSON", func(t *testing.T) {
		resp := s.Post(t, tok, "application/json", []byte(`{"query": "{ viewer { id } }"`))
		require.Equal(t, http.StatusBadRequest, resp.Status)
		require.Equal(t, "BAD_USER_INPUT", resp.Code())
	})

	t.Run("unknown field", func(t *testing.T) {
		resp := s.Query(t, tok, `{ viewer { id shoeSize } }`, nil)
		require.Equal(t, "BAD_USER_INPUT", resp.Code())
		require.Contains(t, resp.Errors[0].Message, "shoeSize")
	})

	t.Run("syntax error", func(t *testing.T) {
		require.Equal(t, "BAD_USER_INPUT", s.Query(t, tok, `{ viewer { id `, nil).Code())
	})

	t.Run("body over 10 MB", func(t *testing.T) {
		body, err := json.Marshal(map[string]any{"query": "{ viewer { id } }", "variables": map[string]any{"pad": strings.Repeat("x", 10<<20)}})
		require.NoError(t, err)
		resp := s.Post(t, tok, "application/json", body)
		require.Equal(t, http.StatusRequestEntityTooLarge, resp.Status)
		require.Equal(t, "BAD_USER_INPUT", resp.Code())

		// Without a Content-Length the limit still holds.
		req, err := http.NewRequest(http.MethodPost, s.URL+"/graphql", io.MultiReader(bytes.NewReader(body)))
		require.NoError(t, err)
		req.ContentLength = -1
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		require.Equal(t, http.StatusRequestEntityTooLarge, res.StatusCode)
	})
}

func TestEndpoints(t *testing.T) {
	t.Parallel()
	s := testkit.NewServer(t, func(c *config.Config) { c.CORSOrigins = []string{"https://app.example.com"} })
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string) (*http.Response, string) {
		res, err := noRedirect.Get(s.URL + path)
		require.NoError(t, err)
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		return res, string(body)
	}

	res, body := get("/healthz")
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Equal(t, "ok\n", body)

	res, _ = get("/readyz")
	require.Equal(t, http.StatusOK, res.StatusCode)

	res, _ = get("/")
	require.Equal(t, http.StatusFound, res.StatusCode)
	require.Equal(t, "/graphiql", res.Header.Get("Location"))

	res, body = get("/graphiql")
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Contains(t, body, "graphiql")

	res, body = get("/graphql?query=" + url.QueryEscape("{ viewer { id } }"))
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.JSONEq(t, `{"data": {"viewer": null}}`, body)

	res, body = get("/metrics")
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Contains(t, body, `rollcall_http_requests_total{code="200",method="GET",route="/graphql"} 1`)
	require.Contains(t, body, "go_goroutines")

	t.Run("CORS preflight from an allowed origin", func(t *testing.T) {
		for origin, allowed := range map[string]bool{"https://app.example.com": true, "https://evil.example.com": false} {
			req, err := http.NewRequest(http.MethodOptions, s.URL+"/graphql", nil)
			require.NoError(t, err)
			req.Header.Set("Origin", origin)
			req.Header.Set("Access-Control-Request-Method", "POST")
			req.Header.Set("Access-Control-Request-Headers", "authorization,content-type")
			res, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			res.Body.Close()
			if allowed {
				require.Equal(t, origin, res.Header.Get("Access-Control-Allow-Origin"))
			} else {
				require.Empty(t, res.Header.Get("Access-Control-Allow-Origin"))
			}
		}
	})
}

func TestCORSDefaultsToNoOrigin(t *testing.T) {
	t.Parallel()
	s := testkit.NewServer(t) // ROLLCALL_CORS_ORIGINS unset
	req, err := http.NewRequest(http.MethodOptions, s.URL+"/graphql", nil)
	require.NoError(t, err)
	req.Header.Set("Origin", "https://anywhere.example.com")
	req.Header.Set("Access-Control-Request-Method", "POST")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	require.Empty(t, res.Header.Get("Access-Control-Allow-Origin"), "no origin is allowed unless configured")
}
