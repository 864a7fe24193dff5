package scim

import (
	"testing"

	"github.com/stretchr/testify/require"

	filter "github.com/scim2/filter-parser/v2"
)

func TestBoolean(t *testing.T) {
	for _, tc := range []struct {
		in   any
		want bool
		ok   bool
	}{
		{true, true, true}, {false, false, true}, {"False", false, true}, {"TRUE", true, true},
		{" false ", false, true}, {"no", false, false}, {1, false, false}, {nil, false, false},
	} {
		got, err := boolean("active", tc.in)
		require.Equal(t, tc.ok, err == nil, "%v", tc.in)
		require.Equal(t, tc.want, got, "%v", tc.in)
	}
}

func TestFilterOperatorsIgnoreCase(t *testing.T) {
	for _, f := range []string{`userName eq "a"`, `userName Eq "a"`, `USERNAME EQ "a"`, `emails[type eq "work"]`, `userName pr`} {
		expr, err := filter.ParseFilter([]byte(f))
		require.NoError(t, err, f)
		_, e := userPredicate(expr)
		require.Nil(t, e, f)
	}
}

func TestPatchUser(t *testing.T) {
	path := func(s string) *filter.Path {
		p, err := filter.ParsePath([]byte(s))
		require.NoError(t, err)
		return &p
	}
	base := func() userState {
		return userState{UserName: "u@x.test", Emails: []emailValue{{Value: "u@x.test", Type: "work", Primary: true}}, Active: true}
	}
	cases := []struct {
		name  string
		op    patchOp
		check func(userState)
		err   string
	}{
		{"replace the work address", patchOp{Op: "replace", Path: path(`emails[type eq "work"].value`), Value: "v@x.test"},
			func(s userState) { require.Equal(t, "v@x.test", s.email()) }, ""},
		{"add a work address where there is none", patchOp{Op: "add", Path: path(`emails[type eq "home"].value`), Value: "h@x.test"},
			func(s userState) { require.Len(t, s.Emails, 2); require.Equal(t, "home", s.Emails[1].Type) }, ""},
		{"deactivate without a path", patchOp{Op: "replace", Value: map[string]any{"active": "False"}},
			func(s userState) { require.False(t, s.Active) }, ""},
		{"a sub-attribute as a key", patchOp{Op: "add", Value: map[string]any{"name.familyName": "F"}},
			func(s userState) { require.Equal(t, "F", *s.FamilyName) }, ""},
		{"remove the external id", patchOp{Op: "remove", Path: path("externalId")},
			func(s userState) { require.Nil(t, s.ExternalID) }, ""},
		{"an enterprise attribute is ignored", patchOp{Op: "replace", Path: path("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"), Value: "Sales"},
			func(s userState) { require.Equal(t, base(), s) }, ""},
		{"an unknown path", patchOp{Op: "replace", Path: path("shoeSize"), Value: "44"}, nil, "invalidPath"},
		{"remove userName", patchOp{Op: "remove", Path: path("userName")}, nil, "mutability"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := base()
			err := patchUser(&st, tc.op)
			if tc.err != "" {
				require.Error(t, err)
				require.Equal(t, tc.err, err.(*Error).ScimType)
				return
			}
			require.NoError(t, err)
			tc.check(st)
		})
	}
}

func TestPatchGroupMembers(t *testing.T) {
	st := groupState{DisplayName: "G", Members: []int{1, 2, 3}}
	p, err := filter.ParsePath([]byte(`members[value eq "2"]`))
	require.NoError(t, err)
	require.NoError(t, patchGroup(&st, patchOp{Op: "remove", Path: &p}))
	require.Equal(t, []int{1, 3}, st.Members)
	m, _ := filter.ParsePath([]byte("members"))
	require.NoError(t, patchGroup(&st, patchOp{Op: "add", Path: &m, Value: []any{map[string]any{"value": "4", "$ref": nil}}}))
	require.Equal(t, []int{1, 3, 4}, st.Members)
	require.NoError(t, patchGroup(&st, patchOp{Op: "replace", Path: &m, Value: []any{map[string]any{"value": "9"}}}))
	require.Equal(t, []int{9}, st.Members)
	require.NoError(t, patchGroup(&st, patchOp{Op: "replace", Value: map[string]any{"id": "7", "displayName": "H"}}))
	require.Equal(t, "H", st.DisplayName)
}
