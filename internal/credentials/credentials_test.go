package credentials

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/invitation"
)

func TestLinks(t *testing.T) {
	t.Parallel()
	builtIn := Links{PublicURL: "https://rc.example/"}
	spa := Links{PublicURL: "https://rc.example", InviteTemplate: "https://app.example/join/{token}", ResetTemplate: "https://app.example/reset?t={token}"}
	for _, tc := range []struct {
		name, got, want string
	}{
		{"invite", builtIn.Invite("a b+c"), "https://rc.example/invite/accept?token=a+b%2Bc"},
		{"reset", builtIn.Reset("tok"), "https://rc.example/password/reset?token=tok"},
		{"sign in", builtIn.SignIn(), "https://rc.example/"},
		{"spa invite", spa.Invite("a/b"), "https://app.example/join/a%2Fb"},
		{"spa reset", spa.Reset("tok"), "https://app.example/reset?t=tok"},
		{"spa sign in", spa.SignIn(), "https://rc.example/"},
	} {
		require.Equal(t, tc.want, tc.got, tc.name)
	}
}

func TestTTL(t *testing.T) {
	t.Parallel()
	o := &ent.Organization{InvitationTTLSeconds: 7 * 24 * 3600, ResetTTLSeconds: 3600}
	require.Equal(t, 7*24*time.Hour, TTL(o, invitation.KindINVITATION))
	require.Equal(t, time.Hour, TTL(o, invitation.KindPASSWORD_RESET))
	require.Zero(t, TTL(o, ""))
}
