package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/schollz/progressbar/v3"
)

// measurement is what one run of the benchmark saw.
type measurement struct {
	pgVersion string
	total     int           // people the send selected
	mutation  time.Duration // sendInvitations, request to answer
	returned  time.Time     // when the answer arrived
	send      sendState     // read once it had finished
	watchers  []watchResult
	busFinal  time.Time // the final progress event reached the event bus (LISTEN)
	provider  providerCount
	peakRSS   int64 // bytes
	rssErr    error
	cpu       cpuUse // from the mutation until the send finished
	// With --webhooks: what the receiver saw, and the server's CPU from the
	// mutation until the last call arrived.
	hooks     *webhookFigures
	hooksCPU  time.Duration
	hooksWall time.Duration
}

// cpuUse is CPU time spent during the send, by whom.
type cpuUse struct {
	wall, server, bench, postgres time.Duration
	machine                       cpuTimes
}

// measure runs the send and everything watching it.
func measure(ctx context.Context, gql *client, srv *server, mg *mailgun, hooks *receiver, opts options) (*measurement, error) {
	m := &measurement{}
	dbName := ""
	if cfg, err := pgx.ParseConfig(opts.databaseURL); err == nil {
		dbName = cfg.Database
	}
	// The samplers stop once: on success below, or on return.
	stopBackends := sync.OnceValue(backendCPU(dbName, 100*time.Millisecond))
	defer stopBackends()
	server0, _ := srv.CPU()
	self0, machine0 := selfCPU(), orZero(machineCPU())
	// Workers may call the provider before the answer arrives.
	stopSampling := sync.OnceValue(sampleProvider(mg, 2*time.Millisecond))
	defer stopSampling()
	start := time.Now()
	id, total, err := gql.sendInvitations(ctx)
	m.returned = time.Now()
	m.mutation = m.returned.Sub(start)
	if err != nil {
		return nil, err
	}
	m.total = total
	busFinal := func() time.Time { return time.Time{} }
	if f, err := listenFinal(ctx, opts.databaseURL, id); err == nil {
		busFinal = sync.OnceValue(f)
		defer busFinal()
	} else {
		fmt.Fprintln(os.Stderr, "rollcall-bench: not timing the final event on the bus:", err)
	}

	bar := progressbar.NewOptions(total, progressbar.OptionSetWriter(os.Stderr), progressbar.OptionSetDescription("sending"),
		progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("emails"),
		progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
	wsURL := "ws" + strings.TrimPrefix(srv.url, "http") + "/graphql"
	m.watchers = watch(ctx, wsURL, gql.token, id, opts.subscribers, opts.subscribeParallel, func(s sendState) { _ = bar.Set(s.done()) })
	_ = bar.Finish()

	m.send, err = gql.waitFinished(ctx, id)
	m.busFinal = busFinal()
	server1, _ := srv.CPU()
	m.cpu = cpuUse{wall: time.Since(start), server: server1 - server0, bench: selfCPU() - self0,
		postgres: stopBackends(), machine: orZero(machineCPU()).sub(machine0)}
	m.provider = stopSampling()
	if err == nil && hooks != nil {
		want := m.send.Sent * opts.webhooks
		hbar := progressbar.NewOptions(want, progressbar.OptionSetWriter(os.Stderr), progressbar.OptionSetDescription("webhooks"),
			progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("calls"),
			progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
		err = hooks.waitFor(ctx, want, func(n int) { _ = hbar.Set(n) })
		_ = hbar.Finish()
		server2, _ := srv.CPU()
		f := hooks.figures()
		m.hooks, m.hooksCPU, m.hooksWall = &f, server2-server0, f.last.Sub(start)
	}
	m.peakRSS, m.rssErr = srv.PeakRSS()
	return m, err
}

// providerCount is when the fake Mailgun's recipient counter moved.
type providerCount struct {
	calls, recipients int
	first, last       time.Time // first and last time it grew
}

// sampleProvider watches the fake's counter every interval until the
// returned func is called, which returns what it saw.
func sampleProvider(mg *mailgun, every time.Duration) func() providerCount {
	var (
		mu   sync.Mutex
		seen providerCount
	)
	look := func() {
		n := mg.Recipients()
		mu.Lock()
		defer mu.Unlock()
		if n > seen.recipients {
			now := time.Now()
			if seen.first.IsZero() {
				seen.first = now
			}
			seen.last, seen.recipients = now, n
		}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				look()
			}
		}
	})
	return func() providerCount {
		close(done)
		wg.Wait()
		look()
		mu.Lock()
		defer mu.Unlock()
		seen.calls = mg.Calls()
		return seen
	}
}

// report prints the figures as a table and reports whether the send
// completed with everyone sent and every watcher heard its end.
func (m *measurement) report(w io.Writer, opts options) bool {
	mode, rateTarget := "batch sending", 25_000.0
	if opts.singly {
		mode, rateTarget = "single sends", 2_500.0
	}
	fmt.Fprintf(w, "\nrollcall-bench: %s recipients, %s, concurrency %d, %s watchers, PostgreSQL %s\n\n",
		thousands(m.total), mode, opts.concurrency, thousands(len(m.watchers)), m.pgVersion)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "measure\tvalue\ttarget\t")
	row := func(name, value, target string, met bool) {
		verdict := ""
		if target != "" {
			verdict = "ok"
			if !met {
				verdict = "MISSED"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", name, value, target, verdict)
	}
	row("sendInvitations mutation", ms(m.mutation), "< 3 s", m.mutation < 3*time.Second)

	if f := m.send.FinishedAt; f != nil {
		fromAnswer, fromCreated := f.Sub(m.returned), f.Sub(m.send.CreatedAt)
		r := rate(m.send.Sent, fromAnswer)
		row("send rate, answer → finishedAt", fmt.Sprintf("%s/s (%s)", thousands(int(r)), secs(fromAnswer)),
			fmt.Sprintf("≥ %s/s", thousands(int(rateTarget))), r >= rateTarget)
		row("send rate, createdAt → finishedAt", fmt.Sprintf("%s/s (%s)", thousands(int(rate(m.send.Sent, fromCreated))), secs(fromCreated)), "", true)
	}
	if p := m.provider; p.recipients > 0 {
		d := p.last.Sub(m.returned)
		row("provider rate, answer → last recipient", fmt.Sprintf("%s/s (%s)", thousands(int(rate(p.recipients, d))), secs(d)), "", true)
		row("provider calls", fmt.Sprintf("%s (%s recipients, %.0f a call)", thousands(p.calls), thousands(p.recipients),
			float64(p.recipients)/float64(max(p.calls, 1))), "", true)
	}

	var delays []time.Duration
	late, missed, events := 0, 0, 0
	var lastSubscribed time.Time
	for _, r := range m.watchers {
		events += r.events
		switch {
		case r.err != nil || r.final.IsZero():
			missed++
		case r.late:
			late++
		case m.send.FinishedAt != nil:
			delays = append(delays, r.final.Sub(*m.send.FinishedAt))
		}
		if r.subscribed.After(lastSubscribed) {
			lastSubscribed = r.subscribed
		}
	}
	if len(delays) > 0 {
		slices.Sort(delays)
		worst := delays[len(delays)-1]
		row("final event delay, max", ms(worst), "< 1 s", worst < time.Second)
		row("final event delay, min / p50 / p95", ms(delays[0])+" / "+ms(percentile(delays, 50))+" / "+ms(percentile(delays, 95)), "", true)
		if !m.busFinal.IsZero() {
			row("  of which finishedAt → NOTIFY", ms(m.busFinal.Sub(*m.send.FinishedAt)), "", true)
		}
	}
	row("watchers subscribed", fmt.Sprintf("%s, the last %s after the answer (%s after the end)",
		thousands(len(m.watchers)-missed), ms(lastSubscribed.Sub(m.returned)), thousands(late)), "", true)
	row("watchers hearing the end", fmt.Sprintf("%s of %s (%.1f events each)", thousands(len(m.watchers)-missed),
		thousands(len(m.watchers)), float64(events)/float64(max(len(m.watchers), 1))), "all", missed == 0)
	if m.rssErr == nil {
		row("server peak RSS (VmHWM)", fmt.Sprintf("%.0f MiB", float64(m.peakRSS)/(1<<20)), "< 300 MB", m.peakRSS < 300_000_000)
	}
	c := m.cpu
	if total := c.machine.busy + c.machine.idle + c.machine.iowait; total > 0 {
		perRecipient := func(d time.Duration) string {
			return fmt.Sprintf("%d µs", d.Microseconds()/int64(max(m.send.Sent, 1)))
		}
		row(fmt.Sprintf("CPU, mutation → finished (%s)", secs(c.wall)), fmt.Sprintf("server %s, PostgreSQL backends %s, bench %s",
			secs(c.server), secs(c.postgres), secs(c.bench)), "", true)
		row("CPU per recipient sent", fmt.Sprintf("server %s, PostgreSQL %s, bench %s",
			perRecipient(c.server), perRecipient(c.postgres), perRecipient(c.bench)), "", true)
		row(fmt.Sprintf("machine (%d CPUs), same span", c.machine.cpus), fmt.Sprintf("%.0f%% busy, %.0f%% iowait",
			100*float64(c.machine.busy)/float64(total), 100*float64(c.machine.iowait)/float64(total)), "", true)
	}
	if h := m.hooks; h != nil {
		row("webhook calls, mutation → last call", fmt.Sprintf("%s/s (%s events to %d endpoints in %s)", thousands(int(rate(h.distinct, m.hooksWall))),
			thousands(h.distinct), h.endpoints, secs(m.hooksWall)), "", true)
		if f := m.send.FinishedAt; f != nil {
			row("  last call after finishedAt", secs(h.last.Sub(*f)), "", true)
		}
		row("webhook calls repeated / badly signed", fmt.Sprintf("%d / %d", h.repeats, h.bad), "0 badly signed", h.bad == 0)
		row("server CPU per webhook call, mutation → last call (send included)",
			fmt.Sprintf("%d µs (%s)", m.hooksCPU.Microseconds()/int64(max(h.distinct, 1)), secs(m.hooksCPU)), "", true)
	}
	complete := m.send.Status == "COMPLETED" && m.send.FinishedAt != nil && m.send.Sent == m.send.Total && m.send.Total == m.total
	row("send", fmt.Sprintf("%s: sent %s of %s, failed %s, skipped %s", m.send.Status, thousands(m.send.Sent),
		thousands(m.send.Total), thousands(m.send.Failed), thousands(m.send.Skipped)), "COMPLETED, sent = total", complete)
	_ = tw.Flush()

	for i, r := range m.watchers {
		if r.err != nil {
			fmt.Fprintf(w, "\nwatcher %d: %v", i, r.err)
			if missed > 1 {
				fmt.Fprintf(w, " (and %d more)", missed-1)
			}
			fmt.Fprintln(w)
			break
		}
	}
	hooksOK := m.hooks == nil || (m.hooks.distinct == m.send.Sent*opts.webhooks && m.hooks.bad == 0)
	return complete && missed == 0 && hooksOK
}

// orZero drops an error whose only effect is a zero figure.
func orZero[T any](v T, _ error) T { return v }

// percentile is the nearest-rank p-th percentile of sorted ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	i := int(math.Ceil(p/100*float64(len(ds)))) - 1
	return ds[min(max(i, 0), len(ds)-1)]
}

func rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

func ms(d time.Duration) string {
	if d < 10*time.Millisecond {
		return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000)
	}
	return thousands(int(d.Milliseconds())) + " ms"
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

// thousands writes n with comma separators.
func thousands(n int) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		s = "-" + s
	}
	return s
}
