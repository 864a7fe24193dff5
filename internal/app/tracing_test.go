package app_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	collector "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/rollcall/rollcall/internal/testkit"
)

// otlpReceiver is a loopback OTLP/HTTP trace receiver: it decodes the
// protobuf export requests and keeps their spans.
type otlpReceiver struct {
	mu    sync.Mutex
	spans []*tracepb.Span
}

func (o *otlpReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "want POST /v1/traces application/x-protobuf", http.StatusBadRequest)
		return
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		gz, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = gz
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var req collector.ExportTraceServiceRequest
	if err := proto.Unmarshal(raw, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	o.mu.Lock()
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			o.spans = append(o.spans, ss.Spans...)
		}
	}
	o.mu.Unlock()
	out, _ := proto.Marshal(&collector.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

func (o *otlpReceiver) byName() map[string][]*tracepb.Span {
	o.mu.Lock()
	defer o.mu.Unlock()
	m := map[string][]*tracepb.Span{}
	for _, s := range o.spans {
		m[s.Name] = append(m[s.Name], s)
	}
	return m
}

// TestTracing runs with the OTLP endpoint in the environment, so not in
// parallel with the tests that run without it.
func TestTracing(t *testing.T) {
	recv := &otlpReceiver{}
	collectorSrv := httptest.NewServer(recv)
	defer collectorSrv.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collectorSrv.URL)
	t.Setenv("OTEL_SERVICE_NAME", "rollcall-test")

	s := testkit.NewServer(t)
	a := signIn(t, s, "acme")

	// A query continuing the caller's trace.
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	req, err := http.NewRequest(http.MethodPost, s.URL+"/graphql",
		bytes.NewReader([]byte(`{"query": "query Page { users(first: 5) { totalCount edges { node { email role { name } } } } }"}`)))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+a.tok)
	req.Header.Set("traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)

	// A mutation whose email leaves through the mail provider.
	inv, _ := a.invite(t, a.tok, []string{"ada@example.com"}, "Member", true)
	require.NotEmpty(t, inv.InviteUsers.Users)
	s.WaitDeliveries(t)
	s.LastEmailTo(t, "ada@example.com")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, s.FlushTraces(ctx))

	spans := recv.byName()
	op := spans["graphql query Page"]
	require.Len(t, op, 1, "the operation's span; got %v", names(spans))
	require.Equal(t, traceID, hex.EncodeToString(op[0].TraceId), "the caller's trace continues")
	resolver := spans["graphql resolve Query.users"]
	require.NotEmpty(t, resolver)
	require.Equal(t, op[0].SpanId, resolver[0].ParentSpanId, "the resolver's span is the operation's child")

	// The resolver's database queries are its children.
	var children int
	for _, q := range spans["db SELECT"] {
		if bytes.Equal(q.ParentSpanId, resolver[0].SpanId) {
			children++
			require.NotEmpty(t, q.Attributes)
		}
	}
	require.NotZero(t, children, "database spans under the resolver")
	require.NotEmpty(t, spans["graphql mutation"], "the invitation's operation")
	require.NotEmpty(t, append(spans["mail send"], spans["mail send batch"]...), "the provider call; got %v", names(spans))
}

func names(m map[string][]*tracepb.Span) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
