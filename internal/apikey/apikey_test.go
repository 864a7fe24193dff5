package apikey

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/internal/apperr"
	"github.com/rollcall/rollcall/internal/perm"
	"github.com/rollcall/rollcall/internal/viewer"
)

func TestCheckPermissions(t *testing.T) {
	t.Parallel()
	creator := &viewer.Viewer{UserID: 1, Permissions: []string{perm.PeopleRead, perm.PeopleInvite, perm.OrganizationManage}}
	cases := []struct {
		name        string
		asked       []string
		want        []string
		code, field string
	}{
		{"held ones, in the known order, once", []string{perm.OrganizationManage, perm.PeopleRead, perm.PeopleRead}, []string{perm.PeopleRead, perm.OrganizationManage}, "", ""},
		{"one not held", []string{perm.PeopleRead, perm.PeopleManage}, nil, "FORBIDDEN", "permissions"},
		{"scim.provision not held", []string{perm.ScimProvision}, nil, "FORBIDDEN", "permissions"},
		{"unknown", []string{"people.fly"}, nil, "BAD_USER_INPUT", "permissions"},
		{"wrong case", []string{"People.Read"}, nil, "BAD_USER_INPUT", "permissions"},
		{"none", nil, nil, "BAD_USER_INPUT", "permissions"},
	}
	for _, c := range cases {
		got, err := checkPermissions(creator, c.asked)
		if c.code == "" {
			require.NoError(t, err, c.name)
			require.Equal(t, c.want, got, c.name)
			continue
		}
		e, ok := apperr.As(err)
		require.True(t, ok, c.name)
		require.Equal(t, apperr.Code(c.code), e.Code, c.name)
		require.Equal(t, c.field, e.Field, c.name)
	}
}

func TestCheckName(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]string{"  HR sync ": "HR sync", "Zoë's bot": "Zoë's bot", strings.Repeat("n", 100): strings.Repeat("n", 100)} {
		got, err := checkName(raw)
		require.NoError(t, err, raw)
		require.Equal(t, want, got)
	}
	for _, bad := range []string{"", "   ", strings.Repeat("n", 101), "a\nb", "a\x00b", "a\u202eb", "a\u200bb"} {
		_, err := checkName(bad)
		require.True(t, apperr.Is(err, apperr.BadUserInput), "%q", bad)
	}
}

func TestLabel(t *testing.T) {
	t.Parallel()
	require.Equal(t, `API key "HR sync" (rk_ab12cd34…)`, Label(&ent.ApiKey{Name: "HR sync", Prefix: "rk_ab12cd34"}))
}

// due spares writes within the minute on this replica; stale entries go
// once the map is large.
func TestDue(t *testing.T) {
	t.Parallel()
	s := New(nil, nil, nil, nil, nil)
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	require.True(t, s.due(1, t0))
	require.False(t, s.due(1, t0.Add(59*time.Second)))
	require.True(t, s.due(2, t0), "each key on its own")
	require.True(t, s.due(1, t0.Add(TouchEvery)))
	require.False(t, s.due(1, t0.Add(TouchEvery+time.Second)))
	require.True(t, s.due(1, t0.Add(-time.Hour)), "a clock that went back does not stop writes")

	for id := range maxTouched + 1 {
		s.due(100+id, t0)
	}
	require.True(t, s.due(-1, t0.Add(2*TouchEvery)))
	require.Len(t, s.touched, 1, "stale entries are dropped")
}
