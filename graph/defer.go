package graph

import (
	"context"
	"slices"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// streamingKey marks the context of a request whose transport delivers
// @defer incrementally (multipart/mixed).
type streamingKey struct{}

// withIncremental marks ctx as able to carry deferred payloads.
func withIncremental(ctx context.Context) context.Context {
	return context.WithValue(ctx, streamingKey{}, true)
}

// inlineDefer delivers deferred fragments inline on a transport that sends
// one response per operation (GET, POST, websockets, SSE): gqlgen would
// write the first payload and drop the deferred ones. It runs such an
// operation on a copy of its document without @defer; the cached document
// is never changed.
type inlineDefer struct{}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = inlineDefer{}

func (inlineDefer) ExtensionName() string                   { return "InlineDefer" }
func (inlineDefer) Validate(graphql.ExecutableSchema) error { return nil }
func (inlineDefer) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if ctx.Value(streamingKey{}) != nil || oc.Doc == nil || oc.Operation == nil || !hasDefer(oc.Doc) {
		return nil
	}
	doc := &ast.QueryDocument{Position: oc.Doc.Position, Comment: oc.Doc.Comment}
	for _, op := range oc.Doc.Operations {
		c := *op
		c.SelectionSet = withoutDefer(op.SelectionSet)
		doc.Operations = append(doc.Operations, &c)
		if op == oc.Operation {
			oc.Operation = &c
		}
	}
	for _, f := range oc.Doc.Fragments {
		c := *f
		c.SelectionSet = withoutDefer(f.SelectionSet)
		doc.Fragments = append(doc.Fragments, &c)
	}
	oc.Doc = doc
	return nil
}

// hasDefer reports whether any fragment of doc is deferred.
func hasDefer(doc *ast.QueryDocument) bool {
	var walk func(ast.SelectionSet) bool
	walk = func(set ast.SelectionSet) bool {
		for _, s := range set {
			switch s := s.(type) {
			case *ast.Field:
				if walk(s.SelectionSet) {
					return true
				}
			case *ast.InlineFragment:
				if s.Directives.ForName("defer") != nil || walk(s.SelectionSet) {
					return true
				}
			case *ast.FragmentSpread:
				if s.Directives.ForName("defer") != nil {
					return true
				}
			}
		}
		return false
	}
	for _, op := range doc.Operations {
		if walk(op.SelectionSet) {
			return true
		}
	}
	for _, f := range doc.Fragments {
		if walk(f.SelectionSet) {
			return true
		}
	}
	return false
}

// withoutDefer copies set with every @defer removed.
func withoutDefer(set ast.SelectionSet) ast.SelectionSet {
	if set == nil {
		return nil
	}
	out := make(ast.SelectionSet, len(set))
	for i, s := range set {
		switch s := s.(type) {
		case *ast.Field:
			c := *s
			c.SelectionSet = withoutDefer(s.SelectionSet)
			out[i] = &c
		case *ast.InlineFragment:
			c := *s
			c.Directives = dropDefer(s.Directives)
			c.SelectionSet = withoutDefer(s.SelectionSet)
			out[i] = &c
		case *ast.FragmentSpread:
			c := *s
			c.Directives = dropDefer(s.Directives)
			out[i] = &c
		default:
			out[i] = s
		}
	}
	return out
}

func dropDefer(d ast.DirectiveList) ast.DirectiveList {
	return slices.DeleteFunc(slices.Clone(d), func(d *ast.Directive) bool { return d.Name == "defer" })
}
