package export_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/config"
	"github.com/rollcall/rollcall/internal/testkit"
)

// BenchmarkExport streams the whole CSV of one organisation of N people
// (ROLLCALL_BENCH_EXPORT_ROWS, default 10,000) through the real server over
// loopback, and reports rows/s and the process's peak heap in use while
// exporting. On PostgreSQL the people are seeded with COPY:
//
//	ROLLCALL_TEST_DATABASE_URL='postgres://postgres@127.0.0.1:5432/test?sslmode=disable' \
//	ROLLCALL_BENCH_EXPORT_ROWS=1000000 \
//	  go test ./internal/export -run '^$' -bench BenchmarkExport -benchtime 3x
func BenchmarkExport(b *testing.B) {
	n := 10_000
	if v := os.Getenv("ROLLCALL_BENCH_EXPORT_ROWS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			b.Fatalf("ROLLCALL_BENCH_EXPORT_ROWS=%q: want a positive number", v)
		}
	}
	var dbURL string
	s := testkit.NewServer(b, func(c *config.Config) { dbURL = c.DatabaseURL })
	o := s.CreateOrg(b, "bench")
	start := time.Now()
	if testkit.Postgres() {
		seedCopy(b, dbURL, o, n)
	} else {
		seedBatches(b, s, o, n)
	}
	b.Logf("seeded %d people in %s", n, time.Since(start).Round(time.Millisecond))
	tok := s.Login(b, "bench", "owner@bench.test", testkit.OwnerPassword)

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	baseline := ms.HeapInuse
	peak := newPeakSampler(10 * time.Millisecond)

	rows := 0
	for b.Loop() {
		rows = streamAll(b, s, tok)
	}
	peakInuse := peak.stop()
	if want := n + 1; rows != want { // the Owner too
		b.Fatalf("exported %d rows, want %d", rows, want)
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(peakInuse)/(1<<20), "peak-heap-MB")
	b.ReportMetric(float64(baseline)/(1<<20), "idle-heap-MB")
}

// streamAll reads the export row by row and checks the ids ascend; it
// returns how many people it read.
func streamAll(b *testing.B, s *testkit.Server, tok string) int {
	req, err := http.NewRequest(http.MethodGet, s.URL+"/export/users.csv", nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		b.Fatalf("export: %d %s", resp.StatusCode, body)
	}
	r := csv.NewReader(resp.Body)
	r.ReuseRecord = true
	if _, err := r.Read(); err != nil { // header
		b.Fatal(err)
	}
	rows, last := 0, 0
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return rows
		}
		if err != nil {
			b.Fatalf("after %d rows: %v", rows, err)
		}
		id, err := strconv.Atoi(rec[0])
		if err != nil || id <= last {
			b.Fatalf("row %d: id %q after %d", rows, rec[0], last)
		}
		last = id
		rows++
	}
}

// peakSampler records the largest HeapInuse seen until stopped.
type peakSampler struct {
	done chan struct{}
	wg   sync.WaitGroup
	peak uint64
}

func newPeakSampler(every time.Duration) *peakSampler {
	p := &peakSampler{done: make(chan struct{})}
	p.wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			p.peak = max(p.peak, ms.HeapInuse)
			select {
			case <-p.done:
				return
			case <-t.C:
			}
		}
	})
	return p
}

func (p *peakSampler) stop() uint64 {
	close(p.done)
	p.wg.Wait()
	return p.peak
}

// benchPerson is the i-th seeded person: a mix of statuses, roles, names
// and products.
func benchPerson(i int, now time.Time) (email, first, last string, status user.Status, invited, expires *time.Time) {
	email = fmt.Sprintf("person%07d@bench.test", i)
	first, last = fmt.Sprintf("First%d", i), fmt.Sprintf("Last, %d", i)
	switch i % 4 {
	case 0:
		status = user.StatusNotInvited
	case 1:
		status = user.StatusInvited
		at, exp := now.Add(-time.Duration(i)*time.Second), now.Add(time.Duration(i%14-7)*24*time.Hour)
		invited, expires = &at, &exp
	case 2:
		status = user.StatusActive
	default:
		status = user.StatusDeactivated
	}
	return
}

// seedBatches adds n people through the test kit, 1,000 at a time.
func seedBatches(b *testing.B, s *testkit.Server, o *testkit.Org, n int) {
	now := s.Clock.Now()
	roles := []string{"Member", "HR"}
	for start := 0; start < n; start += 1000 {
		batch := make([]testkit.Person, 0, 1000)
		for i := start; i < min(start+1000, n); i++ {
			email, first, last, status, invited, expires := benchPerson(i, now)
			batch = append(batch, testkit.Person{Email: email, FirstName: first, LastName: last, Status: status,
				Role: roles[i%2], InvitedAt: invited, InviteExpiresAt: expires})
		}
		s.AddPeople(b, o, batch...)
	}
}

// seedCopy adds n people with PostgreSQL's COPY.
func seedCopy(b *testing.B, dbURL string, o *testkit.Org, n int) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	now := time.Now().UTC().Truncate(time.Microsecond)
	roles := []int{o.Roles["Member"].ID, o.Roles["HR"].ID}
	products := []string{`[]`, `["crm"]`, `["crm","payroll"]`}
	i := 0
	src := pgx.CopyFromFunc(func() ([]any, error) {
		if i >= n {
			return nil, nil
		}
		email, first, last, status, invited, expires := benchPerson(i, now)
		created := now.Add(-time.Duration(n-i) * time.Second)
		var lastLogin any
		if status == user.StatusActive {
			lastLogin = now.Add(-time.Duration(i) * time.Minute)
		}
		row := []any{o.ID, roles[i%2], email, email, first, last, string(status), products[i%3], false, i % 3,
			created, created, invited, expires, lastLogin}
		i++
		return row, nil
	})
	cols := []string{"organization_id", "role_id", "email", "email_normalized", "first_name", "last_name", "status",
		"products", "must_change_password", "invitation_count", "created_at", "updated_at",
		"invited_at", "invite_expires_at", "last_login_at"}
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"users"}, cols, src); err != nil {
		b.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `VACUUM ANALYZE users`); err != nil {
		b.Fatal(err)
	}
}
