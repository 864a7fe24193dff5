package app_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/rollcall/rollcall/internal/config"
	"github.com/rollcall/rollcall/internal/testkit"
)

// BenchmarkInviteUsers1000 measures inviteUsers with 1,000 new addresses,
// through the HTTP handler: the answer (ms-median), and until the outbox
// mailer has written all 1,000 emails (ms-all-sent-median). Set
// ROLLCALL_BENCH_OUTBOX to put the outbox elsewhere (e.g. on tmpfs):
//
//	ROLLCALL_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable \
//	  go test ./internal/app -run '^$' -bench BenchmarkInviteUsers1000 -benchtime 20x
func BenchmarkInviteUsers1000(b *testing.B) {
	s := testkit.NewServer(b, func(c *config.Config) {
		if dir := os.Getenv("ROLLCALL_BENCH_OUTBOX"); dir != "" {
			c.Mail.OutboxDir = filepath.Join(dir, fmt.Sprint(time.Now().UnixNano()))
		}
	})
	o := s.CreateOrg(b, "bench")
	tok := s.Login(b, "bench", "owner@bench.test", testkit.OwnerPassword)
	role := fmt.Sprint(o.Roles["Member"].ID)
	var durations, sent []time.Duration
	round := 0
	for b.Loop() {
		b.StopTimer()
		emails := make([]string, 1000)
		for i := range emails {
			emails[i] = fmt.Sprintf("person-%d-%d@bench.test", round, i)
		}
		round++
		b.StartTimer()
		start := time.Now()
		resp := s.Query(b, tok, `mutation($in: InviteUsersInput!) { inviteUsers(input: $in) { users { id } rejected { email } } }`,
			map[string]any{"in": map[string]any{"emails": emails, "roleId": role}})
		durations = append(durations, time.Since(start))
		s.WaitDeliveries(b)
		sent = append(sent, time.Since(start))
		var out struct {
			InviteUsers struct{ Users []struct{ ID string } }
		}
		resp.Decode(b, &out)
		if len(out.InviteUsers.Users) != 1000 {
			b.Fatalf("invited %d", len(out.InviteUsers.Users))
		}
	}
	ms := func(ds []time.Duration, q int) float64 {
		slices.Sort(ds)
		return float64(ds[len(ds)*q/100].Microseconds()) / 1000
	}
	b.ReportMetric(ms(durations, 50), "ms-median")
	b.ReportMetric(ms(durations, 95), "ms-p95")
	b.ReportMetric(ms(sent, 50), "ms-all-sent-median")
}
