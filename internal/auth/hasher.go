package auth

import (
	"context"
	"fmt"
	"runtime"
	"sync"

	"github.com/rollcall/rollcall/internal/token"
)

// hashMemoryBudgetKiB bounds the memory argon2id may hold at once when the
// concurrency is not set: 256 MiB, thirteen hashes at the default 19 MiB.
const hashMemoryBudgetKiB = 256 * 1024

// DefaultHashConcurrency is how many argon2id computations with p run at once
// when no number is configured: one per processor Go may use, but no more
// than fit in 256 MiB, and at least one.
func DefaultHashConcurrency(p Argon2Params) int {
	n := runtime.GOMAXPROCS(0)
	if p.MemoryKiB > 0 {
		n = min(n, hashMemoryBudgetKiB/int(p.MemoryKiB))
	}
	return max(1, n)
}

// Hasher hashes and checks passwords with argon2id, never running more than
// a fixed number of computations at once: each takes tens of MiB, so a burst
// of sign-ins waits its turn instead of taking the server's memory. Callers
// wait with their context, so a client that leaves stops waiting.
type Hasher struct {
	params Argon2Params
	slots  chan struct{}
	// decoy is checked when there is no argon2id hash to check, so every
	// Check costs one argon2id computation with the current parameters.
	decoy argon2Hash

	mu    sync.Mutex
	stats HasherStats
}

// HasherStats count a hasher's argon2id computations.
type HasherStats struct {
	Running int   // computing now
	Peak    int   // the most that ever ran at once
	Total   int64 // computations started, decoys included
}

// NewHasher returns a hasher with params running at most concurrency
// computations at once (DefaultHashConcurrency when concurrency < 1).
func NewHasher(params Argon2Params, concurrency int) *Hasher {
	if concurrency < 1 {
		concurrency = DefaultHashConcurrency(params)
	}
	return &Hasher{params: params, slots: make(chan struct{}, concurrency), decoy: params.hash(token.Password())}
}

// Concurrency is the most computations the hasher runs at once.
func (h *Hasher) Concurrency() int { return cap(h.slots) }

// Stats returns the hasher's counts so far.
func (h *Hasher) Stats() HasherStats {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.stats
}

// acquire waits for a free slot, or for ctx to end.
func (h *Hasher) acquire(ctx context.Context) (release func(), err error) {
	select {
	case h.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("wait to hash a password: %w", context.Cause(ctx))
	}
	h.mu.Lock()
	h.stats.Running++
	h.stats.Peak = max(h.stats.Peak, h.stats.Running)
	h.mu.Unlock()
	return func() {
		h.mu.Lock()
		h.stats.Running--
		h.mu.Unlock()
		<-h.slots
	}, nil
}

// Hash returns the argon2id hash of password with the current parameters.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	release, err := h.acquire(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	h.count()
	return h.params.HashPassword(password), nil
}

// count records an argon2id computation about to start.
func (h *Hasher) count() {
	h.mu.Lock()
	h.stats.Total++
	h.mu.Unlock()
}

// matches counts and computes argon2id of password with a's salt and
// parameters.
func (h *Hasher) matches(a argon2Hash, password string) bool {
	h.count()
	return a.matches(password)
}

// Check reports whether password matches stored, at the same cost whatever
// stored is: exactly one argon2id computation, with the stored hash's
// parameters for an argon2id hash and with the current ones otherwise. An
// empty stored (no account, no password) and a FastHash pay with a decoy,
// and a FastHash is compared only after the decoy, so a right generated
// password takes as long as a wrong one. A malformed stored hash fails with
// an error, after the decoy.
func (h *Hasher) Check(ctx context.Context, password, stored string) (bool, error) {
	own, ownErr := parseArgon2(stored)
	fast, isFast, fastErr := parseFast(stored)
	release, err := h.acquire(ctx)
	if err != nil {
		return false, err
	}
	defer release()
	if ownErr == nil {
		return h.matches(own, password), nil
	}
	h.matches(h.decoy, password)
	switch {
	case isFast && fastErr == nil:
		return fastMatches(password, fast), nil
	case isFast, stored != "":
		return false, errBadHash
	default:
		return false, nil
	}
}
