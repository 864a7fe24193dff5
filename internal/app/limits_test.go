package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/bulksend"
	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/auth"
	"github.com/rollcall/rollcall/internal/config"
	"github.com/rollcall/rollcall/internal/testkit"
)

// introspection is the query GraphiQL sends on load (graphql-js 16's, every
// option on).
func introspection(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../graph/testdata/introspection.graphql")
	require.NoError(t, err)
	return string(b)
}

// pageOf500 is one documented page: users(first: 500) with every scalar
// field of User and its role.
const pageOf500 = `users(first: 500) { edges { cursor node {
	id createdAt updatedAt email username firstName lastName status roleID products
	mustChangePassword invitedAt inviteExpiresAt invitationCount acceptedAt lastLoginAt lastEmailStatus
	role { id createdAt updatedAt name permissions builtin } } } }`

// hrSession adds an active HR person to the default organisation and signs in.
func hrSession(t *testing.T, s *testkit.Server) string {
	t.Helper()
	o := s.CreateOrg(t, "acme")
	s.AddPeople(t, o, testkit.Person{Email: "hr@acme.test", Role: "HR", Status: user.StatusActive, Password: "hr-password-123"})
	return s.Login(t, "acme", "hr@acme.test", "hr-password-123")
}

func requireBadInput(t *testing.T, resp *testkit.Response, message string) {
	t.Helper()
	require.NotEmpty(t, resp.Errors, "refused")
	require.Equal(t, "BAD_USER_INPUT", resp.Code(), resp.Errors[0].Message)
	require.Contains(t, resp.Errors[0].Message, message)
	require.JSONEq(t, "null", string(orNull(resp.Data)), "nothing ran")
}

func orNull(b []byte) []byte {
	if len(b) == 0 {
		return []byte("null")
	}
	return b
}

// TestExpensiveDocuments sends, anonymously and as HR, the documents that
// cost the server seconds to minutes: each is refused before validation.
func TestExpensiveDocuments(t *testing.T) {
	t.Parallel()
	s := testkit.NewServer(t)
	hr := hrSession(t, s)

	aliases := func(n int) string { return "{" + strings.Repeat(" a:__typename", n) + " }" }
	var chain strings.Builder // 26 fragments, each spreading the next twice: 1 KB
	chain.WriteString("query { ...F0 }")
	for i := range 25 {
		fmt.Fprintf(&chain, " fragment F%d on Query { ...F%d ...F%d }", i, i+1, i+1)
	}
	chain.WriteString(" fragment F25 on Query { __typename }")
	var pages70 strings.Builder
	pages70.WriteString("{")
	for i := range 70 {
		fmt.Fprintf(&pages70, " p%d: %s", i, pageOf500)
	}
	pages70.WriteString(" }")

	for _, c := range []struct {
		name, token, query, message string
	}{
		{"10,000 aliases", "", aliases(10_000), "tokens"},
		{"50,000 aliases", "", aliases(50_000), "bytes"},
		{"200 aliases of a field with 60 subfields", "", "{" + strings.Repeat(" a: viewer {"+strings.Repeat(" email", 60)+" }", 200) + " }", "the same fields too often"},
		{"a chain of doubling fragments", "", chain.String(), "fields (fragments included)"},
		{"70 pages of 500 people", hr, pages70.String(), "query cost"},
		{"a 5 MB string", "", `{ users(search: "` + strings.Repeat("x", 5<<20) + `") { totalCount } }`, "bytes"},
	} {
		t.Run(c.name, func(t *testing.T) {
			requireBadInput(t, s.Query(t, c.token, c.query, nil), c.message)
		})
	}

	t.Run("one page of 500 with every field and the role passes", func(t *testing.T) {
		var data struct{ Users struct{ Edges []any } }
		s.Query(t, hr, "{ "+pageOf500+" }", nil).Decode(t, &data)
		require.Len(t, data.Users.Edges, 2) // the Owner and HR
	})

	t.Run("GraphiQL's introspection passes", func(t *testing.T) {
		var data struct {
			Schema struct{ Types []struct{ Name string } } `json:"__schema"`
		}
		s.Query(t, "", introspection(t), nil).Decode(t, &data)
		require.NotEmpty(t, data.Schema.Types)
	})
}

// TestNULAndLongLists checks the argument hygiene on the current database:
// NUL in any string argument and over-long id lists are BAD_USER_INPUT
// naming the field (PostgreSQL answered INTERNAL to both).
func TestNULAndLongLists(t *testing.T) {
	t.Parallel()
	s := testkit.NewServer(t)
	hr := hrSession(t, s)
	manyIDs := make([]string, 100_000)
	for i := range manyIDs {
		manyIDs[i] = fmt.Sprint(i + 1)
	}
	for _, c := range []struct {
		name, token, query string
		vars               map[string]any
		field              string
	}{
		{"search", hr, `query($s: String) { users(search: $s) { totalCount } }`, map[string]any{"s": "ann\x00"}, "search"},
		{"a filter", hr, `{ users(where: {emailContainsFold: "a\u0000"}) { totalCount } }`, nil, "emailContainsFold"},
		{"a filter in a variable", hr, `query($w: UserWhereInput) { users(where: $w) { totalCount } }`, map[string]any{"w": map[string]any{"or": []any{map[string]any{"firstName": "x\x00"}}}}, "firstName"},
		{"a login", "", `mutation($in: LoginInput!) { login(input: $in) { token } }`, map[string]any{"in": map[string]any{"login": "x\x00@acme.test", "password": "whatever-it-is"}}, "login"},
		{"an invitation token", "", `query($t: String!) { invitation(token: $t) { email } }`, map[string]any{"t": "abc\x00"}, "token"},
		{"100,000 ids", hr, `query($ids: [ID!]) { users(where: {idIn: $ids}) { totalCount } }`, map[string]any{"ids": manyIDs}, "idIn"},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp := s.Query(t, c.token, c.query, c.vars)
			require.NotEmpty(t, resp.Errors)
			require.Equal(t, "BAD_USER_INPUT", resp.Code(), resp.Errors[0].Message)
			require.Equal(t, c.field, resp.Errors[0].Extensions["field"])
		})
	}

	t.Run("10,000 ids pass", func(t *testing.T) {
		var data struct{ Users struct{ TotalCount int } }
		s.Query(t, hr, `query($ids: [ID!]) { users(where: {idIn: $ids}) { totalCount } }`, map[string]any{"ids": manyIDs[:10_000]}).Decode(t, &data)
	})
}

// countQueries counts the ent queries GraphQL operations run on s.
func countQueries(s *testkit.Server) *atomic.Int64 {
	var n atomic.Int64
	s.DB.Client.Intercept(ent.InterceptFunc(func(next ent.Querier) ent.Querier {
		return ent.QuerierFunc(func(ctx context.Context, q ent.Query) (ent.Value, error) {
			if graphql.HasOperationContext(ctx) {
				n.Add(1)
			}
			return next.Query(ctx, q)
		})
	}))
	return &n
}

// TestEdgesLoadInBatches reads connections with nested edges and checks that
// the number of queries does not grow with the page: each level is one query.
func TestEdgesLoadInBatches(t *testing.T) {
	t.Parallel()
	s := testkit.NewServer(t)
	o := s.CreateOrg(t, "acme")
	seed := make([]testkit.Person, 500)
	for i := range seed {
		seed[i] = testkit.Person{Email: fmt.Sprintf("p%03d@acme.test", i), Role: []string{"Member", "HR", "Admin"}[i%3]}
	}
	people := s.AddPeople(t, o, seed...)
	ctx := testkit.System()
	for i := range 3 { // every person in three imports, each by someone else
		ids := make([]int, len(people))
		for j, p := range people {
			ids[j] = p.ID
		}
		s.DB.Client.UserImport.Create().SetOrganizationID(o.ID).SetFilename(fmt.Sprintf("%d.csv", i)).
			SetCreatedByID(people[i].ID).AddUserIDs(ids...).SaveX(ctx)
	}
	owner := o.Owner
	for i := range 500 {
		send := s.DB.Client.BulkSend.Create().SetOrganizationID(o.ID).SetCreatedByID(people[i%7].ID).
			SetStatus(bulksend.StatusCOMPLETED).SetKind(bulksend.KindINVITATION).SaveX(ctx)
		s.DB.Client.Notification.Create().SetOrganizationID(o.ID).SetUserID(owner.ID).
			SetKind("BULK_SEND_FINISHED").SetMessage("done").SetBulkSendID(send.ID).SaveX(ctx)
	}
	tok := s.Login(t, "acme", owner.Email, testkit.OwnerPassword)
	queries := countQueries(s)

	for name, query := range map[string]string{
		"people with their role and imports": `query($n: Int) { users(first: $n) { edges { node { id email
			role { name } import { filename createdBy { email role { name } } } } } } }`,
		"notifications with their send and its author": `query($n: Int) { notifications(first: $n) { edges { node { id
			bulkSend { total createdBy { email role { name } } } } } } }`,
	} {
		t.Run(name, func(t *testing.T) {
			run := func(n int) int64 {
				before := queries.Load()
				var data map[string]struct{ Edges []any }
				s.Query(t, tok, query, map[string]any{"n": n}).Decode(t, &data)
				for _, conn := range data {
					require.Len(t, conn.Edges, n)
				}
				return queries.Load() - before
			}
			few, all := run(5), run(500)
			require.Equal(t, few, all, "queries for 5 and for 500 items")
			require.LessOrEqual(t, all, int64(12))
		})
	}
}

// TestOperationDeadline runs with a deadline of a nanosecond: every query and
// mutation that reaches the database is stopped with a clear error, while
// importUsers has its own deadline and subscriptions have none.
func TestOperationDeadline(t *testing.T) {
	t.Parallel()
	s := testkit.NewServer(t, func(c *config.Config) { c.Limits.OperationTimeout = time.Nanosecond })
	o := s.CreateOrg(t, "acme")
	ctx := testkit.System()
	// Signing in through GraphQL is an operation too, so sign in directly.
	session, err := s.Auth.Login(context.Background(), auth.LoginInput{Organization: "acme", Login: o.Owner.Email, Password: testkit.OwnerPassword})
	require.NoError(t, err)
	tok := session.Token

	t.Run("a query", func(t *testing.T) {
		resp := s.Query(t, tok, `{ users(first: 1) { totalCount } }`, nil)
		require.NotEmpty(t, resp.Errors)
		require.Equal(t, "INTERNAL", resp.Code())
		require.Equal(t, "the operation did not finish within 1ns and was stopped", resp.Errors[0].Message)
	})

	t.Run("a mutation", func(t *testing.T) {
		resp := s.Query(t, tok, `mutation { updateOrganization(input: {name: "Acme"}) { name } }`, nil)
		require.Equal(t, "INTERNAL", resp.Code())
		require.Contains(t, resp.Errors[0].Message, "did not finish within 1ns")
	})

	t.Run("importUsers has its own", func(t *testing.T) {
		resp := s.Upload(t, tok, `mutation($in: ImportUsersInput!) { importUsers(input: $in) { created } }`,
			map[string]any{"in": map[string]any{"file": nil}}, "in.file", "people.csv", []byte("email\nada@acme.test\n"))
		var data struct{ ImportUsers struct{ Created int } }
		resp.Decode(t, &data)
		require.Equal(t, 1, data.ImportUsers.Created)
	})

	t.Run("subscriptions have none", func(t *testing.T) {
		finished := s.Clock.Now()
		send := s.DB.Client.BulkSend.Create().SetOrganizationID(o.ID).SetCreatedByID(o.Owner.ID).
			SetStatus(bulksend.StatusCOMPLETED).SetKind(bulksend.KindINVITATION).SetFinishedAt(finished).SaveX(ctx)
		w := wsOpen(t, s, wsProtocols[0], tok)
		w.requireFinished("1", strconv.Itoa(send.ID))
	})
}

// TestOperationStopsWhenClientLeaves holds a query in the database until its
// context ends, then hangs up: the database call sees the cancellation.
func TestOperationStopsWhenClientLeaves(t *testing.T) {
	t.Parallel()
	s := testkit.NewServer(t)
	tok := s.Login(t, "default", "owner@example.com", testkit.OwnerPassword)
	entered, stopped := make(chan struct{}), make(chan error, 1)
	var once sync.Once
	s.DB.Client.User.Intercept(ent.InterceptFunc(func(next ent.Querier) ent.Querier {
		return ent.QuerierFunc(func(ctx context.Context, q ent.Query) (ent.Value, error) {
			if !graphql.HasOperationContext(ctx) || graphql.GetOperationContext(ctx).OperationName != "Slow" {
				return next.Query(ctx, q)
			}
			once.Do(func() { close(entered) })
			<-ctx.Done() // a query that runs until it is stopped
			stopped <- ctx.Err()
			return nil, ctx.Err()
		})
	}))

	reqCtx, hangUp := context.WithCancel(context.Background())
	defer hangUp()
	body, err := json.Marshal(map[string]any{"query": `query Slow { users { totalCount } }`, "operationName": "Slow"})
	require.NoError(t, err)
	req, err := http.NewRequestWithContext(reqCtx, http.MethodPost, s.URL+"/graphql", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok)
	go func() {
		if res, err := http.DefaultClient.Do(req); err == nil {
			res.Body.Close()
		}
	}()

	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the query never reached the database")
	}
	hangUp()
	select {
	case err := <-stopped:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(10 * time.Second):
		t.Fatal("the database call went on after the client left")
	}
}
