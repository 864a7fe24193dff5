package app_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rollcall/rollcall/internal/perm"
	"github.com/rollcall/rollcall/internal/testkit"
)

// BenchmarkSCIMProvision provisions 10,000 people with POST /Users, 8
// requests at a time, through the HTTP handler (each a person, its SCIM
// link, its user.created event and audit entry in one transaction), then
// looks 1,000 of them up one at a time with GET /Users?filter=userName eq,
// as Okta and Entra do before every change. It reports people provisioned
// a second, the lookup's median and 95th percentile, and the CPU each
// provisioned person cost this process (server, load driver) and
// PostgreSQL (every postgres process of the machine):
//
//	ROLLCALL_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable \
//	  go test ./internal/app -run '^$' -bench BenchmarkSCIMProvision -benchtime 1x -timeout 30m
func BenchmarkSCIMProvision(b *testing.B) {
	const people, concurrency, lookups = 10_000, 8, 1000
	s := testkit.NewServer(b)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: concurrency * 2}}
	do := func(method, path string, body []byte) (int, []byte) {
		req, err := http.NewRequest(method, s.URL+"/scim/v2"+path, bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/scim+json")
		req.Header.Set("Authorization", "Bearer "+keyFor(b, s))
		res, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		defer res.Body.Close()
		raw, _ := io.ReadAll(res.Body)
		return res.StatusCode, raw
	}
	var provisionSec, medianMs, p95Ms, cpuMs, pgMs float64
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		o := s.CreateOrg(b, fmt.Sprintf("bench%d", i))
		benchKeys.Delete(s)
		benchKeys.Store(s, newSCIMKey(b, s, o.Slug))
		b.StartTimer()
		var next atomic.Int64
		var wg sync.WaitGroup
		cpu0, pg0 := processCPU(), postgresCPU()
		start := time.Now()
		for range concurrency {
			wg.Go(func() {
				for {
					n := next.Add(1) - 1
					if n >= people {
						return
					}
					body := fmt.Appendf(nil, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"person%05d@bench%d.test",`+
						`"externalId":"ext-%05d","name":{"givenName":"Given%05d","familyName":"Family"},"active":true,`+
						`"emails":[{"primary":true,"type":"work","value":"person%05d@bench%d.test"}]}`, n, i, n, n, n, i)
					if status, raw := do(http.MethodPost, "/Users", body); status != http.StatusCreated {
						b.Errorf("POST /Users: %d %s", status, raw)
						return
					}
				}
			})
		}
		wg.Wait()
		provisionSec = time.Since(start).Seconds()
		cpuMs = float64((processCPU() - cpu0).Microseconds()) / 1000 / people
		pgMs = float64((postgresCPU() - pg0).Microseconds()) / 1000 / people
		durations := make([]time.Duration, 0, lookups)
		for n := range lookups {
			q := url.Values{"filter": {fmt.Sprintf(`userName eq "Person%05d@bench%d.test"`, (n*7919)%people, i)}}
			t0 := time.Now()
			status, raw := do(http.MethodGet, "/Users?"+q.Encode(), nil)
			durations = append(durations, time.Since(t0))
			if status != http.StatusOK || !bytes.Contains(raw, []byte(`"totalResults":1`)) {
				b.Fatalf("lookup: %d %s", status, raw)
			}
		}
		slices.Sort(durations)
		medianMs = float64(durations[len(durations)/2].Microseconds()) / 1000
		p95Ms = float64(durations[len(durations)*95/100].Microseconds()) / 1000
	}
	b.ReportMetric(people/provisionSec, "users/s")
	b.ReportMetric(medianMs, "lookup-median-ms")
	b.ReportMetric(p95Ms, "lookup-p95-ms")
	b.ReportMetric(cpuMs, "cpu-ms/user")
	b.ReportMetric(pgMs, "pg-cpu-ms/user")
}

// benchKeys holds the SCIM key of each benchmark server's current organisation.
var benchKeys sync.Map

func keyFor(b *testing.B, s *testkit.Server) string {
	k, ok := benchKeys.Load(s)
	if !ok {
		b.Fatal("no SCIM key")
	}
	return k.(string)
}

// newSCIMKey makes a scim.provision key as the Owner of organisation slug.
func newSCIMKey(b *testing.B, s *testkit.Server, slug string) string {
	tok := s.Login(b, slug, "owner@"+slug+".test", testkit.OwnerPassword)
	var out struct{ CreateApiKey struct{ Secret string } }
	s.Query(b, tok, createKeyMutation, map[string]any{"in": map[string]any{"name": "scim", "permissions": []string{perm.ScimProvision}}}).Decode(b, &out)
	return out.CreateApiKey.Secret
}
