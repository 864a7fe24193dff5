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

// browse starts a headless Chromium for the test, with extra command-line
// flags, and returns its context; it ends with the test.
func browse(t *testing.T, flags ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	path := chromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
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
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, append(opts, flags...)...)
	t.Cleanup(cancelAlloc)
	browser, closeBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(closeBrowser)
	return browser
}

// TestAcceptInBrowser accepts an invitation the way a person does: the link
// from the email opened in Chromium, the form filled in and submitted.
func TestAcceptInBrowser(t *testing.T) {
	t.Parallel()
	chromium(t)
	st := newSite(t)
	s := st.s
	link := st.invite(t, "Ada Lovelace <ada@example.com>", "ada@example.com").Links()[0]
	browser := browse(t)

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

// TestPagesInGermanInBrowser: the pages speak German to a German person
// whatever the browser asks for, and to a person without a language when
// the browser asks for German (Accept-Language, from Chromium's --accept-lang);
// once accepted, the page links to the organisation's sign-in page.
func TestPagesInGermanInBrowser(t *testing.T) {
	t.Parallel()
	chromium(t)
	st := newSite(t)
	s := st.s
	st.s.Query(t, st.tok, `mutation { updateOrganization(input: {signInURL: "https://app.acme.example/login"}) { id } }`, nil)
	german := st.inviteIn(t, "Grete Weiß <grete@example.com>", "de").Links()[0]
	nobody := st.inviteIn(t, "Otto <otto@example.com>", "").Links()[0]

	for _, tc := range []struct {
		name, link, lang string
	}{
		{"a German person, an English browser", german, "en-US,en"},
		{"a person without a language, a German browser", nobody, "de-DE,de"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			browser := browse(t, chromedp.Flag("accept-lang", tc.lang), chromedp.Flag("lang", tc.lang))
			require.NoError(t, chromedp.Do(browser,
				chromedp.Navigate(tc.link),
				chromedp.WaitVisible(chromedp.CSS(`input[name=password]`)),
			))
			lang, err := chromedp.Run(browser, chromedp.AttributeValue(chromedp.CSS(`html`), "lang"))
			require.NoError(t, err)
			require.Equal(t, "de", lang.Value)
			heading, err := chromedp.Run(browser, chromedp.Text(chromedp.CSS(`h1`)))
			require.NoError(t, err)
			require.Equal(t, "Einladung zu acme", heading)
			label, err := chromedp.Run(browser, chromedp.Text(chromedp.CSS(`label[for=first_name]`)))
			require.NoError(t, err)
			require.Equal(t, "Vorname", label)
			button, err := chromedp.Run(browser, chromedp.Text(chromedp.CSS(`button[type=submit]`)))
			require.NoError(t, err)
			require.Equal(t, "Konto erstellen", button)

			// A mistake is told in German, by the field.
			require.NoError(t, chromedp.Do(browser,
				chromedp.SetAttributeValue(chromedp.CSS(`input[name=password]`), "minlength", "0"), // past the browser's own check
				chromedp.SendKeys(chromedp.CSS(`input[name=password]`), "kurz"),
				chromedp.Click(chromedp.CSS(`button[type=submit]`)),
				chromedp.WaitVisible(chromedp.CSS(`#password-error`)),
			))
			problem, err := chromedp.Run(browser, chromedp.Text(chromedp.CSS(`#password-error`)))
			require.NoError(t, err)
			require.Equal(t, "Das Passwort muss mindestens 10 Zeichen lang sein", problem)

			require.NoError(t, chromedp.Do(browser,
				chromedp.SendKeys(chromedp.CSS(`input[name=password]`), "ein-eigenes-passwort-1"),
				chromedp.Click(chromedp.CSS(`button[type=submit]`)),
				chromedp.WaitVisible(chromedp.Search(`//h1[text()="Ihr Konto ist eingerichtet"]`)),
			))
			signIn, err := chromedp.Run(browser, chromedp.Text(chromedp.CSS(`a.button`)))
			require.NoError(t, err)
			require.Equal(t, "Bei acme anmelden", signIn)
			href, err := chromedp.Run(browser, chromedp.AttributeValue(chromedp.CSS(`a.button`), "href"))
			require.NoError(t, err)
			require.Equal(t, "https://app.acme.example/login", href.Value)
			require.NoError(t, chromedp.Cancel(browser))
		})
	}
	s.Login(t, "acme", "grete@example.com", "ein-eigenes-passwort-1")
	s.Login(t, "acme", "otto@example.com", "ein-eigenes-passwort-1")
}
