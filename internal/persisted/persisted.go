// Package persisted keeps persisted GraphQL documents: the operator's
// manifest (a file), and the automatic persisted queries cache that clients
// fill (Apollo's APQ), held in the database so every replica shares it.
package persisted

import (
	"context"
	"crypto/sha256"
	stdsql "database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/99designs/gqlgen/graphql/handler/lru"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/persistedquery"
	"github.com/rollcall/rollcall/internal/auth"
	"github.com/rollcall/rollcall/internal/clock"
)

// Hash is the SHA-256 of a document, lowercase hex, as Apollo Client, Relay
// and GraphQL Codegen compute it.
func Hash(document string) string {
	sum := sha256.Sum256([]byte(document))
	return hex.EncodeToString(sum[:])
}

// Manifest maps hashes to the operator's documents.
type Manifest map[string]string

// LoadManifest reads a JSON object of SHA-256 hex → document, the shape
// Relay and GraphQL Codegen write. Every hash must be its document's.
func LoadManifest(path string) (Manifest, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("persisted documents: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("persisted documents %s: want a JSON object of sha256 hex → document: %w", path, err)
	}
	for h, doc := range m {
		if Hash(doc) != h {
			return nil, fmt.Errorf("persisted documents %s: %.16s… is not the SHA-256 of its document (it is %s)", path, h, Hash(doc))
		}
	}
	return m, nil
}

// Limits bound the APQ cache.
type Limits struct {
	MaxEntries int   // documents kept
	MaxBytes   int64 // bytes of documents kept
}

// DefaultLimits are the cache's bounds unless configured.
var DefaultLimits = Limits{MaxEntries: 10_000, MaxBytes: 32 << 20}

// Cache is the APQ cache: documents in the database, shared by every
// replica, bounded in count and bytes (the oldest go first), with the
// documents this replica has read lately in memory (a hash's document never
// changes).
type Cache struct {
	client *ent.Client
	clock  clock.Clock
	limits Limits
	recent *lru.LRU[string] // safe for concurrent use
}

// NewCache returns the cache over client.
func NewCache(client *ent.Client, clk clock.Clock, l Limits) *Cache {
	return &Cache{client: client, clock: clk, limits: l, recent: lru.New[string](1000)}
}

// Get returns the document registered under hash, if any.
func (c *Cache) Get(ctx context.Context, hash string) (string, bool, error) {
	if doc, ok := c.recent.Get(ctx, hash); ok {
		return doc, true, nil
	}
	q, err := c.client.PersistedQuery.Query().Where(persistedquery.Hash(hash)).Only(auth.AsSystem(ctx))
	if ent.IsNotFound(err) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read persisted query: %w", err)
	}
	c.recent.Add(ctx, hash, q.Document)
	return q.Document, true, nil
}

// Add registers document under its hash (a validated document: the caller
// checks), then trims the cache to its bounds. A document over the byte
// bound alone is not kept. A document this replica has lately read or
// registered is not written again, so a client that sends the document with
// its hash on every request costs no insert and no count of the cache.
func (c *Cache) Add(ctx context.Context, hash, document string) error {
	if int64(len(document)) > c.limits.MaxBytes || c.limits.MaxEntries <= 0 {
		return nil
	}
	if _, known := c.recent.Get(ctx, hash); known {
		return nil
	}
	ctx = auth.AsSystem(ctx)
	err := c.client.PersistedQuery.Create().SetHash(hash).SetDocument(document).SetSize(len(document)).
		SetCreatedAt(c.clock.Now()).OnConflictColumns(persistedquery.FieldHash).DoNothing().Exec(ctx)
	if err != nil && !isNoRows(err) {
		return fmt.Errorf("add persisted query: %w", err)
	}
	c.recent.Add(ctx, hash, document)
	return c.trim(ctx)
}

// isNoRows is ent's answer to an insert that conflicted and did nothing.
func isNoRows(err error) bool { return errors.Is(err, stdsql.ErrNoRows) }

// trim deletes the oldest documents while the cache holds more than its
// bounds.
func (c *Cache) trim(ctx context.Context) error {
	var agg []struct {
		Count int    `json:"count"`
		Sum   *int64 `json:"sum"`
	}
	if err := c.client.PersistedQuery.Query().Aggregate(ent.Count(), ent.Sum(persistedquery.FieldSize)).Scan(ctx, &agg); err != nil {
		return fmt.Errorf("measure persisted queries: %w", err)
	}
	if len(agg) == 0 || agg[0].Sum == nil {
		return nil
	}
	count, bytes := agg[0].Count, *agg[0].Sum
	for count > c.limits.MaxEntries || bytes > c.limits.MaxBytes {
		oldest, err := c.client.PersistedQuery.Query().Order(ent.Asc(persistedquery.FieldCreatedAt), ent.Asc(persistedquery.FieldID)).
			Limit(100).Select(persistedquery.FieldID, persistedquery.FieldSize).All(ctx)
		if err != nil {
			return fmt.Errorf("read oldest persisted queries: %w", err)
		}
		if len(oldest) == 0 {
			return nil
		}
		var ids []int
		for _, q := range oldest {
			if count <= c.limits.MaxEntries && bytes <= c.limits.MaxBytes {
				break
			}
			ids = append(ids, q.ID)
			count--
			bytes -= int64(q.Size)
		}
		if _, err := c.client.PersistedQuery.Delete().Where(persistedquery.IDIn(ids...)).Exec(ctx); err != nil {
			return fmt.Errorf("trim persisted queries: %w", err)
		}
	}
	return nil
}
