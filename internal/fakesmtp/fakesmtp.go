// Package fakesmtp is an SMTP server on loopback for tests and benchmarks,
// built on github.com/emersion/go-smtp: it offers STARTTLS or implicit TLS and
// AUTH PLAIN when asked, records what it receives, counts connections, AUTH
// attempts and RSETs, and answers with the failures a test asks for.
package fakesmtp

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Options configure a Server.
type Options struct {
	// TLS is offered with STARTTLS, or spoken from the first byte with
	// Implicit; nil offers no TLS at all.
	TLS      *tls.Config
	Implicit bool
	// Users are the logins AUTH PLAIN accepts (login to password); nil
	// offers no AUTH. Once Users is set, MAIL needs a successful AUTH.
	Users map[string]string
	// InsecureAuth offers AUTH on a connection without TLS.
	InsecureAuth bool
	// Discard keeps counts only, not the messages (benchmarks).
	Discard bool
}

// Message is one message the server accepted.
type Message struct {
	From string
	To   string // the one recipient (a message to several is recorded once per recipient)
	Data []byte // as received, headers and body, CRLF line endings
	Conn int    // which connection (from 1) carried it
	User string // who authenticated, "" for nobody
}

// Stage is the command a failure answers.
type Stage string

// The stages a failure may answer.
const (
	StageMail Stage = "MAIL"
	StageRcpt Stage = "RCPT"
	StageData Stage = "DATA" // the reply after the message's final dot
)

// failure is a reply the server gives instead of accepting.
type failure struct {
	stage Stage
	addr  string // recipient it applies to (lower case); "" for any
	times int
	err   *smtp.SMTPError
}

// Server is a running fake SMTP server; it is safe for concurrent use.
type Server struct {
	opts Options
	srv  *smtp.Server
	ln   net.Listener
	done chan struct{}

	closeOnce sync.Once

	mu        sync.Mutex
	conns     int
	auths     int
	resets    int
	mails     int
	count     int
	messages  []Message
	failures  []*failure
	dropAfter int
	perConn   map[int]int // messages accepted per connection
}

// Start listens on 127.0.0.1 on a free port and serves until Close.
func Start(opts Options) (*Server, error) {
	s := &Server{opts: opts, done: make(chan struct{}), perConn: map[int]int{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("fake smtp listen: %w", err)
	}
	var l net.Listener = &countingListener{Listener: ln, s: s}
	if opts.Implicit {
		if opts.TLS == nil {
			_ = ln.Close()
			return nil, errors.New("fake smtp: implicit TLS without a TLS config")
		}
		l = tls.NewListener(l, opts.TLS)
	}
	s.ln = l
	s.srv = smtp.NewServer(smtp.BackendFunc(s.newSession))
	s.srv.Domain = "fakesmtp.test"
	s.srv.AllowInsecureAuth = opts.InsecureAuth
	s.srv.ReadTimeout = time.Minute
	s.srv.WriteTimeout = time.Minute
	s.srv.ErrorLog = log.New(io.Discard, "", 0)
	if !opts.Implicit {
		s.srv.TLSConfig = opts.TLS
	}
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(l)
	}()
	return s, nil
}

// Close stops the server and closes every connection; later calls do
// nothing.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		_ = s.srv.Close()
		_ = s.ln.Close() // in case Serve had not started yet
		<-s.done
	})
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Port is the server's port.
func (s *Server) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// Fail makes the next times commands of stage fail with code and message
// (its enhanced code taken from its start when it has one, "5.1.1 No such
// user"), for recipient addr only or, with addr "", for anyone.
func (s *Server) Fail(stage Stage, addr string, times, code int, message string) {
	e := &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCodeNotSet, Message: message}
	if first, rest, ok := strings.Cut(message, " "); ok {
		var a, b, c int
		if n, _ := fmt.Sscanf(first, "%d.%d.%d", &a, &b, &c); n == 3 {
			e.EnhancedCode, e.Message = smtp.EnhancedCode{a, b, c}, rest
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, &failure{stage: stage, addr: strings.ToLower(addr), times: times, err: e})
}

// DropAfter cuts each connection, without a reply, when a MAIL command
// arrives after n messages were accepted on it; 0 never does.
func (s *Server) DropAfter(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropAfter = n
}

// Connections is how many connections the server accepted.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

// Auths is how many AUTH exchanges clients started.
func (s *Server) Auths() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.auths
}

// Mails is how many MAIL commands arrived.
func (s *Server) Mails() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mails
}

// Resets is how many RSET commands arrived (not counting the server's own
// reset after each message).
func (s *Server) Resets() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.resets
}

// Count is how many messages the server accepted.
func (s *Server) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count
}

// Messages returns every message accepted so far, in order.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// MessagesTo returns the messages accepted for addr (case-insensitive).
func (s *Server) MessagesTo(addr string) []Message {
	var out []Message
	for _, m := range s.Messages() {
		if strings.EqualFold(m.To, addr) {
			out = append(out, m)
		}
	}
	return out
}

// fail returns the failure stage answers for addr now, using it up.
func (s *Server) fail(stage Stage, addrs ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.failures {
		if f.stage != stage || f.times <= 0 {
			continue
		}
		if f.addr == "" {
			f.times--
			return f.err
		}
		for _, a := range addrs {
			if f.addr == strings.ToLower(a) {
				f.times--
				return f.err
			}
		}
	}
	return nil
}

// countingListener numbers the connections it accepts.
type countingListener struct {
	net.Listener
	s *Server
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.s.mu.Lock()
	l.s.conns++
	n := l.s.conns
	l.s.mu.Unlock()
	return &numberedConn{Conn: c, n: n}, nil
}

// numberedConn is an accepted connection with its number.
type numberedConn struct {
	net.Conn
	n int
}

// connNumber finds the number of the connection under c, TLS or not.
func connNumber(c net.Conn) int {
	if t, ok := c.(*tls.Conn); ok {
		c = t.NetConn()
	}
	if n, ok := c.(*numberedConn); ok {
		return n.n
	}
	return 0
}

// session is one client's conversation (a new one after STARTTLS).
type session struct {
	s        *Server
	c        *smtp.Conn
	conn     int
	user     string
	from     string
	to       []string
	justData bool // the next Reset is the server's own, after DATA
}

func (s *Server) newSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{s: s, c: c, conn: connNumber(c.Conn())}, nil
}

func (x *session) AuthMechanisms() []string {
	if x.s.opts.Users == nil {
		return nil
	}
	return []string{sasl.Plain}
}

func (x *session) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain || x.s.opts.Users == nil {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	x.s.mu.Lock()
	x.s.auths++
	x.s.mu.Unlock()
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if want, ok := x.s.opts.Users[username]; !ok || want != password || (identity != "" && identity != username) {
			return smtp.ErrAuthFailed
		}
		x.user = username
		return nil
	}), nil
}

func (x *session) Mail(from string, _ *smtp.MailOptions) error {
	x.s.mu.Lock()
	x.s.mails++
	drop := x.s.dropAfter > 0 && x.s.perConn[x.conn] >= x.s.dropAfter
	x.s.mu.Unlock()
	if drop {
		_ = x.c.Conn().Close()
		return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 4, 2}, Message: "Dropped"}
	}
	if x.s.opts.Users != nil && x.user == "" {
		return smtp.ErrAuthRequired
	}
	if err := x.s.fail(StageMail); err != nil {
		return err
	}
	x.from = from
	return nil
}

func (x *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if err := x.s.fail(StageRcpt, to); err != nil {
		return err
	}
	x.to = append(x.to, to)
	return nil
}

func (x *session) Data(r io.Reader) error {
	x.justData = true
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if err := x.s.fail(StageData, x.to...); err != nil {
		return err
	}
	x.s.mu.Lock()
	defer x.s.mu.Unlock()
	x.s.perConn[x.conn]++
	for _, to := range x.to {
		x.s.count++
		if !x.s.opts.Discard {
			x.s.messages = append(x.s.messages, Message{From: x.from, To: to, Data: data, Conn: x.conn, User: x.user})
		}
	}
	return nil
}

func (x *session) Reset() {
	x.from, x.to = "", nil
	if x.justData {
		x.justData = false
		return
	}
	x.s.mu.Lock()
	x.s.resets++
	x.s.mu.Unlock()
}

func (x *session) Logout() error { return nil }

// SelfSigned returns a server TLS config with a new self-signed ECDSA
// certificate for 127.0.0.1, ::1 and localhost, and a pool trusting it for
// clients.
func SelfSigned() (*tls.Config, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "fakesmtp.test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("create certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("parse certificate: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}}}, pool, nil
}
