package app_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rollcall/rollcall/internal/app"
	"github.com/rollcall/rollcall/internal/clock"
	"github.com/rollcall/rollcall/internal/testkit"
)

// BenchmarkStats1M measures, over one organisation of 1,000,000 people on
// PostgreSQL, the server time of peopleStats grouped by status and role and
// of a 12-week invitation funnel (1,000,000 invitation emails and 500,000
// links over 16 weeks), and the reminder scheduler's pass that finds 10,000
// due people among them and starts their round (one bulk send with 10,000
// deliveries):
//
//	ROLLCALL_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable \
//	  go test ./internal/app -run '^$' -bench BenchmarkStats1M -benchtime 20x
//
// The first run seeds database rollcall_bench_stats_1m with COPY; later runs
// reuse it.
func BenchmarkStats1M(b *testing.B) {
	base := os.Getenv("ROLLCALL_BENCH_DATABASE_URL")
	if !strings.HasPrefix(base, "postgres") {
		b.Skip("set ROLLCALL_BENCH_DATABASE_URL to a PostgreSQL server")
	}
	dbURL := benchDatabase(b, base, "rollcall_bench_stats_1m")
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
	now := time.Now().UTC().Truncate(time.Hour)
	orgID := seedStats(b, a, dbURL, now)
	// As autovacuum leaves them: the reminder pass below rewrites rows, and
	// index-only scans need the visibility map current.
	if _, err := a.DB.SQL.ExecContext(ctx, `VACUUM ANALYZE users, deliveries, invitations`); err != nil {
		b.Fatal(err)
	}
	h := a.Handler()
	tok := benchLogin(b, h)

	from := now.AddDate(0, 0, -7*12)
	cases := []struct {
		name, query string
		vars        map[string]any
	}{
		{"peopleStats", `{ peopleStats(groupBy: [STATUS, ROLE]) { status role { name } count } }`, nil},
		{"funnel12weeks", `query($from: Time!, $to: Time!) { invitationFunnel(from: $from, to: $to, interval: WEEK) {
		  start invited delivered bounced accepted expired } }`, map[string]any{"from": from, "to": now}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			// The funnel's first request counts the days that ended and
			// keeps them; the others read them: reported apart.
			if _, err := a.DB.SQL.ExecContext(ctx, `DELETE FROM funnel_days`); err != nil {
				b.Fatal(err)
			}
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
			b.ReportMetric(float64(durations[0].Microseconds())/1000, "ms-first")
			reportMedian(b, durations)
		})
	}

	// The scheduler: 10,000 of the INVITED are due round 1 (their
	// invitation left 100 hours ago, the policy says 72); each iteration
	// puts them back before the pass it times.
	b.Run("reminderPass10k", func(b *testing.B) {
		if _, err := a.DB.SQL.ExecContext(ctx, `UPDATE organizations SET reminders_enabled = true, reminder_after_hours = '[72]' WHERE id = $1`, orgID); err != nil {
			b.Fatal(err)
		}
		defer a.DB.SQL.ExecContext(ctx, `UPDATE organizations SET reminders_enabled = false WHERE id = $1`, orgID) //nolint:errcheck
		durations := make([]time.Duration, 0, b.N)
		for b.Loop() {
			b.StopTimer()
			resetDue(b, a, orgID, now)
			b.StartTimer()
			start := time.Now()
			sends, err := a.Reminders.Pass(ctx)
			durations = append(durations, time.Since(start))
			if err != nil {
				b.Fatal(err)
			}
			if len(sends) != 1 || sends[0].Total != 10_000 {
				b.Fatalf("want one send to 10,000 people, got %d sends", len(sends))
			}
		}
		reportMedian(b, durations)
	})
}

func reportMedian(b *testing.B, durations []time.Duration) {
	slices.Sort(durations)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(durations[len(durations)/2]), "ms-median")
	b.ReportMetric(ms(durations[len(durations)*95/100]), "ms-p95")
}

// resetDue makes every 50th of the 500,000 INVITED (10,000) due round 1
// again, forgetting their reminders.
func resetDue(b *testing.B, a *app.App, orgID int, now time.Time) {
	ctx := context.Background()
	for _, q := range []string{
		`DELETE FROM deliveries WHERE organization_id = $1 AND action = 'REMINDER'`,
		`DELETE FROM bulk_sends WHERE organization_id = $1 AND trigger = 'REMINDER'`,
		`DELETE FROM reminder_rounds WHERE organization_id = $1`,
	} {
		if _, err := a.DB.SQL.ExecContext(ctx, q, orgID); err != nil {
			b.Fatal(err)
		}
	}
	// Everyone still waiting has an email on record, and a schedule at
	// round 0: every 50th counted from 100 hours ago, the rest from an
	// hour ago.
	_, err := a.DB.SQL.ExecContext(ctx, `UPDATE users SET last_email_status = 'SENT'
		WHERE organization_id = $1 AND status = 'INVITED' AND last_email_status IS DISTINCT FROM 'SENT'`, orgID)
	if err != nil {
		b.Fatal(err)
	}
	_, err = a.DB.SQL.ExecContext(ctx, `INSERT INTO reminder_schedules (id, organization_id, round, anchor_at)
		SELECT uid, $1, 0, CASE WHEN seq % 50 = 2 THEN $2::timestamptz ELSE $3::timestamptz END
		FROM (SELECT id AS uid, row_number() OVER (ORDER BY id) AS seq FROM users WHERE organization_id = $1 AND status = 'INVITED') s
		ON CONFLICT (id) DO UPDATE SET round = excluded.round, anchor_at = excluded.anchor_at
		WHERE reminder_schedules.round <> excluded.round OR reminder_schedules.anchor_at <> excluded.anchor_at`,
		orgID, now.Add(-100*time.Hour), now.Add(-time.Hour))
	if err != nil {
		b.Fatal(err)
	}
}

// seedStats makes sure organisation "default" has 1,000,000 people (half
// INVITED, in five roles, with emails of every outcome and three locales),
// 1,000,000 invitation emails and 500,000 links over the 16 weeks before
// now, and returns its id.
func seedStats(b *testing.B, a *app.App, dbURL string, now time.Time) int {
	const n = 1_000_000
	ctx := context.Background()
	var orgID, have int
	if err := a.DB.SQL.QueryRowContext(ctx, `SELECT id FROM organizations WHERE slug = 'default'`).Scan(&orgID); err != nil {
		b.Fatal(err)
	}
	if err := a.DB.SQL.QueryRowContext(ctx, `SELECT count(*) FROM users WHERE organization_id = $1`, orgID).Scan(&have); err != nil {
		b.Fatal(err)
	}
	if have >= n {
		return orgID
	}
	var roles []int
	rows, err := a.DB.SQL.QueryContext(ctx, `SELECT id FROM roles WHERE organization_id = $1 ORDER BY id`, orgID)
	if err != nil {
		b.Fatal(err)
	}
	for rows.Next() {
		var id int
		_ = rows.Scan(&id)
		roles = append(roles, id)
	}
	rows.Close()
	var sendID int
	if err := a.DB.SQL.QueryRowContext(ctx, `INSERT INTO bulk_sends (organization_id, status, kind, trigger, total, sent, failed, skipped, delivered, bounced, complained, created_at, updated_at)
		VALUES ($1, 'COMPLETED', 'INVITATION', 'MANUAL', $2, $2, 0, 0, 0, 0, 0, $3, $3) RETURNING id`, orgID, n, now).Scan(&sendID); err != nil {
		b.Fatal(err)
	}
	b.Logf("seeding %d people, %d emails and %d links with COPY…", n, n, n/2)
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	start := time.Now()
	span := 16 * 7 * 24 * time.Hour
	at := func(i int) time.Time { return now.Add(-time.Duration(i) * (span / n)) } // i * span overflows
	statuses := []string{"NOT_INVITED", "INVITED", "ACTIVE", "INVITED", "DEACTIVATED", "INVITED"}
	emailStatuses := []any{nil, "SENT", "DELIVERED", "BOUNCED", "DELIVERED"}
	locales := []any{nil, "de", "fr", nil}
	i := 0
	users := pgx.CopyFromFunc(func() ([]any, error) {
		if i >= n {
			return nil, nil
		}
		i++
		email := fmt.Sprintf("stat%07d@bench.test", i)
		status := statuses[i%len(statuses)]
		var invitedAt, expires any
		if status == "INVITED" {
			invitedAt, expires = at(i), at(i).Add(7*24*time.Hour)
		}
		return []any{orgID, roles[i%len(roles)], email, email, status, "[]", false, i % 4, at(i), at(i), invitedAt, expires,
			emailStatuses[i%len(emailStatuses)], locales[i%len(locales)]}, nil
	})
	cols := []string{"organization_id", "role_id", "email", "email_normalized", "status", "products",
		"must_change_password", "invitation_count", "created_at", "updated_at", "invited_at", "invite_expires_at",
		"last_email_status", "locale"}
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"users"}, cols, users); err != nil {
		b.Fatal(err)
	}
	var firstID int
	if err := a.DB.SQL.QueryRowContext(ctx, `SELECT min(id) FROM users WHERE email LIKE 'stat%'`).Scan(&firstID); err != nil {
		b.Fatal(err)
	}
	outcome := []string{"SENT", "DELIVERED", "DELIVERED", "BOUNCED", "DELIVERED"}
	i = 0
	deliveries := pgx.CopyFromFunc(func() ([]any, error) {
		if i >= n {
			return nil, nil
		}
		i++
		sent := at(i)
		st := outcome[i%len(outcome)]
		var reported any
		if st != "SENT" {
			reported = sent.Add(time.Hour)
		}
		return []any{orgID, sendID, firstID + i - 1, fmt.Sprintf("stat%07d@bench.test", i), "INVITATION", st, 1, false, sent, reported, sent, sent}, nil
	})
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"deliveries"}, []string{"organization_id", "bulk_send_id", "user_id", "email", "action",
		"status", "attempts", "force", "sent_at", "reported_at", "created_at", "updated_at"}, deliveries); err != nil {
		b.Fatal(err)
	}
	i = 0
	links := pgx.CopyFromFunc(func() ([]any, error) {
		if i >= n/2 {
			return nil, nil
		}
		i++
		issued := at(2 * i)
		hash := make([]byte, 32)
		binary.BigEndian.PutUint64(hash, uint64(i))
		var used any
		if i%3 == 0 {
			used = issued.Add(time.Duration(i%72) * time.Hour)
		}
		return []any{orgID, firstID + 2*i - 1, "INVITATION", hash, issued.Add(7 * 24 * time.Hour), used, sendID, issued, issued}, nil
	})
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"invitations"}, []string{"organization_id", "user_id", "kind", "token_hash", "expires_at",
		"used_at", "bulk_send_id", "created_at", "updated_at"}, links); err != nil {
		b.Fatal(err)
	}
	for _, t := range []string{"users", "deliveries", "invitations"} {
		if _, err := conn.Exec(ctx, `VACUUM ANALYZE `+t); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("seeded in %s", time.Since(start).Round(time.Second))
	return orgID
}
