package graph

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
)

func TestSelectionDepth(t *testing.T) {
	cases := map[string]int{
		`{ a }`:                          1,
		`{ a { b { c } } d }`:            3,
		`{ a { ... on T { b { c } } } }`: 3,
		`{ a { ...F } } fragment F on T { b { c { d } } }`:                      4,
		`{ a { ...F b } } fragment F on T { ...G } fragment G on T { c { d } }`: 3,
	}
	for q, want := range cases {
		doc, err := parser.ParseQuery(&ast.Source{Input: q})
		require.NoError(t, err, q)
		require.Equal(t, want, selectionDepth(doc.Operations[0].SelectionSet, doc.Fragments, map[string]bool{}), q)
	}
}

func TestBearerToken(t *testing.T) {
	for header, want := range map[string]string{
		"Bearer abc":   "abc",
		"bearer  abc ": "abc",
		"BEARER abc":   "abc",
		"Basic abc":    "",
		"Bearer":       "",
		"Bearer ":      "",
		"":             "",
		"abc":          "",
	} {
		got, ok := BearerToken(header)
		require.Equal(t, want, got, header)
		require.Equal(t, want != "", ok, header)
	}
}
