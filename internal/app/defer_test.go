package app_test

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/internal/testkit"
)

// deferQuery is a dashboard query whose counts come later.
const deferQuery = `query {
  users(first: 2, orderBy: {field: EMAIL, direction: ASC}) {
    edges { node { email } }
    ... @defer(label: "count") { totalCount }
  }
  ... @defer(label: "invited") { invited: users(where: {statusIn: [INVITED]}) { totalCount } }
}`

// incrementalPayload is one part of an incremental delivery response.
type incrementalPayload struct {
	Data        json.RawMessage `json:"data"`
	HasNext     *bool           `json:"hasNext"`
	Errors      []testkit.Error `json:"errors"`
	Incremental []struct {
		Data  json.RawMessage `json:"data"`
		Path  []any           `json:"path"`
		Label string          `json:"label"`
	} `json:"incremental"`
}

func TestDeferOverMultipartMixed(t *testing.T) {
	t.Parallel()
	s := testkit.NewServer(t)
	a := signIn(t, s, "acme")
	s.AddPeople(t, a.org, testkit.Person{Email: "ada@example.com"}, testkit.Person{Email: "bob@example.com"}, testkit.Person{Email: "cy@example.com"})
	body, err := json.Marshal(map[string]any{"query": deferQuery})
	require.NoError(t, err)

	// What Apollo Client sends.
	req, err := http.NewRequest(http.MethodPost, s.URL+"/graphql", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "multipart/mixed;deferSpec=20220824,application/json;q=0.9")
	req.Header.Set("Authorization", "Bearer "+a.tok)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	mediaType, params, err := mime.ParseMediaType(res.Header.Get("Content-Type"))
	require.NoError(t, err)
	require.Equal(t, "multipart/mixed", mediaType)

	var parts []incrementalPayload
	mr := multipart.NewReader(res.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		raw, err := io.ReadAll(p)
		require.NoError(t, err)
		if len(bytes.TrimSpace(raw)) == 0 {
			continue
		}
		var payload incrementalPayload
		require.NoError(t, json.Unmarshal(raw, &payload), "%s", raw)
		parts = append(parts, payload)
	}
	require.GreaterOrEqual(t, len(parts), 2, "the initial payload, then the deferred ones")

	// The initial payload: the page without its counts.
	first := parts[0]
	require.Empty(t, first.Errors)
	require.NotNil(t, first.HasNext)
	require.True(t, *first.HasNext)
	// gqlgen holds the deferred field's place with null (Apollo Client
	// merges the incremental result over it), and runs a deferred fragment
	// on the root type with the rest of the first payload.
	require.JSONEq(t, `{"users": {"edges": [{"node": {"email": "ada@example.com"}}, {"node": {"email": "bob@example.com"}}], "totalCount": null},
		"invited": {"totalCount": 0}}`, string(first.Data))

	// The counts arrive as incremental results at their paths.
	got := map[string]string{}
	for _, p := range parts[1:] {
		require.Empty(t, p.Errors)
		for _, inc := range p.Incremental {
			got[inc.Label] = string(inc.Data)
			require.Equal(t, "count", inc.Label)
			require.Equal(t, []any{"users"}, inc.Path)
		}
	}
	require.Len(t, got, 1, "%+v", got)
	require.JSONEq(t, `{"totalCount": 4}`, got["count"]) // the Owner and three
	last := parts[len(parts)-1]
	require.NotNil(t, last.HasNext)
	require.False(t, *last.HasNext)
}

// TestDeferInline: over plain POST, which sends one response, deferred
// fragments are delivered inline, not dropped.
func TestDeferInline(t *testing.T) {
	t.Parallel()
	s := testkit.NewServer(t)
	a := signIn(t, s, "acme")
	s.AddPeople(t, a.org, testkit.Person{Email: "ada@example.com"}, testkit.Person{Email: "bob@example.com"}, testkit.Person{Email: "cy@example.com"})
	for range 2 { // the second run reads the cached document, which must be as parsed
		resp := s.Query(t, a.tok, deferQuery, nil)
		require.Empty(t, resp.Errors)
		require.JSONEq(t, `{"users": {"edges": [{"node": {"email": "ada@example.com"}}, {"node": {"email": "bob@example.com"}}], "totalCount": 4},
			"invited": {"totalCount": 0}}`, string(resp.Data))
	}
}
