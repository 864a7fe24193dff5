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

// HashPassword returns the PHC-formatted argon2id hash of password. It runs
// unbounded: servers hash through a Hasher.
func (p Argon2Params) HashPassword(password string) string { return p.hash(password).String() }

// hash computes the argon2id hash of password with a fresh salt.
func (p Argon2Params) hash(password string) argon2Hash {
	salt := make([]byte, saltLen)
	_, _ = rand.Read(salt)
	key := argon2.IDKey([]byte(password), salt, p.Iterations, p.MemoryKiB, p.Parallelism, keyLen)
	return argon2Hash{params: p, salt: salt, key: key}
}

var errBadHash = errors.New("malformed password hash")

// FastHashPrefix marks a stored password that is a bare SHA-256 (hex). Only
// generated passwords of at least 128 random bits are stored so: guessing
// them is hopeless however fast the hash, and bulk sends need not pay
// argon2's cost per recipient. Checking one still costs an argon2id
// computation (see Hasher.Check), so that sign-in time does not tell how a
// password was set.
const FastHashPrefix = "$sha256$"

// FastHash returns the stored form of a generated high-entropy password.
func FastHash(password string) string {
	sum := sha256.Sum256([]byte(password))
	return FastHashPrefix + hex.EncodeToString(sum[:])
}

// VerifyPassword reports whether password matches encoded, using the
// parameters recorded in the hash itself. Its cost depends on the kind of
// hash; Hasher.Check is the variant whose cost does not.
func VerifyPassword(password, encoded string) (bool, error) {
	if want, ok, err := parseFast(encoded); ok {
		if err != nil {
			return false, err
		}
		return fastMatches(password, want), nil
	}
	h, err := parseArgon2(encoded)
	if err != nil {
		return false, err
	}
	return h.matches(password), nil
}

// parseFast reads a FastHash; ok reports whether encoded claims to be one.
func parseFast(encoded string) (want []byte, ok bool, err error) {
	rest, ok := strings.CutPrefix(encoded, FastHashPrefix)
	if !ok {
		return nil, false, nil
	}
	want, err = hex.DecodeString(rest)
	if err != nil || len(want) != sha256.Size {
		return nil, true, errBadHash
	}
	return want, true, nil
}

func fastMatches(password string, want []byte) bool {
	got := sha256.Sum256([]byte(password))
	return subtle.ConstantTimeCompare(got[:], want) == 1
}

// argon2Hash is a parsed PHC argon2id hash.
type argon2Hash struct {
	params    Argon2Params
	salt, key []byte
}

// String is h in PHC format.
func (h argon2Hash) String() string {
	p := h.params
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.MemoryKiB, p.Iterations, p.Parallelism,
		base64.RawStdEncoding.EncodeToString(h.salt), base64.RawStdEncoding.EncodeToString(h.key))
}

func parseArgon2(encoded string) (argon2Hash, error) {
	var h argon2Hash
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return h, errBadHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return h, errBadHash
	}
	p := &h.params
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Iterations, &p.Parallelism); err != nil {
		return h, errBadHash
	}
	var err error
	if h.salt, err = base64.RawStdEncoding.DecodeString(parts[4]); err != nil {
		return h, errBadHash
	}
	if h.key, err = base64.RawStdEncoding.DecodeString(parts[5]); err != nil || len(h.key) == 0 {
		return h, errBadHash
	}
	return h, nil
}

// matches computes argon2id of password with h's salt and parameters.
func (h argon2Hash) matches(password string) bool {
	got := argon2.IDKey([]byte(password), h.salt, h.params.Iterations, h.params.MemoryKiB, h.params.Parallelism, uint32(len(h.key)))
	return subtle.ConstantTimeCompare(got, h.key) == 1
}
