package testkit

import (
	"testing"
	"time"

	"github.com/rollcall/rollcall/ent/delivery"
	"github.com/rollcall/rollcall/ent/schema/enum"
)

// WaitDeliveries waits until no delivery is queued and due: the workers have
// sent, failed or skipped everything they could by the test clock. A retry
// scheduled later by that clock counts as done until the clock moves.
func (s *Server) WaitDeliveries(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		n, err := s.DB.Client.Delivery.Query().Where(delivery.StatusEQ(enum.DeliveryQueued),
			delivery.Or(delivery.NextAttemptAtIsNil(), delivery.NextAttemptAtLTE(s.Clock.Now()))).Count(System())
		if err != nil {
			t.Fatalf("count queued deliveries: %v", err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d deliveries still queued after a minute", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
