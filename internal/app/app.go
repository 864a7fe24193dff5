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
	"net/http/pprof"
	"sync"
	"time"

	"entgo.io/ent/dialect"
	"go.opentelemetry.io/otel/trace"

	"github.com/rollcall/rollcall/graph"
	"github.com/rollcall/rollcall/internal/apikey"
	"github.com/rollcall/rollcall/internal/apperr"
	"github.com/rollcall/rollcall/internal/audit"
	"github.com/rollcall/rollcall/internal/auth"
	"github.com/rollcall/rollcall/internal/bulksend"
	"github.com/rollcall/rollcall/internal/clock"
	"github.com/rollcall/rollcall/internal/config"
	"github.com/rollcall/rollcall/internal/credentials"
	"github.com/rollcall/rollcall/internal/db"
	"github.com/rollcall/rollcall/internal/event"
	"github.com/rollcall/rollcall/internal/events"
	"github.com/rollcall/rollcall/internal/export"
	"github.com/rollcall/rollcall/internal/history"
	"github.com/rollcall/rollcall/internal/importer"
	"github.com/rollcall/rollcall/internal/invite"
	"github.com/rollcall/rollcall/internal/mail"
	"github.com/rollcall/rollcall/internal/notify"
	"github.com/rollcall/rollcall/internal/org"
	"github.com/rollcall/rollcall/internal/password"
	"github.com/rollcall/rollcall/internal/people"
	"github.com/rollcall/rollcall/internal/persisted"
	"github.com/rollcall/rollcall/internal/reminder"
	"github.com/rollcall/rollcall/internal/scim"
	"github.com/rollcall/rollcall/internal/server"
	"github.com/rollcall/rollcall/internal/stats"
	"github.com/rollcall/rollcall/internal/template"
	"github.com/rollcall/rollcall/internal/throttle"
	"github.com/rollcall/rollcall/internal/tracing"
	"github.com/rollcall/rollcall/internal/webhook"
	"github.com/rollcall/rollcall/internal/webhookout"
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
	// APIKeys creates, revokes and authenticates API keys.
	APIKeys *apikey.Service
	// BulkSends plans and works bulk sends; Bus carries events between
	// replicas.
	BulkSends *bulksend.Service
	Bus       events.Bus
	// Webhooks manages webhook endpoints and sends events to them.
	Webhooks *webhookout.Service
	// Reminders starts the reminder rounds that are due.
	Reminders *reminder.Service
	sender    mail.Sender
	tracing   *tracing.Provider // nil: tracing off
	limiter   *throttle.Limiter
	handler   http.Handler
	conns     server.ConnLimits // cfg.Conns fitted to the open-file limit
	// stopWorkers ends what Start began; workers tracks it.
	stopWorkers context.CancelFunc
	workers     sync.WaitGroup
	// Events is the events log (the outbox every change writes to); Feed
	// streams it live to this replica's organizationEvents subscribers.
	Events *event.Log
	Feed   *event.Feed
	// SCIM serves /scim/v2; SCIMInviter invites the people it creates when
	// the organisation asks for it.
	SCIM        *scim.Handler
	SCIMInviter *scim.Inviter
}

// New opens the database and builds the services and HTTP handler. It does
// not migrate: call Migrate first on a new database.
func New(ctx context.Context, cfg config.Config, log *slog.Logger, clk clock.Clock) (*App, error) {
	tp, err := tracing.New(ctx)
	if err != nil {
		return nil, err
	}
	var tracer trace.Tracer
	var wrap []func(dialect.Driver) dialect.Driver
	if tp != nil {
		tracer = tp.Tracer()
		wrap = append(wrap, func(drv dialect.Driver) dialect.Driver { return tracing.WrapDriver(drv, tracer) })
	}
	d, err := db.Open(ctx, cfg.DatabaseURL, wrap...)
	if err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, log: log, DB: d, tracing: tp}
	sender, err := newSender(cfg.Mail, log)
	if err != nil {
		d.Close()
		return nil, err
	}
	a.sender = sender
	if tracer != nil {
		sender = tracedSender(sender, tracer)
	}
	policy, err := password.NewPolicy()
	if err != nil {
		d.Close()
		return nil, err
	}
	if a.Bus, err = newBus(ctx, cfg.DatabaseURL, d, log); err != nil {
		d.Close()
		return nil, err
	}
	auditLog := audit.New(d.Client, clk)
	notifier := notify.New(d.Client, clk, a.Bus)
	a.Events = event.New(d.Client, clk, d.Dialect, event.WithBus(a.Bus), event.WithLogger(log))
	a.Feed = event.NewFeed(a.Events, event.FeedConfig{Poll: cfg.Events.Poll, Buffer: cfg.Events.Buffer})
	a.limiter = throttle.New(d.Client, d.Dialect, clk)
	a.APIKeys = apikey.New(d.Client, clk, auditLog, a.Bus, log)
	a.Auth = auth.New(d.Client, clk, a.limiter, cfg.Auth, log, auth.WithBus(a.Bus), auth.WithKeys(a.APIKeys))
	a.Orgs = org.New(d.Client, clk, a.Auth.HashPassword, auditLog)
	a.People = people.New(d.Client)
	links := credentials.Links{PublicURL: cfg.Mail.PublicURL, InviteTemplate: cfg.Mail.InviteLink, ResetTemplate: cfg.Mail.ResetLink}
	templates := template.NewService(template.Deps{Client: d.Client, Clock: clk, Audit: auditLog, Log: log, From: cfg.Mail.From, Links: links})
	a.BulkSends = bulksend.New(bulksend.Deps{
		DB: d, Clock: clk, Bus: a.Bus, Templates: templates, Sender: sender, Links: links, Audit: auditLog, Notify: notifier, Events: a.Events, Log: log,
		Config: bulksend.Config{Concurrency: cfg.Mail.Concurrency, Rate: cfg.Mail.SendRate, Lease: cfg.Mail.SendLease, Singly: cfg.Mail.SendSingly, SingleWait: cfg.Mail.SingleWait},
	})
	a.Reminders = reminder.New(reminder.Deps{DB: d, Clock: clk, Bulk: a.BulkSends, Log: log, Interval: cfg.ReminderInterval, Batch: cfg.ReminderBatch})
	a.Admin = people.NewAdmin(d.Client, clk, auditLog, a.Auth, a.BulkSends, log, people.WithEvents(a.Events))
	a.Invites = invite.New(invite.Deps{
		Client: d.Client, Clock: clk, Auth: a.Auth, Policy: policy, Audit: auditLog, Limiter: a.limiter, Log: log,
		Links: links, Limits: invite.DefaultLimits(), Bulk: a.BulkSends,
		Dialect: d.Dialect, Resets: invite.ResetConfig{Poll: cfg.ResetPoll, Lease: cfg.ResetLease, Delay: cfg.ResetDelay},
		Events: a.Events, Notify: notifier,
	})
	a.Webhooks = webhookout.New(webhookout.Deps{
		Client: d.Client, Dialect: d.Dialect, Clock: clk, Events: a.Events, Audit: auditLog,
		Log: log, Config: cfg.Webhooks,
	})
	a.Importer = importer.New(d, clk, auditLog, a.Invites, importer.Limits{
		MaxBytes: cfg.Limits.MaxUpload, MaxRows: cfg.ImportMaxRows, MaxLineBytes: cfg.ImportMaxLine,
	}, importer.WithEvents(a.Events))
	a.SCIMInviter = scim.NewInviter(d.Client, clk, a.BulkSends, log, cfg.SCIMInviteDelay)
	a.SCIM = scim.New(scim.Deps{Client: d.Client, Clock: clk, Auth: a.Auth, Invites: a.Invites, Admin: a.Admin,
		Audit: auditLog, Events: a.Events, Log: log, Invited: a.SCIMInviter.Provisioned,
		Config: scim.Config{MaxBody: cfg.MaxBody, MaxCount: cfg.SCIMMaxCount, Timeout: cfg.Limits.OperationTimeout, PublicURL: cfg.Mail.PublicURL}})
	a.conns = server.FitDescriptors(ctx, cfg.Conns, log)
	persistedQueries, err := newPersisted(cfg.Persisted, d, clk)
	if err != nil {
		d.Close()
		return nil, err
	}
	a.handler = server.New(server.Options{
		Resolver: &graph.Resolver{Client: d.Client, Clock: clk, Auth: a.Auth, Orgs: a.Orgs, People: a.People,
			Admin: a.Admin, Invites: a.Invites, Templates: templates, Importer: a.Importer, Audit: auditLog, BulkSends: a.BulkSends, Notify: notifier,
			History: history.New(d.Client), Keys: a.APIKeys, EventLog: a.Events, Feed: a.Feed, Webhooks: a.Webhooks,
			Stats: stats.New(d.Client, d.Dialect, a.People)},
		Export:      export.New(d.Client, clk, log),
		SCIM:        a.SCIM,
		Webhook:     webhook.New(webhook.Config{SigningKey: cfg.Mail.MailgunSigningKey}, clk, a.limiter, a.BulkSends, log),
		Auth:        a.Auth,
		Limits:      cfg.Limits,
		MaxBody:     cfg.MaxBody,
		CORSOrigins: cfg.CORSOrigins,
		CORSHeaders: cfg.CORSHeaders,
		TrustProxy:  cfg.TrustProxy,
		Conns:       a.conns,
		Persisted:   persistedQueries,
		Tracer:      tracer,
		Ready:       d.Ping,
		Log:         log,
	})
	return a, nil
}

// FlushTraces exports the spans not yet exported (when tracing is on).
func (a *App) FlushTraces(ctx context.Context) error {
	if a.tracing == nil {
		return nil
	}
	return a.tracing.ForceFlush(ctx)
}

// Handler is the root HTTP handler.
func (a *App) Handler() http.Handler { return a.handler }

// HTTPServer returns the HTTP server Serve runs: the handler with the
// configured timeouts and connection caps. Requests' contexts derive from
// base.
func (a *App) HTTPServer(base context.Context) *server.HTTPServer {
	return server.NewHTTPServer(base, a.handler, a.conns)
}

// Start starts the background workers (bulk sending, password-reset
// requests, the events log's retention, webhook fan-out and calls); Close stops them.
func (a *App) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	a.stopWorkers = cancel
	a.workers.Go(func() { a.BulkSends.Run(ctx) })
	a.workers.Go(func() { a.Invites.RunResets(ctx) })
	a.workers.Go(func() { a.Events.Retain(ctx, a.cfg.Events.Retention, a.cfg.Events.PruneInterval) })
	a.workers.Go(func() { a.Webhooks.Run(ctx) })
	a.workers.Go(func() { a.SCIMInviter.Run(ctx) })
	a.workers.Go(func() { a.Reminders.Run(ctx) })
}

// StopWorkers stops what Start began and waits until each worker has
// finished the work in hand, emails included. Webhook calls in flight are
// abandoned (another replica, or this one restarted, makes them again once
// their lease lapses).
func (a *App) StopWorkers() {
	if a.stopWorkers != nil {
		a.stopWorkers()
	}
	a.workers.Wait()
}

// Close stops the workers and the live events feed, then closes the
// mailer's connections, the event bus and the database.
func (a *App) Close() error {
	a.StopWorkers()
	a.Feed.Close()
	if c, ok := a.sender.(io.Closer); ok {
		_ = c.Close()
	}
	_ = a.Bus.Close()
	if a.tracing != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := a.tracing.Shutdown(ctx); err != nil {
			a.log.Warn("flush traces", slog.String("error", err.Error()))
		}
	}
	return a.DB.Close()
}

// newPersisted reads the operator's manifest and sets up the APQ cache.
func newPersisted(cfg config.Persisted, d *db.DB, clk clock.Clock) (graph.PersistedQueries, error) {
	p := graph.PersistedQueries{Only: cfg.Only}
	if cfg.Only && cfg.DocumentsFile == "" {
		return p, errors.New("ROLLCALL_PERSISTED_ONLY needs ROLLCALL_PERSISTED_DOCUMENTS, the file of documents to run")
	}
	if cfg.DocumentsFile != "" {
		m, err := persisted.LoadManifest(cfg.DocumentsFile)
		if err != nil {
			return p, err
		}
		p.Manifest = m
	}
	if !cfg.Only && !cfg.DisableAPQCache {
		l := persisted.DefaultLimits
		if cfg.MaxEntries > 0 {
			l.MaxEntries = cfg.MaxEntries
		}
		if cfg.MaxBytes > 0 {
			l.MaxBytes = cfg.MaxBytes
		}
		p.Cache = persisted.NewCache(d.Client, clk, l)
	}
	return p, nil
}

// newBus is the event bus: LISTEN/NOTIFY on PostgreSQL, so every replica
// sees every event; in-process on SQLite, which has one server.
func newBus(ctx context.Context, databaseURL string, d *db.DB, log *slog.Logger) (events.Bus, error) {
	if d.Dialect != dialect.Postgres {
		return events.NewLocal(), nil
	}
	return events.NewPostgres(ctx, databaseURL, d.SQL, log)
}

// Migrate applies the schema and nothing else. It holds a lock on
// PostgreSQL, so replicas starting together migrate once.
func (a *App) Migrate(ctx context.Context) error {
	return a.DB.Migrate(ctx, a.log)
}

// Bootstrap creates the bootstrap organisation if the database has none,
// printing a generated Owner password once to out. It holds a lock on
// PostgreSQL, so replicas starting together create it once. Only serve
// bootstraps: a migration job never creates people or prints passwords.
func (a *App) Bootstrap(ctx context.Context, out io.Writer) error {
	return a.DB.WithLock(ctx, "rollcall:bootstrap", func(ctx context.Context) error {
		b := a.cfg.Bootstrap
		created, err := a.Orgs.Bootstrap(ctx, org.CreateInput{Slug: b.Org, Name: b.Name, OwnerEmail: b.Email, OwnerPassword: b.Password})
		if err != nil {
			return bootstrapError(err)
		}
		if created == nil {
			return nil
		}
		a.log.InfoContext(ctx, "created bootstrap organisation", slog.String("org", created.Organization.Slug), slog.String("owner", created.Owner.Email))
		if created.GeneratedPassword != "" {
			fmt.Fprintf(out, "\nRollcall created organisation %q with Owner %s.\nSign in with this password; it is shown only once:\n\n    %s\n\n",
				created.Organization.Slug, created.Owner.Email, created.GeneratedPassword)
		}
		return nil
	})
}

// bootstrapError names the setting at fault when the bootstrap
// organisation is refused.
func bootstrapError(err error) error {
	e, ok := apperr.As(err)
	if !ok {
		return err
	}
	setting := map[string]string{"slug": "ROLLCALL_BOOTSTRAP_ORG", "name": "ROLLCALL_BOOTSTRAP_ORG_NAME",
		"ownerEmail": "ROLLCALL_BOOTSTRAP_EMAIL", "password": "ROLLCALL_BOOTSTRAP_PASSWORD"}[e.Field]
	if setting == "" {
		return err
	}
	return fmt.Errorf("bootstrap organisation: %s: %s", setting, e.Message)
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
	srv := a.HTTPServer(base)
	go a.maintain(ctx)
	a.Start()
	if a.cfg.PprofAddr != "" {
		go a.servePprof(ctx)
	}
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

// servePprof serves Go's profiler on its own address until ctx ends.
func (a *App) servePprof(ctx context.Context) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Addr: a.cfg.PprofAddr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	a.log.InfoContext(ctx, "profiler listening", slog.String("addr", a.cfg.PprofAddr))
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		a.log.WarnContext(ctx, "profiler stopped", slog.String("error", err.Error()))
	}
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
