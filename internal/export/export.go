// Package export serves an organisation's people as a CSV file
// (GET /export/users.csv), streamed in keyset batches so memory stays flat
// however many people there are.
package export

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/predicate"
	"github.com/rollcall/rollcall/ent/role"
	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/apperr"
	"github.com/rollcall/rollcall/internal/clock"
	"github.com/rollcall/rollcall/internal/importer"
	"github.com/rollcall/rollcall/internal/people"
	"github.com/rollcall/rollcall/internal/perm"
	"github.com/rollcall/rollcall/internal/viewer"
)

// batchSize is how many people one keyset query reads.
const batchSize = 2000

// bufferSize is the write buffer between the CSV encoder and the response.
const bufferSize = 64 << 10

// statusExpired selects INVITED people whose invitation is past its expiry.
const statusExpired = "EXPIRED"

// header returns the column names, in order.
func header() []string {
	return []string{
		"id", "email", "first_name", "last_name", "username", "role", "status", "products",
		"invited_at", "invitation_count", "accepted_at", "last_login_at", "last_email_status", "created_at",
		"locale",
	}
}

// columns are the user fields the export reads (never the password hash).
func columns() []string {
	return []string{
		user.FieldID, user.FieldEmail, user.FieldFirstName, user.FieldLastName, user.FieldUsername,
		user.FieldRoleID, user.FieldStatus, user.FieldProducts, user.FieldInvitedAt, user.FieldInvitationCount,
		user.FieldAcceptedAt, user.FieldLastLoginAt, user.FieldLastEmailStatus, user.FieldCreatedAt,
		user.FieldLocale,
	}
}

// handler serves the people of the viewer's organisation as CSV.
type handler struct {
	client *ent.Client
	clock  clock.Clock
	log    *slog.Logger
}

// New returns the export handler. It expects the viewer in the request
// context (the server's authenticate middleware) and needs people.read.
func New(client *ent.Client, clk clock.Clock, log *slog.Logger) http.Handler {
	return &handler{client: client, clock: clk, log: log}
}

// query is an export request's filters, resolved against the organisation.
type query struct {
	where []predicate.User
	slug  string
	roles map[int]string // role id -> name
	bom   bool           // start with a UTF-8 byte order mark (bom=1), for Excel
}

// ServeHTTP answers GET (and HEAD) /export/users.csv.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")

	now := h.clock.Now()
	q, err := h.prepare(ctx, r.URL.Query(), now)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	first, err := h.batch(ctx, q, 0)
	if err != nil {
		h.fail(w, r, err)
		return
	}

	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="users-%s-%s.csv"`, q.slug, now.UTC().Format(time.DateOnly)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	rows, err := h.stream(ctx, w, q, first)
	if err != nil {
		// The status line is gone: all that is left is to drop the
		// connection, so the client sees an incomplete response rather
		// than a file that merely looks short.
		level := slog.LevelError
		if ctx.Err() != nil {
			level = slog.LevelWarn // the client went away
		}
		h.log.LogAttrs(ctx, level, "export interrupted", slog.Int("rows", rows), slog.String("error", err.Error()))
		panic(http.ErrAbortHandler)
	}
	h.log.LogAttrs(ctx, slog.LevelDebug, "export finished", slog.Int("rows", rows))
}

// prepare checks the viewer and parses the filters.
func (h *handler) prepare(ctx context.Context, params url.Values, now time.Time) (*query, error) {
	if err := viewer.Require(ctx, perm.PeopleRead); err != nil {
		return nil, err
	}
	v := viewer.FromContext(ctx)
	if v.MustChangePassword {
		return nil, apperr.New(apperr.Forbidden, "choose a new password first (changePassword)")
	}
	q := &query{roles: map[int]string{}}
	if raw := strings.TrimSpace(params.Get("bom")); raw != "" {
		bom, err := strconv.ParseBool(raw)
		if err != nil {
			return nil, apperr.Invalid("bom", fmt.Sprintf("bom is %q: use 1 for a byte order mark (Excel), 0 or nothing for none", raw))
		}
		q.bom = bom
	}
	if p, err := statusFilter(params["status"], now); err != nil {
		return nil, err
	} else if p != nil {
		q.where = append(q.where, p)
	}
	if search := strings.TrimSpace(params.Get("search")); search != "" {
		if len(search) > people.MaxSearchLength {
			return nil, apperr.Invalid("search", fmt.Sprintf("search is longer than %d characters", people.MaxSearchLength))
		}
		q.where = append(q.where, people.Matching(search))
	}

	roles, err := h.client.Role.Query().Select(role.FieldID, role.FieldName).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("export: read roles: %w", err)
	}
	for _, ro := range roles {
		q.roles[ro.ID] = ro.Name
	}
	if p, err := roleFilter(params["role"], roles); err != nil {
		return nil, err
	} else if p != nil {
		q.where = append(q.where, p)
	}

	o, err := h.client.Organization.Get(ctx, v.OrgID)
	if err != nil {
		return nil, fmt.Errorf("export: read organization: %w", err)
	}
	q.slug = o.Slug
	return q, nil
}

// statusFilter turns the status parameters into one predicate (nil: all).
// EXPIRED is INVITED with the invitation past its expiry at now; INVITED
// alone includes the expired ones.
func statusFilter(values []string, now time.Time) (predicate.User, error) {
	var statuses []user.Status
	expired := false
	for _, raw := range values {
		s := strings.ToUpper(strings.TrimSpace(raw))
		switch {
		case s == "":
			continue
		case s == statusExpired:
			expired = true
		case user.StatusValidator(user.Status(s)) == nil:
			statuses = append(statuses, user.Status(s))
		default:
			return nil, apperr.Invalid("status", fmt.Sprintf("unknown status %q (expected NOT_INVITED, INVITED, EXPIRED, ACTIVE or DEACTIVATED)", raw))
		}
	}
	var ps []predicate.User
	if len(statuses) > 0 {
		ps = append(ps, user.StatusIn(statuses...))
	}
	if expired {
		ps = append(ps, people.InviteExpired(now, true))
	}
	switch len(ps) {
	case 0:
		return nil, nil
	case 1:
		return ps[0], nil
	default:
		return user.Or(ps...), nil
	}
}

// roleFilter turns role names (any case) into a predicate on role ids
// (nil: all). A name no role carries is bad input.
func roleFilter(names []string, roles []*ent.Role) (predicate.User, error) {
	var ids []int
	for _, raw := range names {
		name := strings.TrimSpace(raw)
		if name == "" {
			continue
		}
		found := false
		for _, ro := range roles {
			if strings.EqualFold(ro.Name, name) {
				ids = append(ids, ro.ID)
				found = true
			}
		}
		if !found {
			return nil, apperr.Invalid("role", fmt.Sprintf("unknown role %q", raw))
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	return user.RoleIDIn(ids...), nil
}

// batch reads the next people after id last, in id order.
func (h *handler) batch(ctx context.Context, q *query, last int) ([]*ent.User, error) {
	users, err := h.client.User.Query().
		Where(q.where...).
		Where(user.IDGT(last)).
		Order(ent.Asc(user.FieldID)).
		Limit(batchSize).
		Select(columns()...).
		All(ctx)
	if err != nil {
		return nil, fmt.Errorf("export: read people after %d: %w", last, err)
	}
	return users, nil
}

// stream writes the header and every batch, flushing after each, and
// returns how many people it wrote.
func (h *handler) stream(ctx context.Context, w http.ResponseWriter, q *query, users []*ent.User) (int, error) {
	rc := http.NewResponseController(w)
	buf := bufio.NewWriterSize(w, bufferSize)
	cw := csv.NewWriter(buf) // reuses buf: it is already large enough
	flush := func() error {
		cw.Flush()
		if err := cw.Error(); err != nil {
			return fmt.Errorf("export: write: %w", err)
		}
		if err := rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return fmt.Errorf("export: flush: %w", err)
		}
		return nil
	}

	rows := 0
	if q.bom {
		// Excel reads a CSV file as the system's code page unless it
		// starts with a byte order mark; the importer skips it.
		if _, err := buf.WriteString("\uFEFF"); err != nil {
			return rows, fmt.Errorf("export: write: %w", err)
		}
	}
	if err := cw.Write(header()); err != nil {
		return rows, fmt.Errorf("export: write header: %w", err)
	}
	record := make([]string, 0, len(header()))
	for {
		// Read the next batch while this one is written. The channel is
		// buffered, so the reader never outlives the request for long: the
		// request's context ends its query when the handler returns.
		var next chan fetched
		if len(users) == batchSize {
			next = make(chan fetched, 1)
			last := users[len(users)-1].ID
			go func() {
				u, err := h.batch(ctx, q, last)
				next <- fetched{u, err}
			}()
		}
		for _, u := range users {
			record = appendRecord(record[:0], u, q.roles)
			if err := cw.Write(record); err != nil {
				return rows, fmt.Errorf("export: write row: %w", err)
			}
			rows++
		}
		if err := flush(); err != nil {
			return rows, err
		}
		if next == nil {
			return rows, nil
		}
		f := <-next
		if f.err != nil {
			return rows, f.err
		}
		users = f.users
	}
}

// fetched is a batch read ahead.
type fetched struct {
	users []*ent.User
	err   error
}

// appendRecord appends u's cells to rec, each text cell behind the formula
// guard the importer takes off again (importer.Guard).
func appendRecord(rec []string, u *ent.User, roles map[int]string) []string {
	status := ""
	if u.LastEmailStatus != nil {
		status = string(*u.LastEmailStatus)
	}
	return append(rec,
		strconv.Itoa(u.ID),
		neutralize(u.Email),
		neutralize(deref(u.FirstName)),
		neutralize(deref(u.LastName)),
		neutralize(deref(u.Username)),
		neutralize(roles[u.RoleID]),
		neutralize(string(u.Status)),
		neutralize(strings.Join(u.Products, "|")),
		formatTime(u.InvitedAt),
		strconv.Itoa(u.InvitationCount),
		formatTime(u.AcceptedAt),
		formatTime(u.LastLoginAt),
		neutralize(status),
		formatTime(&u.CreatedAt),
		neutralize(deref(u.Locale)),
	)
}

// neutralize guards a cell against formula injection: behind an apostrophe
// when a spreadsheet would run it (see importer.Guard, whose apostrophe
// importer.Unguard takes off again on import).
func neutralize(s string) string { return importer.Guard(s) }

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// formatTime writes t in RFC 3339 in UTC, to the second (a fraction is
// dropped); empty when t is nil.
func formatTime(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// fail writes err as a GraphQL-shaped JSON error before anything else was
// written; unexpected errors are logged and answered INTERNAL.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	e, ok := apperr.As(err)
	if !ok {
		h.log.ErrorContext(r.Context(), "export failed", slog.String("error", err.Error()))
		e = apperr.New(apperr.Internal, "internal error")
	}
	status := http.StatusInternalServerError
	switch e.Code {
	case apperr.Unauthenticated:
		status = http.StatusUnauthorized
		w.Header().Set("WWW-Authenticate", "Bearer")
	case apperr.Forbidden:
		status = http.StatusForbidden
	case apperr.BadUserInput:
		status = http.StatusBadRequest
	case apperr.NotFound:
		status = http.StatusNotFound
	case apperr.Internal:
	default:
		h.log.ErrorContext(r.Context(), "export failed", slog.String("error", err.Error()))
		e = apperr.New(apperr.Internal, "internal error")
	}
	ext := map[string]any{"code": e.Code}
	if e.Field != "" {
		ext["field"] = e.Field
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"errors": []any{map[string]any{"message": e.Message, "extensions": ext}},
	})
}
