package mail

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// TLSMode is how an SMTP connection is protected.
type TLSMode string

// The TLS modes.
const (
	TLSStartTLS TLSMode = "starttls" // plain connection upgraded with STARTTLS, which is required
	TLSImplicit TLSMode = "implicit" // TLS from the first byte (smtps, usually port 465)
	TLSNone     TLSMode = "none"     // no TLS at all: a server on a trusted network only
)

// SMTPServer is where an SMTP sender connects and who it is there.
type SMTPServer struct {
	Host     string
	Port     int
	TLS      TLSMode
	Username string // AUTH only when set
	Password string
}

// Addr is host:port.
func (s SMTPServer) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// String describes the server without its password, for logs.
func (s SMTPServer) String() string {
	who := ""
	if s.Username != "" {
		who = s.Username + "@"
	}
	return fmt.Sprintf("%s%s (TLS: %s)", who, s.Addr(), s.TLS)
}

// ParseSMTPURL reads an SMTP server's URL:
//
//	smtp://[user:password@]host[:port]            STARTTLS required; port 587 by default
//	smtp://[user:password@]host[:port]?tls=none   no TLS (a trusted network only)
//	smtps://[user:password@]host[:port]           implicit TLS; port 465 by default
//
// The user and password are percent-encoded. Errors never repeat the
// password.
func ParseSMTPURL(raw string) (SMTPServer, error) {
	if strings.TrimSpace(raw) == "" {
		return SMTPServer{}, errors.New("empty; want smtp://user:password@host:587 or smtps://user:password@host:465")
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error repeats the URL, password included.
		return SMTPServer{}, errors.New("not a valid URL (percent-encode special characters in the user and password)")
	}
	var s SMTPServer
	switch strings.ToLower(u.Scheme) {
	case "smtp":
		s.TLS, s.Port = TLSStartTLS, 587
	case "smtps":
		s.TLS, s.Port = TLSImplicit, 465
	default:
		return SMTPServer{}, fmt.Errorf("scheme %q: want smtp (STARTTLS) or smtps (implicit TLS)", u.Scheme)
	}
	if u.Opaque != "" || u.Hostname() == "" {
		return SMTPServer{}, errors.New("no host; want smtp://host:587")
	}
	s.Host = u.Hostname()
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return SMTPServer{}, fmt.Errorf("port %q: want a number from 1 to 65535", p)
		}
		s.Port = n
	}
	if u.Path != "" && u.Path != "/" {
		return SMTPServer{}, errors.New("has a path; want none")
	}
	if u.Fragment != "" {
		return SMTPServer{}, errors.New("has a fragment (#…); percent-encode # in a password as %23")
	}
	if u.User != nil {
		s.Username = u.User.Username()
		s.Password, _ = u.User.Password()
		switch {
		case s.Username == "":
			return SMTPServer{}, errors.New("a password without a user")
		case s.Password == "":
			return SMTPServer{}, fmt.Errorf("user %q has no password", s.Username)
		}
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return SMTPServer{}, errors.New("query is not valid; want ?tls=none or nothing")
	}
	for k, v := range q {
		if k != "tls" {
			return SMTPServer{}, fmt.Errorf("unknown parameter %q; only tls is understood", k)
		}
		if len(v) != 1 {
			return SMTPServer{}, errors.New("tls given more than once")
		}
	}
	if q.Has("tls") {
		mode := TLSMode(strings.ToLower(q.Get("tls")))
		switch {
		case s.TLS == TLSImplicit && mode != TLSImplicit:
			return SMTPServer{}, fmt.Errorf("tls=%q with smtps: smtps is implicit TLS; use smtp:// for STARTTLS or tls=none", q.Get("tls"))
		case s.TLS == TLSStartTLS && mode != TLSStartTLS && mode != TLSNone:
			return SMTPServer{}, fmt.Errorf("tls=%q: want starttls (the default) or none", q.Get("tls"))
		}
		s.TLS = mode
	}
	return s, nil
}
