package app_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/internal/config"
	"github.com/rollcall/rollcall/internal/testkit"
)

// syncBuffer is a log destination the server writes to from many goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestCORSClientHeaders(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	s := testkit.NewServerLogging(t, log, func(c *config.Config) {
		c.CORSOrigins = []string{"https://app.example.com"}
		c.CORSHeaders = []string{"X-Tenant-Hint"}
	})
	preflight := func(origin, headers string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(http.MethodOptions, s.URL+"/graphql", nil)
		require.NoError(t, err)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", headers)
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		return res
	}

	// What Apollo Client, an OpenTelemetry-instrumented page and Sentry send.
	res := preflight("https://app.example.com",
		"apollographql-client-name,apollographql-client-version,authorization,baggage,content-type,sentry-trace,traceparent")
	require.Equal(t, "https://app.example.com", res.Header.Get("Access-Control-Allow-Origin"))
	allowed := strings.ToLower(res.Header.Get("Access-Control-Allow-Headers"))
	for _, h := range []string{"apollographql-client-name", "apollographql-client-version", "traceparent", "sentry-trace", "baggage"} {
		require.Contains(t, allowed, h)
	}
	// ROLLCALL_CORS_HEADERS adds to the defaults.
	res = preflight("https://app.example.com", "authorization,x-tenant-hint")
	require.Equal(t, "https://app.example.com", res.Header.Get("Access-Control-Allow-Origin"))
	require.NotContains(t, logs.String(), "CORS preflight refused")

	// An unknown header is refused, and the log says which.
	res = preflight("https://app.example.com", "authorization,x-unknown-header")
	require.Empty(t, res.Header.Get("Access-Control-Allow-Origin"))
	require.Contains(t, logs.String(), "CORS preflight refused")
	require.Contains(t, logs.String(), "x-unknown-header")
	require.Contains(t, logs.String(), "ROLLCALL_CORS_HEADERS")

	// So is an origin that is not configured.
	res = preflight("https://evil.example.com", "authorization")
	require.Empty(t, res.Header.Get("Access-Control-Allow-Origin"))
	require.Contains(t, logs.String(), "origin https://evil.example.com is not in ROLLCALL_CORS_ORIGINS")
}

// TestGraphiQLServed: the page and its assets come from the binary, under a
// policy that runs scripts from the server only.
func TestGraphiQLServed(t *testing.T) {
	t.Parallel()
	s := testkit.NewServer(t)
	get := func(path string) (*http.Response, string) {
		t.Helper()
		res, err := http.Get(s.URL + path)
		require.NoError(t, err)
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, res.StatusCode, path)
		return res, string(body)
	}
	res, page := get("/graphiql")
	csp := res.Header.Get("Content-Security-Policy")
	require.Contains(t, csp, "script-src 'self'")
	require.Contains(t, csp, "connect-src 'self'")
	require.NotContains(t, csp, "unsafe-eval")
	scripts, _, _ := strings.Cut(strings.Split(csp, "script-src")[1], ";")
	require.Equal(t, " 'self'", scripts, "no inline scripts, no eval")
	// Every script is a file of the server's: no inline code, no other host.
	require.NotRegexp(t, `<script>|<script [^>]*>[^<]`, page)
	require.NotContains(t, page, "//cdn")
	for _, src := range regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllStringSubmatch(page, -1) {
		require.True(t, strings.HasPrefix(src[1], "/graphiql/assets/"), src[1])
		res, body := get(src[1])
		require.NotEmpty(t, body)
		require.Equal(t, csp, res.Header.Get("Content-Security-Policy"))
	}
	for _, name := range []string{"graphiql", "react", "react-dom", "graphql-ws"} {
		_, licence := get("/graphiql/assets/licenses/" + name + ".LICENSE")
		require.Contains(t, licence, "MIT")
	}
}
