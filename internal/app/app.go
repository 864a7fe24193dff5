// Package app wires Rollcall together: configuration, database, services and
// the HTTP server, and runs it until told to stop.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/rollcall/rollcall/graph"
	"github.com/rollcall/rollcall/internal/audit"
	"github.com/rollcall/rollcall/internal/auth"
	"github.com/rollcall/rollcall/internal/clock"
	"github.com/rollcall/rollcall/internal/config"
	"github.com/rollcall/rollcall/internal/db"
	"github.com/rollcall/rollcall/internal/export"
	"github.com/rollcall/rollcall/internal/importer"
	"github.com/rollcall/rollcall/internal/invite"
	"github.com/rollcall/rollcall/internal/mail"
	"github.com/rollcall/rollcall/internal/org"
	"github.com/rollcall/rollcall/internal/password"
	"github.com/rollcall/rollcall/internal/people"
	"github.com/rollcall/rollcall/internal/server"
	"github.com/rollcall/rollcall/internal/throttle"
)

// App is a wired Rollcall instance.
type App struct {
	cfg      config.Config
	log      *slog.Logger
	DB       *db.DB
	Auth     *auth.Service
	Orgs     *org.Service
	People   *people.Service
	Admin    *people.Admin
	Invites  *invite.Service
	Importer *importer.Service
	limiter  *throttle.Limiter
	handler  http.Handler
}

// New opens the database and builds the services and HTTP handler. It does
// not migrate: call Migrate first on a new database.
func New(ctx context.Context, cfg config.Config, log *slog.Logger, clk clock.Clock) (*App, error) {
	d, err := db.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, log: log, DB: d}
	sender, err := newSender(cfg.Mail)
	if err != nil {
		d.Close()
		return nil, err
	}
	policy, err := password.NewPolicy()
	if err != nil {
		d.Close()
		return nil, err
	}
	auditLog := audit.New(d.Client, clk)
	a.limiter = throttle.New(d.Client, d.Dialect, clk)
	a.Auth = auth.New(d.Client, clk, a.limiter, cfg.Auth, log)
	a.Orgs = org.New(d.Client, clk, a.Auth.HashPassword, auditLog)
	a.People = people.New(d.Client)
	a.Admin = people.NewAdmin(d.Client, clk, auditLog)
	a.Invites = invite.New(invite.Deps{
		Client: d.Client, Clock: clk, Auth: a.Auth, Policy: policy, Audit: auditLog, Limiter: a.limiter, Log: log,
		Mailer: invite.NewMailer(d.Client, sender, cfg.Mail.From, cfg.Mail.Concurrency),
		Links:  invite.Links{PublicURL: cfg.Mail.PublicURL, InviteTemplate: cfg.Mail.InviteLink, ResetTemplate: cfg.Mail.ResetLink},
		Limits: invite.DefaultLimits(),
	})
	a.Importer = importer.New(d, clk, auditLog, a.Invites, importer.Limits{
		MaxBytes: cfg.Limits.MaxUpload, MaxRows: cfg.ImportMaxRows, MaxLineBytes: cfg.ImportMaxLine,
	})
	a.handler = server.New(server.Options{
		Resolver: &graph.Resolver{Client: d.Client, Clock: clk, Auth: a.Auth, Orgs: a.Orgs, People: a.People,
			Admin: a.Admin, Invites: a.Invites, Importer: a.Importer, Audit: auditLog},
		Export:      export.New(d.Client, clk, log),
		Auth:        a.Auth,
		Limits:      cfg.Limits,
		MaxBody:     cfg.MaxBody,
		CORSOrigins: cfg.CORSOrigins,
		TrustProxy:  cfg.TrustProxy,
		Ready:       d.Ping,
		Log:         log,
	})
	return a, nil
}

// Handler is the root HTTP handler.
func (a *App) Handler() http.Handler { return a.handler }

// Close waits for emails still being sent, then closes the database.
func (a *App) Close() error {
	a.Invites.Wait()
	return a.DB.Close()
}

// newSender returns the configured mail transport.
func newSender(c config.Mail) (mail.Sender, error) {
	switch c.Mailer {
	case "outbox", "":
		return mail.NewOutbox(c.OutboxDir)
	case "mailgun":
		return mail.NewMailgun(mail.MailgunConfig{Domain: c.MailgunDomain, APIKey: c.MailgunKey, APIBase: c.MailgunAPIBase})
	default:
		return nil, fmt.Errorf("mailer %q: want outbox or mailgun", c.Mailer)
	}
}

// Migrate applies the schema, then creates the bootstrap organisation if the
// database has none, printing a generated Owner password once to out. Both
// steps hold a lock on PostgreSQL, so replicas starting together do each once.
func (a *App) Migrate(ctx context.Context, out io.Writer) error {
	if err := a.DB.Migrate(ctx, a.log); err != nil {
		return err
	}
	return a.DB.WithLock(ctx, "rollcall:bootstrap", func(ctx context.Context) error {
		b := a.cfg.Bootstrap
		created, err := a.Orgs.Bootstrap(ctx, org.CreateInput{Slug: b.Org, Name: b.Org, OwnerEmail: b.Email, OwnerPassword: b.Password})
		if err != nil || created == nil {
			return err
		}
		a.log.InfoContext(ctx, "created bootstrap organisation", slog.String("org", created.Organization.Slug), slog.String("owner", created.Owner.Email))
		if created.GeneratedPassword != "" {
			fmt.Fprintf(out, "\nRollcall created organisation %q with Owner %s.\nSign in with this password; it is shown only once:\n\n    %s\n\n",
				created.Organization.Slug, created.Owner.Email, created.GeneratedPassword)
		}
		return nil
	})
}

// Serve listens on the configured address until ctx ends (SIGTERM), then
// stops accepting connections and lets requests in flight finish.
func (a *App) Serve(ctx context.Context) error {
	ln, err := net.Listen("tcp", a.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	// Requests outlive ctx so they can finish during shutdown; websockets,
	// which Shutdown does not wait for, end when base is cancelled after it.
	base, endConnections := context.WithCancel(context.WithoutCancel(ctx))
	defer endConnections()
	srv := &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return base },
	}
	go a.maintain(ctx)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	a.log.InfoContext(ctx, "rollcall listening", slog.String("addr", ln.Addr().String()),
		slog.String("database", db.Redact(a.cfg.DatabaseURL)), slog.String("graphiql", "/graphiql"))
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	a.log.Info("shutting down", slog.Duration("timeout", a.cfg.ShutdownTimeout))
	shutdownCtx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// maintain prunes expired sessions and throttle windows every few minutes.
func (a *App) maintain(ctx context.Context) {
	t := time.NewTicker(5 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := a.Auth.PruneSessions(ctx); err != nil {
			a.log.WarnContext(ctx, "prune sessions", slog.String("error", err.Error()))
		}
		if _, err := a.limiter.Prune(ctx); err != nil {
			a.log.WarnContext(ctx, "prune throttles", slog.String("error", err.Error()))
		}
	}
}
