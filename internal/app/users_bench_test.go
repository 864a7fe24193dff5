package app_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/internal/app"
	"github.com/rollcall/rollcall/internal/clock"
	"github.com/rollcall/rollcall/internal/testkit"
)

// BenchmarkUsers1M measures the server time of the users connection over one
// organisation of 1,000,000 people on PostgreSQL:
//
//	ROLLCALL_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable \
//	  go test ./internal/app -run '^$' -bench BenchmarkUsers1M -benchtime 300x
//
// The first run seeds database rollcall_bench_1m with COPY (about a minute);
// later runs reuse it. Each request goes through the real HTTP handler in
// process, so the figures are server time without the network.
func BenchmarkUsers1M(b *testing.B) {
	base := os.Getenv("ROLLCALL_BENCH_DATABASE_URL")
	if !strings.HasPrefix(base, "postgres") {
		b.Skip("set ROLLCALL_BENCH_DATABASE_URL to a PostgreSQL server")
	}
	const people, invitedEvery = 1_000_000, 2 // half the people are INVITED
	dbURL := benchDatabase(b, base, "rollcall_bench_1m")
	ctx := context.Background()
	cfg := testkit.Config(dbURL)
	cfg.Mail.OutboxDir = b.TempDir()
	a, err := app.New(ctx, cfg, testkit.Logger(), clock.System{})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	if err := a.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	if err := a.Bootstrap(ctx, io.Discard); err != nil {
		b.Fatal(err)
	}
	orgID := seedMillion(b, a, dbURL, people, invitedEvery)
	h := a.Handler()
	tok := benchLogin(b, h)

	var afterPage1999 string
	{
		var id int
		row := a.DB.SQL.QueryRowContext(ctx, `SELECT id FROM users WHERE organization_id = $1 AND status = 'INVITED' ORDER BY id OFFSET $2 LIMIT 1`, orgID, 1999*50-1)
		if err := row.Scan(&id); err != nil {
			b.Fatal(err)
		}
		var buf bytes.Buffer
		ent.Cursor{ID: id}.MarshalGQL(&buf)
		afterPage1999 = strings.Trim(buf.String(), `"`)
	}
	page := `query($after: Cursor) { users(first: 50, after: $after, where: {status: INVITED}) {
	  edges { cursor node { id email status invitedAt role { name } } } pageInfo { hasNextPage endCursor } } }`
	cases := []struct {
		name, query string
		vars        map[string]any
	}{
		{"page1", page, nil},
		{"page2000", page, map[string]any{"after": afterPage1999}},
		{"totalCount", `{ users(where: {status: INVITED}) { totalCount } }`, nil},
		{"search", `{ users(first: 50, search: "SON0424242@") { edges { node { id email } } } }`, nil},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			body, _ := json.Marshal(map[string]any{"query": c.query, "variables": c.vars})
			durations := make([]time.Duration, 0, b.N)
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+tok)
				rec := httptest.NewRecorder()
				start := time.Now()
				h.ServeHTTP(rec, req)
				durations = append(durations, time.Since(start))
				if rec.Code != http.StatusOK || bytes.Contains(rec.Body.Bytes(), []byte(`"errors"`)) {
					b.Fatalf("%d %s", rec.Code, rec.Body.String())
				}
			}
			slices.Sort(durations)
			ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
			b.ReportMetric(ms(durations[len(durations)/2]), "ms-median")
			b.ReportMetric(ms(durations[len(durations)*95/100]), "ms-p95")
		})
	}
}

// benchDatabase creates the named database on the server of base if missing.
func benchDatabase(b *testing.B, base, name string) string {
	admin, err := sql.Open("pgx", base)
	if err != nil {
		b.Fatal(err)
	}
	defer admin.Close()
	var exists bool
	if err := admin.QueryRow(`SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		b.Fatal(err)
	}
	if !exists {
		if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
			b.Fatal(err)
		}
	}
	u, err := url.Parse(base)
	if err != nil {
		b.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// seedMillion makes sure organisation "bench" has n people, copying them in
// with COPY when it has not, and returns its id.
func seedMillion(b *testing.B, a *app.App, dbURL string, n, invitedEvery int) int {
	ctx := context.Background()
	var orgID, roleID, have int
	row := a.DB.SQL.QueryRowContext(ctx, `SELECT o.id, r.id FROM organizations o JOIN roles r ON r.organization_id = o.id AND r.name = 'Member' WHERE o.slug = 'default'`)
	if err := row.Scan(&orgID, &roleID); err != nil {
		b.Fatal(err)
	}
	if err := a.DB.SQL.QueryRowContext(ctx, `SELECT count(*) FROM users WHERE organization_id = $1`, orgID).Scan(&have); err != nil {
		b.Fatal(err)
	}
	if have >= n {
		return orgID
	}
	b.Logf("seeding %d people with COPY…", n-have)
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	now := time.Now().UTC()
	statuses := []string{"NOT_INVITED", "ACTIVE", "DEACTIVATED"}
	i := have
	src := pgx.CopyFromFunc(func() ([]any, error) {
		if i >= n {
			return nil, nil
		}
		i++
		email := fmt.Sprintf("person%07d@bench.test", i)
		created := now.Add(-time.Duration(i) * time.Second)
		status, invitedAt, expires := statuses[i%3], any(nil), any(nil)
		if i%invitedEvery == 0 {
			status, invitedAt, expires = "INVITED", created, created.Add(7*24*time.Hour)
		}
		return []any{orgID, roleID, email, email, status, "[]", false, 0, created, created, invitedAt, expires}, nil
	})
	cols := []string{"organization_id", "role_id", "email", "email_normalized", "status", "products",
		"must_change_password", "invitation_count", "created_at", "updated_at", "invited_at", "invite_expires_at"}
	start := time.Now()
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"users"}, cols, src); err != nil {
		b.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `VACUUM ANALYZE users`); err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded in %s", time.Since(start).Round(time.Second))
	return orgID
}

func benchLogin(b *testing.B, h http.Handler) string {
	body, _ := json.Marshal(map[string]any{"query": `mutation($in: LoginInput!) { login(input: $in) { token } }`,
		"variables": map[string]any{"in": map[string]any{"organization": "default", "login": "owner@example.com", "password": testkit.OwnerPassword}}})
	req := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var out struct {
		Data struct{ Login struct{ Token string } }
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.Data.Login.Token == "" {
		b.Fatalf("login: %s", rec.Body.String())
	}
	return out.Data.Login.Token
}
