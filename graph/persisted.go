package graph

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/rollcall/rollcall/internal/apperr"
	"github.com/rollcall/rollcall/internal/persisted"
)

// PersistedQueries configures persisted documents: Apollo's automatic
// persisted queries (a client sends a document's SHA-256 instead of the
// document, and registers the document once when the hash is unknown) and
// the operator's manifest.
type PersistedQueries struct {
	// Cache holds the registered documents (shared by the replicas); nil
	// turns APQ off.
	Cache APQCache
	// Manifest holds the operator's documents by hash.
	Manifest map[string]string
	// Only runs nothing but the manifest's documents, sent by hash or in
	// full; the rest is PERSISTED_QUERY_NOT_ALLOWED and nothing is
	// registered.
	Only bool
}

// APQCache is where registered documents are kept.
type APQCache interface {
	Get(ctx context.Context, hash string) (doc string, ok bool, err error)
	Add(ctx context.Context, hash, doc string) error
}

// persistedLoad fills in the document of a request that sends a hash
// (extensions.persistedQuery.sha256Hash), or refuses the request. It runs
// before the limits guard and validation.
type persistedLoad struct {
	p   PersistedQueries
	log *slog.Logger
}

// persistedRegister adds a document sent with its hash to the cache, once
// it has been parsed, checked against the limits and validated.
type persistedRegister struct {
	p   PersistedQueries
	log *slog.Logger
}

var (
	_ graphql.OperationParameterMutator = persistedLoad{}
	_ graphql.OperationContextMutator   = persistedRegister{}
)

func (persistedLoad) ExtensionName() string                       { return "PersistedQueryLoad" }
func (persistedLoad) Validate(graphql.ExecutableSchema) error     { return nil }
func (persistedRegister) ExtensionName() string                   { return "PersistedQueryRegister" }
func (persistedRegister) Validate(graphql.ExecutableSchema) error { return nil }

// loadedKey marks, in a request's extensions, a document read from the
// manifest or the cache (not to be registered again).
const loadedKey = "rollcall.loaded"

// persistedHash reads extensions.persistedQuery: its hash, whether it is
// there at all, and an error when it is malformed.
func persistedHash(ext map[string]any) (hash string, present bool, err *gqlerror.Error) {
	raw, ok := ext["persistedQuery"]
	if !ok {
		return "", false, nil
	}
	pq, ok := raw.(map[string]any)
	if !ok {
		return "", true, apqError(apperr.BadUserInput, "extensions.persistedQuery must be an object {version: 1, sha256Hash}")
	}
	if v, ok := pq["version"]; ok && fmt.Sprint(v) != "1" {
		return "", true, apqError(apperr.BadUserInput, "unsupported persisted query version: want 1")
	}
	hash, _ = pq["sha256Hash"].(string)
	if len(hash) != sha256.Size*2 {
		return "", true, apqError(apperr.BadUserInput, "extensions.persistedQuery.sha256Hash must be 64 hex digits")
	}
	return hash, true, nil
}

func apqError(code apperr.Code, message string) *gqlerror.Error {
	return refusal(apperr.New(code, message))
}

func (l persistedLoad) MutateOperationParameters(ctx context.Context, params *graphql.RawParams) *gqlerror.Error {
	hash, present, bad := persistedHash(params.Extensions)
	if bad != nil {
		return bad
	}
	if l.p.Only {
		return l.onlyManifest(params, hash, present)
	}
	if !present {
		return nil
	}
	if params.Query != "" {
		if persisted.Hash(params.Query) != hash {
			return apqError(apperr.BadUserInput, "extensions.persistedQuery.sha256Hash is not the SHA-256 of the query")
		}
		return nil // registered once validated (persistedRegister)
	}
	if doc, ok := l.p.Manifest[hash]; ok {
		l.loaded(params, doc)
		return nil
	}
	if l.p.Cache == nil {
		return apqError(apperr.PersistedQueryNotFound, "PersistedQueryNotFound")
	}
	doc, ok, err := l.p.Cache.Get(ctx, hash)
	if err != nil {
		l.log.ErrorContext(ctx, "read persisted query", slog.String("error", err.Error()))
		return apqError(apperr.Internal, "internal error")
	}
	if !ok {
		return apqError(apperr.PersistedQueryNotFound, "PersistedQueryNotFound")
	}
	l.loaded(params, doc)
	return nil
}

// onlyManifest lets a request run only a manifest document: by its hash,
// or sent in full, identical.
func (l persistedLoad) onlyManifest(params *graphql.RawParams, hash string, present bool) *gqlerror.Error {
	if params.Query != "" {
		h := persisted.Hash(params.Query)
		if present && h != hash {
			return apqError(apperr.BadUserInput, "extensions.persistedQuery.sha256Hash is not the SHA-256 of the query")
		}
		hash, present = h, true
	}
	doc, ok := l.p.Manifest[hash]
	if !present || !ok {
		return apqError(apperr.PersistedQueryNotAllowed,
			"this server runs only its persisted documents (ROLLCALL_PERSISTED_ONLY), and this is not one of them")
	}
	l.loaded(params, doc)
	return nil
}

// loaded puts doc in params as the request's document, marked as not to be
// registered. params is this request's own, decoded for it.
func (persistedLoad) loaded(params *graphql.RawParams, doc string) {
	params.Query = doc
	if params.Extensions == nil {
		params.Extensions = make(map[string]any, 1)
	}
	params.Extensions[loadedKey] = true
}

func (r persistedRegister) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if r.p.Only || r.p.Cache == nil || oc.Extensions[loadedKey] != nil {
		return nil
	}
	hash, present, _ := persistedHash(oc.Extensions)
	if !present || hash == "" {
		return nil
	}
	// A cache that cannot be written to only costs the client its next
	// round trip: run the operation anyway.
	if err := r.p.Cache.Add(ctx, hash, oc.RawQuery); err != nil {
		r.log.WarnContext(ctx, "register persisted query", slog.String("error", err.Error()))
	}
	return nil
}
