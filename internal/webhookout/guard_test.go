package webhookout

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/internal/apperr"
)

// hosts is a resolver over a fixed table, with no DNS.
type hosts map[string][]string

func (h hosts) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, a := range h[host] {
		out = append(out, netip.MustParseAddr(a))
	}
	if len(out) == 0 {
		return nil, errors.New("no such host")
	}
	return out, nil
}

func TestPublic(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		addr   string
		public bool
	}{
		{"93.184.216.34", true},
		{"8.8.8.8", true},
		{"2606:4700::1111", true},
		{"::ffff:93.184.216.34", true},
		{"127.0.0.1", false},
		{"127.255.255.254", false},
		{"10.0.0.1", false},
		{"172.16.0.1", false},
		{"172.31.255.255", false},
		{"192.168.1.1", false},
		{"169.254.169.254", false}, // cloud metadata
		{"169.254.0.1", false},
		{"0.0.0.0", false},
		{"0.1.2.3", false},
		{"100.64.0.1", false}, // carrier-grade NAT
		{"100.127.255.255", false},
		{"224.0.0.1", false},
		{"239.255.255.250", false},
		{"255.255.255.255", false},
		{"240.0.0.1", false},
		{"192.0.2.1", false},
		{"198.18.0.1", false},
		{"::1", false},
		{"::", false},
		{"fe80::1", false},
		{"fc00::1", false},
		{"fd12:3456::1", false},
		{"ff02::1", false},
		{"::ffff:127.0.0.1", false}, // IPv4-mapped
		{"::ffff:10.0.0.1", false},
		{"::ffff:169.254.169.254", false},
		{"::127.0.0.1", false},         // IPv4-compatible
		{"64:ff9b::a00:1", false},      // NAT64 of 10.0.0.1
		{"2002:a00:1::1", false},       // 6to4 of 10.0.0.1
		{"2001:db8::1", false},         // documentation
		{"2001:0:4136:e378::1", false}, // Teredo
	} {
		require.Equal(t, c.public, Public(netip.MustParseAddr(c.addr)), c.addr)
	}
}

func newGuarded(t *testing.T, allowPrivate bool, r Resolver) *Service {
	t.Helper()
	cfg := DefaultConfig()
	cfg.AllowPrivate = allowPrivate
	s := &Service{cfg: cfg, resolver: r}
	s.http = s.newClient()
	return s
}

// TestCheckURL: the rules for a URL when it is saved.
func TestCheckURL(t *testing.T) {
	t.Parallel()
	dns := hosts{
		"hooks.example.com":  {"93.184.216.34"},
		"mixed.example.com":  {"93.184.216.34", "10.1.2.3"},
		"inside.example.com": {"192.168.0.10"},
		"meta.example.com":   {"169.254.169.254"},
		"localhost":          {"127.0.0.1", "::1"},
	}
	strict := newGuarded(t, false, dns)
	for _, c := range []struct{ url, want, refusal string }{
		{"https://hooks.example.com/rollcall", "https://hooks.example.com/rollcall", ""},
		{" HTTPS://hooks.example.com:8443/a?b=c ", "https://hooks.example.com:8443/a?b=c", ""},
		{"https://93.184.216.34/x", "https://93.184.216.34/x", ""},
		{"http://hooks.example.com/", "", "must use https"},
		{"ftp://hooks.example.com/", "", "must use https, not ftp"},
		{"javascript:alert(1)", "", "absolute URL"},
		{"hooks.example.com/x", "", "absolute URL"},
		{"/relative", "", "absolute URL"},
		{"", "", "1 to 2000"},
		{"https://" + strings.Repeat("a", 2000) + ".com/", "", "1 to 2000"},
		{"https://user:pass@hooks.example.com/", "", "user name or password"},
		{"https://hooks.example.com/#frag", "", "fragment"},
		{"https:///path", "", "needs a host"},
		{"https://hooks.example.com:0/", "", "not a port number"},
		{"https://hooks.example.com:99999/", "", "not a port number"},
		{"https://nowhere.example.com/", "", "could not be resolved"},
		{"https://127.0.0.1/", "", "127.0.0.1, which is not a public address"},
		{"https://localhost:8080/", "", "not a public address"},
		{"https://[::1]/", "", "not a public address"},
		{"https://[::ffff:127.0.0.1]/", "", "127.0.0.1, which is not a public address"},
		{"https://10.0.0.1/", "", "not a public address"},
		{"https://100.64.1.1/", "", "not a public address"},
		{"https://169.254.169.254/latest/meta-data/", "", "not a public address"},
		{"https://[fd00::1]/", "", "not a public address"},
		{"https://[fe80::1%25eth0]/", "", "public address"},
		{"https://0.0.0.0/", "", "not a public address"},
		{"https://inside.example.com/", "", "192.168.0.10, which is not a public address"},
		{"https://meta.example.com/", "", "not a public address"},
		{"https://mixed.example.com/", "", "10.1.2.3, which is not a public address"},
	} {
		got, err := strict.checkURL(context.Background(), "url", c.url)
		if c.refusal == "" {
			require.NoError(t, err, c.url)
			require.Equal(t, c.want, got)
			continue
		}
		ae, ok := apperr.As(err)
		require.True(t, ok, "%s: %v", c.url, err)
		require.Equal(t, apperr.BadUserInput, ae.Code)
		require.Equal(t, "url", ae.Field)
		require.Contains(t, ae.Message, c.refusal, c.url)
	}

	// Development: http and private addresses are allowed.
	open := newGuarded(t, true, dns)
	for _, u := range []string{"http://127.0.0.1:8080/hook", "https://localhost/", "http://10.0.0.1/", "http://nowhere.example.com/"} {
		got, err := open.checkURL(context.Background(), "url", u)
		require.NoError(t, err, u)
		require.Equal(t, u, got)
	}
	_, err := open.checkURL(context.Background(), "url", "ftp://127.0.0.1/")
	require.Error(t, err)
}

// TestConnectGuard: the address actually dialled is checked, so a host
// that resolved to a public address when saved and to a private one when
// called (DNS rebinding) is refused before any byte is sent.
func TestConnectGuard(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	srv := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	defer srv.Close()
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	rebound := hosts{"rebind.example.com": {"127.0.0.1"}}
	target := "https://rebind.example.com:" + strconv.Itoa(port) + "/hook"

	strict := newGuarded(t, false, rebound)
	_, err := strict.http.Post(target, "application/json", strings.NewReader("{}"))
	var refused errNotPublic
	require.ErrorAs(t, err, &refused)
	require.Equal(t, "refused to connect to 127.0.0.1: not a public address", refused.Error())
	require.Equal(t, "refused to connect to 127.0.0.1: not a public address", strict.describe(err))
	// An address literal is checked the same way.
	_, err = strict.http.Post(srv.URL, "application/json", strings.NewReader("{}"))
	require.ErrorAs(t, err, &refused)
	require.Zero(t, hits.Load())

	// With private addresses allowed the same call connects (and fails
	// TLS verification against the test certificate, after connecting).
	open := newGuarded(t, true, rebound)
	_, err = open.http.Post(target, "application/json", strings.NewReader("{}"))
	require.Error(t, err)
	require.False(t, errors.As(err, &refused))
	var ue *url.Error
	require.ErrorAs(t, err, &ue)
}
