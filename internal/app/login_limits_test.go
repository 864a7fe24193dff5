package app_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/auth"
	"github.com/rollcall/rollcall/internal/config"
	"github.com/rollcall/rollcall/internal/testkit"
)

// TestLoginLimitsHoldUnderParallelLoad sends 100 sign-ins with different
// unknown names from one address at once: no more than the per-address
// failure limit (50) are checked, the rest are refused before any hashing,
// and no more hashes run at once than the hash concurrency setting.
func TestLoginLimitsHoldUnderParallelLoad(t *testing.T) {
	t.Parallel()
	s := testkit.NewServer(t, func(c *config.Config) {
		// Costly enough that the attempts overlap.
		c.Auth.Argon2 = auth.Argon2Params{MemoryKiB: 2 * 1024, Iterations: 1, Parallelism: 1}
		c.Auth.HashConcurrency = 3
	})
	s.CreateOrg(t, "acme")
	before := s.Auth.Hasher().Stats()

	var wg sync.WaitGroup
	answers := make(chan testkit.Error, 100)
	for i := range 100 {
		wg.Go(func() {
			resp := s.Query(t, "", loginMutation, map[string]any{"in": map[string]any{
				"organization": "acme", "login": fmt.Sprintf("stranger-%d@acme.test", i), "password": "guess-guess-guess"}})
			if len(resp.Errors) == 0 {
				answers <- testkit.Error{Message: "signed in"}
				return
			}
			answers <- resp.Errors[0]
		})
	}
	wg.Wait()
	close(answers)
	checked, limited := 0, 0
	for e := range answers {
		switch e.Code() {
		case "UNAUTHENTICATED":
			require.Equal(t, "invalid login or password", e.Message)
			checked++
		case "RATE_LIMITED":
			limited++
		default:
			t.Fatalf("unexpected answer %+v", e)
		}
	}
	require.Equal(t, 50, checked, "the per-address failure limit")
	require.Equal(t, 50, limited)

	after := s.Auth.Hasher().Stats()
	require.Equal(t, int64(checked), after.Total-before.Total, "one hash per checked attempt, none for the refused")
	require.LessOrEqual(t, after.Peak, 3, "never more hashes at once than ROLLCALL_HASH_CONCURRENCY")
	require.Zero(t, after.Running)
}

// TestLoginCostsOneHashWhateverTheAccount checks that every refusal, and a
// success with a generated password, computes exactly one argon2id hash:
// the work does not tell whether the login exists or how its password was
// set. (The time this takes is measured by BenchmarkLoginTiming.)
func TestLoginCostsOneHashWhateverTheAccount(t *testing.T) {
	t.Parallel()
	s := testkit.NewServer(t)
	acme := s.CreateOrg(t, "acme")
	people := s.AddPeople(t, acme,
		testkit.Person{Email: "chosen@acme.test", Status: user.StatusActive, Password: "chosen-password-1"},
		testkit.Person{Email: "generated@acme.test", Status: user.StatusActive},
		testkit.Person{Email: "gone@acme.test", Status: user.StatusDeactivated, Password: "gone-password-1"},
	)
	// A password a bulk TEMPORARY_PASSWORD send stored: a bare SHA-256.
	require.NoError(t, s.DB.Client.User.UpdateOne(people[1]).SetPasswordHash(auth.FastHash("generated-password-1")).
		SetMustChangePassword(true).Exec(testkit.System()))
	// The same login, with different passwords, in two organisations.
	for _, slug := range []string{"north", "south"} {
		o := s.CreateOrg(t, slug)
		s.AddPeople(t, o, testkit.Person{Email: "sam@example.org", Status: user.StatusActive, Password: "sam-password-" + slug})
	}

	for _, c := range []struct {
		name, org, login, password string
		ok                         bool
	}{
		{"unknown login", "acme", "nobody@acme.test", "whatever-password", false},
		{"wrong chosen password", "acme", "chosen@acme.test", "wrong-password-1", false},
		{"wrong generated password", "acme", "generated@acme.test", "wrong-password-1", false},
		{"right generated password", "acme", "generated@acme.test", "generated-password-1", true},
		{"right chosen password", "acme", "chosen@acme.test", "chosen-password-1", true},
		{"deactivated", "acme", "gone@acme.test", "gone-password-1", false},
		{"login in two organisations, none named", "", "sam@example.org", "sam-password-north", false},
		{"login in two organisations, one named", "north", "sam@example.org", "sam-password-north", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := s.Auth.Hasher().Stats().Total
			resp := s.Query(t, "", loginMutation, map[string]any{"in": map[string]any{"organization": c.org, "login": c.login, "password": c.password}})
			if c.ok {
				require.Empty(t, resp.Errors)
			} else {
				require.Equal(t, "UNAUTHENTICATED", resp.Code())
				require.Equal(t, "invalid login or password", resp.Errors[0].Message)
			}
			require.Equal(t, before+1, s.Auth.Hasher().Stats().Total, "exactly one argon2id computation")
		})
	}
}
