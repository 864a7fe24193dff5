package mail_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	netmail "net/mail"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/internal/mail"
)

// outboxName is the shape of an outbox file name.
var outboxName = regexp.MustCompile(`^(\d{8}T\d{6}\.\d{9}Z)-[0-9a-f]{8}\.eml$`)

// emlFiles lists dir, failing on anything but outbox .eml files (a leftover
// temp file, say), and returns the .eml names.
func emlFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		require.Regexp(t, outboxName, e.Name())
		require.True(t, e.Type().IsRegular(), e.Name())
		names = append(names, e.Name())
	}
	return names
}

// part is one decoded part of a multipart body.
type part struct {
	contentType, body string
}

// readEML parses raw as a message and returns it with its decoded parts.
func readEML(t *testing.T, raw []byte) (*netmail.Message, []part) {
	t.Helper()
	msg, err := netmail.ReadMessage(bytes.NewReader(raw))
	require.NoError(t, err)

	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	require.NoError(t, err)
	require.Equal(t, "multipart/alternative", mediaType)
	require.NotEmpty(t, params["boundary"])

	var parts []part
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		// NextRawPart so the quoted-printable is ours to check and decode.
		p, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		require.Equal(t, "quoted-printable", p.Header.Get("Content-Transfer-Encoding"))
		body, err := io.ReadAll(quotedprintable.NewReader(p))
		require.NoError(t, err)
		parts = append(parts, part{p.Header.Get("Content-Type"), string(body)})
	}
	return msg, parts
}

func TestOutboxRoundTrip(t *testing.T) {
	t.Parallel()

	longLine := strings.Repeat("Ünïcødé and ASCII mixed, 🎉 emoji too; ", 12) // far beyond 76 columns
	cases := []struct {
		name             string
		text, html       string
		wantText, wantHT string // what comes back after decoding
		wantParts        int
	}{
		{
			name:     "CRLF bodies come back byte-identical",
			text:     "Hej Zoë,\r\n\r\n" + longLine + "\r\ntrailing space \r\n= sign, tab\tand dots\r\n.\r\n",
			html:     "<p>Hej Zoë,</p>\r\n<p>" + longLine + "</p>\r\n<p>a=b &amp; ✓</p>",
			wantText: "Hej Zoë,\r\n\r\n" + longLine + "\r\ntrailing space \r\n= sign, tab\tand dots\r\n.\r\n",
			wantHT:   "<p>Hej Zoë,</p>\r\n<p>" + longLine + "</p>\r\n<p>a=b &amp; ✓</p>",
		},
		{
			name:     "LF line breaks are canonicalised to CRLF",
			text:     "line one\nline two\n",
			html:     "<p>one</p>\n<p>two</p>",
			wantText: "line one\r\nline two\r\n",
			wantHT:   "<p>one</p>\r\n<p>two</p>",
		},
		{
			name:     "text only",
			text:     "just text",
			wantText: "just text",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			box, err := mail.NewOutbox(dir)
			require.NoError(t, err)
			require.Equal(t, dir, box.Dir())

			m := mail.Message{
				From:      mail.Address{Name: "Rollcall", Email: "noreply@rollcall.example"},
				ReplyTo:   "help@rollcall.example",
				To:        mail.Address{Name: "Zoë Ångström-Łukasiewicz", Email: "zoe@example.com"},
				Subject:   "Välkommen till Rollcall — du är inbjuden 🎉 (" + strings.Repeat("lång ", 20) + ")",
				Text:      c.text,
				HTML:      c.html,
				Variables: map[string]string{"delivery_id": "d-42", "org": "Åcme <&> \"quoted\""},
			}
			before := time.Now()
			id, err := box.Send(context.Background(), m)
			require.NoError(t, err)
			require.True(t, strings.HasSuffix(id, "@rollcall.example"), id)
			require.NotContains(t, id, "<")

			names := emlFiles(t, dir)
			require.Len(t, names, 1)
			path := filepath.Join(dir, names[0])
			info, err := os.Stat(path)
			require.NoError(t, err)
			require.Equal(t, os.FileMode(0o644), info.Mode().Perm())

			stamp, err := time.Parse("20060102T150405.000000000Z", outboxName.FindStringSubmatch(names[0])[1])
			require.NoError(t, err)
			require.WithinDuration(t, before, stamp, time.Minute)

			raw, err := os.ReadFile(path)
			require.NoError(t, err)
			require.Equal(t, strings.Count(string(raw), "\n"), strings.Count(string(raw), "\r\n"), "bare LF in file")
			for i, line := range strings.Split(string(raw), "\r\n") {
				require.LessOrEqual(t, len(line), 998, "line %d too long", i)
				for _, r := range line {
					require.Less(t, r, rune(128), "non-ASCII in line %d: %q", i, line)
				}
			}

			msg, parts := readEML(t, raw)
			h := msg.Header

			date, err := h.Date()
			require.NoError(t, err)
			require.WithinDuration(t, before, date, time.Minute)

			from, err := h.AddressList("From")
			require.NoError(t, err)
			require.Equal(t, []*netmail.Address{{Name: "Rollcall", Address: "noreply@rollcall.example"}}, from)
			to, err := h.AddressList("To")
			require.NoError(t, err)
			require.Equal(t, []*netmail.Address{{Name: m.To.Name, Address: m.To.Email}}, to)
			require.Equal(t, m.ReplyTo, h.Get("Reply-To"))

			var dec mime.WordDecoder
			subject, err := dec.DecodeHeader(h.Get("Subject"))
			require.NoError(t, err)
			require.Equal(t, m.Subject, subject)

			require.Equal(t, "<"+id+">", h.Get("Message-ID"))
			require.Equal(t, "1.0", h.Get("MIME-Version"))

			var vars map[string]string
			require.NoError(t, json.Unmarshal([]byte(h.Get("X-Mailgun-Variables")), &vars))
			require.Equal(t, m.Variables, vars)

			want := []part{{"text/plain; charset=utf-8", c.wantText}}
			if c.wantHT != "" {
				want = append(want, part{"text/html; charset=utf-8", c.wantHT})
			}
			require.Equal(t, want, parts)
		})
	}
}

func TestOutboxHeaderDetails(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		edit     func(*mail.Message)
		header   string
		want     string // "" means absent
		idSuffix string
	}{
		{"no reply-to", func(m *mail.Message) { m.ReplyTo = "" }, "Reply-To", "", "@rollcall.example"},
		{"no variables", func(m *mail.Message) { m.Variables = nil }, "X-Mailgun-Variables", "", "@rollcall.example"},
		{"ASCII subject stays plain", func(m *mail.Message) { m.Subject = "Plain: subject?" }, "Subject", "Plain: subject?", "@rollcall.example"},
		{"Message-ID uses the sender's domain", func(m *mail.Message) { m.From.Email = "bot@Mail.Rollcall.example" }, "From", `"Rollcall" <bot@Mail.Rollcall.example>`, "@Mail.Rollcall.example"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			box, err := mail.NewOutbox(dir)
			require.NoError(t, err)
			m := validMessage()
			c.edit(&m)
			id, err := box.Send(context.Background(), m)
			require.NoError(t, err)
			require.True(t, strings.HasSuffix(id, c.idSuffix), id)
			names := emlFiles(t, dir)
			require.Len(t, names, 1)
			raw, err := os.ReadFile(filepath.Join(dir, names[0]))
			require.NoError(t, err)
			msg, err := netmail.ReadMessage(bytes.NewReader(raw))
			require.NoError(t, err)
			require.Equal(t, c.want, msg.Header.Get(c.header))
		})
	}
}

func TestOutboxConcurrentSends(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	box, err := mail.NewOutbox(dir)
	require.NoError(t, err)

	const n = 50
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ids[i], errs[i] = box.Send(context.Background(), validMessage())
		})
	}
	wg.Wait()

	seen := map[string]bool{}
	for i := range n {
		require.NoError(t, errs[i])
		require.False(t, seen[ids[i]], "duplicate id %s", ids[i])
		seen[ids[i]] = true
	}
	require.Len(t, emlFiles(t, dir), n)
}

func TestOutboxContext(t *testing.T) {
	t.Parallel()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()

	cases := []struct {
		name      string
		ctx       context.Context
		target    error
		temporary bool
	}{
		{"cancelled", cancelled, context.Canceled, false},
		{"deadline passed", expired, context.DeadlineExceeded, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			box, err := mail.NewOutbox(dir)
			require.NoError(t, err)
			id, err := box.Send(c.ctx, validMessage())
			require.ErrorIs(t, err, c.target)
			require.Empty(t, id)
			require.Equal(t, c.temporary, mail.IsTemporary(err))
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			require.Empty(t, entries)
		})
	}
}

func TestNewOutbox(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	file := filepath.Join(root, "file")
	require.NoError(t, os.WriteFile(file, nil, 0o600))

	cases := []struct {
		name string
		dir  string
		ok   bool
	}{
		{"creates nested dirs", filepath.Join(root, "a", "b", "outbox"), true},
		{"existing dir", root, true},
		{"empty", "", false},
		{"path is a file", file, false},
		{"under a file", filepath.Join(file, "outbox"), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			box, err := mail.NewOutbox(c.dir)
			if !c.ok {
				require.Error(t, err)
				require.Nil(t, box)
				return
			}
			require.NoError(t, err)
			info, err := os.Stat(c.dir)
			require.NoError(t, err)
			require.True(t, info.IsDir())
			require.Equal(t, c.dir, box.Dir())
		})
	}
}

func TestOutboxWriteFailureIsTemporary(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "outbox")
	box, err := mail.NewOutbox(dir)
	require.NoError(t, err)
	require.NoError(t, os.Remove(dir))

	id, err := box.Send(context.Background(), validMessage())
	require.Error(t, err)
	require.Empty(t, id)
	require.True(t, mail.IsTemporary(err))
	require.ErrorIs(t, err, os.ErrNotExist)
}
