package password

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

func TestCheck(t *testing.T) {
	p, err := NewPolicy()
	require.NoError(t, err)

	cases := []struct {
		name, password, email, username string
		rule                            string // "" when accepted
	}{
		{"short", "short", "ada@example.com", "ada", RuleMinLength},
		{"empty", "", "", "", RuleMinLength},
		{"nine runes", "ééééééééé", "", "", RuleMinLength},
		{"ten multibyte runes accepted", "éàüßøñçœæå", "", "", ""},
		{"300 bytes", strings.Repeat("x", 300), "", "", RuleMaxLength},
		{"256 bytes accepted", strings.Repeat("k7", 128), "", "", ""},
		{"email", "ada@example.com", "ada@example.com", "", RuleNotEmail},
		{"email other case and spaces", "  ADA@Example.COM ", "ada@example.com", "", RuleNotEmail},
		{"email local part", "adalovelace", "adalovelace@x.com", "", RuleNotEmail},
		{"email local part other case", "AdaLovelace", " adalovelace@x.com ", "", RuleNotEmail},
		{"username other case", "LOVELACE1815", "ada@example.com", "lovelace1815", RuleNotUsername},
		{"username with spaces", " lovelace1815 ", "", "Lovelace1815", RuleNotUsername},
		{"common", "password1234", "ada@example.com", "ada", RuleNotCommon},
		{"common upper case", "QwertyUIOP", "", "", RuleNotCommon},
		{"common qwertyuiop", "qwertyuiop", "", "", RuleNotCommon},
		{"common digits", "1234567890", "", "", RuleNotCommon},
		{"common with surrounding spaces", "  iloveyou12  ", "", "", RuleNotCommon},
		{"passphrase accepted", "violet kettle drums at dawn 42", "ada@example.com", "ada", ""},
		{"random accepted", "q8#Vf!2mZr@pL", "ada@example.com", "ada", ""},
		{"contains email but longer accepted", "ada@example.com!x9", "ada@example.com", "", ""},
		{"empty email and username ignored", "Zq7-tundra-marble", "", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := p.Check(c.password, c.email, c.username)
			if c.rule == "" {
				require.NoError(t, err)
				return
			}
			var re *RuleError
			require.True(t, errors.As(err, &re), "want *RuleError, got %v", err)
			require.Equal(t, c.rule, re.Rule)
			require.NotEmpty(t, re.Message)
			require.Equal(t, re.Message, err.Error())
		})
	}
}

func TestNewPolicyTwice(t *testing.T) {
	a, err := NewPolicy()
	require.NoError(t, err)
	b, err := NewPolicy()
	require.NoError(t, err)
	require.Equal(t, len(a.common), len(b.common))
	require.Greater(t, len(a.common), 100_000)
}

// TestCommonList checks the embedded file is as SOURCE.md describes it:
// lower-cased, at least MinLength runes, sorted (byte order) and unique.
func TestCommonList(t *testing.T) {
	zr, err := gzip.NewReader(bytes.NewReader(commonGz))
	require.NoError(t, err)
	raw, err := io.ReadAll(zr)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
	require.Greater(t, len(lines), 100_000)
	for i, w := range lines {
		require.Equal(t, strings.ToLower(w), w)
		require.GreaterOrEqual(t, utf8.RuneCountInString(w), MinLength, w)
		if i > 0 {
			require.Less(t, lines[i-1], w, "not sorted or duplicated at line %d", i+1)
		}
	}

	p, err := NewPolicy()
	require.NoError(t, err)
	require.Len(t, p.common, len(lines))
	for _, w := range []string{"password1234", "qwertyuiop", "1234567890", "iloveyou12"} {
		require.Contains(t, p.common, w)
	}
}

func BenchmarkCheck(b *testing.B) {
	p, err := NewPolicy()
	require.NoError(b, err)
	for b.Loop() {
		_ = p.Check("violet kettle drums at dawn 42", "ada.lovelace@example.com", "ada")
	}
}
