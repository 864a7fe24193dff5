package testkit

import (
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// Email is a message the outbox mailer wrote, decoded.
type Email struct {
	File       string
	To, From   string // addresses only
	ReplyTo    string
	Subject    string
	Text, HTML string
	Header     mail.Header
}

var linkPattern = regexp.MustCompile(`https?://[^\s"<>]+`)

// Links returns the URLs in the text body.
func (e Email) Links() []string { return linkPattern.FindAllString(e.Text, -1) }

// Token returns the token of the first link with a token parameter.
func (e Email) Token() string {
	for _, l := range e.Links() {
		if _, tok, ok := strings.Cut(l, "token="); ok {
			return tok
		}
	}
	return ""
}

// Outbox reads every email written so far, oldest first.
func (s *Server) Outbox(t testing.TB) []Email {
	t.Helper()
	s.WaitResets(t) // emails sent after a public answer
	s.WaitDeliveries(t)
	files, err := filepath.Glob(filepath.Join(s.OutboxDir, "*.eml"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(files)
	out := make([]Email, 0, len(files))
	for _, f := range files {
		out = append(out, readEmail(t, f))
	}
	return out
}

// EmailsTo returns the emails to address, oldest first.
func (s *Server) EmailsTo(t testing.TB, address string) []Email {
	t.Helper()
	var out []Email
	for _, e := range s.Outbox(t) {
		if strings.EqualFold(e.To, address) {
			out = append(out, e)
		}
	}
	return out
}

// LastEmailTo returns the newest email to address, failing when there is none.
func (s *Server) LastEmailTo(t testing.TB, address string) Email {
	t.Helper()
	all := s.EmailsTo(t, address)
	if len(all) == 0 {
		t.Fatalf("no email to %s", address)
	}
	return all[len(all)-1]
}

func readEmail(t testing.TB, file string) Email {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return ParseEmail(t, file, f)
}

// ParseEmail decodes a message as any transport writes it (name says where
// it came from in failures), failing the test if it is not well-formed.
func ParseEmail(t testing.TB, name string, r io.Reader) Email {
	t.Helper()
	file := name
	m, err := mail.ReadMessage(r)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	e := Email{File: file, Header: m.Header}
	dec := new(mime.WordDecoder)
	if e.Subject, err = dec.DecodeHeader(m.Header.Get("Subject")); err != nil {
		t.Fatal(err)
	}
	for field, dst := range map[string]*string{"To": &e.To, "From": &e.From, "Reply-To": &e.ReplyTo} {
		if v := m.Header.Get(field); v != "" {
			a, err := mail.ParseAddress(v)
			if err != nil {
				t.Fatalf("%s: %s: %v", file, field, err)
			}
			*dst = a.Address
		}
	}
	_, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(p) // NextPart decodes quoted-printable
		if err != nil {
			t.Fatal(err)
		}
		text := strings.ReplaceAll(string(body), "\r\n", "\n")
		if strings.HasPrefix(p.Header.Get("Content-Type"), "text/html") {
			e.HTML = text
		} else {
			e.Text = text
		}
	}
	return e
}
