package mail

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	netmail "net/mail"
	"net/textproto"
	"strings"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"
	gosmtp "github.com/wneessen/go-mail/smtp"

	"github.com/rollcall/rollcall/internal/clock"
)

// Defaults of an SMTP sender.
const (
	DefaultSMTPPool        = 4
	DefaultSMTPTimeout     = 30 * time.Second
	DefaultSMTPIdleTimeout = 30 * time.Second
)

// DeliveryHeader carries a message's delivery id, so a bounce that comes
// back later as an email can be matched to the delivery it is about.
const DeliveryHeader = "X-Rollcall-Delivery"

// SMTPConfig configures an SMTP sender.
type SMTPConfig struct {
	Server SMTPServer
	// Pool is how many connections are kept open, each carrying one
	// message at a time; default 4.
	Pool int
	// Timeout bounds connecting (TLS and AUTH included) and each message's
	// exchange; default 30s.
	Timeout time.Duration
	// IdleTimeout: a connection unused this long is closed (QUIT) and a new
	// one opened for the next message; default 30s.
	IdleTimeout time.Duration
	// MaxPerConnection replaces a connection after this many messages;
	// 0: no limit.
	MaxPerConnection int
	DKIM             *DKIM          // nil: messages are not signed
	RootCAs          *x509.CertPool // trusted for the server's certificate; nil: the system's
	Clock            clock.Clock    // times idleness; nil: the system clock
}

// DKIM signs every message for Domain with the key published at
// Selector._domainkey.Domain.
type DKIM struct {
	Domain, Selector string
	Key              crypto.Signer // *rsa.PrivateKey or ed25519.PrivateKey
}

// SMTP sends each message over one of a pool of kept-open SMTP connections:
// a connection per message would pay TCP, TLS and AUTH every time.
// Connections are opened when first needed, reset (RSET) after every
// message, and replaced when they fail, when the server closes them, after
// IdleTimeout unused and after MaxPerConnection messages.
type SMTP struct {
	cfg   SMTPConfig
	tls   *tls.Config
	dkim  *gomail.DKIMSigner
	clock clock.Clock
	slots chan *smtpConn

	mu     sync.Mutex
	closed bool
}

// smtpConn is one slot of the pool: a connection, or none yet.
type smtpConn struct {
	client   *gomail.Client // the options the connection was made with
	conn     *gosmtp.Client // nil when not connected
	raw      net.Conn       // the socket under conn
	replies  replyLog
	lastUsed time.Time
	sent     int // messages on this connection
}

// NewSMTP returns an SMTP sender; it connects when the first message is sent.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	if cfg.Server.Host == "" || cfg.Server.Port == 0 {
		return nil, errors.New("create smtp sender: no server (see ParseSMTPURL)")
	}
	if cfg.Pool < 0 || cfg.MaxPerConnection < 0 || cfg.Timeout < 0 || cfg.IdleTimeout < 0 {
		return nil, errors.New("create smtp sender: pool, timeouts and messages per connection must not be negative")
	}
	if cfg.Pool == 0 {
		cfg.Pool = DefaultSMTPPool
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultSMTPTimeout
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = DefaultSMTPIdleTimeout
	}
	s := &SMTP{cfg: cfg, clock: cfg.Clock, slots: make(chan *smtpConn, cfg.Pool),
		tls: &tls.Config{ServerName: cfg.Server.Host, MinVersion: tls.VersionTLS12, RootCAs: cfg.RootCAs}}
	if s.clock == nil {
		s.clock = clock.System{}
	}
	if cfg.DKIM != nil {
		signer, err := newDKIMSigner(*cfg.DKIM)
		if err != nil {
			return nil, fmt.Errorf("create smtp sender: %w", err)
		}
		s.dkim = signer
	}
	for range cfg.Pool {
		s.slots <- &smtpConn{}
	}
	return s, nil
}

// newDKIMSigner returns go-mail's signer for d, covering Reply-To besides
// its defaults (so nobody can add one to a signed message), ready for use
// by many connections at once.
func newDKIMSigner(d DKIM) (*gomail.DKIMSigner, error) {
	if err := checkDKIMKey(d.Key); err != nil {
		return nil, err
	}
	signer := gomail.NewDKIMSigner(d.Domain, d.Selector, d.Key)
	signer.SignHeaders("From", "To", "Subject", "Date", "Message-ID", "Reply-To", "Content-Type", "MIME-Version")
	if err := signer.ValidateConfig(); err != nil {
		return nil, fmt.Errorf("dkim: %w", err)
	}
	// The signer notes its algorithm on first use: do that now, while
	// nothing else uses it, so later concurrent signatures only read it.
	if _, err := signer.Sign([]byte("From: a@example.com\r\n"), nil); err != nil {
		return nil, fmt.Errorf("dkim: %w", err)
	}
	return signer, nil
}

// LoadDKIMKey reads a PEM private key for DKIM: RSA (PKCS #1 or #8, at least
// 1024 bits; publish 2048) or Ed25519 (PKCS #8).
func LoadDKIMKey(pem []byte) (crypto.Signer, error) {
	key, err := gomail.PrivKeyFromPEM(pem)
	if err != nil {
		return nil, fmt.Errorf("read DKIM key: %w", err)
	}
	if err := checkDKIMKey(key); err != nil {
		return nil, err
	}
	return key, nil
}

// checkDKIMKey accepts keys verifiers accept.
func checkDKIMKey(key crypto.Signer) error {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if k.N.BitLen() < 1024 {
			return fmt.Errorf("DKIM key: RSA key of %d bits; verifiers reject keys under 1024 bits", k.N.BitLen())
		}
	case ed25519.PrivateKey:
	case nil:
		return errors.New("DKIM key: none")
	default:
		return fmt.Errorf("DKIM key: %T; want RSA or Ed25519", key)
	}
	return nil
}

// Send sends m over a pooled connection and returns its Message-ID
// (without angle brackets). Errors are *Error: temporary for 4xx replies,
// connection failures and timeouts; permanent for 5xx replies, with
// Bounced set when the server refused the recipient (5xx to RCPT TO).
func (s *SMTP) Send(ctx context.Context, m Message) (string, error) {
	if err := m.validate(); err != nil {
		return "", err
	}
	msg, id, err := compose(m)
	if err != nil {
		return "", err
	}
	var c *smtpConn
	select {
	case c = <-s.slots:
	case <-ctx.Done():
		return "", ctxError("smtp send", ctx.Err())
	}
	defer func() { s.slots <- c }()
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return "", &Error{Temporary: true, Err: errors.New("smtp send: sender closed")}
	}
	if err := s.send(ctx, c, msg); err != nil {
		return "", err
	}
	return id, nil
}

// Close ends every pooled connection with QUIT, waiting for messages in
// flight; later sends fail (temporarily).
func (s *SMTP) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	for range s.cfg.Pool {
		c := <-s.slots
		s.quit(c)
		s.slots <- c
	}
	return nil
}

// send sends msg on c, connecting first when c has no connection. A
// connection that was idle in the pool may have been closed by the server
// meanwhile; that shows at MAIL FROM, before the server took anything, and
// the message is then tried once more on a new connection.
func (s *SMTP) send(ctx context.Context, c *smtpConn, msg *gomail.Msg) error {
	for retried := false; ; retried = true {
		s.expire(c)
		reused := c.conn != nil
		if !reused {
			if err := s.dial(ctx, c); err != nil {
				return err
			}
		}
		c.replies = replyLog{}
		err := c.client.SendWithSMTPClient(c.conn, msg)
		c.lastUsed = s.clock.Now()
		if err == nil {
			c.sent++
			return nil
		}
		var se *gomail.SendError
		if !errors.As(err, &se) {
			s.drop(c)
			return &Error{Temporary: true, Err: fmt.Errorf("smtp send: %w", err)}
		}
		switch {
		case se.Reason == gomail.ErrSMTPReset:
			// The server took the message; only the RSET after it failed.
			c.sent++
			s.drop(c)
			return nil
		case reused && !retried && stale(se):
			s.drop(c)
			continue
		}
		e := classify(se, c.replies)
		switch {
		case !usable(se):
			s.drop(c)
		case se.Reason == gomail.ErrSMTPData || se.Reason == gomail.ErrSMTPDataClose:
			// go-mail resets after a refused MAIL or RCPT, not after DATA.
			if c.client.ResetWithSMTPClient(c.conn) != nil {
				s.drop(c)
			}
		}
		return e
	}
}

// stale reports whether a failure shows a connection the server had
// already closed: no reply, or 421 (closing), at the start of a message.
func stale(se *gomail.SendError) bool {
	if se.Reason != gomail.ErrSMTPMailFrom && se.Reason != gomail.ErrConnCheck {
		return false
	}
	code := se.ErrorCode()
	return code == 0 || code == 421
}

// usable reports whether a connection is still fit for the next message
// after a failure: the server replied (other than 421, closing) and go-mail
// reset the transaction or can.
func usable(se *gomail.SendError) bool {
	code := se.ErrorCode()
	return code >= 400 && code != 421 && se.Reason != gomail.ErrWriteContent
}

// classify turns a failed send into an *Error. The server's reply text
// comes from the reply log when the failed command went through it.
func classify(se *gomail.SendError, replies replyLog) *Error {
	code := se.ErrorCode()
	e := &Error{Code: code, Err: fmt.Errorf("smtp send: %w", se)}
	if replies.code == code && code != 0 {
		e.Reason = replies.reply
	}
	switch {
	case code >= 400 && code < 500:
		e.Temporary = true
	case code >= 500:
		e.Bounced = se.Reason == gomail.ErrSMTPRcptTo
		if e.Bounced && e.Reason == "" {
			e.Reason = se.Error()
		}
	case se.Reason == gomail.ErrGetSender, se.Reason == gomail.ErrGetRcpts, se.Reason == gomail.ErrNoUnencoded:
		// Refused before anything was said: the message itself is wrong.
	default:
		e.Temporary = true // no reply: the connection failed
	}
	return e
}

// expire closes c's connection when it was idle too long or carried its
// share of messages.
func (s *SMTP) expire(c *smtpConn) {
	if c.conn == nil {
		return
	}
	idle := s.clock.Now().Sub(c.lastUsed) >= s.cfg.IdleTimeout
	if idle || (s.cfg.MaxPerConnection > 0 && c.sent >= s.cfg.MaxPerConnection) {
		s.quit(c)
	}
}

// dial opens a connection for c: TLS as configured, then AUTH with the
// configured user. A failure leaves nothing open.
func (s *SMTP) dial(ctx context.Context, c *smtpConn) error {
	var raw net.Conn
	client, err := gomail.NewClient(s.cfg.Server.Host, s.options(&raw)...)
	if err != nil {
		return permanent(fmt.Errorf("smtp client: %w", err))
	}
	client.ErrorHandlerRegistry = c.replies.registry()
	conn, err := client.DialToSMTPClientWithContext(ctx)
	if err != nil {
		if raw != nil {
			_ = raw.Close()
		}
		return s.dialError(err)
	}
	c.client, c.conn, c.raw, c.sent, c.lastUsed = client, conn, raw, 0, s.clock.Now()
	return nil
}

// options are go-mail's settings for a new connection; the socket it opens
// is stored in raw, so a failed handshake can close it.
func (s *SMTP) options(raw *net.Conn) []gomail.Option {
	srv := s.cfg.Server
	addr := net.JoinHostPort(srv.Host, fmt.Sprint(srv.Port))
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		d := &net.Dialer{}
		var conn net.Conn
		var err error
		if srv.TLS == TLSImplicit {
			conn, err = (&tls.Dialer{NetDialer: d, Config: s.tls}).DialContext(ctx, "tcp", addr)
		} else {
			conn, err = d.DialContext(ctx, "tcp", addr)
		}
		*raw = conn
		return conn, err
	}
	opts := []gomail.Option{
		gomail.WithPort(srv.Port), // only named in messages: dial connects to addr
		gomail.WithDialContextFunc(dial),
		gomail.WithTimeout(s.cfg.Timeout),
		gomail.WithTLSConfig(s.tls),
		// The pool notices a dead connection when a message fails to
		// start, and retries: no NOOP round trip before every message.
		gomail.WithoutNoop(),
	}
	switch srv.TLS {
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL())
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if srv.Username != "" {
		// PLAIN and LOGIN send the password itself: without TLS only when
		// the URL says tls=none.
		mechs := []gomail.SMTPAuthType{gomail.SMTPAuthSCRAMSHA256, gomail.SMTPAuthSCRAMSHA1, gomail.SMTPAuthPlain, gomail.SMTPAuthLogin}
		if srv.TLS == TLSNone {
			mechs = []gomail.SMTPAuthType{gomail.SMTPAuthSCRAMSHA256, gomail.SMTPAuthSCRAMSHA1, gomail.SMTPAuthPlainNoEnc, gomail.SMTPAuthLoginNoEnc}
		}
		opts = append(opts, gomail.WithOpportunisticSMTPAuth(mechs...),
			gomail.WithUsername(srv.Username), gomail.WithPassword(srv.Password))
	}
	if s.dkim != nil {
		opts = append(opts, gomail.WithAlwaysDKIMSign(s.dkim))
	}
	return opts
}

// dialError classifies a failure to connect: a 4xx reply or a network
// failure is temporary; a 5xx reply (AUTH refused), a certificate not
// trusted, a server without STARTTLS or without a usable AUTH, or one not
// speaking TLS where it should, is permanent (it will not mend by itself).
func (s *SMTP) dialError(err error) *Error {
	e := &Error{Err: fmt.Errorf("smtp connect to %s: %w", s.cfg.Server.Addr(), err)}
	var (
		tp      *textproto.Error
		verify  *tls.CertificateVerificationError
		record  tls.RecordHeaderError
		alert   tls.AlertError
		unknown x509.UnknownAuthorityError
		host    x509.HostnameError
		invalid x509.CertificateInvalidError
		netErr  net.Error
	)
	switch {
	case errors.As(err, &tp):
		e.Code, e.Reason = tp.Code, formatReply(tp)
		e.Temporary = tp.Code < 500
	case errors.As(err, &verify), errors.As(err, &unknown), errors.As(err, &host), errors.As(err, &invalid):
		e.Err = fmt.Errorf("smtp connect to %s: the server's certificate is not trusted: %w", s.cfg.Server.Addr(), err)
	case errors.As(err, &record), errors.As(err, &alert):
		e.Err = fmt.Errorf("smtp connect to %s: TLS handshake failed (smtps:// speaks TLS from the start, smtp:// upgrades with STARTTLS): %w", s.cfg.Server.Addr(), err)
	case strings.Contains(err.Error(), "does not support STARTTLS"): // go-mail v0.8.1 has no sentinel for it
		e.Err = fmt.Errorf("smtp connect to %s: the server does not offer STARTTLS; refusing to send without TLS (add ?tls=none to the URL only for a server on a trusted network)", s.cfg.Server.Addr())
	case errors.Is(err, context.Canceled):
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		e.Temporary = true
	}
	return e
}

// quit ends c's connection politely (QUIT), or at least closes it.
func (s *SMTP) quit(c *smtpConn) {
	if c.conn == nil {
		return
	}
	// The deadline set for the last message may have passed long ago.
	if c.conn.UpdateDeadline(min(s.cfg.Timeout, 5*time.Second)) == nil {
		_ = c.client.CloseWithSMTPClient(c.conn)
	}
	s.drop(c)
}

// drop closes c's connection without a word.
func (s *SMTP) drop(c *smtpConn) {
	if c.conn != nil {
		_ = c.conn.Close()
	}
	if c.raw != nil {
		_ = c.raw.Close()
	}
	c.client, c.conn, c.raw = nil, nil, nil
}

// compose builds m as a go-mail message, multipart/alternative when it has
// both bodies, with a new Message-ID, which it returns without brackets.
func compose(m Message) (*gomail.Msg, string, error) {
	from, err := netmail.ParseAddress(m.From.Email)
	if err != nil {
		return nil, "", permanent(fmt.Errorf("compose message: sender address: %w", err))
	}
	to, err := netmail.ParseAddress(m.To.Email)
	if err != nil {
		return nil, "", permanent(fmt.Errorf("compose message: recipient address: %w", err))
	}
	from.Name, to.Name = m.From.Name, m.To.Name
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	msg.FromMailAddress(from)
	msg.ToMailAddress(to)
	if m.ReplyTo != "" {
		if err := msg.ReplyTo(m.ReplyTo); err != nil {
			return nil, "", permanent(fmt.Errorf("compose message: reply-to: %w", err))
		}
	}
	msg.Subject(m.Subject)
	id := randomHex(16) + "@" + domainOf(m.From.Email)
	msg.SetMessageIDWithValue(id)
	msg.SetDate()
	if d := m.Variables["delivery_id"]; d != "" {
		msg.SetGenHeader(DeliveryHeader, d)
	}
	switch {
	case m.Text != "" && m.HTML != "":
		msg.SetBodyString(gomail.TypeTextPlain, m.Text)
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	case m.Text != "":
		msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	default:
		msg.SetBodyString(gomail.TypeTextHTML, m.HTML)
	}
	return msg, id, nil
}

// replyLog keeps the server's last error reply on a connection: go-mail's
// SendError says which command failed and the code, not the text alone.
type replyLog struct {
	command string
	code    int
	reply   string // "550 5.1.1 No such user", on one line
}

// registry returns a go-mail error handler registry writing to r.
func (r *replyLog) registry() *gosmtp.ErrorHandlerRegistry {
	reg := gosmtp.NewErrorHandlerRegistry()
	reg.SetDefaultHandler(r)
	return reg
}

// HandleError notes a reply and hands the error back unchanged.
func (r *replyLog) HandleError(_, command string, _ *textproto.Conn, err error) error {
	var tp *textproto.Error
	if errors.As(err, &tp) {
		r.command, r.code, r.reply = command, tp.Code, formatReply(tp)
	}
	return err
}

// formatReply writes a reply on one line, e.g. "550 5.1.1 No such user".
func formatReply(tp *textproto.Error) string {
	return fmt.Sprintf("%03d %s", tp.Code, strings.Join(strings.Fields(tp.Msg), " "))
}
