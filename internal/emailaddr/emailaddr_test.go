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
		{"josé@bücher.example", "josé@bücher.example", "josé@bücher.example", true},
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

func TestNormalizeRefusesHostileCharacters(t *testing.T) {
	cases := []struct{ in, reason string }{
		{"ada\x00@example.com", "email address contains a control character (U+0000)"},
		{"ada\a@example.com", "email address contains a control character (U+0007)"},
		{"ada\x1b@example.com", "email address contains a control character (U+001B)"},
		{"ada\x7f@example.com", "email address contains a control character (U+007F)"},
		{"ada\u0085x@example.com", "email address contains a line break (U+0085)"},
		{"ada@exa\nmple.com", "email address contains a line break (U+000A)"},
		{"ada\u202E@example.com", "email address contains a bidirectional control character (U+202E)"},
		{"ada@\u200Fexample.com", "email address contains a bidirectional control character (U+200F)"},
		{"ada\u200B@example.com", "email address contains an invisible character (U+200B)"},
		{"ada@example.com\u2060", "email address contains an invisible character (U+2060)"},
		{"\uFEFFada@example.com", "email address contains an invisible character (U+FEFF)"},
		{"a\u200Cda@example.com", "email address contains an invisible character (U+200C)"},
		{"a\u200Dda@example.com", "email address contains an invisible character (U+200D)"},
		{"ada\u00A0@example.com", "email address contains a special space (U+00A0)"},
		{"\"a\x1b\"@example.com", "email address contains a control character (U+001B)"},
	}
	for _, c := range cases {
		_, _, err := Normalize(c.in)
		require.Equal(t, Error(c.reason), err, "%q", c.in)
	}
}
