package testkit

import (
	"testing"
	"time"
)

// WaitResets waits until every password-reset request has been resolved
// (the workers delete them once their emails have gone).
func (s *Server) WaitResets(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		n, err := s.DB.Client.PasswordResetRequest.Query().Count(System())
		if err != nil {
			t.Fatalf("count reset requests: %v", err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d password-reset requests still waiting after a minute", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
