package app_test

import (
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rollcall/rollcall/internal/config"
	"github.com/rollcall/rollcall/internal/fakemailgun"
	"github.com/rollcall/rollcall/internal/testkit"
)

// benchServer is a server sending through a loopback Mailgun that keeps
// only counters.
func benchServer(b *testing.B) *testkit.Server {
	mg := fakemailgun.New(fakemailgun.Options{Domain: "mg.example.com", APIKey: "key-test"})
	ts := httptest.NewServer(mg)
	b.Cleanup(ts.Close)
	return testkit.NewServer(b, func(c *config.Config) {
		c.Mail.Mailer = "mailgun"
		c.Mail.MailgunDomain, c.Mail.MailgunKey, c.Mail.MailgunAPIBase = "mg.example.com", "key-test", ts.URL+"/v3"
		c.Mail.Concurrency = 8
	})
}

// processCPU is this process's user and system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// postgresCPU is the CPU time of the machine's postgres processes so far
// (0 where /proc does not show them); other work on the server counts too.
func postgresCPU() time.Duration {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var ticks int64
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 || !strings.Contains(s[:i], "(postgres") {
			continue
		}
		fields := strings.Fields(s[i+2:]) // from field 3 (state)
		if len(fields) < 13 {
			continue
		}
		u, _ := strconv.ParseInt(fields[11], 10, 64) // utime, field 14
		k, _ := strconv.ParseInt(fields[12], 10, 64) // stime, field 15
		ticks += u + k
	}
	return time.Duration(ticks) * 10 * time.Millisecond // USER_HZ = 100
}

// BenchmarkSingleInvitations measures one invitation per inviteUsers call,
// 8 calls at a time, through the HTTP handler, until every email has left
// through the loopback Mailgun: invitations a second, and CPU per
// invitation of this process (the server, but also the load driver and the
// sink) and of PostgreSQL:
//
//	ROLLCALL_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable \
//	  go test ./internal/app -run '^$' -bench BenchmarkSingleInvitations -benchtime 3x
func BenchmarkSingleInvitations(b *testing.B) {
	const people, concurrency = 1000, 8
	s := benchServer(b)
	o := s.CreateOrg(b, "bench")
	tok := s.Login(b, "bench", "owner@bench.test", testkit.OwnerPassword)
	role := fmt.Sprint(o.Roles["Member"].ID)
	var rates, cpus, pgs []float64
	round := 0
	for b.Loop() {
		round++
		var next atomic.Int64
		var wg sync.WaitGroup
		cpu0, pg0, start := processCPU(), postgresCPU(), time.Now()
		for range concurrency {
			wg.Go(func() {
				for i := next.Add(1); i <= people; i = next.Add(1) {
					resp := s.Query(b, tok, `mutation($in: InviteUsersInput!) { inviteUsers(input: $in) { users { id } } }`,
						map[string]any{"in": map[string]any{"emails": []string{fmt.Sprintf("p%d-%d@bench.test", round, i)}, "roleId": role}})
					if len(resp.Errors) > 0 {
						b.Errorf("inviteUsers: %v", resp.Errors)
						return
					}
				}
			})
		}
		wg.Wait()
		s.WaitDeliveries(b)
		elapsed := time.Since(start)
		rates = append(rates, people/elapsed.Seconds())
		cpus = append(cpus, float64((processCPU()-cpu0).Microseconds())/1000/people)
		pgs = append(pgs, float64((postgresCPU()-pg0).Microseconds())/1000/people)
	}
	median := func(xs []float64) float64 { slices.Sort(xs); return xs[len(xs)/2] }
	b.ReportMetric(median(rates), "invitations/s")
	b.ReportMetric(median(cpus), "process-cpu-ms/invitation")
	b.ReportMetric(median(pgs), "postgres-cpu-ms/invitation")
}

// BenchmarkResendInvitation measures resendInvitation's answer, which waits
// for the email to leave through the loopback Mailgun (ms-median, ms-p95):
//
//	ROLLCALL_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable \
//	  go test ./internal/app -run '^$' -bench BenchmarkResendInvitation -benchtime 500x
func BenchmarkResendInvitation(b *testing.B) {
	s := benchServer(b)
	o := s.CreateOrg(b, "bench")
	tok := s.Login(b, "bench", "owner@bench.test", testkit.OwnerPassword)
	people := s.AddPeople(b, o, testkit.Person{Email: "a@bench.test"}, testkit.Person{Email: "b@bench.test"},
		testkit.Person{Email: "c@bench.test"}, testkit.Person{Email: "d@bench.test"})
	var durations []time.Duration
	i := 0
	for b.Loop() {
		i++
		start := time.Now()
		resp := s.Query(b, tok, `mutation($id: ID!) { resendInvitation(userId: $id) { status } }`,
			map[string]any{"id": people[i%len(people)].ID})
		durations = append(durations, time.Since(start))
		var out struct{ ResendInvitation struct{ Status string } }
		resp.Decode(b, &out)
		if out.ResendInvitation.Status != "INVITED" {
			b.Fatalf("status %q", out.ResendInvitation.Status)
		}
	}
	slices.Sort(durations)
	ms := func(q int) float64 { return float64(durations[len(durations)*q/100].Microseconds()) / 1000 }
	b.ReportMetric(ms(50), "ms-median")
	b.ReportMetric(ms(95), "ms-p95")
}
