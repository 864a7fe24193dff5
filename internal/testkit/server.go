package testkit

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/role"
	"github.com/rollcall/rollcall/ent/schema/enum"
	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/graph"
	"github.com/rollcall/rollcall/internal/app"
	"github.com/rollcall/rollcall/internal/auth"
	"github.com/rollcall/rollcall/internal/clock"
	"github.com/rollcall/rollcall/internal/config"
	"github.com/rollcall/rollcall/internal/org"
)

// Epoch is where every test clock starts.
var Epoch = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// Server is a Rollcall instance on a fresh database, served over loopback
// HTTP by the real handler.
type Server struct {
	*app.App
	URL         string
	Clock       *clock.Manual
	OutboxDir   string
	DatabaseURL string
}

// Config returns the configuration tests run with: the defaults, but cheap
// password hashing.
func Config(databaseURL string) config.Config {
	a := auth.DefaultConfig()
	a.Argon2 = auth.Argon2Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}
	return config.Config{
		Addr:            "127.0.0.1:0",
		DatabaseURL:     databaseURL,
		LogLevel:        slog.LevelInfo,
		Bootstrap:       config.Bootstrap{Org: "default", Email: "owner@example.com", Password: OwnerPassword},
		Limits:          graph.DefaultLimits,
		MaxBody:         10 << 20,
		Auth:            a,
		ShutdownTimeout: 5 * time.Second,
		Mail:            config.Mail{Mailer: "outbox", From: "rollcall@example.net", Concurrency: 4},
		ImportMaxRows:   1_000_000,
		ImportMaxLine:   64 << 10,
	}
}

// OwnerPassword is the password of every Owner the kit creates.
const OwnerPassword = "correct horse battery staple"

// Logger returns a discarding logger, or one writing to stderr when
// ROLLCALL_TEST_LOG is set.
func Logger() *slog.Logger {
	if os.Getenv("ROLLCALL_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// NewServer starts Rollcall on a new database; modify adjusts the config.
func NewServer(t testing.TB, modify ...func(*config.Config)) *Server {
	t.Helper()
	return NewServerLogging(t, Logger(), modify...)
}

// NewServerLogging is NewServer with the server logging to log.
func NewServerLogging(t testing.TB, log *slog.Logger, modify ...func(*config.Config)) *Server {
	t.Helper()
	// Listen first, so links in emails can point at this server.
	ts := httptest.NewUnstartedServer(nil)
	url := "http://" + ts.Listener.Addr().String()
	cfg := Config(DatabaseURL(t))
	cfg.Mail.PublicURL = url
	cfg.Mail.OutboxDir = t.TempDir()
	for _, m := range modify {
		m(&cfg)
	}
	ctx := context.Background()
	clk := clock.NewManual(Epoch)
	a, err := app.New(ctx, cfg, log, clk)
	if err != nil {
		t.Fatalf("start app: %v", err)
	}
	if err := a.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	if err := a.Bootstrap(ctx, io.Discard); err != nil {
		t.Fatalf("bootstrap: %v", err)
	}
	return serve(t, ts, a, cfg, clk, true)
}

// serve starts a's workers (when start is set) and serves a on ts.
func serve(t testing.TB, ts *httptest.Server, a *app.App, cfg config.Config, clk *clock.Manual, start bool) *Server {
	if start {
		a.Start()
	}
	ts.Config.Handler = a.Handler()
	ts.Start()
	t.Cleanup(func() {
		ts.Close()
		a.Close()
	})
	return &Server{App: a, URL: "http://" + ts.Listener.Addr().String(), Clock: clk, OutboxDir: cfg.Mail.OutboxDir, DatabaseURL: cfg.DatabaseURL}
}

// Replica starts another Rollcall instance on s's database, with s's clock
// and outbox, as a second replica would be; modify adjusts its config. With
// start false it serves requests but runs no workers (a replica whose
// workers are down).
func (s *Server) Replica(t testing.TB, start bool, modify ...func(*config.Config)) *Server {
	t.Helper()
	ts := httptest.NewUnstartedServer(nil)
	cfg := Config(s.DatabaseURL)
	cfg.Mail.PublicURL = "http://" + ts.Listener.Addr().String()
	cfg.Mail.OutboxDir = s.OutboxDir
	for _, m := range modify {
		m(&cfg)
	}
	a, err := app.New(context.Background(), cfg, Logger(), s.Clock)
	if err != nil {
		t.Fatalf("start replica: %v", err)
	}
	return serve(t, ts, a, cfg, s.Clock, start)
}

// Org is an organisation created for a test, with its Owner and roles.
type Org struct {
	*ent.Organization
	Owner *ent.User
	Roles map[string]*ent.Role
}

// System returns a context that bypasses privacy, for seeding.
func System() context.Context { return auth.AsSystem(context.Background()) }

// CreateOrg adds an organisation whose Owner is owner@<slug>.test with
// OwnerPassword.
func (s *Server) CreateOrg(t testing.TB, slug string) *Org {
	t.Helper()
	created, err := s.Orgs.Create(context.Background(), org.CreateInput{
		Slug: slug, Name: slug, OwnerEmail: "owner@" + slug + ".test", OwnerPassword: OwnerPassword,
	})
	if err != nil {
		t.Fatalf("create org %s: %v", slug, err)
	}
	roles, err := s.DB.Client.Role.Query().Where(role.OrganizationID(created.Organization.ID)).All(System())
	if err != nil {
		t.Fatalf("read roles: %v", err)
	}
	o := &Org{Organization: created.Organization, Owner: created.Owner, Roles: map[string]*ent.Role{}}
	for _, r := range roles {
		o.Roles[r.Name] = r
	}
	return o
}

// Person describes a person to seed. Zero values take sensible defaults:
// role Member, status NOT_INVITED, no password.
type Person struct {
	Email           string
	Username        string
	FirstName       string
	LastName        string
	Role            string
	Status          user.Status
	Password        string
	InvitedAt       *time.Time
	InviteExpiresAt *time.Time
	LastLoginAt     *time.Time
	LastEmailStatus enum.DeliveryStatus
	CreatedAt       time.Time
	Locale          string // a canonical BCP 47 tag, or "" for none
}

// AddPeople seeds people into o, directly through ent.
func (s *Server) AddPeople(t testing.TB, o *Org, people ...Person) []*ent.User {
	t.Helper()
	creates := make([]*ent.UserCreate, len(people))
	for i, p := range people {
		r := o.Roles[p.Role]
		if r == nil {
			r = o.Roles["Member"]
		}
		status := p.Status
		if status == "" {
			status = user.StatusNotInvited
		}
		created := p.CreatedAt
		if created.IsZero() {
			created = s.Clock.Now()
		}
		c := s.DB.Client.User.Create().SetOrganizationID(o.ID).SetRoleID(r.ID).
			SetEmail(p.Email).SetEmailNormalized(toLower(p.Email)).SetStatus(status).
			SetCreatedAt(created).SetUpdatedAt(created).
			SetNillableInvitedAt(p.InvitedAt).SetNillableInviteExpiresAt(p.InviteExpiresAt).
			SetNillableLastLoginAt(p.LastLoginAt)
		if p.Username != "" {
			c.SetUsername(p.Username).SetUsernameNormalized(toLower(p.Username))
		}
		if p.FirstName != "" {
			c.SetFirstName(p.FirstName)
		}
		if p.LastName != "" {
			c.SetLastName(p.LastName)
		}
		if p.LastEmailStatus != "" {
			c.SetLastEmailStatus(p.LastEmailStatus)
		}
		if p.Locale != "" {
			c.SetLocale(p.Locale)
		}
		if p.Password != "" {
			hash, err := s.Auth.HashPassword(context.Background(), p.Password)
			if err != nil {
				t.Fatalf("hash password: %v", err)
			}
			c.SetPasswordHash(hash)
		}
		creates[i] = c
	}
	users, err := s.DB.Client.User.CreateBulk(creates...).Save(System())
	if err != nil {
		t.Fatalf("seed people: %v", err)
	}
	return users
}

func toLower(s string) string { return string(bytes.ToLower([]byte(s))) }

// Response is a GraphQL response as a client sees it.
type Response struct {
	Status int
	Data   json.RawMessage `json:"data"`
	Errors []Error         `json:"errors"`
}

// Error is one GraphQL error.
type Error struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

// Code is the error's extensions.code.
func (e Error) Code() string { s, _ := e.Extensions["code"].(string); return s }

// Code returns the first error's code, or "" when there is none.
func (r *Response) Code() string {
	if len(r.Errors) == 0 {
		return ""
	}
	return r.Errors[0].Code()
}

// Decode unmarshals data into v, failing the test on GraphQL errors.
func (r *Response) Decode(t testing.TB, v any) {
	t.Helper()
	if len(r.Errors) > 0 {
		t.Fatalf("unexpected GraphQL errors: %+v", r.Errors)
	}
	if err := json.Unmarshal(r.Data, v); err != nil {
		t.Fatalf("decode %s: %v", r.Data, err)
	}
}

// Post sends a raw body to /graphql.
func (s *Server) Post(t testing.TB, token, contentType string, body []byte) *Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL+"/graphql", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST /graphql: %v", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := &Response{Status: resp.StatusCode}
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatalf("response is not JSON (%d): %s", resp.StatusCode, raw)
	}
	return out
}

// Query runs a GraphQL operation as the holder of token ("" for anonymous).
func (s *Server) Query(t testing.TB, token, query string, vars map[string]any) *Response {
	t.Helper()
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		t.Fatal(err)
	}
	return s.Post(t, token, "application/json", body)
}

const loginMutation = `mutation($in: LoginInput!) { login(input: $in) { token user { id email } } }`

// Login signs in and returns the bearer token, failing the test otherwise.
func (s *Server) Login(t testing.TB, orgSlug, login, password string) string {
	t.Helper()
	in := map[string]any{"login": login, "password": password}
	if orgSlug != "" {
		in["organization"] = orgSlug
	}
	var data struct {
		Login struct{ Token string }
	}
	s.Query(t, "", loginMutation, map[string]any{"in": in}).Decode(t, &data)
	if data.Login.Token == "" {
		t.Fatal("login returned no token")
	}
	return data.Login.Token
}

// Upload runs a GraphQL multipart request (the upload spec) with one file
// bound to the variable path fileVar, e.g. "input.file".
func (s *Server) Upload(t testing.TB, token, query string, vars map[string]any, fileVar, filename string, content []byte) *Response {
	t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	ops, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		t.Fatal(err)
	}
	_ = w.WriteField("operations", string(ops))
	_ = w.WriteField("map", `{"0": ["variables.`+fileVar+`"]}`)
	part, err := w.CreateFormFile("0", filename)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = part.Write(content)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return s.Post(t, token, w.FormDataContentType(), body.Bytes())
}
