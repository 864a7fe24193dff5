package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Argon2Params are the argon2id cost parameters for hashing passwords.
type Argon2Params struct {
	MemoryKiB   uint32
	Iterations  uint32
	Parallelism uint8
}

// DefaultArgon2 follows OWASP's argon2id recommendation (19 MiB, 2 passes).
var DefaultArgon2 = Argon2Params{MemoryKiB: 19 * 1024, Iterations: 2, Parallelism: 1}

const (
	saltLen = 16
	keyLen  = 32
)

// HashPassword returns the PHC-formatted argon2id hash of password.
func (p Argon2Params) HashPassword(password string) string {
	salt := make([]byte, saltLen)
	_, _ = rand.Read(salt)
	key := argon2.IDKey([]byte(password), salt, p.Iterations, p.MemoryKiB, p.Parallelism, keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.MemoryKiB, p.Iterations, p.Parallelism,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

var errBadHash = errors.New("malformed argon2id hash")

// FastHashPrefix marks a stored password that is a bare SHA-256 (hex). Only
// generated passwords of at least 128 random bits are stored so: guessing
// them is hopeless however fast the hash, and bulk sends need not pay
// argon2's cost per recipient.
const FastHashPrefix = "$sha256$"

// FastHash returns the stored form of a generated high-entropy password.
func FastHash(password string) string {
	sum := sha256.Sum256([]byte(password))
	return FastHashPrefix + hex.EncodeToString(sum[:])
}

// VerifyPassword reports whether password matches encoded, using the
// parameters recorded in the hash itself.
func VerifyPassword(password, encoded string) (bool, error) {
	if rest, ok := strings.CutPrefix(encoded, FastHashPrefix); ok {
		want, err := hex.DecodeString(rest)
		if err != nil || len(want) != sha256.Size {
			return false, errBadHash
		}
		got := sha256.Sum256([]byte(password))
		return subtle.ConstantTimeCompare(got[:], want) == 1, nil
	}
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errBadHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, errBadHash
	}
	var p Argon2Params
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Iterations, &p.Parallelism); err != nil {
		return false, errBadHash
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil {
		return false, errBadHash
	}
	want, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(want) == 0 {
		return false, errBadHash
	}
	got := argon2.IDKey([]byte(password), salt, p.Iterations, p.MemoryKiB, p.Parallelism, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}
