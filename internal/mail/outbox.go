package mail

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	netmail "net/mail"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"
)

// outboxTimeLayout is the UTC timestamp that starts every outbox file name,
// so a directory listing sorts in sending order.
const outboxTimeLayout = "20060102T150405.000000000Z"

// Outbox writes each message as an RFC 5322 .eml file in Dir.
type Outbox struct{ dir string }

// NewOutbox returns an Outbox writing to dir, creating it (0o755) if missing.
func NewOutbox(dir string) (*Outbox, error) {
	if dir == "" {
		return nil, errors.New("create outbox: directory is empty")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create outbox: %w", err)
	}
	return &Outbox{dir: dir}, nil
}

// Dir returns the directory messages are written to.
func (o *Outbox) Dir() string { return o.dir }

// Send writes m to a new file in the outbox and returns its Message-ID
// (without angle brackets). The file appears atomically: readers never see a
// partial message. Failures to write are temporary; invalid messages are not.
func (o *Outbox) Send(ctx context.Context, m Message) (string, error) {
	if err := m.validate(); err != nil {
		return "", err
	}
	if err := ctx.Err(); err != nil {
		return "", ctxError("write outbox message", err)
	}
	now := time.Now().UTC()
	id := randomHex(16) + "@" + domainOf(m.From.Email)
	raw, err := renderEML(m, id, now)
	if err != nil {
		return "", permanent(fmt.Errorf("render outbox message: %w", err))
	}
	name := now.Format(outboxTimeLayout) + "-" + randomHex(4) + ".eml"
	if err := o.writeAtomic(ctx, name, raw); err != nil {
		return "", err
	}
	return id, nil
}

// writeAtomic writes data to a dot-named temp file in the outbox and renames
// it to name, removing the temp file on any failure.
func (o *Outbox) writeAtomic(ctx context.Context, name string, data []byte) (err error) {
	// Created with its final mode, so no chmod; renamed into place so
	// readers never see a partial file.
	tmp := filepath.Join(o.dir, "."+name+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return &Error{Temporary: true, Err: fmt.Errorf("write outbox message: %w", err)}
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return &Error{Temporary: true, Err: fmt.Errorf("write outbox message: %w", err)}
	}
	if err := f.Close(); err != nil {
		return &Error{Temporary: true, Err: fmt.Errorf("write outbox message: %w", err)}
	}
	if err := ctx.Err(); err != nil {
		return ctxError("write outbox message", err)
	}
	if err := os.Rename(tmp, filepath.Join(o.dir, name)); err != nil {
		return &Error{Temporary: true, Err: fmt.Errorf("write outbox message: %w", err)}
	}
	return nil
}

// renderEML renders m as an RFC 5322 message with CRLF line endings: an
// ASCII-only header block and a multipart/alternative body whose parts are
// quoted-printable, text first then HTML (empty bodies are left out).
func renderEML(m Message, id string, now time.Time) ([]byte, error) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	parts := []struct{ contentType, content string }{
		{"text/plain; charset=utf-8", m.Text},
		{"text/html; charset=utf-8", m.HTML},
	}
	for _, p := range parts {
		if p.content == "" {
			continue
		}
		pw, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {p.contentType},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, fmt.Errorf("create part: %w", err)
		}
		qw := quotedprintable.NewWriter(pw)
		if _, err := qw.Write([]byte(p.content)); err != nil {
			return nil, fmt.Errorf("encode part: %w", err)
		}
		if err := qw.Close(); err != nil {
			return nil, fmt.Errorf("encode part: %w", err)
		}
	}
	if err := mw.Close(); err != nil {
		return nil, fmt.Errorf("close multipart: %w", err)
	}

	var b bytes.Buffer
	header := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	header("Date", now.Format(time.RFC1123Z))
	header("From", formatAddress(m.From))
	header("To", formatAddress(m.To))
	if m.ReplyTo != "" {
		header("Reply-To", m.ReplyTo)
	}
	header("Subject", encodeSubject(m.Subject))
	header("Message-ID", "<"+id+">")
	header("MIME-Version", "1.0")
	if len(m.Variables) > 0 {
		vars, err := json.Marshal(m.Variables)
		if err != nil {
			return nil, fmt.Errorf("encode variables: %w", err)
		}
		header("X-Mailgun-Variables", asciiJSON(vars))
	}
	header("Content-Type", mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": mw.Boundary()}))
	b.WriteString("\r\n")
	b.Write(body.Bytes())
	return b.Bytes(), nil
}

// formatAddress formats a as an RFC 5322 address, encoding a non-ASCII name.
func formatAddress(a Address) string {
	return (&netmail.Address{Name: a.Name, Address: a.Email}).String()
}

// encodeSubject Q-encodes a subject that needs it and folds the result
// between encoded-words, so long non-ASCII subjects stay within line limits.
func encodeSubject(s string) string {
	enc := mime.QEncoding.Encode("utf-8", s)
	if enc == s {
		return s
	}
	return strings.ReplaceAll(enc, "?= =?", "?=\r\n =?")
}

// asciiJSON escapes every non-ASCII rune in JSON text as \uXXXX, keeping a
// header value ASCII. Non-ASCII can only occur inside JSON strings, where the
// escape means the same thing.
func asciiJSON(j []byte) string {
	var b strings.Builder
	for _, r := range string(j) {
		switch {
		case r < utf8.RuneSelf:
			b.WriteRune(r)
		case r > 0xFFFF:
			r -= 0x10000
			fmt.Fprintf(&b, `\u%04x\u%04x`, 0xD800+(r>>10), 0xDC00+(r&0x3FF))
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
	}
	return b.String()
}

// domainOf returns the domain of a validated email address, for Message-IDs.
func domainOf(email string) string {
	return email[strings.LastIndexByte(email, '@')+1:]
}

// randomHex returns n random bytes as 2n hex digits.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (it crashes the program instead)
	return hex.EncodeToString(b)
}
