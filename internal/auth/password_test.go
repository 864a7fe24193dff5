package auth

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPasswordHashing(t *testing.T) {
	p := Argon2Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}
	hash := p.HashPassword("correct horse battery staple")
	require.True(t, strings.HasPrefix(hash, "$argon2id$v=19$m=64,t=1,p=1$"))
	require.NotEqual(t, hash, p.HashPassword("correct horse battery staple"), "salted")

	ok, err := VerifyPassword("correct horse battery staple", hash)
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = VerifyPassword("correct horse battery stapler", hash)
	require.NoError(t, err)
	require.False(t, ok)

	// Parameters come from the hash, so stored hashes survive a change of
	// configuration.
	stronger := Argon2Params{MemoryKiB: 128, Iterations: 2, Parallelism: 1}.HashPassword("pw-pw-pw-pw")
	ok, err = VerifyPassword("pw-pw-pw-pw", stronger)
	require.NoError(t, err)
	require.True(t, ok)
}

func TestVerifyRejectsMalformedHashes(t *testing.T) {
	for _, bad := range []string{
		"",
		"plaintext",
		"$argon2i$v=19$m=64,t=1,p=1$c2FsdA$aGFzaA",
		"$argon2id$v=18$m=64,t=1,p=1$c2FsdA$aGFzaA",
		"$argon2id$v=19$m=x,t=1,p=1$c2FsdA$aGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1$!!!$aGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1$c2FsdA$",
	} {
		_, err := VerifyPassword("x", bad)
		require.Error(t, err, bad)
	}
}
