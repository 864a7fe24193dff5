// Package token makes the opaque secrets Rollcall hands out (session tokens,
// invitation and reset links): 32 random bytes, base64url for the holder,
// SHA-256 for the database, compared in constant time.
package token

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"math/big"
	"strings"
)

// Size is the number of random bytes in a token (256 bits).
const Size = 32

// New returns a fresh token and its hash. Only the hash may be stored.
func New() (plain string, hash []byte) {
	b := make([]byte, Size)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	plain = base64.RawURLEncoding.EncodeToString(b)
	return plain, Hash(plain)
}

// Hash returns the SHA-256 of a token as presented.
func Hash(plain string) []byte {
	h := sha256.Sum256([]byte(plain))
	return h[:]
}

// WellFormed reports whether plain could be a token this package issued, so
// junk is refused before any database lookup.
func WellFormed(plain string) bool {
	b, err := base64.RawURLEncoding.DecodeString(plain)
	return err == nil && len(b) == Size
}

// KeyPrefix starts every API key secret, so a key is recognised as one (by
// people, and by secret scanners) wherever it turns up.
const KeyPrefix = "rk_"

// KeyLen is the length of an API key secret: the prefix and a token.
const KeyLen = len(KeyPrefix) + 43

// NewKey returns a fresh API key secret (KeyPrefix and 32 random bytes in
// base64url) and its hash. Only the hash may be stored.
func NewKey() (plain string, hash []byte) {
	t, _ := New()
	plain = KeyPrefix + t
	return plain, Hash(plain)
}

// WellFormedKey reports whether plain could be an API key secret NewKey
// made. A session token (43 characters) never is one, even when it happens
// to start with KeyPrefix.
func WellFormedKey(plain string) bool {
	return len(plain) == KeyLen && strings.HasPrefix(plain, KeyPrefix) && WellFormed(plain[len(KeyPrefix):])
}

// Equal compares two hashes in constant time.
func Equal(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }

// passwordAlphabet leaves out look-alikes (0/o, 1/l/i) so a generated password
// can be read aloud or typed from paper.
const passwordAlphabet = "23456789abcdefghjkmnpqrstuvwxyz" + "ABCDEFGHJKMNPQRSTUVWXYZ"

// Password returns a readable random password of 24 letters and digits in
// groups of six (about 138 bits), for bootstrap owners and temporary passwords.
func Password() string {
	var b strings.Builder
	for i := range 24 {
		if i > 0 && i%6 == 0 {
			b.WriteByte('-')
		}
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(passwordAlphabet))))
		b.WriteByte(passwordAlphabet[n.Int64()])
	}
	return b.String()
}
