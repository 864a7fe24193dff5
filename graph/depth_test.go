package graph

import (
	"testing"

	"github.com/stretchr/testify/require"
)

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
