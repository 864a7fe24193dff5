package event_test

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/internal/event"
)

// BenchmarkRecordUnit records what a bulk-send unit records: 1,000
// invitation.sent events in one transaction (one op). On PostgreSQL set
// ROLLCALL_TEST_DATABASE_URL.
func BenchmarkRecordUnit(b *testing.B) {
	f := setup(b)
	cpu := processCPU()
	for b.Loop() {
		list := unitEvents(f.orgs[0])
		tx, err := f.db.Client.Tx(f.sys)
		require.NoError(b, err)
		require.NoError(b, f.log.RecordEach(f.sys, tx.Client(), list...))
		require.NoError(b, tx.Commit())
	}
	events := float64(b.N * 1000)
	b.ReportMetric(float64(b.Elapsed().Microseconds())/events, "µs/event")
	b.ReportMetric(float64((processCPU()-cpu).Microseconds())/events, "cpu-µs/event")
}

// processCPU is this process's user and system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func unitEvents(org int) []event.Event {
	out := make([]event.Event, 1000)
	for i := range out {
		first, last := "Ada", "Lovelace"
		u := &ent.User{ID: 1<<32 + i, OrganizationID: org, Email: fmt.Sprintf("p%06d@example.com", i), FirstName: &first,
			LastName: &last, Status: "INVITED", RoleID: 3 << 32, Products: []string{}}
		send := 5 << 32
		out[i] = event.Sent(org, event.Person(u, "Member"), "INVITATION", 7<<32+i, &send, &send, nil)
	}
	return out
}
