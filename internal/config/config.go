// Package config declares Rollcall's settings: each a command-line flag with a
// ROLLCALL_* environment variable (the flag wins).
package config

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/rollcall/rollcall/graph"
	"github.com/rollcall/rollcall/internal/auth"
	"github.com/rollcall/rollcall/internal/mail"
	"github.com/rollcall/rollcall/internal/persisted"
	"github.com/rollcall/rollcall/internal/server"
	"github.com/rollcall/rollcall/internal/webhookout"
)

// Config is everything the server needs to start.
type Config struct {
	Addr            string
	DatabaseURL     string
	CORSOrigins     []string
	CORSHeaders     []string // request headers allowed besides server.DefaultCORSHeaders
	TrustProxy      int      // proxies in front that append to X-Forwarded-For; 0 = none
	LogLevel        slog.Level
	LogFormat       string
	Bootstrap       Bootstrap
	Limits          graph.Limits
	MaxBody         int64
	Conns           server.ConnLimits
	Auth            auth.Config
	ShutdownTimeout time.Duration
	PprofAddr       string // optional listener for net/http/pprof (never the public one)
	Mail            Mail
	ImportMaxRows   int
	ImportMaxLine   int
	// SCIMMaxCount caps the count of a SCIM list page (0: 200).
	SCIMMaxCount int
	// SCIMInviteDelay is how long SCIM provisioning must pause before the
	// people it created are invited in one bulk send (0: 5s).
	SCIMInviteDelay time.Duration
	// How often each replica looks for password-reset requests it was not
	// woken for, how long a claimed one is left to its worker, and how long
	// after a request its worker is woken; 0: the defaults
	// (invite.DefaultResetConfig).
	ResetPoll, ResetLease, ResetDelay time.Duration
	Events                            Events
	// ReminderInterval is how often each replica looks for due reminder
	// rounds (ROLLCALL_REMINDER_INTERVAL, default 1m).
	ReminderInterval time.Duration
	// ReminderBatch is the most people one reminder send takes (more due
	// make more sends); 0: reminder.DefaultBatch. Not a flag: for tests.
	ReminderBatch int
	// Webhooks tunes outbound webhooks; zero values: the defaults
	// (webhookout.DefaultConfig).
	Webhooks webhookout.Config
	// Persisted configures persisted documents.
	Persisted Persisted
}

// Persisted configures persisted documents: the operator's manifest, the
// persisted-only mode, and the bounds of the APQ cache (0: the defaults).
type Persisted struct {
	DocumentsFile   string // JSON object sha256 hex → document
	Only            bool
	MaxEntries      int
	MaxBytes        int64
	DisableAPQCache bool
}

// Events configures the events log and the live organizationEvents stream;
// zero values take the defaults.
type Events struct {
	Retention     time.Duration // events older than this are deleted
	PruneInterval time.Duration // how often each replica deletes them
	Poll          time.Duration // how often the live tailer reads without being woken
	Buffer        int           // events waiting for one subscriber before it is ended
}

// Mail configures links in emails and how emails leave.
type Mail struct {
	PublicURL                 string
	InviteLink, ResetLink     string // optional SPA pages with "{token}"
	Mailer                    string // "outbox", "mailgun" or "smtp"
	OutboxDir                 string
	From                      string // sender address
	MailgunDomain, MailgunKey string
	MailgunAPIBase            string
	Concurrency               int // parallel provider calls
	MailgunSigningKey         string
	SendRate                  float64       // bulk sending, recipients per second; 0 = no fixed limit
	SendLease                 time.Duration // how long a worker's claim on deliveries lasts unrenewed
	SendSingly                bool          // never batch, even with a mailer that can
	SingleWait                time.Duration // how long a one-person email's request waits for it to leave
	SMTP                      SMTP
}

// SMTP configures the smtp mailer; the URL, pool size and DKIM files are
// checked when the server starts (app.New).
type SMTP struct {
	URL              string        // smtp://user:password@host:587 (STARTTLS), ?tls=none, or smtps://…:465
	Pool             int           // connections kept open
	Timeout          time.Duration // connecting, and each message's exchange
	IdleTimeout      time.Duration // a connection unused this long is replaced
	MaxPerConnection int           // messages per connection before it is replaced; 0 = no limit
	// DKIM signing: all three, or none.
	DKIMDomain, DKIMSelector, DKIMKeyFile string
}

// Bootstrap is the organisation and Owner created on an empty database:
// the organisation's slug (Org) and display name (Name; the slug when
// empty), the Owner's address and password (generated when empty).
type Bootstrap struct {
	Org, Name, Email, Password string
}

// DatabaseFlag names the database; every subcommand that opens one has it.
func DatabaseFlag() cli.Flag {
	return &cli.StringFlag{Name: "database-url", Value: "sqlite:rollcall.db", Sources: cli.EnvVars("ROLLCALL_DATABASE_URL"),
		Usage: "sqlite:PATH, sqlite::memory: or postgres://…"}
}

// LogFlags choose the log level and format.
func LogFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "log-level", Value: "info", Sources: cli.EnvVars("ROLLCALL_LOG_LEVEL"), Usage: "debug, info, warn or error"},
		&cli.StringFlag{Name: "log-format", Value: "text", Sources: cli.EnvVars("ROLLCALL_LOG_FORMAT"), Usage: "text or json"},
	}
}

// ServeFlags are the flags of "rollcall serve".
func ServeFlags() []cli.Flag {
	d := auth.DefaultConfig()
	conns := server.DefaultConnLimits()
	hooks := webhookout.DefaultConfig()
	return append([]cli.Flag{
		&cli.StringFlag{Name: "addr", Value: ":8080", Sources: cli.EnvVars("ROLLCALL_ADDR"), Usage: "listen address"},
		DatabaseFlag(),
		&cli.StringSliceFlag{Name: "cors-origins", Sources: cli.EnvVars("ROLLCALL_CORS_ORIGINS"), Usage: "browser origins allowed to call the API (comma-separated; * for any)"},
		&cli.StringSliceFlag{Name: "cors-headers", Sources: cli.EnvVars("ROLLCALL_CORS_HEADERS"), Usage: "request headers browsers may send, added to the defaults (Authorization, Content-Type, Apollo's client-name and client-version, traceparent, tracestate, sentry-trace, baggage…); comma-separated"},
		&cli.GenericFlag{Name: "trust-proxy", Value: new(trustProxy), Sources: cli.EnvVars("ROLLCALL_TRUST_PROXY"),
			Usage: "proxies in front of the server: the client address is the X-Forwarded-For entry this many from the right (true = 1, false = 0; --trust-proxy=N)"},
		&cli.StringFlag{Name: "public-url", Value: "http://localhost:8080", Sources: cli.EnvVars("ROLLCALL_PUBLIC_URL"), Usage: "base of every link in an email"},
		&cli.StringFlag{Name: "link-template-invite", Sources: cli.EnvVars("ROLLCALL_LINK_TEMPLATE_INVITE"), Usage: "an SPA page for invitation links, e.g. https://app.example.com/join?token={token}"},
		&cli.StringFlag{Name: "link-template-reset", Sources: cli.EnvVars("ROLLCALL_LINK_TEMPLATE_RESET"), Usage: "an SPA page for password-reset links"},
		&cli.StringFlag{Name: "mailer", Value: "outbox", Sources: cli.EnvVars("ROLLCALL_MAILER"), Usage: "outbox (write .eml files), mailgun or smtp"},
		&cli.StringFlag{Name: "outbox-dir", Value: "./outbox", Sources: cli.EnvVars("ROLLCALL_OUTBOX_DIR"), Usage: "where the outbox mailer writes"},
		&cli.StringFlag{Name: "mail-from", Value: "rollcall@localhost", Sources: cli.EnvVars("ROLLCALL_MAIL_FROM"), Usage: "sender address of every email"},
		&cli.StringFlag{Name: "mailgun-domain", Sources: cli.EnvVars("ROLLCALL_MAILGUN_DOMAIN"), Usage: "Mailgun sending domain"},
		&cli.StringFlag{Name: "mailgun-api-key", Sources: cli.EnvVars("ROLLCALL_MAILGUN_API_KEY"), Usage: "Mailgun API key"},
		&cli.StringFlag{Name: "mailgun-api-base", Sources: cli.EnvVars("ROLLCALL_MAILGUN_API_BASE"), Usage: "Mailgun API base (default the US endpoint), e.g. http://127.0.0.1:PORT/v3"},
		&cli.StringFlag{Name: "mailgun-webhook-signing-key", Sources: cli.EnvVars("ROLLCALL_MAILGUN_WEBHOOK_SIGNING_KEY"), Usage: "verifies POST /webhooks/mailgun"},
		&cli.StringFlag{Name: "smtp-url", Sources: cli.EnvVars("ROLLCALL_SMTP_URL"), Usage: "the smtp mailer's server: smtp://user:password@host:587 (STARTTLS required), smtp://host:25?tls=none (no TLS: a trusted network only) or smtps://user:password@host:465 (implicit TLS)"},
		&cli.IntFlag{Name: "smtp-pool", Value: mail.DefaultSMTPPool, Sources: cli.EnvVars("ROLLCALL_SMTP_POOL"), Usage: "SMTP connections kept open, each carrying one message at a time"},
		&cli.DurationFlag{Name: "smtp-timeout", Value: mail.DefaultSMTPTimeout, Sources: cli.EnvVars("ROLLCALL_SMTP_TIMEOUT"), Usage: "longest connecting to the SMTP server (TLS and AUTH included), or one message's exchange, may take"},
		&cli.DurationFlag{Name: "smtp-idle-timeout", Value: mail.DefaultSMTPIdleTimeout, Sources: cli.EnvVars("ROLLCALL_SMTP_IDLE_TIMEOUT"), Usage: "an SMTP connection unused this long is closed and a new one opened for the next email"},
		&cli.IntFlag{Name: "smtp-max-per-connection", Sources: cli.EnvVars("ROLLCALL_SMTP_MAX_PER_CONNECTION"), Usage: "emails per SMTP connection before it is replaced (0 = no limit)"},
		&cli.StringFlag{Name: "dkim-domain", Sources: cli.EnvVars("ROLLCALL_DKIM_DOMAIN"), Usage: "sign SMTP emails with DKIM for this domain (with dkim-selector and dkim-key-file)"},
		&cli.StringFlag{Name: "dkim-selector", Sources: cli.EnvVars("ROLLCALL_DKIM_SELECTOR"), Usage: "DKIM selector: the public key is published at SELECTOR._domainkey.DOMAIN"},
		&cli.StringFlag{Name: "dkim-key-file", Sources: cli.EnvVars("ROLLCALL_DKIM_KEY_FILE"), Usage: "PEM private key for DKIM: RSA (2048 bits) or Ed25519"},
		&cli.IntFlag{Name: "send-concurrency", Value: 8, Sources: cli.EnvVars("ROLLCALL_SEND_CONCURRENCY"), Usage: "parallel provider calls"},
		&cli.FloatFlag{Name: "send-rate", Sources: cli.EnvVars("ROLLCALL_SEND_RATE"), Usage: "bulk sending, recipients per second per replica (0 = no fixed limit; backs off on the provider's 429)"},
		&cli.BoolFlag{Name: "send-singly", Sources: cli.EnvVars("ROLLCALL_SEND_SINGLY"), Usage: "one provider call per recipient even where batch sending is possible (for comparison)"},
		&cli.DurationFlag{Name: "reset-poll", Value: 10 * time.Second, Sources: cli.EnvVars("ROLLCALL_RESET_POLL"), Usage: "how often a replica looks for password-reset requests written elsewhere or left by a stopped replica"},
		&cli.DurationFlag{Name: "reset-lease", Value: time.Minute, Sources: cli.EnvVars("ROLLCALL_RESET_LEASE"), Usage: "a replica's claim on a password-reset request lapses after this long, so another replica takes it over"},
		&cli.DurationFlag{Name: "reset-delay", Value: 100 * time.Millisecond, Sources: cli.EnvVars("ROLLCALL_RESET_DELAY"), Usage: "how long after a password-reset request its email is worked on, so the answer leaves first and takes as long for unknown addresses"},
		&cli.DurationFlag{Name: "send-single-wait", Value: 5 * time.Second, Sources: cli.EnvVars("ROLLCALL_SEND_SINGLE_WAIT"), Usage: "how long resendInvitation waits for its email to leave before answering with the person as they stand"},
		&cli.DurationFlag{Name: "send-lease", Value: 30 * time.Second, Sources: cli.EnvVars("ROLLCALL_SEND_LEASE"), Usage: "a replica's claim on deliveries lapses after this long unrenewed, so another replica takes the work over"},
		&cli.DurationFlag{Name: "event-retention", Value: 720 * time.Hour, Sources: cli.EnvVars("ROLLCALL_EVENT_RETENTION"), Usage: "how long events are kept in the events log (every replica deletes older ones)"},
		&cli.DurationFlag{Name: "event-prune-interval", Value: time.Hour, Sources: cli.EnvVars("ROLLCALL_EVENT_PRUNE_INTERVAL"), Usage: "how often each replica deletes events past their retention"},
		&cli.DurationFlag{Name: "reminder-interval", Value: time.Minute, Sources: cli.EnvVars("ROLLCALL_REMINDER_INTERVAL"), Usage: "how often each replica looks for people due a reminder round (rounds are due by the times in the database, so a stopped server catches up)"},
		&cli.DurationFlag{Name: "event-poll", Value: 5 * time.Second, Sources: cli.EnvVars("ROLLCALL_EVENT_POLL"), Usage: "how often a replica with organizationEvents subscribers reads the log without being woken by a commit"},
		&cli.IntFlag{Name: "event-subscriber-buffer", Value: 1000, Sources: cli.EnvVars("ROLLCALL_EVENT_SUBSCRIBER_BUFFER"), Usage: "events waiting for one organizationEvents subscriber; a subscriber further behind is ended with an error"},
		&cli.DurationFlag{Name: "webhook-timeout", Value: hooks.Timeout, Sources: cli.EnvVars("ROLLCALL_WEBHOOK_TIMEOUT"), Usage: "longest one webhook call may take (connecting, sending, the answer); longer is a failure, retried"},
		&cli.StringFlag{Name: "webhook-retry", Value: "5s,5m,30m,2h,5h,10h,10h", Sources: cli.EnvVars("ROLLCALL_WEBHOOK_RETRY"), Usage: "waits before each retry of a failed webhook call, comma-separated; after the last the event is given up for that endpoint"},
		&cli.BoolFlag{Name: "webhook-allow-private", Sources: cli.EnvVars("ROLLCALL_WEBHOOK_ALLOW_PRIVATE"), Usage: "let webhook endpoints use http and private or loopback addresses (development and tests only)"},
		&cli.DurationFlag{Name: "webhook-poll", Value: hooks.Poll, Sources: cli.EnvVars("ROLLCALL_WEBHOOK_POLL"), Usage: "how often a replica looks for new events and webhook calls it was not woken for"},
		&cli.DurationFlag{Name: "webhook-lease", Value: hooks.Lease, Sources: cli.EnvVars("ROLLCALL_WEBHOOK_LEASE"), Usage: "a replica's claim on webhook calls (renewed while they run) lapses after this long unrenewed, so another replica sends them"},
		&cli.IntFlag{Name: "webhook-concurrency", Value: hooks.Concurrency, Sources: cli.EnvVars("ROLLCALL_WEBHOOK_CONCURRENCY"), Usage: "most webhook calls in flight per replica"},
		&cli.IntFlag{Name: "webhook-max-endpoints", Value: hooks.MaxEndpoints, Sources: cli.EnvVars("ROLLCALL_WEBHOOK_MAX_ENDPOINTS"), Usage: "most webhook endpoints an organisation may have"},
		&cli.StringFlag{Name: "persisted-documents", Sources: cli.EnvVars("ROLLCALL_PERSISTED_DOCUMENTS"), Usage: "the operator's persisted documents: a JSON file of sha256 hex → document (what Relay and GraphQL Codegen write); clients may send their hash alone"},
		&cli.BoolFlag{Name: "persisted-only", Sources: cli.EnvVars("ROLLCALL_PERSISTED_ONLY"), Usage: "run only the documents of --persisted-documents (by hash or identical text); the rest is refused with PERSISTED_QUERY_NOT_ALLOWED, APQ registration is off and GraphiQL is not served"},
		&cli.IntFlag{Name: "apq-max-entries", Value: persisted.DefaultLimits.MaxEntries, Sources: cli.EnvVars("ROLLCALL_APQ_MAX_ENTRIES"), Usage: "documents the automatic persisted queries cache keeps in the database; the oldest go first (0 = APQ registration off)"},
		&cli.Int64Flag{Name: "apq-max-bytes", Value: persisted.DefaultLimits.MaxBytes, Sources: cli.EnvVars("ROLLCALL_APQ_MAX_BYTES"), Usage: "bytes of documents the automatic persisted queries cache keeps"},
		&cli.StringFlag{Name: "bootstrap-org", Value: "default", Sources: cli.EnvVars("ROLLCALL_BOOTSTRAP_ORG"), Usage: "slug of the organisation created on an empty database"},
		&cli.StringFlag{Name: "bootstrap-org-name", Sources: cli.EnvVars("ROLLCALL_BOOTSTRAP_ORG_NAME"), Usage: "display name of the organisation created on an empty database, used in its emails and pages (the slug when empty)"},
		&cli.StringFlag{Name: "bootstrap-email", Value: "owner@example.com", Sources: cli.EnvVars("ROLLCALL_BOOTSTRAP_EMAIL"), Usage: "email of the Owner created on an empty database"},
		&cli.StringFlag{Name: "bootstrap-password", Sources: cli.EnvVars("ROLLCALL_BOOTSTRAP_PASSWORD"), Usage: "the Owner's password (generated and printed once when empty)"},
		&cli.IntFlag{Name: "max-depth", Value: graph.DefaultLimits.MaxDepth, Sources: cli.EnvVars("ROLLCALL_MAX_DEPTH"), Usage: "deepest query accepted"},
		&cli.IntFlag{Name: "max-complexity", Value: graph.DefaultLimits.MaxComplexity, Sources: cli.EnvVars("ROLLCALL_MAX_COMPLEXITY"), Usage: "highest query cost accepted (lists count by their first/last)"},
		&cli.IntFlag{Name: "max-document-bytes", Value: graph.DefaultLimits.MaxDocumentBytes, Sources: cli.EnvVars("ROLLCALL_MAX_DOCUMENT_BYTES"), Usage: "largest GraphQL document (query text), bytes"},
		&cli.IntFlag{Name: "max-tokens", Value: graph.DefaultLimits.MaxTokens, Sources: cli.EnvVars("ROLLCALL_MAX_TOKENS"), Usage: "most lexical tokens in a GraphQL document"},
		&cli.IntFlag{Name: "max-selections", Value: graph.DefaultLimits.MaxSelections, Sources: cli.EnvVars("ROLLCALL_MAX_SELECTIONS"), Usage: "most fields and aliases in one selection set, fragments included"},
		&cli.IntFlag{Name: "max-fields", Value: graph.DefaultLimits.MaxFields, Sources: cli.EnvVars("ROLLCALL_MAX_FIELDS"), Usage: "most fields in a document, fragments expanded"},
		&cli.IntFlag{Name: "max-list", Value: graph.DefaultLimits.MaxList, Sources: cli.EnvVars("ROLLCALL_MAX_LIST"), Usage: "most elements in the lists of a request's arguments, all lists together"},
		&cli.DurationFlag{Name: "websocket-write-timeout", Value: graph.DefaultLimits.WebsocketWrite, Sources: cli.EnvVars("ROLLCALL_WEBSOCKET_WRITE_TIMEOUT"), Usage: "longest one message may take to reach a websocket client; a client that stops reading is disconnected after it (0 = no limit)"},
		&cli.DurationFlag{Name: "operation-timeout", Value: graph.DefaultLimits.OperationTimeout, Sources: cli.EnvVars("ROLLCALL_OPERATION_TIMEOUT"), Usage: "longest a query or mutation may run (0 = no limit)"},
		&cli.DurationFlag{Name: "import-timeout", Value: graph.DefaultLimits.ImportTimeout, Sources: cli.EnvVars("ROLLCALL_IMPORT_TIMEOUT"), Usage: "longest an importUsers operation may run (0 = no limit)"},
		&cli.Int64Flag{Name: "max-body", Value: 10 << 20, Sources: cli.EnvVars("ROLLCALL_MAX_BODY"), Usage: "largest JSON request body, bytes"},
		&cli.Int64Flag{Name: "max-upload", Value: graph.DefaultLimits.MaxUpload, Sources: cli.EnvVars("ROLLCALL_MAX_UPLOAD"), Usage: "largest upload, bytes"},
		&cli.IntFlag{Name: "max-websockets", Value: conns.MaxWebsockets, Sources: cli.EnvVars("ROLLCALL_MAX_WEBSOCKETS"), Usage: "open websockets at once; beyond it upgrades are refused with 429 (0 = half the open-file limit)"},
		&cli.IntFlag{Name: "max-websockets-per-ip", Value: conns.MaxWebsocketsPerIP, Sources: cli.EnvVars("ROLLCALL_MAX_WEBSOCKETS_PER_IP"), Usage: "open websockets per client address (IPv6: per /64); beyond it upgrades are refused with 429 (0 = no cap)"},
		&cli.IntFlag{Name: "max-subscriptions-per-connection", Value: conns.MaxSubscriptionsPerConnection, Sources: cli.EnvVars("ROLLCALL_MAX_SUBSCRIPTIONS_PER_CONNECTION"), Usage: "subscriptions running at once on one websocket; one more gets RATE_LIMITED (0 = no cap)"},
		&cli.IntFlag{Name: "max-connections", Value: conns.MaxConnections, Sources: cli.EnvVars("ROLLCALL_MAX_CONNECTIONS"), Usage: "HTTP connections held open besides websockets; at the cap idle keep-alives are closed, then new connections refused with 503 (0 = what the open-file limit leaves)"},
		&cli.DurationFlag{Name: "read-timeout", Value: conns.ReadTimeout, Sources: cli.EnvVars("ROLLCALL_READ_TIMEOUT"), Usage: "time to send a whole request, body included (uploads too)"},
		&cli.DurationFlag{Name: "read-header-timeout", Value: conns.ReadHeaderTimeout, Sources: cli.EnvVars("ROLLCALL_READ_HEADER_TIMEOUT"), Usage: "time to send a request's headers"},
		&cli.DurationFlag{Name: "idle-timeout", Value: conns.IdleTimeout, Sources: cli.EnvVars("ROLLCALL_IDLE_TIMEOUT"), Usage: "a keep-alive connection unused this long is closed"},
		&cli.IntFlag{Name: "import-max-rows", Value: 1_000_000, Sources: cli.EnvVars("ROLLCALL_IMPORT_MAX_ROWS"), Usage: "most data rows in one CSV import"},
		&cli.IntFlag{Name: "scim-max-count", Value: 200, Sources: cli.EnvVars("ROLLCALL_SCIM_MAX_COUNT"), Usage: "most resources in one SCIM list page (count is capped to it)"},
		&cli.DurationFlag{Name: "scim-invite-delay", Value: 5 * time.Second, Sources: cli.EnvVars("ROLLCALL_SCIM_INVITE_DELAY"), Usage: "with scimInviteOnProvision, people SCIM created are invited in one bulk send once provisioning pauses this long"},
		&cli.IntFlag{Name: "import-max-line", Value: 64 << 10, Sources: cli.EnvVars("ROLLCALL_IMPORT_MAX_LINE"), Usage: "longest line of a CSV import, bytes"},
		&cli.DurationFlag{Name: "session-idle", Value: d.SessionIdle, Sources: cli.EnvVars("ROLLCALL_SESSION_IDLE"), Usage: "a session unused this long expires"},
		&cli.DurationFlag{Name: "session-max", Value: d.SessionMax, Sources: cli.EnvVars("ROLLCALL_SESSION_MAX"), Usage: "longest a session lives"},
		&cli.IntFlag{Name: "argon2-memory", Value: int(d.Argon2.MemoryKiB), Sources: cli.EnvVars("ROLLCALL_ARGON2_MEMORY"), Usage: "argon2id memory, KiB"},
		&cli.IntFlag{Name: "argon2-iterations", Value: int(d.Argon2.Iterations), Sources: cli.EnvVars("ROLLCALL_ARGON2_ITERATIONS"), Usage: "argon2id passes"},
		&cli.IntFlag{Name: "hash-concurrency", Sources: cli.EnvVars("ROLLCALL_HASH_CONCURRENCY"), Usage: "most password hashes computed at once; others wait (0 = one per CPU, within 256 MiB of argon2id memory)"},
		&cli.IntFlag{Name: "login-attempts", Value: d.AccountAttempts, Sources: cli.EnvVars("ROLLCALL_LOGIN_ATTEMPTS"), Usage: "sign-in attempts per login per window"},
		&cli.IntFlag{Name: "login-client-failures", Value: d.ClientFailures, Sources: cli.EnvVars("ROLLCALL_LOGIN_CLIENT_FAILURES"), Usage: "failed sign-ins per client address per window"},
		&cli.DurationFlag{Name: "login-window", Value: d.ThrottleWindow, Sources: cli.EnvVars("ROLLCALL_LOGIN_WINDOW"), Usage: "sign-in throttling window"},
		&cli.StringFlag{Name: "pprof-addr", Sources: cli.EnvVars("ROLLCALL_PPROF_ADDR"), Usage: "serve Go's profiler (net/http/pprof) on this separate address, e.g. 127.0.0.1:6060; off when empty"},
		&cli.DurationFlag{Name: "shutdown-timeout", Value: 20 * time.Second, Sources: cli.EnvVars("ROLLCALL_SHUTDOWN_TIMEOUT"), Usage: "time to finish requests on SIGTERM"},
	}, LogFlags()...)
}

// FromCommand reads the serve flags.
func FromCommand(cmd *cli.Command) (Config, error) {
	level, err := ParseLevel(cmd.String("log-level"))
	if err != nil {
		return Config{}, err
	}
	a := auth.DefaultConfig()
	a.SessionIdle = cmd.Duration("session-idle")
	a.SessionMax = cmd.Duration("session-max")
	a.Argon2.MemoryKiB = uint32(cmd.Int("argon2-memory"))
	a.Argon2.Iterations = uint32(cmd.Int("argon2-iterations"))
	a.HashConcurrency = cmd.Int("hash-concurrency")
	a.AccountAttempts = cmd.Int("login-attempts")
	a.ClientFailures = cmd.Int("login-client-failures")
	a.ThrottleWindow = cmd.Duration("login-window")
	retry, err := webhookout.ParseRetry(cmd.String("webhook-retry"))
	if err != nil {
		return Config{}, err
	}
	return Config{
		Addr:        cmd.String("addr"),
		DatabaseURL: cmd.String("database-url"),
		CORSOrigins: listFlag(cmd, "cors-origins"),
		CORSHeaders: listFlag(cmd, "cors-headers"),
		TrustProxy:  cmd.Value("trust-proxy").(int),
		LogLevel:    level,
		LogFormat:   cmd.String("log-format"),
		Bootstrap: Bootstrap{
			Org: cmd.String("bootstrap-org"), Name: cmd.String("bootstrap-org-name"),
			Email: cmd.String("bootstrap-email"), Password: cmd.String("bootstrap-password"),
		},
		Limits: graph.Limits{
			MaxDepth: cmd.Int("max-depth"), MaxComplexity: cmd.Int("max-complexity"), MaxUpload: cmd.Int64("max-upload"),
			MaxDocumentBytes: cmd.Int("max-document-bytes"), MaxTokens: cmd.Int("max-tokens"),
			MaxSelections: cmd.Int("max-selections"), MaxFields: cmd.Int("max-fields"), MaxList: cmd.Int("max-list"),
			OperationTimeout: cmd.Duration("operation-timeout"), ImportTimeout: cmd.Duration("import-timeout"),
			WebsocketWrite: cmd.Duration("websocket-write-timeout"),
		},
		MaxBody:         cmd.Int64("max-body"),
		ImportMaxRows:   cmd.Int("import-max-rows"),
		ImportMaxLine:   cmd.Int("import-max-line"),
		SCIMMaxCount:    cmd.Int("scim-max-count"),
		SCIMInviteDelay: cmd.Duration("scim-invite-delay"),
		ResetPoll:       cmd.Duration("reset-poll"),
		ResetLease:      cmd.Duration("reset-lease"),
		ResetDelay:      cmd.Duration("reset-delay"),
		Auth:            a,
		Webhooks: webhookout.Config{
			Timeout: cmd.Duration("webhook-timeout"), Retry: retry, AllowPrivate: cmd.Bool("webhook-allow-private"),
			Poll: cmd.Duration("webhook-poll"), Lease: cmd.Duration("webhook-lease"),
			Concurrency: cmd.Int("webhook-concurrency"), MaxEndpoints: cmd.Int("webhook-max-endpoints"),
		},
		ShutdownTimeout: cmd.Duration("shutdown-timeout"),
		Persisted: Persisted{
			DocumentsFile: cmd.String("persisted-documents"), Only: cmd.Bool("persisted-only"),
			MaxEntries: cmd.Int("apq-max-entries"), MaxBytes: cmd.Int64("apq-max-bytes"),
			DisableAPQCache: cmd.Int("apq-max-entries") == 0,
		},
		PprofAddr: cmd.String("pprof-addr"),
		Mail: Mail{
			PublicURL: cmd.String("public-url"), InviteLink: cmd.String("link-template-invite"), ResetLink: cmd.String("link-template-reset"),
			Mailer: cmd.String("mailer"), OutboxDir: cmd.String("outbox-dir"), From: cmd.String("mail-from"),
			MailgunDomain: cmd.String("mailgun-domain"), MailgunKey: cmd.String("mailgun-api-key"), MailgunAPIBase: cmd.String("mailgun-api-base"),
			Concurrency: cmd.Int("send-concurrency"), MailgunSigningKey: cmd.String("mailgun-webhook-signing-key"),
			SendRate: cmd.Float("send-rate"), SendLease: cmd.Duration("send-lease"), SendSingly: cmd.Bool("send-singly"),
			SingleWait: cmd.Duration("send-single-wait"),
			SMTP: SMTP{
				URL: cmd.String("smtp-url"), Pool: cmd.Int("smtp-pool"), Timeout: cmd.Duration("smtp-timeout"),
				IdleTimeout: cmd.Duration("smtp-idle-timeout"), MaxPerConnection: cmd.Int("smtp-max-per-connection"),
				DKIMDomain: cmd.String("dkim-domain"), DKIMSelector: cmd.String("dkim-selector"), DKIMKeyFile: cmd.String("dkim-key-file"),
			},
		},
		Conns: server.ConnLimits{
			MaxWebsockets: cmd.Int("max-websockets"), MaxWebsocketsPerIP: cmd.Int("max-websockets-per-ip"),
			MaxSubscriptionsPerConnection: cmd.Int("max-subscriptions-per-connection"), MaxConnections: cmd.Int("max-connections"),
			ReadTimeout: cmd.Duration("read-timeout"), ReadHeaderTimeout: cmd.Duration("read-header-timeout"), IdleTimeout: cmd.Duration("idle-timeout"),
		},
		ReminderInterval: cmd.Duration("reminder-interval"),
		Events: Events{
			Retention: cmd.Duration("event-retention"), PruneInterval: cmd.Duration("event-prune-interval"),
			Poll: cmd.Duration("event-poll"), Buffer: cmd.Int("event-subscriber-buffer"),
		},
	}, nil
}

// trustProxy is the value of --trust-proxy: a count of proxies, or true
// (one) or false (none). As a boolean flag, --trust-proxy alone means one.
type trustProxy int

func (t *trustProxy) Set(s string) error {
	if n, err := strconv.Atoi(s); err == nil && n >= 0 {
		*t = trustProxy(n)
		return nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("trust proxy %q: want true, false or a number of proxies", s)
	}
	*t = 0
	if b {
		*t = 1
	}
	return nil
}

func (t *trustProxy) String() string   { return strconv.Itoa(int(*t)) }
func (t *trustProxy) Get() any         { return int(*t) }
func (t *trustProxy) IsBoolFlag() bool { return true }

// ParseLevel reads a log level name.
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return l, fmt.Errorf("log level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

// NewLogger returns a logger writing to stderr in format ("text" or "json").
func NewLogger(level slog.Level, format string) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

// listFlag is a comma-separated flag's entries, trimmed, without the empty
// ones.
func listFlag(cmd *cli.Command, name string) []string {
	var out []string
	for _, v := range cmd.StringSlice(name) {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}
