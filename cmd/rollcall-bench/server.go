package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rollcall/rollcall/internal/fakemailgun"
)

// The bench organisation and its Owner, created by the server on its empty
// database, and the fake Mailgun's credentials.
const (
	benchOrg      = "bench"
	ownerEmail    = "owner@bench.test"
	ownerPassword = "bench-owner-Pa55word-2026"
	mailDomain    = "mail.bench.test"
	mailKey       = "key-bench"
)

// mailgun is the fake Mailgun serving on a loopback port.
type mailgun struct {
	*fakemailgun.Server
	apiBase string // for ROLLCALL_MAILGUN_API_BASE
	http    *http.Server
}

// startMailgun serves a fake Mailgun that keeps only counters.
func startMailgun() (*mailgun, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("fake mailgun: %w", err)
	}
	fake := fakemailgun.New(fakemailgun.Options{Domain: mailDomain, APIKey: mailKey, Record: false})
	m := &mailgun{Server: fake, apiBase: "http://" + ln.Addr().String() + "/v3", http: &http.Server{Handler: fake}}
	go m.http.Serve(ln)
	return m, nil
}

// Close stops serving.
func (m *mailgun) Close() error { return m.http.Close() }

// buildServer builds cmd/rollcall into dir and returns the binary's path.
func buildServer(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "rollcall")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/rollcall/rollcall/cmd/rollcall")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build the server (run from the repository, or pass --server-bin): %w", err)
	}
	return bin, nil
}

// serverConfig is how the server child is started.
type serverConfig struct {
	bin, databaseURL, mailgunBase string
	concurrency                   int
	singly                        bool
	logPath, logLevel             string
	extraEnv                      []string // KEY=VALUE, last wins
}

// server is the Rollcall server running as a child process, so that its
// memory is measured alone.
type server struct {
	cmd     *exec.Cmd
	url     string // http://127.0.0.1:PORT
	logPath string
	exited  chan struct{}
	waitErr error // valid once exited is closed
}

// startServer starts "rollcall serve" on a free loopback port and waits
// until /readyz answers (the schema migrated, the bench organisation made).
func startServer(ctx context.Context, c serverConfig) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logFile, err := os.Create(c.logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child has its own descriptor
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.Command(c.bin, "serve")
	cmd.Env = append(environWithout("ROLLCALL_"),
		"ROLLCALL_ADDR="+addr,
		"ROLLCALL_PUBLIC_URL=http://"+addr,
		"ROLLCALL_DATABASE_URL="+c.databaseURL,
		"ROLLCALL_MAILER=mailgun",
		"ROLLCALL_MAILGUN_DOMAIN="+mailDomain,
		"ROLLCALL_MAILGUN_API_KEY="+mailKey,
		"ROLLCALL_MAILGUN_API_BASE="+c.mailgunBase,
		"ROLLCALL_MAIL_FROM=rollcall@"+mailDomain,
		"ROLLCALL_SEND_CONCURRENCY="+strconv.Itoa(c.concurrency),
		"ROLLCALL_SEND_SINGLY="+strconv.FormatBool(c.singly),
		"ROLLCALL_BOOTSTRAP_ORG="+benchOrg,
		"ROLLCALL_BOOTSTRAP_EMAIL="+ownerEmail,
		"ROLLCALL_BOOTSTRAP_PASSWORD="+ownerPassword,
		"ROLLCALL_LOG_LEVEL="+c.logLevel,
	)
	cmd.Env = append(cmd.Env, c.extraEnv...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM} // never outlive the bench
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start server: %w", err)
	}
	s := &server{cmd: cmd, url: "http://" + addr, logPath: c.logPath, exited: make(chan struct{})}
	go func() {
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()
	if err := s.waitReady(ctx, 2*time.Minute); err != nil {
		_ = s.Stop()
		return nil, err
	}
	return s, nil
}

// Pid is the server's process id.
func (s *server) Pid() int { return s.cmd.Process.Pid }

// waitReady polls /readyz until it answers 200.
func (s *server) waitReady(ctx context.Context, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/readyz", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.exited:
			return fmt.Errorf("server exited (%v):\n%s", s.waitErr, s.logTail(20))
		case <-ctx.Done():
			return fmt.Errorf("server not ready: %w\n%s", ctx.Err(), s.logTail(20))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// PeakRSS is the server's peak resident set size so far, in bytes.
func (s *server) PeakRSS() (int64, error) { return peakRSS(s.Pid()) }

// CPU is the CPU time the server has used so far.
func (s *server) CPU() (time.Duration, error) { return processCPU(s.Pid()) }

// Stop asks the server to shut down (SIGTERM) and waits; after 30 seconds
// it kills it.
func (s *server) Stop() error {
	select {
	case <-s.exited:
		return s.waitErr
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		return s.waitErr
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
		return errors.New("server ignored SIGTERM for 30 s; killed")
	}
}

// logTail is the end of the server's output.
func (s *server) logTail(lines int) string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return ""
	}
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(all[max(0, len(all)-lines):], "\n")
}

// freePort asks the kernel for an unused loopback port.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// environWithout is this process's environment without variables starting
// with prefix.
func environWithout(prefix string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, prefix) {
			env = append(env, kv)
		}
	}
	return env
}
