package app_test

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rollcall/rollcall/internal/testkit"
)

// BenchmarkImport100k imports a 100,000-row CSV through the GraphQL upload,
// into a fresh organisation each run, and reports the time and the process's
// peak RSS (VmHWM):
//
//	go test ./internal/app -run '^$' -bench BenchmarkImport100k -benchtime 3x
//	ROLLCALL_TEST_DATABASE_URL=postgres://… go test ./internal/app -run '^$' -bench BenchmarkImport100k -benchtime 3x
func BenchmarkImport100k(b *testing.B) {
	s := testkit.NewServer(b)
	var csv bytes.Buffer
	csv.WriteString("email,first name,last name,role\n")
	for i := range 100_000 {
		fmt.Fprintf(&csv, "person%06d@example.com,First%d,Last%d,%s\n", i, i, i, []string{"Member", "HR", ""}[i%3])
	}
	round := 0
	var total time.Duration
	for b.Loop() {
		b.StopTimer()
		round++
		slug := fmt.Sprintf("import%d", round)
		s.CreateOrg(b, slug)
		tok := s.Login(b, slug, "owner@"+slug+".test", testkit.OwnerPassword)
		b.StartTimer()
		start := time.Now()
		resp := s.Upload(b, tok, `mutation($in: ImportUsersInput!) { importUsers(input: $in) { created rejected } }`,
			map[string]any{"in": map[string]any{"file": nil}}, "in.file", "people.csv", csv.Bytes())
		total += time.Since(start)
		var out struct {
			ImportUsers struct{ Created, Rejected int }
		}
		resp.Decode(b, &out)
		if out.ImportUsers.Created != 100_000 {
			b.Fatalf("created %d, rejected %d", out.ImportUsers.Created, out.ImportUsers.Rejected)
		}
	}
	b.ReportMetric(total.Seconds()/float64(round), "s/import")
	b.ReportMetric(peakRSSMiB(), "MiB-peak-rss")
}

// peakRSSMiB reads the process's peak resident set from /proc (Linux).
func peakRSSMiB() float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			return float64(kb) / 1024
		}
	}
	return 0
}
