package mail_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rollcall/rollcall/internal/fakesmtp"
	"github.com/rollcall/rollcall/internal/mail"
)

// BenchmarkSMTP sends b.N messages from 8 goroutines (the engine's default
// ROLLCALL_SEND_CONCURRENCY) to the in-process SMTP server, over STARTTLS
// with AUTH as a submission server asks, once with a new connection per
// message and then through pools of 1, 4 and 8 kept-open connections. It
// reports messages per second and the CPU time per message of the whole
// process (client and server, both in it):
//
//	go test ./internal/mail -run '^$' -bench BenchmarkSMTP -benchtime 10000x
func BenchmarkSMTP(b *testing.B) {
	for _, bc := range []struct {
		name      string
		pool, max int
	}{
		{"connection-per-email", 8, 1},
		{"pool-1", 1, 0},
		{"pool-4", 4, 0},
		{"pool-8", 8, 0},
	} {
		b.Run(bc.name, func(b *testing.B) {
			bundle := startSMTP(b, true, fakesmtp.Options{Users: map[string]string{smtpUser: smtpPassword}, Discard: true})
			s := bundle.sender(b, authURL, func(c *mail.SMTPConfig) { c.Pool, c.MaxPerConnection = bc.pool, bc.max })
			msg := validMessage()
			msg.Text = "Hello Ada,\n\nYou are invited to join Acme on Rollcall. Follow this link to choose your password:\nhttps://rollcall.example/invite/accept?token=0123456789abcdef0123456789abcdef\n\nThe link works for 7 days."
			msg.HTML = "<p>Hello Ada,</p><p>You are invited to join Acme on Rollcall.</p><p><a href=\"https://rollcall.example/invite/accept?token=0123456789abcdef0123456789abcdef\">Choose your password</a></p><p>The link works for 7 days.</p>"
			const senders = 8
			var next atomic.Int64
			cpu := cpuTime()
			start := time.Now()
			b.ResetTimer()
			var wg sync.WaitGroup
			errs := make([]error, senders)
			for g := range senders {
				wg.Go(func() {
					for next.Add(1) <= int64(b.N) {
						if _, err := s.Send(context.Background(), msg); err != nil {
							errs[g] = err
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			elapsed, used := time.Since(start), cpuTime()-cpu
			if err := errors.Join(errs...); err != nil {
				b.Fatal(err)
			}
			if got := bundle.server.Count(); got != b.N {
				b.Fatalf("server accepted %d of %d", got, b.N)
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "emails/s")
			b.ReportMetric(float64(used.Microseconds())/float64(b.N), "cpu-µs/email")
			b.ReportMetric(float64(bundle.server.Connections()), "connections")
		})
	}
}

// cpuTime is the process's user and system CPU time so far (Linux, BSD, macOS).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(fmt.Sprintf("getrusage: %v", err))
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
