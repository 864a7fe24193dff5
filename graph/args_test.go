package graph

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/internal/apperr"
)

// guardVariables decodes variables as gqlgen's transports do (numbers as
// json.Number).
func guardVariables(t *testing.T, raw string) map[string]any {
	t.Helper()
	if raw == "" {
		return nil
	}
	var vars map[string]any
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.UseNumber()
	require.NoError(t, dec.Decode(&vars))
	return vars
}

func ids(n int) string {
	return "[" + strings.TrimSuffix(strings.Repeat(`"1",`, n), ",") + "]"
}

func TestInputs(t *testing.T) {
	t.Parallel()
	g := guard{schema: testSchema(), limits: DefaultLimits}
	for name, c := range map[string]struct {
		query, vars string
		field       string // "" when accepted
	}{
		"plain":                          {query: `{ users(search: "ann") { totalCount } }`},
		"NUL in a literal":               {query: `{ users(search: "a\u0000") { totalCount } }`, field: "search"},
		"NUL in a filter":                {query: `{ users(where: {emailContains: "a\u0000"}) { totalCount } }`, field: "emailContains"},
		"NUL deep in a filter":           {query: `{ users(where: {or: [{not: {firstNameContains: "a\u0000"}}]}) { totalCount } }`, field: "firstNameContains"},
		"NUL in a variable":              {query: `mutation($in: LoginInput!) { login(input: $in) { token } }`, vars: `{"in": {"login": "a\u0000", "password": "x"}}`, field: "login"},
		"NUL in a list variable":         {query: `query($s: [String!]) { users(where: {emailIn: $s}) { totalCount } }`, vars: `{"s": ["a", "b\u0000"]}`, field: "emailIn"},
		"NUL in a variable's default":    {query: `query($s: String = "a\u0000") { users(search: $s) { totalCount } }`, field: "search"},
		"NUL in an unused variable":      {query: `query($s: String) { viewer { id } }`, vars: `{"s": "a\u0000", "t": "b"}`, field: "s"},
		"10,000 ids":                     {query: `query($ids: [ID!]) { users(where: {idIn: $ids}) { totalCount } }`, vars: `{"ids": ` + ids(10_000) + `}`},
		"10,001 ids":                     {query: `query($ids: [ID!]) { users(where: {idIn: $ids}) { totalCount } }`, vars: `{"ids": ` + ids(10_001) + `}`, field: "idIn"},
		"100,000 ids":                    {query: `query($w: UserWhereInput) { users(where: $w) { totalCount } }`, vars: `{"w": {"idIn": ` + ids(100_000) + `}}`, field: "idIn"},
		"ids in a fragment spread twice": {query: `query($a: [ID!]) { ...F ...F } fragment F on Query { users(where: {idIn: $a}) { totalCount } }`, vars: `{"a": ` + ids(6_000) + `}`, field: "idIn"},
		"ids in a fragment spread once":  {query: `query($a: [ID!]) { ...F } fragment F on Query { users(where: {idIn: $a}) { totalCount } }`, vars: `{"a": ` + ids(6_000) + `}`},
		"ids across lists":               {query: `query($a: [ID!], $b: [ID!]) { users(where: {or: [{idIn: $a}, {idIn: $b}]}) { totalCount } }`, vars: `{"a": ` + ids(6_000) + `, "b": ` + ids(6_000) + `}`, field: "idIn"},
		"nodes":                          {query: `query($ids: [ID!]!) { nodes(ids: $ids) { id } }`, vars: `{"ids": ` + ids(20_000) + `}`, field: "ids"},
		"sendInvitations' userIds keep their own cap": {query: `mutation($in: SendInvitationsInput!) { sendInvitations(input: $in) { total } }`, vars: `{"in": {"userIds": ` + ids(100_000) + `}}`},
		"and are capped":             {query: `mutation($in: SendInvitationsInput!) { sendInvitations(input: $in) { total } }`, vars: `{"in": {"userIds": ` + ids(100_001) + `}}`, field: "userIds"},
		"userIds as a list variable": {query: `mutation($ids: [ID!]) { sendInvitations(input: {userIds: $ids}) { total } }`, vars: `{"ids": ` + ids(50_000) + `}`},
	} {
		err := g.MutateOperationParameters(t.Context(), &graphql.RawParams{Query: c.query, Variables: guardVariables(t, c.vars)})
		if c.field == "" {
			require.Nil(t, err, name)
			continue
		}
		require.NotNil(t, err, name)
		e, ok := apperr.As(err)
		require.True(t, ok, name)
		require.Equal(t, apperr.BadUserInput, e.Code, name)
		require.Equal(t, c.field, e.Field, name)
	}
}
