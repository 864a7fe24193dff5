package web_test

import (
	"context"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/stretchr/testify/require"
)

// chromium returns the path of Chromium. Missing, it skips the test, but CI
// (CI set) must run it and fails instead.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("Chromium is not installed (looked for chromium and chromium-browser); CI must run the browser test")
	}
	t.Skip("Chromium is not installed (looked for chromium and chromium-browser)")
	return ""
}

// TestAcceptInBrowser accepts an invitation the way a person does: the link
// from the email opened in Chromium, the form filled in and submitted.
func TestAcceptInBrowser(t *testing.T) {
	t.Parallel()
	path := chromium(t)
	st := newSite(t)
	s := st.s
	link := st.invite(t, "Ada Lovelace <ada@example.com>", "ada@example.com").Links()[0]

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox, // tests may run as root
		chromedp.DisableGPU,
		// No internet here: keep Chromium from calling home.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-quic", true),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	browser, closeBrowser := chromedp.NewContext(allocCtx)
	defer closeBrowser()

	require.NoError(t, chromedp.Do(browser,
		chromedp.Navigate(link),
		chromedp.WaitVisible(chromedp.CSS(`input[name=password]`)),
	))
	heading, err := chromedp.Run(browser, chromedp.Text(chromedp.CSS(`h1`)))
	require.NoError(t, err)
	require.Equal(t, "Join acme", heading)
	first, err := chromedp.Run(browser, chromedp.Value(chromedp.CSS(`input[name=first_name]`)))
	require.NoError(t, err)
	require.Equal(t, "Ada", first, "prefilled from the invitation")
	last, err := chromedp.Run(browser, chromedp.Value(chromedp.CSS(`input[name=last_name]`)))
	require.NoError(t, err)
	require.Equal(t, "Lovelace", last, "prefilled from the invitation")

	require.NoError(t, chromedp.Do(browser,
		chromedp.SendKeys(chromedp.CSS(`input[name=username]`), "ada"),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), "ada-chose-this-1"),
		// Replace the prefilled "Ada" as a person would: End, three Backspaces, type.
		chromedp.SendKeys(chromedp.CSS(`input[name=first_name]`), kb.End+strings.Repeat(kb.Backspace, 3)+"Augusta Ada"),
		chromedp.SendKeys(chromedp.CSS(`input[name=last_name]`), kb.End+strings.Repeat(kb.Backspace, len("Lovelace"))+"King"),
		chromedp.Click(chromedp.CSS(`button[type=submit]`)),
		chromedp.WaitVisible(chromedp.Search(`//h1[text()="Your account is ready"]`)),
	))
	text, err := chromedp.Run(browser, chromedp.Text(chromedp.CSS(`main`)))
	require.NoError(t, err)
	require.Contains(t, text, "ada@example.com")
	require.NoError(t, chromedp.Cancel(browser)) // close the browser now

	tok := s.Login(t, "acme", "ada", "ada-chose-this-1")
	var v struct {
		Viewer struct{ Status, FirstName, LastName string }
	}
	s.Query(t, tok, `{ viewer { status firstName lastName } }`, nil).Decode(t, &v)
	require.Equal(t, "ACTIVE", v.Viewer.Status)
	require.Equal(t, "Augusta Ada", v.Viewer.FirstName)
	require.Equal(t, "King", v.Viewer.LastName)
}
