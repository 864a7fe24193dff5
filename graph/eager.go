package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/rollcall/rollcall/ent"
)

// eagerUsers lets the users connection load, with its page, every edge its
// edges { node { … } } selection reaches (role, imports, their authors, …):
// one query per edge for the whole page, where resolving each person's
// edges on its own costs a query per person. ent's CollectFields reads the
// selection; it is given the node field as if it were being resolved.
func eagerUsers(ctx context.Context) func(*ent.UserQuery) (*ent.UserQuery, error) {
	node, ok := connectionNode(ctx)
	if !ok {
		return nil
	}
	nodeCtx := graphql.WithFieldContext(ctx, &graphql.FieldContext{Object: "UserEdge", Field: node})
	return func(q *ent.UserQuery) (*ent.UserQuery, error) {
		return q.CollectFields(nodeCtx, "User", "Node")
	}
}

// connectionNode is the node field of the connection being resolved, with the
// selections of every edges and node field (aliases included) merged.
func connectionNode(ctx context.Context) (graphql.CollectedField, bool) {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || !graphql.HasOperationContext(ctx) {
		return graphql.CollectedField{}, false
	}
	oc := graphql.GetOperationContext(ctx)
	var (
		node   graphql.CollectedField
		merged ast.SelectionSet
		found  bool
	)
	for _, edges := range graphql.CollectFields(oc, fc.Field.Selections, nil) {
		if edges.Name != "edges" {
			continue
		}
		for _, n := range graphql.CollectFields(oc, edges.Selections, nil) {
			if n.Name == "node" {
				node, found = n, true
				merged = append(merged, n.Selections...)
			}
		}
	}
	node.Selections = merged
	return node, found
}
