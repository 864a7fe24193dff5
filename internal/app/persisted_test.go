package app_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/internal/config"
	"github.com/rollcall/rollcall/internal/persisted"
	"github.com/rollcall/rollcall/internal/testkit"
)

// apq sends Apollo's automatic persisted query request: the hash, and the
// document when query is not "".
func apq(t *testing.T, s *testkit.Server, token, query, hash string) *testkit.Response {
	t.Helper()
	body := map[string]any{"extensions": map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hash}}}
	if query != "" {
		body["query"] = query
	}
	raw, err := json.Marshal(body)
	require.NoError(t, err)
	return s.Post(t, token, "application/json", raw)
}

func TestAutomaticPersistedQueries(t *testing.T) {
	t.Parallel()
	s := testkit.NewServer(t, func(c *config.Config) { c.Persisted.MaxEntries = 3 })
	other := s.Replica(t, false, func(c *config.Config) { c.Persisted.MaxEntries = 3 })
	a := signIn(t, s, "acme")
	const query = `query Dashboard { organization { slug } users { totalCount } }`
	hash := persisted.Hash(query)
	const want = `{"organization": {"slug": "acme"}, "users": {"totalCount": 1}}`

	// An unknown hash: Apollo Client then sends the document with it.
	miss := apq(t, s, a.tok, "", hash)
	require.Len(t, miss.Errors, 1)
	require.Equal(t, "PERSISTED_QUERY_NOT_FOUND", miss.Code())
	require.Equal(t, "PersistedQueryNotFound", miss.Errors[0].Message)

	// Registered, and answered.
	reg := apq(t, s, a.tok, query, hash)
	require.Empty(t, reg.Errors)
	require.JSONEq(t, want, string(reg.Data))

	// The hash alone now works here, and on the other replica, by POST and
	// by GET (what Apollo Client uses for hashed queries).
	for _, srv := range []*testkit.Server{s, other} {
		hit := apq(t, srv, a.tok, "", hash)
		require.Empty(t, hit.Errors)
		require.JSONEq(t, want, string(hit.Data))

		ext := `{"persistedQuery":{"version":1,"sha256Hash":"` + hash + `"}}`
		req, err := http.NewRequest(http.MethodGet, srv.URL+"/graphql?operationName=Dashboard&extensions="+url.QueryEscape(ext), nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+a.tok)
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		raw, err := io.ReadAll(res.Body)
		res.Body.Close()
		require.NoError(t, err)
		require.JSONEq(t, `{"data": `+want+`}`, string(raw))
	}

	// A hash that is not the document's is refused.
	wrong := apq(t, s, a.tok, `{ viewer { id } }`, hash)
	require.Equal(t, "BAD_USER_INPUT", wrong.Code())

	// A document that fails validation is not kept.
	const invalid = `{ noSuchField }`
	bad := apq(t, s, a.tok, invalid, persisted.Hash(invalid))
	require.Equal(t, "BAD_USER_INPUT", bad.Code())
	require.Equal(t, "PERSISTED_QUERY_NOT_FOUND", apq(t, other, a.tok, "", persisted.Hash(invalid)).Code())

	// The cache keeps at most 3 documents: the oldest goes first.
	var hashes []string
	for _, q := range []string{`{ viewer { id } }`, `{ viewer { email } }`, `{ viewer { firstName } }`} {
		s.Clock.Advance(1)
		require.Empty(t, apq(t, s, a.tok, q, persisted.Hash(q)).Errors)
		hashes = append(hashes, persisted.Hash(q))
	}
	n, err := s.DB.Client.PersistedQuery.Query().Count(testkit.System())
	require.NoError(t, err)
	require.Equal(t, 3, n)
	// A fresh replica (no documents in memory) no longer finds the first.
	third := s.Replica(t, false)
	require.Equal(t, "PERSISTED_QUERY_NOT_FOUND", apq(t, third, a.tok, "", hash).Code())
	require.Empty(t, apq(t, third, a.tok, "", hashes[2]).Errors)
}

func TestPersistedOnly(t *testing.T) {
	t.Parallel()
	const query = `query Me { viewer { email } }`
	manifest, err := json.Marshal(map[string]string{persisted.Hash(query): query})
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "persisted-documents.json")
	require.NoError(t, os.WriteFile(path, manifest, 0o600))
	s := testkit.NewServer(t, func(c *config.Config) {
		c.Persisted.DocumentsFile = path
		c.Persisted.Only = true
	})
	// The manifest's document runs, by hash or in full.
	for _, r := range []*testkit.Response{
		apq(t, s, "", "", persisted.Hash(query)),
		s.Query(t, "", query, nil),
	} {
		require.Empty(t, r.Errors)
		require.JSONEq(t, `{"viewer": null}`, string(r.Data))
	}
	// Anything else is refused, registration included.
	const other = `{ viewer { id } }`
	for _, r := range []*testkit.Response{
		s.Query(t, "", other, nil),
		apq(t, s, "", other, persisted.Hash(other)),
		apq(t, s, "", "", persisted.Hash(other)),
		s.Query(t, "", `mutation { logout }`, nil),
	} {
		require.Equal(t, "PERSISTED_QUERY_NOT_ALLOWED", r.Code(), "%+v", r.Errors)
		require.Contains(t, []string{"", "null"}, string(r.Data))
	}
	n, err := s.DB.Client.PersistedQuery.Query().Count(testkit.System())
	require.NoError(t, err)
	require.Zero(t, n)
	// GraphiQL is not served: it could run nothing.
	res, err := http.Get(s.URL + "/graphiql")
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusNotFound, res.StatusCode)
}
