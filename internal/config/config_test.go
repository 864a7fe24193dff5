package config_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/urfave/cli/v3"

	"github.com/rollcall/rollcall/internal/config"
	"github.com/rollcall/rollcall/internal/server"
)

// parse runs a serve command with args and returns its configuration.
func parse(t *testing.T, args ...string) (config.Config, error) {
	t.Helper()
	var cfg config.Config
	cmd := &cli.Command{Name: "serve", Flags: config.ServeFlags(), Action: func(_ context.Context, cmd *cli.Command) error {
		var err error
		cfg, err = config.FromCommand(cmd)
		return err
	}}
	err := cmd.Run(context.Background(), append([]string{"serve"}, args...))
	return cfg, err
}

func TestTrustProxy(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  string
		args []string
		hops int
	}{
		{name: "off by default", hops: 0},
		{name: "the flag alone is one proxy", args: []string{"--trust-proxy"}, hops: 1},
		{name: "flag true", args: []string{"--trust-proxy=true"}, hops: 1},
		{name: "flag false", args: []string{"--trust-proxy=false"}, hops: 0},
		{name: "flag count", args: []string{"--trust-proxy=2"}, hops: 2},
		{name: "env true", env: "true", hops: 1},
		{name: "env false", env: "false", hops: 0},
		{name: "env 0", env: "0", hops: 0},
		{name: "env count", env: "3", hops: 3},
		{name: "the flag wins", env: "3", args: []string{"--trust-proxy=1"}, hops: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("ROLLCALL_TRUST_PROXY", tc.env)
			cfg, err := parse(t, tc.args...)
			require.NoError(t, err)
			require.Equal(t, tc.hops, cfg.TrustProxy)
		})
	}
	for _, bad := range []string{"yes please", "-1", "1.5"} {
		t.Run("refused: "+bad, func(t *testing.T) {
			t.Setenv("ROLLCALL_TRUST_PROXY", "")
			_, err := parse(t, "--trust-proxy="+bad)
			require.ErrorContains(t, err, "want true, false or a number of proxies")
		})
	}
}

func TestConnectionSettings(t *testing.T) {
	t.Setenv("ROLLCALL_MAX_WEBSOCKETS_PER_IP", "2000")
	cfg, err := parse(t, "--read-timeout=5s", "--max-subscriptions-per-connection=7")
	require.NoError(t, err)
	want := server.DefaultConnLimits()
	want.MaxWebsocketsPerIP = 2000
	want.ReadTimeout = 5 * time.Second
	want.MaxSubscriptionsPerConnection = 7
	require.Equal(t, want, cfg.Conns)
}

func TestSMTPSettings(t *testing.T) {
	t.Setenv("ROLLCALL_SMTP_URL", "")
	t.Setenv("ROLLCALL_DKIM_DOMAIN", "")
	cfg, err := parse(t)
	require.NoError(t, err)
	require.Equal(t, config.SMTP{Pool: 4, Timeout: 30 * time.Second, IdleTimeout: 30 * time.Second}, cfg.Mail.SMTP)

	t.Setenv("ROLLCALL_MAILER", "smtp")
	t.Setenv("ROLLCALL_SMTP_URL", "smtps://user:pw@mail.example.com")
	t.Setenv("ROLLCALL_SMTP_POOL", "8")
	t.Setenv("ROLLCALL_SMTP_IDLE_TIMEOUT", "1m")
	t.Setenv("ROLLCALL_DKIM_DOMAIN", "example.com")
	t.Setenv("ROLLCALL_DKIM_SELECTOR", "mail2026")
	t.Setenv("ROLLCALL_DKIM_KEY_FILE", "/etc/rollcall/dkim.pem")
	cfg, err = parse(t, "--smtp-max-per-connection=100")
	require.NoError(t, err)
	require.Equal(t, "smtp", cfg.Mail.Mailer)
	require.Equal(t, config.SMTP{URL: "smtps://user:pw@mail.example.com", Pool: 8, Timeout: 30 * time.Second, IdleTimeout: time.Minute,
		MaxPerConnection: 100, DKIMDomain: "example.com", DKIMSelector: "mail2026", DKIMKeyFile: "/etc/rollcall/dkim.pem"}, cfg.Mail.SMTP)
}
