// Command rollcall-bench measures a bulk send end to end on PostgreSQL: it
// starts a fake Mailgun in process and the Rollcall server as a child process,
// seeds N people, invites them all with sendInvitations while many clients
// watch bulkSendProgress, and reports the mutation's time, the send's
// throughput, how late each watcher heard the end, and the server's peak RSS.
//
// Run it from the repository:
//
//	go run ./cmd/rollcall-bench            # batch sending
//	go run ./cmd/rollcall-bench --singly   # one provider call per recipient
//
// It exits non-zero if the send did not complete with every recipient sent
// or if any watcher missed the final event.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// options are the command line.
type options struct {
	recipients        int
	subscribers       int
	concurrency       int
	singly            bool
	serverBin         string
	databaseURL       string
	fresh             bool
	keep              bool
	timeout           time.Duration
	serverLog         string
	serverLogLevel    string
	serverEnv         []string
	subscribeParallel int
	cpuProfile        string
	importRows        int
	webhooks          int
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("rollcall-bench", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: go run ./cmd/rollcall-bench [flags]

Starts a fake Mailgun and the Rollcall server (a child process) on PostgreSQL,
seeds NOT_INVITED people, invites them all with sendInvitations while websocket
clients watch bulkSendProgress, and prints the figures. Exits 1 unless the send
completed with every recipient sent and every watcher heard the final event.

Flags:
`)
		fs.PrintDefaults()
	}
	fs.IntVar(&o.recipients, "recipients", 100_000, "people to invite")
	fs.IntVar(&o.subscribers, "subscribers", 1_000, "websocket clients watching bulkSendProgress")
	fs.IntVar(&o.concurrency, "concurrency", 8, "the server's ROLLCALL_SEND_CONCURRENCY")
	fs.BoolVar(&o.singly, "singly", false, "set ROLLCALL_SEND_SINGLY=true: one provider call per recipient")
	fs.StringVar(&o.serverBin, "server-bin", "", "a built rollcall binary (default: go build ./cmd/rollcall)")
	fs.StringVar(&o.databaseURL, "database-url", "postgres://postgres@127.0.0.1:5432/rollcall_bench?sslmode=disable",
		"PostgreSQL database, created if missing")
	fs.BoolVar(&o.fresh, "fresh", true, "drop and recreate the database first")
	fs.BoolVar(&o.keep, "keep", false, "leave the database (and the server log) when done")
	fs.DurationVar(&o.timeout, "timeout", 15*time.Minute, "give up after this long")
	fs.StringVar(&o.serverLog, "server-log", "", "write the server's output here (default: a temporary file)")
	fs.StringVar(&o.serverLogLevel, "server-log-level", "info", "the server's ROLLCALL_LOG_LEVEL")
	fs.Func("server-env", "extra KEY=VALUE for the server's environment, e.g. GODEBUG=gctrace=1 (repeatable)", func(s string) error {
		if !strings.Contains(s, "=") {
			return errors.New("want KEY=VALUE")
		}
		o.serverEnv = append(o.serverEnv, s)
		return nil
	})
	fs.IntVar(&o.subscribeParallel, "subscribe-parallel", 100, "websocket subscriptions opened at once")
	fs.IntVar(&o.importRows, "import", 0, "instead of a send, import a CSV of this many new people through importUsers and report its time and the server's peak RSS")
	fs.IntVar(&o.webhooks, "webhooks", 0, "webhook endpoints (on a loopback receiver in this process) subscribed to invitation.sent; the run then waits until every call arrived")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write this process's CPU profile (fake Mailgun and watchers) here")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case o.recipients < 1:
		return o, errors.New("--recipients must be at least 1")
	case o.subscribers < 1:
		return o, errors.New("--subscribers must be at least 1")
	case o.concurrency < 1:
		return o, errors.New("--concurrency must be at least 1")
	case o.webhooks < 0:
		return o, errors.New("--webhooks must not be negative")
	case o.subscribeParallel < 1:
		return o, errors.New("--subscribe-parallel must be at least 1")
	}
	return o, nil
}

func main() { os.Exit(benchmark()) }

// benchmark runs the command and returns its exit code.
func benchmark() int {
	opts, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "rollcall-bench:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if opts.cpuProfile != "" {
		f, err := os.Create(opts.cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "rollcall-bench: cpu profile:", err)
			return 2
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	ok, err := run(ctx, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "rollcall-bench:", err)
		return 1
	}
	if !ok {
		return 1
	}
	return 0
}

// run performs the benchmark and prints its report; it reports false when
// the send or a watcher fell short.
func run(ctx context.Context, opts options) (ok bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, opts.timeout)
	defer cancel()
	step := func(format string, args ...any) { fmt.Fprintf(os.Stderr, "• "+format+"\n", args...) }
	pgVersion, err := prepareDatabase(ctx, opts.databaseURL, opts.fresh)
	if err != nil {
		return false, err
	}
	if !opts.keep {
		defer func() {
			if err := dropDatabase(context.WithoutCancel(ctx), opts.databaseURL); err != nil {
				fmt.Fprintln(os.Stderr, "rollcall-bench: drop database:", err)
			}
		}()
	}
	work, err := os.MkdirTemp("", "rollcall-bench-")
	if err != nil {
		return false, err
	}
	defer func() {
		if opts.keep || !ok {
			fmt.Fprintln(os.Stderr, "server log (and built binary) kept in", work)
			return
		}
		os.RemoveAll(work)
	}()
	logPath := opts.serverLog
	if logPath == "" {
		logPath = filepath.Join(work, "server.log")
	}

	mg, err := startMailgun()
	if err != nil {
		return false, err
	}
	defer mg.Close()

	bin := opts.serverBin
	if bin == "" {
		step("building the server")
		if bin, err = buildServer(ctx, work); err != nil {
			return false, err
		}
	}
	srv, err := startServer(ctx, serverConfig{
		bin: bin, databaseURL: opts.databaseURL, mailgunBase: mg.apiBase, concurrency: opts.concurrency,
		singly: opts.singly, logPath: logPath, logLevel: opts.serverLogLevel,
		// Every subscriber connects from this one address: lift the
		// per-address websocket cap for this server (--server-env wins).
		// The webhook receiver is on loopback.
		extraEnv: append([]string{"ROLLCALL_MAX_WEBSOCKETS_PER_IP=" + strconv.Itoa(opts.subscribers+10),
			"ROLLCALL_WEBHOOK_ALLOW_PRIVATE=true"}, opts.serverEnv...),
	})
	if err != nil {
		return false, err
	}
	defer func() {
		if err := srv.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "rollcall-bench: stop server:", err)
		}
	}()
	step("server pid %d on %s (log %s)", srv.Pid(), srv.url, logPath)

	gql := &client{url: srv.url + "/graphql"}
	if err := gql.login(ctx, benchOrg, ownerEmail, ownerPassword); err != nil {
		return false, err
	}
	if opts.importRows > 0 {
		took, created, err := gql.importCSV(ctx, opts.importRows)
		if err != nil {
			return false, err
		}
		rss, err := srv.PeakRSS()
		if err != nil {
			return false, err
		}
		fmt.Printf("rollcall-bench: import of %s rows (%s), PostgreSQL %s\n\nimportUsers answered\t%s\ncreated\t%s\nserver peak RSS (VmHWM)\t%d MiB\n",
			thousands(opts.importRows), "email, names, role", pgVersion, secs(took), thousands(created), rss>>20)
		return created == opts.importRows, nil
	}

	var hooks *receiver
	if opts.webhooks > 0 {
		if hooks, err = startReceiver(); err != nil {
			return false, err
		}
		defer hooks.Close()
		if err := gql.createEndpoints(ctx, hooks, opts.webhooks); err != nil {
			return false, err
		}
	}

	seedStart := time.Now()
	seeded, err := seed(ctx, opts.databaseURL, benchOrg, opts.recipients)
	if err != nil {
		return false, err
	}
	step("seeded %d people in %s", seeded, time.Since(seedStart).Round(10*time.Millisecond))

	m, err := measure(ctx, gql, srv, mg, hooks, opts)
	if err != nil {
		return false, err
	}
	if m.rssErr != nil {
		fmt.Fprintln(os.Stderr, "rollcall-bench: read peak RSS:", m.rssErr)
	}
	m.pgVersion = pgVersion
	ok = m.report(os.Stdout, opts)
	return ok, nil
}
