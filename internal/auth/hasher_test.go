package auth

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

var cheap = Argon2Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}

func TestCheckCostsOneArgon2WhateverTheHash(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := NewHasher(cheap, 2)
	chosen, err := h.Hash(ctx, "chosen-password-1")
	require.NoError(t, err)
	older := Argon2Params{MemoryKiB: 32, Iterations: 1, Parallelism: 1}.HashPassword("older-password-1")
	for _, c := range []struct {
		name, password, stored string
		ok                     bool
		bad                    bool
	}{
		{"right chosen", "chosen-password-1", chosen, true, false},
		{"wrong chosen", "guess", chosen, false, false},
		{"older parameters", "older-password-1", older, true, false},
		{"right generated", "generated-1", FastHash("generated-1"), true, false},
		{"wrong generated", "guess", FastHash("generated-1"), false, false},
		{"no password", "guess", "", false, false},
		{"malformed fast hash", "guess", FastHashPrefix + "zz", false, true},
		{"malformed", "guess", "plaintext", false, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := h.Stats().Total
			ok, err := h.Check(ctx, c.password, c.stored)
			require.Equal(t, c.bad, errors.Is(err, errBadHash), err)
			require.Equal(t, c.ok, ok)
			require.Equal(t, before+1, h.Stats().Total, "exactly one argon2id computation")
		})
	}
}

func TestHasherBoundsConcurrency(t *testing.T) {
	t.Parallel()
	h := NewHasher(Argon2Params{MemoryKiB: 4 * 1024, Iterations: 1, Parallelism: 1}, 3)
	require.Equal(t, 3, h.Concurrency())
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			var err error
			if i%2 == 0 {
				_, err = h.Hash(context.Background(), "pw")
			} else {
				_, err = h.Check(context.Background(), "pw", FastHash("x"))
			}
			require.NoError(t, err)
		})
	}
	wg.Wait()
	st := h.Stats()
	require.Equal(t, int64(40), st.Total)
	require.Zero(t, st.Running)
	require.LessOrEqual(t, st.Peak, 3)
}

func TestHasherWaitEndsWithTheContext(t *testing.T) {
	t.Parallel()
	h := NewHasher(cheap, 1)
	release, err := h.acquire(context.Background()) // the only slot
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := h.Check(ctx, "pw", "")
		done <- err
	}()
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	release()
	_, err = h.Hash(context.Background(), "pw")
	require.NoError(t, err, "the slot came back")
	require.Equal(t, int64(1), h.Stats().Total, "the abandoned check computed nothing")
}

func TestDefaultHashConcurrency(t *testing.T) {
	t.Parallel()
	require.GreaterOrEqual(t, DefaultHashConcurrency(DefaultArgon2), 1)
	require.LessOrEqual(t, DefaultHashConcurrency(DefaultArgon2), 13, "256 MiB / 19 MiB")
	require.Equal(t, 1, DefaultHashConcurrency(Argon2Params{MemoryKiB: 1 << 20}), "at least one")
}
