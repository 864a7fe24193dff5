package token

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestNew(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		plain, hash := New()
		require.Len(t, plain, 43, "32 bytes in unpadded base64url")
		require.True(t, WellFormed(plain))
		require.True(t, Equal(hash, Hash(plain)))
		require.False(t, seen[plain])
		seen[plain] = true
	}
}

func TestWellFormed(t *testing.T) {
	plain, _ := New()
	for _, bad := range []string{"", "short", plain + "A", plain[:42], strings.Repeat("!", 43), plain[:42] + "="} {
		require.False(t, WellFormed(bad), bad)
	}
}

func TestPassword(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		p := Password()
		require.Len(t, p, 24+3)
		require.Equal(t, 4, len(strings.Split(p, "-")))
		require.NotContainsf(t, p, "0", "no look-alikes")
		require.NotContainsf(t, p, "l", "no look-alikes")
		require.False(t, seen[p])
		seen[p] = true
	}
}

func TestKey(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		plain, hash := NewKey()
		require.Len(t, plain, KeyLen)
		require.True(t, strings.HasPrefix(plain, "rk_"))
		require.True(t, WellFormedKey(plain))
		require.False(t, WellFormed(plain), "a key is not a session token")
		require.True(t, Equal(hash, Hash(plain)))
		require.False(t, seen[plain])
		seen[plain] = true
	}
	session, _ := New()
	for _, bad := range []string{"", "rk_", "rk_short", "rk_" + session[:42], "rk_" + session + "A",
		"RK_" + session, "rk-" + session, "rk_" + session[:42] + "=", "rk_" + session[:42] + "!", "rk_" + session[3:]} {
		require.False(t, WellFormedKey(bad), bad)
	}
}
