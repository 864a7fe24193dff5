package clientip_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/internal/clientip"
)

func TestFromRequest(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		peer   string
		xff    []string // one element per header line
		hops   int
		client string
	}{
		{name: "no proxy: the peer", peer: "192.0.2.7:4711", client: "192.0.2.7"},
		{name: "no proxy: X-Forwarded-For ignored", peer: "192.0.2.7:4711", xff: []string{"198.51.100.1"}, client: "192.0.2.7"},
		{name: "one proxy, one entry", peer: "10.0.0.2:80", xff: []string{"198.51.100.1"}, hops: 1, client: "198.51.100.1"},
		{name: "one proxy: a spoofed first entry is not read", peer: "10.0.0.2:80", xff: []string{"6.6.6.6, 198.51.100.1"}, hops: 1, client: "198.51.100.1"},
		{name: "one proxy: spoofed entries and spacing", peer: "10.0.0.2:80", xff: []string{" 6.6.6.6 ,7.7.7.7,  198.51.100.1 "}, hops: 1, client: "198.51.100.1"},
		{name: "one proxy: header lines are one list", peer: "10.0.0.2:80", xff: []string{"6.6.6.6", "198.51.100.1"}, hops: 1, client: "198.51.100.1"},
		{name: "one proxy: a spoofed line after the first is still to the left", peer: "10.0.0.2:80", xff: []string{"6.6.6.6, 7.7.7.7", "8.8.8.8, 198.51.100.1"}, hops: 1, client: "198.51.100.1"},
		{name: "two proxies", peer: "10.0.0.2:80", xff: []string{"6.6.6.6, 198.51.100.1, 10.0.0.1"}, hops: 2, client: "198.51.100.1"},
		{name: "two proxies across lines", peer: "10.0.0.2:80", xff: []string{"6.6.6.6, 198.51.100.1", "10.0.0.1"}, hops: 2, client: "198.51.100.1"},
		{name: "fewer entries than hops: the peer", peer: "10.0.0.2:80", xff: []string{"198.51.100.1"}, hops: 2, client: "10.0.0.2"},
		{name: "no header: the peer", peer: "10.0.0.2:80", hops: 1, client: "10.0.0.2"},
		{name: "empty header: the peer", peer: "10.0.0.2:80", xff: []string{""}, hops: 1, client: "10.0.0.2"},
		{name: "unparsable entry: the peer", peer: "10.0.0.2:80", xff: []string{"198.51.100.1, unknown"}, hops: 1, client: "10.0.0.2"},
		{name: "empty entry: the peer", peer: "10.0.0.2:80", xff: []string{"198.51.100.1,"}, hops: 1, client: "10.0.0.2"},
		{name: "obfuscated identifier: the peer", peer: "10.0.0.2:80", xff: []string{"_hidden"}, hops: 1, client: "10.0.0.2"},
		{name: "entry with a port", peer: "10.0.0.2:80", xff: []string{"198.51.100.1:4711"}, hops: 1, client: "198.51.100.1"},
		{name: "IPv6 entry", peer: "10.0.0.2:80", xff: []string{"2001:DB8::1"}, hops: 1, client: "2001:db8::1"},
		{name: "IPv6 entry with a port", peer: "10.0.0.2:80", xff: []string{"[2001:db8::1]:4711"}, hops: 1, client: "2001:db8::1"},
		{name: "IPv4-mapped entry", peer: "10.0.0.2:80", xff: []string{"::ffff:198.51.100.1"}, hops: 1, client: "198.51.100.1"},
		{name: "IPv6 peer", peer: "[2001:db8::7]:4711", client: "2001:db8::7"},
		{name: "IPv4-mapped peer", peer: "[::ffff:192.0.2.7]:4711", client: "192.0.2.7"},
		{name: "peer without a port", peer: "192.0.2.7", client: "192.0.2.7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := http.NewRequest(http.MethodGet, "http://rollcall.test/", nil)
			require.NoError(t, err)
			r.RemoteAddr = tc.peer
			for _, l := range tc.xff {
				r.Header.Add("X-Forwarded-For", l)
			}
			require.Equal(t, tc.client, clientip.FromRequest(r, tc.hops))
		})
	}
}

// One proxy, and a client that puts a new first entry in every request:
// every request is the same client.
func TestFromRequestRotatingSpoof(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for i := range 120 {
		r, err := http.NewRequest(http.MethodPost, "http://rollcall.test/graphql", nil)
		require.NoError(t, err)
		r.RemoteAddr = "10.0.0.2:80"
		r.Header.Set("X-Forwarded-For", fmt.Sprintf("203.0.%d.%d, 198.51.100.1", i/200, i%200))
		seen[clientip.FromRequest(r, 1)] = true
	}
	require.Equal(t, map[string]bool{"198.51.100.1": true}, seen)
}

func TestKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ addr, key string }{
		{"192.0.2.7", "192.0.2.7"},
		{"::ffff:192.0.2.7", "192.0.2.7"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2::ffff", "2001:db8:1:2::/64"},
		{"2001:db8:1:3::1", "2001:db8:1:3::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"::1", "::/64"},
		{"not an address", "not an address"},
		{"", ""},
	} {
		require.Equal(t, tc.key, clientip.Key(tc.addr), tc.addr)
	}
	require.Equal(t, clientip.Key("2001:db8:1:2::1"), clientip.Key("2001:db8:1:2:ffff:ffff:ffff:ffff"), "one /64, one key")
	require.NotEqual(t, clientip.Key("192.0.2.1"), clientip.Key("192.0.2.2"), "IPv4 addresses count one by one")
}
