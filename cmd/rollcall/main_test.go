package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/urfave/cli/v3"

	"github.com/rollcall/rollcall/internal/db"
	"github.com/rollcall/rollcall/internal/testkit"
)

func run(t *testing.T, ctx context.Context, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	cmd := command()
	cmd.Writer = &out
	cmd.ErrWriter = &out
	err := cmd.Run(ctx, append([]string{"rollcall"}, args...))
	return out.String(), err
}

func TestHelpAndVersion(t *testing.T) {
	out, err := run(t, context.Background(), "--help")
	require.NoError(t, err)
	for _, sub := range []string{"serve", "migrate", "org", "version"} {
		require.Contains(t, out, sub)
	}
	out, err = run(t, context.Background(), "serve", "--help")
	require.NoError(t, err)
	require.Contains(t, out, "ROLLCALL_DATABASE_URL")
	require.Contains(t, out, "ROLLCALL_BOOTSTRAP_PASSWORD")
	out, err = run(t, context.Background(), "version")
	require.NoError(t, err)
	require.Equal(t, "rollcall dev\n", out)
}

func TestOrgCreate(t *testing.T) {
	url := testkit.DatabaseURL(t)
	ctx := context.Background()
	out, err := run(t, ctx, "org", "create", "--database-url", url, "--slug", "acme", "--name", "Acme Inc", "--owner-email", "boss@acme.test")
	require.NoError(t, err)
	require.Contains(t, out, `Created organisation "acme" (Acme Inc) with Owner boss@acme.test`)
	require.Regexp(t, `shown only once:\s+\S{6}-\S{6}-\S{6}-\S{6}`, out)

	_, err = run(t, ctx, "org", "create", "--database-url", url, "--slug", "acme", "--owner-email", "other@acme.test")
	require.ErrorContains(t, err, "already exists")
	_, err = run(t, ctx, "org", "create", "--database-url", url, "--slug", "Not A Slug!", "--owner-email", "x@y.test")
	require.ErrorContains(t, err, "slug")
	_, err = run(t, ctx, "org", "create", "--database-url", url, "--slug", "beta", "--owner-email", "not-an-email")
	require.ErrorContains(t, err, "email")
	_, err = run(t, ctx, "org", "create", "--database-url", url, "--slug", "gamma", "--name", "Gamma\u202E Inc", "--owner-email", "g@gamma.test")
	require.ErrorContains(t, err, "organisation name contains a bidirectional control character (U+202E)")
	_, err = run(t, ctx, "org", "create", "--database-url", url, "--slug", "gamma", "--name", "Gamma\r\nInc", "--owner-email", "g@gamma.test")
	require.ErrorContains(t, err, "line break")
	_, err = run(t, ctx, "org", "create", "--database-url", url, "--slug", "gamma", "--owner-email", "g\x1b@gamma.test")
	require.ErrorContains(t, err, "email address contains a control character (U+001B)")
}

func TestServeBootstrapsOnceAndShutsDown(t *testing.T) {
	url := testkit.DatabaseURL(t)
	serveOnce := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := ln.Addr().String()
		ln.Close()
		ctx, stop := context.WithCancel(context.Background())
		var out bytes.Buffer
		done := make(chan error, 1)
		go func() {
			cmd := command()
			cmd.Writer = &out
			done <- cmd.Run(ctx, []string{"rollcall", "serve", "--addr", addr, "--database-url", url,
				"--bootstrap-email", "first@example.com", "--log-level", "error"})
		}()
		require.Eventually(t, func() bool {
			res, err := http.Get("http://" + addr + "/readyz")
			if err != nil {
				return false
			}
			res.Body.Close()
			return res.StatusCode == http.StatusOK
		}, 20*time.Second, 50*time.Millisecond)
		stop() // as SIGTERM would
		select {
		case err := <-done:
			require.NoError(t, err, "graceful shutdown returns cleanly")
		case <-time.After(30 * time.Second):
			t.Fatal("serve did not stop")
		}
		return out.String()
	}
	// A migration job applies the schema and nothing else: no organisation,
	// no password in its log.
	migrated, err := run(t, context.Background(), "migrate", "--database-url", url, "--bootstrap-email", "first@example.com", "--log-level", "error")
	require.NoError(t, err)
	require.NotContains(t, migrated, "shown only once")
	d, err := db.Open(context.Background(), url)
	require.NoError(t, err)
	orgs, err := d.Client.Organization.Query().Count(testkit.System())
	d.Close()
	require.NoError(t, err)
	require.Zero(t, orgs, "migrate creates no organisation")

	first := serveOnce()
	require.Contains(t, first, `created organisation "default" with Owner first@example.com`)
	password := regexp.MustCompile(`shown only once:\s+(\S+)`).FindStringSubmatch(first)
	require.Len(t, password, 2)
	second := serveOnce()
	require.NotContains(t, second, "shown only once", "the password is printed once")
	require.False(t, strings.Contains(second, password[1]))
}

func TestImportCommand(t *testing.T) {
	url := testkit.DatabaseURL(t)
	ctx := context.Background()
	_, err := run(t, ctx, "org", "create", "--database-url", url, "--slug", "acme", "--owner-email", "boss@acme.test", "--owner-password", "boss-password-123")
	require.NoError(t, err)
	dir := t.TempDir()
	file := filepath.Join(dir, "people.csv")
	require.NoError(t, os.WriteFile(file, []byte("email,first name,role\nada@example.com,Ada,HR\nbad@@x,Bad,\nbob@example.com,Bob,\n"), 0o600))
	common := []string{"--database-url", url, "--outbox-dir", filepath.Join(dir, "outbox"), "--org", "acme"}

	out, err := run(t, ctx, append(append([]string{"import"}, common...), "--dry-run", file)...)
	var exit cli.ExitCoder
	require.ErrorAs(t, err, &exit)
	require.Equal(t, 2, exit.ExitCode(), "rejected rows give a non-zero exit")
	require.Contains(t, out, "dry run: nothing was changed")
	require.Regexp(t, `created\s+2`, out)
	require.Regexp(t, `3\s+bad@@x\s+not a valid email address`, out)

	out, err = run(t, ctx, append(append([]string{"import"}, common...), file)...)
	require.ErrorAs(t, err, &exit)
	require.Regexp(t, `created\s+2`, out)
	out, err = run(t, ctx, append(append([]string{"import"}, common...), "--role", "hr", file+".missing")...)
	require.Error(t, err)

	require.NoError(t, os.WriteFile(file, []byte("email\ncarl@example.com\n"), 0o600))
	out, err = run(t, ctx, append(append([]string{"import"}, common...), "--send-invitations", file)...)
	require.NoError(t, err)
	require.Regexp(t, `invited\s+1`, out)
	require.Contains(t, out, "1 invitation sent, 0 failed", "the CLI sends them itself")
	emails, err := filepath.Glob(filepath.Join(dir, "outbox", "*.eml"))
	require.NoError(t, err)
	require.Len(t, emails, 1)

	_, err = run(t, ctx, append([]string{"import"}, "--database-url", url, "--org", "nowhere", file)...)
	require.ErrorContains(t, err, "no organisation")
}
