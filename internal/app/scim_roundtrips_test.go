package app_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestSCIMProvisionRoundTrips counts the statements POST /Users sends to
// the database (from the database spans of each request's trace), so a
// change that adds round trips to provisioning shows here. It runs with the
// OTLP endpoint in the environment, so not in parallel.
func TestSCIMProvisionRoundTrips(t *testing.T) {
	recv := &otlpReceiver{}
	collectorSrv := httptest.NewServer(recv)
	defer collectorSrv.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collectorSrv.URL)
	t.Setenv("OTEL_SERVICE_NAME", "rollcall-test")
	s, _, c := scimSetup(t)

	post := func(n int, traceID string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, s.URL+"/scim/v2/Users", strings.NewReader(fmt.Sprintf(
			`{"userName": "person%d@acme.test", "externalId": "ext-%d", "name": {"givenName": "Given", "familyName": "Family"},
			"emails": [{"primary": true, "type": "work", "value": "person%d@acme.test"}], "active": true}`, n, n, n)))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/scim+json")
		req.Header.Set("Authorization", "Bearer "+c.key)
		req.Header.Set("traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		require.Equal(t, http.StatusCreated, res.StatusCode)
	}
	statements := func() map[string][]string {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, s.FlushTraces(ctx))
		recv.mu.Lock()
		defer recv.mu.Unlock()
		out := map[string][]string{}
		for _, sp := range recv.spans {
			if !strings.HasPrefix(sp.Name, "db ") {
				continue
			}
			for _, a := range sp.Attributes {
				if a.Key == "db.query.text" {
					id := hex.EncodeToString(sp.TraceId)
					out[id] = append(out[id], a.Value.GetStringValue())
				}
			}
		}
		recv.spans = nil
		return out
	}

	// A lone POST, once the key's use is recorded (once a minute): the
	// key with its creator and role; the look for a known person; the
	// organisation and the Member role; then one transaction (BEGIN and
	// COMMIT are not traced) with the person, its event and audit entry.
	post(1, "4bf92f3577b34da6a3ce929d0e0e4701")
	statements()
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4702"
	post(2, traceID)
	lone := statements()[traceID]
	for i, q := range lone {
		t.Logf("%d: %.120s", i+1, q)
	}
	require.Len(t, lone, 7)
	table := regexp.MustCompile("(?:FROM|INTO) [`\"]?(\\w+)")
	for i, want := range []string{"api_keys", "users", "organizations", "roles", "users", "events", "audit_events"} {
		m := table.FindStringSubmatch(lone[i])
		require.NotNil(t, m, lone[i])
		require.Equal(t, want, m[1], "statement %d", i+1)
	}

	// Concurrent POSTs are written in groups: fewer statements each. How
	// many depends on how many arrive together, so this is logged only.
	const concurrent, each = 8, 50
	var wg sync.WaitGroup
	for w := range concurrent {
		wg.Go(func() {
			for i := range each {
				post(1000+w*each+i, fmt.Sprintf("%032x", 1000+w*each+i))
			}
		})
	}
	wg.Wait()
	byTrace := statements()
	total, groups := 0, 0
	kinds := map[string]int{}
	for n := 1000; n < 1000+concurrent*each; n++ {
		for _, q := range byTrace[fmt.Sprintf("%032x", n)] {
			total++
			if m := table.FindStringSubmatch(q); strings.HasPrefix(q, "INSERT") && m != nil && m[1] == "users" {
				groups++
			}
			kinds[strings.Join(strings.Fields(q), " ")[:min(50, len(q))]]++
		}
	}
	for k, n := range kinds {
		t.Logf("%5d %s", n, k)
	}
	t.Logf("%d POSTs, %d at a time: %d statements and %d transactions, %.2f round trips per POST",
		concurrent*each, concurrent, total, groups, float64(total+2*groups)/float64(concurrent*each))
}
