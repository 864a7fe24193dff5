package app_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/internal/testkit"
)

// TestGraphiQLInBrowser loads the built-in GraphiQL in headless Chromium,
// with every host but the server's unreachable, and runs a query and a
// subscription with the Authorization header from its Headers tab. It
// checks that the page asked nothing of any other host.
func TestGraphiQLInBrowser(t *testing.T) {
	t.Parallel()
	path := ""
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("Chromium is not installed; CI must run the browser test")
		}
		t.Skip("Chromium is not installed (looked for chromium and chromium-browser)")
	}
	s := testkit.NewServer(t)
	a := signIn(t, s, "acme")
	s.AddPeople(t, a.org, testkit.Person{Email: "ada@example.com"})
	send := a.send(t, map[string]any{"where": map[string]any{"status": "NOT_INVITED"}}).SendInvitations.BulkSend
	waitFinished(t, a, send.ID)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-quic", true),
		// The network: the server's loopback address and nothing else.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	browser, closeBrowser := chromedp.NewContext(allocCtx)
	defer closeBrowser()

	var mu sync.Mutex
	var requested []string
	require.NoError(t, chromedp.Listen(browser, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			requested = append(requested, ev.Request.URL)
		case *network.EventWebSocketCreated:
			requested = append(requested, ev.URL)
		}
	}))

	headers, err := json.Marshal(map[string]string{"Authorization": "Bearer " + a.tok})
	require.NoError(t, err)
	setEditors := func(query, variables string) chromedp.Action[chromedp.Void] {
		js, _ := json.Marshal(map[string]string{"query": query, "variables": variables, "headers": string(headers)})
		return chromedp.Evaluate[chromedp.Void](`(() => { const v = ` + string(js) + `;
			localStorage.setItem('graphiql:query', v.query);
			localStorage.setItem('graphiql:variables', v.variables);
			localStorage.setItem('graphiql:headers', v.headers);
			localStorage.setItem('graphiql:tabState', ''); })()`)
	}
	run := func(query, variables, want string) string {
		t.Helper()
		// The editors are stored from another page of the origin: GraphiQL,
		// while it unloads, may still save what it held over them.
		require.NoError(t, chromedp.Do(browser,
			chromedp.Navigate(s.URL+"/healthz"),
			setEditors(query, variables),
			chromedp.Navigate(s.URL+"/graphiql"),
			chromedp.WaitVisible(chromedp.CSS(`.graphiql-execute-button`)),
		))
		// The click runs what the editor shows.
		_, err := chromedp.Run(browser, chromedp.Poll[bool](
			`((document.querySelector('.graphiql-query-editor') || {}).innerText || '').replaceAll('\u00a0', ' ').includes(`+jsString(query)+`)`,
			chromedp.WithPollingTimeout(20*time.Second)))
		shown, _ := chromedp.Run(browser, chromedp.Text(chromedp.CSS(`.graphiql-query-editor`)))
		require.NoError(t, err, "the editor shows %q; it shows %q", query, shown)
		require.NoError(t, chromedp.Do(browser, chromedp.Click(chromedp.CSS(`.graphiql-execute-button`))))
		_, err = chromedp.Run(browser, chromedp.Poll[bool](
			`(document.querySelector('.graphiql-response') || {}).innerText?.includes(`+jsString(want)+`)`,
			chromedp.WithPollingTimeout(20*time.Second)))
		text, _ := chromedp.Run(browser, chromedp.Text(chromedp.CSS(`.graphiql-response`)))
		require.NoError(t, err, "the response shows %q; it shows %q", want, text)
		return text
	}

	require.NoError(t, chromedp.Do(browser,
		chromedp.Navigate(s.URL+"/graphiql"),
		chromedp.WaitVisible(chromedp.CSS(`.graphiql-execute-button`)),
	))
	run(`{ viewer { email } }`, `{}`, "owner@acme.test")
	run(`subscription($id: ID!) { bulkSendProgress(id: $id) { status total } }`,
		`{"id": "`+send.ID+`"}`, "COMPLETED")

	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, requested)
	host := strings.TrimPrefix(s.URL, "http://")
	var sawSocket bool
	for _, u := range requested {
		switch {
		case strings.HasPrefix(u, "data:"):
		case strings.HasPrefix(u, "http://"+host+"/"):
		case strings.HasPrefix(u, "ws://"+host+"/"):
			sawSocket = true
		default:
			t.Errorf("the page asked for %s, which is not on the server", u)
		}
	}
	require.True(t, sawSocket, "the subscription ran over a websocket: %v", requested)
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
