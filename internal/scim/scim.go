// Package scim serves SCIM 2.0 (RFC 7643, RFC 7644) under /scim/v2: an
// organisation's identity provider (Okta, Microsoft Entra ID, …) creates,
// updates, deactivates and groups its people here with an API key holding
// scim.provision. It holds no rule of its own: people are created by the
// invite service and changed by the people service, under the same
// permissions, tenancy, audit log and events as GraphQL. What is SCIM's
// alone — the userName and externalId the provider gave, the link a DELETE
// ends, and groups — it keeps beside the person, in the same audit log.
package scim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/internal/apperr"
	"github.com/rollcall/rollcall/internal/audit"
	"github.com/rollcall/rollcall/internal/auth"
	"github.com/rollcall/rollcall/internal/clock"
	"github.com/rollcall/rollcall/internal/event"
	"github.com/rollcall/rollcall/internal/invite"
	"github.com/rollcall/rollcall/internal/people"
	"github.com/rollcall/rollcall/internal/perm"
	"github.com/rollcall/rollcall/internal/viewer"
)

// Prefix is where SCIM is mounted.
const Prefix = "/scim/v2"

// ContentType is SCIM's media type (RFC 7644 §3.1).
const ContentType = "application/scim+json"

// The schema URNs.
const (
	schemaUser     = "urn:ietf:params:scim:schemas:core:2.0:User"
	schemaGroup    = "urn:ietf:params:scim:schemas:core:2.0:Group"
	schemaEnter    = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	schemaList     = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	schemaPatch    = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	schemaError    = "urn:ietf:params:scim:api:messages:2.0:Error"
	schemaSPConfig = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
	schemaResType  = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
	schemaSchema   = "urn:ietf:params:scim:schemas:core:2.0:Schema"
)

// Config holds SCIM's limits.
type Config struct {
	// MaxBody is the most bytes a request body may have (413 beyond).
	MaxBody int64
	// MaxCount caps a list's count (RFC 7644 §3.4.2.4); default 200.
	MaxCount int
	// Timeout bounds each request's work; default 30s.
	Timeout time.Duration
	// PublicURL is the base of meta.location (e.g. https://rollcall.example.com).
	PublicURL string
}

// Deps are the services SCIM maps onto.
type Deps struct {
	Client  *ent.Client
	Clock   clock.Clock
	Auth    *auth.Service
	Invites *invite.Service
	Admin   *people.Admin
	Audit   *audit.Log
	Events  *event.Log
	Log     *slog.Logger
	Config  Config
	// Invited, when set, is told of each organisation whose new SCIM
	// people wait for an invitation (see Inviter).
	Invited func(orgID int)
}

// Handler serves /scim/v2.
type Handler struct {
	Deps
	mux       *http.ServeMux
	newPeople *grouper // new people's POSTs, written together (batch.go)
}

// New returns the SCIM handler.
func New(d Deps) *Handler {
	if d.Config.MaxCount <= 0 {
		d.Config.MaxCount = 200
	}
	if d.Config.MaxBody <= 0 {
		d.Config.MaxBody = 1 << 20
	}
	if d.Config.Timeout <= 0 {
		d.Config.Timeout = 30 * time.Second
	}
	d.Config.PublicURL = strings.TrimRight(d.Config.PublicURL, "/")
	h := &Handler{Deps: d, mux: http.NewServeMux(), newPeople: newGrouper()}
	m := h.mux
	m.HandleFunc("GET "+Prefix+"/ServiceProviderConfig", h.serviceProviderConfig)
	m.HandleFunc("GET "+Prefix+"/ResourceTypes", h.resourceTypes)
	m.HandleFunc("GET "+Prefix+"/ResourceTypes/{id}", h.resourceType)
	m.HandleFunc("GET "+Prefix+"/Schemas", h.schemas)
	m.HandleFunc("GET "+Prefix+"/Schemas/{id}", h.schema)
	m.HandleFunc("GET "+Prefix+"/Users", h.listUsers)
	m.HandleFunc("POST "+Prefix+"/Users", h.createUser)
	m.HandleFunc("GET "+Prefix+"/Users/{id}", h.getUser)
	m.HandleFunc("PUT "+Prefix+"/Users/{id}", h.replaceUser)
	m.HandleFunc("PATCH "+Prefix+"/Users/{id}", h.patchUser)
	m.HandleFunc("DELETE "+Prefix+"/Users/{id}", h.deleteUser)
	m.HandleFunc("GET "+Prefix+"/Groups", h.listGroups)
	m.HandleFunc("POST "+Prefix+"/Groups", h.createGroup)
	m.HandleFunc("GET "+Prefix+"/Groups/{id}", h.getGroup)
	m.HandleFunc("PUT "+Prefix+"/Groups/{id}", h.replaceGroup)
	m.HandleFunc("PATCH "+Prefix+"/Groups/{id}", h.patchGroup)
	m.HandleFunc("DELETE "+Prefix+"/Groups/{id}", h.deleteGroup)
	return h
}

// ServeHTTP authenticates the request (an API key holding scim.provision),
// bounds its body and time, and routes it.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx, err := h.authorize(r)
	if err != nil {
		writeError(w, err)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, h.Config.Timeout)
	defer cancel()
	if r.ContentLength > h.Config.MaxBody {
		writeError(w, &Error{Status: http.StatusRequestEntityTooLarge, Detail: fmt.Sprintf("the request body exceeds %d bytes", h.Config.MaxBody)})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, h.Config.MaxBody)
	r = r.WithContext(ctx)
	if _, pattern := h.mux.Handler(r); pattern == "" {
		if allowed := h.allowed(r); len(allowed) > 0 {
			w.Header().Set("Allow", strings.Join(allowed, ", "))
			writeError(w, &Error{Status: http.StatusMethodNotAllowed, Detail: r.Method + " is not allowed here; use " + strings.Join(allowed, ", ")})
			return
		}
		writeError(w, &Error{Status: http.StatusNotFound, Detail: "no such SCIM endpoint: " + r.Method + " " + r.URL.Path})
		return
	}
	h.mux.ServeHTTP(w, r)
}

// allowed lists the methods r's path takes, if any.
func (h *Handler) allowed(r *http.Request) []string {
	var out []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := h.mux.Handler(probe); pattern != "" {
			out = append(out, m)
		}
	}
	return out
}

// authorize returns the request's context carrying the SCIM viewer: the
// API key, acting with its creator's current permissions (a group can give
// only roles its creator could give). Anything but a working API key with
// scim.provision is refused.
func (h *Handler) authorize(r *http.Request) (context.Context, *Error) {
	ctx := r.Context()
	scheme, tok, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	tok = strings.TrimSpace(tok)
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return nil, &Error{Status: http.StatusUnauthorized, Detail: `send "Authorization: Bearer <API key>" with an API key holding scim.provision`}
	}
	v, err := h.Auth.Authenticate(ctx, tok)
	if errors.Is(err, auth.ErrInvalidSession) {
		return nil, &Error{Status: http.StatusUnauthorized, Detail: "invalid, expired or revoked API key"}
	}
	if err != nil {
		h.Log.ErrorContext(ctx, "authenticate SCIM request", slog.String("error", err.Error()))
		return nil, &Error{Status: http.StatusServiceUnavailable, Detail: "internal error"}
	}
	if !v.IsKey() {
		return nil, &Error{Status: http.StatusForbidden, Detail: "SCIM takes an API key holding scim.provision, not a session"}
	}
	if !v.Can(perm.ScimProvision) {
		return nil, &Error{Status: http.StatusForbidden, Detail: "the API key does not hold scim.provision"}
	}
	sv := *v
	sv.Permissions = slices.Clone(v.KeyCreatorPermissions)
	return viewer.NewContext(ctx, &sv), nil
}

// Error is a SCIM error (RFC 7644 §3.12).
type Error struct {
	Status   int
	ScimType string // invalidFilter, invalidValue, uniqueness, mutability, invalidPath, noTarget, invalidSyntax, tooMany…
	Detail   string
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.ScimType, e.Detail) }

func badRequest(scimType, format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, ScimType: scimType, Detail: fmt.Sprintf(format, args...)}
}

func notFound(what, id string) *Error {
	return &Error{Status: http.StatusNotFound, Detail: fmt.Sprintf("%s %q not found", what, id)}
}

// toError maps a service's error to SCIM's: apperr codes to statuses, the
// last-Owner refusal to 400 mutability, a taken address or name to 409
// uniqueness; anything else is logged and is a 500 without internals.
func (h *Handler) toError(ctx context.Context, err error) *Error {
	var se *Error
	if errors.As(err, &se) {
		return se
	}
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return &Error{Status: http.StatusRequestEntityTooLarge, Detail: fmt.Sprintf("the request body exceeds %d bytes", tooBig.Limit)}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &Error{Status: http.StatusServiceUnavailable, Detail: "the request took too long"}
	}
	if e, ok := apperr.As(err); ok {
		switch e.Code {
		case apperr.Unauthenticated:
			return &Error{Status: http.StatusUnauthorized, Detail: e.Message}
		case apperr.Forbidden:
			return &Error{Status: http.StatusForbidden, Detail: e.Message}
		case apperr.NotFound:
			return &Error{Status: http.StatusNotFound, Detail: e.Message}
		case apperr.Conflict:
			if strings.Contains(e.Message, "last Owner") {
				return &Error{Status: http.StatusBadRequest, ScimType: "mutability", Detail: e.Message}
			}
			return &Error{Status: http.StatusConflict, ScimType: "uniqueness", Detail: e.Message}
		case apperr.BadUserInput:
			d := e.Message
			if e.Field != "" {
				d = e.Field + ": " + d
			}
			return &Error{Status: http.StatusBadRequest, ScimType: "invalidValue", Detail: d}
		case apperr.RateLimited:
			return &Error{Status: http.StatusTooManyRequests, Detail: e.Message}
		}
	}
	if ent.IsConstraintError(err) {
		return &Error{Status: http.StatusConflict, ScimType: "uniqueness", Detail: "the value is taken by another resource"}
	}
	h.Log.ErrorContext(ctx, "SCIM request failed", slog.String("error", err.Error()))
	return &Error{Status: http.StatusInternalServerError, Detail: "internal error"}
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	writeError(w, h.toError(r.Context(), err))
}

func writeError(w http.ResponseWriter, e *Error) {
	body := map[string]any{"schemas": []string{schemaError}, "status": fmt.Sprint(e.Status), "detail": e.Detail}
	if e.ScimType != "" {
		body["scimType"] = e.ScimType
	}
	if e.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="scim"`)
	}
	writeJSON(w, e.Status, body)
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", ContentType)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// readBody decodes a JSON object body (numbers kept as json.Number).
func readBody(r *http.Request) (map[string]any, error) {
	dec := json.NewDecoder(r.Body)
	dec.UseNumber()
	var body map[string]any
	if err := dec.Decode(&body); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, err
		}
		return nil, badRequest("invalidSyntax", "the body is not a JSON object: %v", err)
	}
	if dec.More() {
		return nil, badRequest("invalidSyntax", "the body holds more than one JSON value")
	}
	if body == nil {
		return nil, badRequest("invalidSyntax", "the body must be a JSON object")
	}
	return body, nil
}
