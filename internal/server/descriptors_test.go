package server

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFitDescriptors(t *testing.T) {
	t.Parallel()
	d := DefaultConnLimits()
	for _, tc := range []struct {
		name              string
		limits            ConnLimits
		nofile            uint64
		websockets, conns int
	}{
		{"plenty: the defaults stay, connections take the rest", d, 1 << 20, 10_000, 1<<20 - 1<<17 - 10_000},
		{"a common 65536", d, 65536, 10_000, 65536 - 8192 - 10_000},
		{"a low limit lowers the websocket cap to half", d, 4096, 2048, 4096 - 512 - 2048},
		{"an operator's lower connection cap stays", ConnLimits{MaxWebsockets: 100, MaxConnections: 1000}, 1 << 20, 100, 1000},
		{"an operator's higher connection cap is lowered", ConnLimits{MaxWebsockets: 100, MaxConnections: 1 << 20}, 4096, 100, 4096 - 512 - 100},
		{"no websocket cap: half the limit", ConnLimits{}, 4096, 2048, 4096 - 512 - 2048},
		{"unlimited counts as 2^24", d, ^uint64(0), 10_000, 1<<24 - 1<<21 - 10_000},
		{"too few to share: unchanged", d, 100, 10_000, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := fitDescriptors(tc.limits, tc.nofile)
			require.Equal(t, tc.websockets, got.MaxWebsockets)
			require.Equal(t, tc.conns, got.MaxConnections)
			require.Equal(t, tc.limits.MaxWebsocketsPerIP, got.MaxWebsocketsPerIP, "per-address cap untouched")
		})
	}
}
