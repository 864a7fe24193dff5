package emailaddr

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestNormalize(t *testing.T) {
	cases := []struct {
		in, address, normalized string
		ok                      bool
	}{
		{"ada@example.com", "ada@example.com", "ada@example.com", true},
		{"  Ada.Lovelace+x@Example.COM ", "Ada.Lovelace+x@Example.COM", "ada.lovelace+x@example.com", true},
		{"", "", "", false},
		{"ada", "", "", false},
		{"ada@", "", "", false},
		{"@example.com", "", "", false},
		{"ada@localhost", "", "", false},
		{"ada@example.", "", "", false},
		{"Ada <ada@example.com>", "", "", false},
		{"ada@example.com, bob@example.com", "", "", false},
		{"a b@example.com", "", "", false},
		{strings.Repeat("a", 250) + "@example.com", "", "", false},
	}
	for _, c := range cases {
		addr, norm, err := Normalize(c.in)
		if !c.ok {
			require.Error(t, err, c.in)
			continue
		}
		require.NoError(t, err, c.in)
		require.Equal(t, c.address, addr)
		require.Equal(t, c.normalized, norm)
	}
}
