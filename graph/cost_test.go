package graph

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/stretchr/testify/require"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"

	"github.com/rollcall/rollcall/graph/generated"
	"github.com/rollcall/rollcall/internal/apperr"
)

func testSchema() *ast.Schema {
	return generated.NewExecutableSchema(generated.Config{}).Schema()
}

// measured is a document's selected operation as the guard sees it.
type measured struct {
	measure
	cost int64
	err  error
}

func measureQuery(t testing.TB, query string, vars map[string]any) measured {
	t.Helper()
	doc, err := parser.ParseQuery(&ast.Source{Input: query})
	require.NoError(t, err)
	op := doc.Operations.ForName("")
	s := &shape{schema: testSchema(), doc: doc, limits: DefaultLimits, vars: variables{values: vars, op: op}}
	if err := s.check(op); err != nil {
		return measured{err: err}
	}
	m, err := s.selectionSet(op.SelectionSet, s.rootType(op.Operation))
	require.NoError(t, err)
	return measured{measure: m, cost: m.total(50)}
}

// userPage is users(first: 500) with every scalar field of User and its role.
const userPage = `users(first: 500) { edges { cursor node {
	id createdAt updatedAt email username firstName lastName status roleID products
	mustChangePassword invitedAt inviteExpiresAt invitationCount acceptedAt lastLoginAt lastEmailStatus
	role { id createdAt updatedAt name permissions builtin } } } }`

func introspection(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile("testdata/introspection.graphql")
	require.NoError(t, err)
	return string(b)
}

func TestDepth(t *testing.T) {
	t.Parallel()
	for q, want := range map[string]int64{
		`{ viewer { id } }`: 2,
		`{ viewer { role { id } } organization { id } }`:                                          3,
		`{ viewer { ... on User { role { name } } } }`:                                            3,
		`{ viewer { ...F } } fragment F on User { role { name } }`:                                3,
		`{ viewer { ...F id } } fragment F on User { ...G } fragment G on User { role { name } }`: 3,
		`{ a { b { c { d } } } }`:                                                                 4, // unknown fields count alike
	} {
		m := measureQuery(t, q, nil)
		require.NoError(t, m.err, q)
		require.Equal(t, want, m.depth, q)
	}
	deep := `{ __schema { types { fields { type ` + strings.Repeat(`{ ofType `, 12) + `{ name }` + strings.Repeat(` }`, 12) + ` } } } }`
	require.ErrorContains(t, measureQuery(t, deep, nil).err, "query depth 17 exceeds the limit of 15")
}

func TestCost(t *testing.T) {
	t.Parallel()
	limit := int64(DefaultLimits.MaxComplexity)

	page := measureQuery(t, "{ "+userPage+" }", nil)
	require.NoError(t, page.err)
	require.Less(t, page.cost, limit, "one documented page passes")
	require.Greater(t, 20*page.cost, limit, "twenty do not")

	var twenty strings.Builder
	twenty.WriteString("{")
	for i := range 20 {
		fmt.Fprintf(&twenty, " p%d: %s", i, userPage)
	}
	twenty.WriteString(" }")
	require.ErrorContains(t, measureQuery(t, twenty.String(), nil).err, "query cost")
	require.ErrorContains(t, measureQuery(t, `{ users(first: 500) { edges { node { emails(first: 500) { edges { node { id } } } } } } }`, nil).err,
		"query cost", "every person's every email")

	withExtras := measureQuery(t, `{ users(first: 500, search: "ann") { totalCount pageInfo { hasNextPage endCursor } `+userPage[len("users(first: 500) { "):]+` }`, nil)
	require.NoError(t, withExtras.err, "a page with its count and a search passes")

	intro := measureQuery(t, introspection(t), nil)
	require.NoError(t, intro.err)
	require.Equal(t, int64(15), intro.depth, "graphql-js's nine levels of ofType reach the depth limit exactly")
	t.Logf("users page %d, introspection %d, limit %d", page.cost, intro.cost, limit)

	for name, c := range map[string]struct {
		query string
		vars  map[string]any
		cost  int64
	}{
		"leaves":                   {`{ viewer { id email } }`, nil, 1 + 2},
		"default page":             {`{ users { edges { node { id } } } }`, nil, 11 + 50*3},
		"first as a literal":       {`{ users(first: 7) { edges { node { id } } } }`, nil, 11 + 7*3},
		"first as a variable":      {`query($n: Int) { users(first: $n) { edges { node { id } } } }`, map[string]any{"n": 7}, 11 + 7*3},
		"first's default":          {`query($n: Int = 7) { users(first: $n) { edges { node { id } } } }`, nil, 11 + 7*3},
		"last":                     {`{ users(last: 7) { edges { node { id } } } }`, nil, 11 + 7*3},
		"capped at 500":            {`{ users(first: 100000) { edges { node { id } } } }`, nil, 11 + 500*3},
		"pageInfo is not per item": {`{ users(first: 7) { pageInfo { hasNextPage } } }`, nil, 11 + 2},
		"totalCount":               {`{ users(first: 0) { totalCount } }`, nil, 11 + 1 + countWeight},
		"search":                   {`{ users(first: 0, search: "x") { pageInfo { hasNextPage } } }`, nil, 11 + searchWeight + 2},
		"blank search":             {`{ users(first: 0, search: " ") { pageInfo { hasNextPage } } }`, nil, 11 + 2},
		"through a fragment":       {`{ users(first: 7) { ...C } } fragment C on UserConnection { edges { node { id } } }`, nil, 11 + 7*3},
		"nodes by ids":             {`{ nodes(ids: [1, 2, 3]) { id } }`, nil, 11 + 3*1},
		"nodes by a variable":      {`query($ids: [ID!]!) { nodes(ids: $ids) { id } }`, map[string]any{"ids": []any{"1", "2"}}, 11 + 2*1},
		"other lists":              {`{ roles { id name } }`, nil, 1 + listEstimate*2},
		"mutation":                 {`mutation { logout }`, nil, 1 + mutationWeight},
		"bulkSends":                {`{ bulkSends(first: 7) { edges { node { id } } } }`, nil, 11 + 7*3},
		"imports' default page":    {`{ imports { edges { node { id } } } }`, nil, 11 + 50*3},
		"a send's deliveries":      {`{ bulkSends(first: 10) { edges { node { deliveries(first: 10, status: [BOUNCED]) { edges { node { id } } } } } } }`, nil, 11 + 10*(2+11+10*3)},
		"a person's emails":        {`{ users(first: 10) { edges { node { emails(first: 10) { edges { node { id user { id } bulkSend { id } } } } } } } }`, nil, 11 + 10*(2+11+10*7)},
	} {
		m := measureQuery(t, c.query, c.vars)
		require.NoError(t, m.err, name)
		require.Equal(t, c.cost, m.cost, name)
	}
}

// numbered repeats format n times, numbering each from 0.
func numbered(format string, n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, format, i)
	}
	return b.String()
}

func TestShapeRefusals(t *testing.T) {
	t.Parallel()
	aliases := func(n int) string {
		var b strings.Builder
		b.WriteString("{")
		for range n {
			b.WriteString(" a: __typename")
		}
		return b.String() + " }"
	}
	// fragment F0 spreads F1 twice, … F25 selects __typename twice: 2^26
	// fields, in about a kilobyte.
	var chain strings.Builder
	chain.WriteString("{ ...F0 }")
	for i := range 25 {
		fmt.Fprintf(&chain, " fragment F%d on Query { ...F%d ...F%d }", i, i+1, i+1)
	}
	chain.WriteString(" fragment F25 on Query { __typename __typename }")

	require.NoError(t, measureQuery(t, aliases(200), nil).err)
	for name, c := range map[string]struct{ query, msg string }{
		"201 fields":              {aliases(201), "a selection set selects 201 fields (fragments included); at most 200 are accepted"},
		"doubling fragments":      {chain.String(), "fields (fragments included); at most 200 are accepted"},
		"a cycle":                 {`{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }`, "spreads itself"},
		"a fragment on itself":    {`{ ...A } fragment A on Query { viewer { id } ...A }`, "fragment A spreads itself"},
		"wide through a spread":   {`{ viewer { ...W ...W } } fragment W on User {` + strings.Repeat(" id", 101) + ` }`, "selects 202 fields"},
		"an unused wide fragment": {`{ viewer { id } } fragment W on User {` + strings.Repeat(" id", 201) + ` }`, "selects 201 fields"},
		// Validation compares every two fields at the same response path:
		// this one took 28 s to validate.
		"the same path too often": {"{" + strings.Repeat(" a: viewer {"+strings.Repeat(" email", 60)+" }", 200) + " }", "the same fields too often"},
		"too many fields":         {"{ ...F } fragment F on Query {" + numbered(" v%d: viewer { ...G }", 100) + " } fragment G on User {" + numbered(" a%d: email", 100) + " }", "more than 10000 fields"},
	} {
		err := measureQuery(t, c.query, nil).err
		require.ErrorContains(t, err, c.msg, name)
		require.True(t, apperr.Is(err, apperr.BadUserInput), name)
	}
	require.Less(t, len(chain.String()), 1100)
}

// BenchmarkValidation measures gqlgen's validation of the costliest shapes
// the guard accepts: tens of milliseconds, where documents it refuses took
// seconds to minutes.
func BenchmarkValidation(b *testing.B) {
	schema := testSchema()
	g := guard{schema: schema, limits: DefaultLimits}
	var fragments strings.Builder
	fragments.WriteString("{ viewer {")
	for i := range 200 {
		fmt.Fprintf(&fragments, " ...U%d", i)
	}
	fragments.WriteString(" } }")
	for i := range 200 {
		fmt.Fprintf(&fragments, " fragment U%d on User { a: email }", i)
	}
	for name, q := range map[string]string{
		"200-conflicting-fields": "{ viewer {" + strings.Repeat(" a: email a: id", 100) + " } }",
		"200-fragments":          fragments.String(),
		"200-aliases":            "{" + strings.Repeat(" a: viewer { id }", 140) + " }",
	} {
		require.Nil(b, g.MutateOperationParameters(b.Context(), &graphql.RawParams{Query: q}), name)
		doc, err := parser.ParseQuery(&ast.Source{Input: q})
		require.NoError(b, err)
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				validator.Validate(schema, doc)
			}
		})
	}
}

// BenchmarkGuard measures the guard on the documents the red team sent, and
// on GraphiQL's introspection query: each is refused (or passed) in time
// linear in its size.
func BenchmarkGuard(b *testing.B) {
	g := guard{schema: testSchema(), limits: DefaultLimits}
	var chain strings.Builder
	chain.WriteString("{ ...F0 }")
	for i := range 25 {
		fmt.Fprintf(&chain, " fragment F%d on Query { ...F%d ...F%d }", i, i+1, i+1)
	}
	chain.WriteString(" fragment F25 on Query { __typename __typename }")
	for name, q := range map[string]string{
		"aliases-10000":  "{" + strings.Repeat(" a:__typename", 10_000) + " }",
		"aliases-50000":  "{" + strings.Repeat(" a:__typename", 50_000) + " }",
		"fragment-chain": chain.String(),
		"introspection":  introspection(b),
		"users-page":     "{ " + userPage + " }",
	} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				_ = g.MutateOperationParameters(b.Context(), &graphql.RawParams{Query: q})
			}
		})
	}
}
