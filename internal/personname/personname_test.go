package personname

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCheck: the name rule counts characters, not bytes, and refuses the
// characters the text rule refuses in names.
func TestCheck(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, in string
		want     string // a part of the error; "" for none
	}{
		{"empty", "", ""},
		{"plain", "Ada", ""},
		{"spaces and punctuation", "Mary-Jane O'Neil", ""},
		{"200 ASCII characters", strings.Repeat("a", MaxLength), ""},
		{"201 ASCII characters", strings.Repeat("a", MaxLength+1), "is longer than 200 characters"},
		{"100 characters of three bytes", strings.Repeat("名", 100), ""},
		{"200 characters of three bytes", strings.Repeat("名", MaxLength), ""},
		{"201 characters of two bytes", strings.Repeat("é", MaxLength+1), "is longer than 200 characters"},
		{"200 characters of four bytes", strings.Repeat("𝒜", MaxLength), ""},
		{"a line break", "Ada\nLovelace", "line break"},
		{"a tab", "Ada\tLovelace", "tab"},
		{"a bidirectional control", "Ada\u202eecalevol", "bidirectional"},
		{"an invisible character", "Ada\u200b", "invisible"},
		{"not UTF-8", "Ad\xffa", "UTF-8"},
		{"a refused character in a long name", strings.Repeat("a", MaxLength+1) + "\n", "line break"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			err := Check(c.in)
			if c.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, c.want)
		})
	}
}
