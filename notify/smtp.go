package notify

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Mailer sends one rendered mail. Consumers declare their own copy; this one
// documents the contract *SMTP implements.
type Mailer interface {
	Send(ctx context.Context, m Message) error
}

// ErrPermanent marks failures a retry cannot fix: a 5xx SMTP reply, an invalid
// recipient, a message that cannot be built, a 4xx (not 408/429) webhook reply.
// Everything else is transient.
var ErrPermanent = errors.New("permanent failure")

// TLS modes for SMTPOptions.TLS.
const (
	TLSStartTLS = "starttls" // plain connect, STARTTLS required (default)
	TLSImplicit = "tls"      // TLS from the first byte (port 465)
	TLSNone     = "none"     // no TLS: loopback only, unless InsecureAllowPlaintext
)

// SMTPOptions configure an SMTP relay.
type SMTPOptions struct {
	Host string
	// Port defaults to 587 (starttls), 465 (tls) or 25 (none).
	Port int
	// From is the sender, "addr@domain" or "Name <addr@domain>".
	From string
	// Username and Password enable AUTH PLAIN, which is only ever sent over
	// TLS (or to a loopback host): net/smtp refuses otherwise.
	Username, Password string
	// TLS is TLSStartTLS (default), TLSImplicit or TLSNone.
	TLS string
	// InsecureAllowPlaintext permits TLSNone to a non-loopback host.
	// Credentials are still refused on such a connection.
	InsecureAllowPlaintext bool
	// Timeout bounds one whole Send (dial to QUIT); default 30s.
	Timeout time.Duration
	// HELO is the name sent in EHLO; default the host name, else "localhost".
	HELO string
	// TLSConfig overrides the TLS client configuration (custom CA, tests).
	// ServerName defaults to Host.
	TLSConfig *tls.Config
}

// SMTP sends mail through one relay, one connection per message.
type SMTP struct {
	host, addr, helo, mode string
	from                   *mail.Address
	auth                   smtp.Auth
	timeout                time.Duration
	tlsConfig              *tls.Config
	now                    func() time.Time
}

var _ Mailer = (*SMTP)(nil)

var heloRe = regexp.MustCompile(`^[A-Za-z0-9.\-\[\]:]{1,255}$`)

// NewSMTP validates o and returns a Mailer. It does not connect.
func NewSMTP(o SMTPOptions) (*SMTP, error) {
	if o.Host == "" || strings.ContainsAny(o.Host, " \r\n/@") {
		return nil, errors.New("smtp: invalid host")
	}
	mode := strings.ToLower(o.TLS)
	if mode == "" {
		mode = TLSStartTLS
	}
	port := o.Port
	switch mode {
	case TLSStartTLS:
		if port == 0 {
			port = 587
		}
	case TLSImplicit:
		if port == 0 {
			port = 465
		}
	case TLSNone:
		if port == 0 {
			port = 25
		}
		if !isLoopback(o.Host) && !o.InsecureAllowPlaintext {
			return nil, errors.New("smtp: TLS \"none\" is only allowed to a loopback host (set InsecureAllowPlaintext to override)")
		}
		if !isLoopback(o.Host) && (o.Username != "" || o.Password != "") {
			return nil, errors.New("smtp: credentials are never sent without TLS to a non-loopback host")
		}
	default:
		return nil, fmt.Errorf("smtp: unknown TLS mode %q (want starttls, tls or none)", o.TLS)
	}
	if port < 1 || port > 65535 {
		return nil, errors.New("smtp: invalid port")
	}
	from, err := parseAddress(o.From)
	if err != nil {
		return nil, fmt.Errorf("smtp: From: %w", err)
	}
	if (o.Username == "") != (o.Password == "") {
		return nil, errors.New("smtp: Username and Password must be set together")
	}
	helo := o.HELO
	if helo == "" {
		if h, err := os.Hostname(); err == nil && heloRe.MatchString(h) {
			helo = h
		} else {
			helo = "localhost"
		}
	}
	if !heloRe.MatchString(helo) {
		return nil, errors.New("smtp: invalid HELO name")
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	var cfg *tls.Config
	if o.TLSConfig != nil {
		cfg = o.TLSConfig.Clone()
	} else {
		cfg = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if cfg.ServerName == "" {
		cfg.ServerName = strings.Trim(o.Host, "[]")
	}
	s := &SMTP{
		host:      o.Host,
		addr:      net.JoinHostPort(strings.Trim(o.Host, "[]"), strconv.Itoa(port)),
		helo:      helo,
		mode:      mode,
		from:      from,
		timeout:   timeout,
		tlsConfig: cfg,
		now:       time.Now,
	}
	if o.Username != "" {
		s.auth = smtp.PlainAuth("", o.Username, o.Password, s.host)
	}
	return s, nil
}

func isLoopback(host string) bool {
	h := strings.Trim(host, "[]")
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// ReplyError is a negative SMTP reply. Its message holds the stage and the
// codes only, never the server's text: servers echo addresses back.
type ReplyError struct {
	Stage    string // "greeting", "EHLO", "STARTTLS", "AUTH", "MAIL", "RCPT", "DATA"
	Code     int    // e.g. 550
	Enhanced string // e.g. "5.1.1", if the server sent one
}

func (e *ReplyError) Error() string {
	code := strconv.Itoa(e.Code)
	if e.Enhanced != "" {
		code += " " + e.Enhanced
	}
	return fmt.Sprintf("smtp: %s rejected (%s)", e.Stage, code)
}

// Is makes errors.Is(err, ErrPermanent) true for 5xx replies.
func (e *ReplyError) Is(target error) bool {
	return target == ErrPermanent && e.Code >= 500 && e.Code <= 599
}

var enhancedRe = regexp.MustCompile(`^[245]\.\d{1,3}\.\d{1,3}\b`)

// Send delivers m to every address in m.To in one transaction. If any
// recipient is refused, nothing is sent. Use one Message per recipient when
// recipients must succeed or fail independently. Errors never contain
// addresses or message text.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	if len(m.To) == 0 {
		return fmt.Errorf("smtp: no recipients: %w", ErrPermanent)
	}
	rcpts := make([]*mail.Address, len(m.To))
	for i, t := range m.To {
		a, err := parseAddress(t)
		if err != nil {
			return fmt.Errorf("smtp: recipient %d: %v: %w", i, err, ErrPermanent)
		}
		rcpts[i] = a
	}
	raw, err := buildMessage(s.from, rcpts, m, s.now())
	if err != nil {
		return fmt.Errorf("smtp: build message: %v: %w", err, ErrPermanent)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("smtp: %w", err)
	}

	deadline := time.Now().Add(s.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	dctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()

	var conn net.Conn
	if s.mode == TLSImplicit {
		d := &tls.Dialer{Config: s.tlsConfig}
		conn, err = d.DialContext(dctx, "tcp", s.addr)
	} else {
		var d net.Dialer
		conn, err = d.DialContext(dctx, "tcp", s.addr)
	}
	if err != nil {
		return s.fail(ctx, dctx, "dial", err)
	}
	defer conn.Close()
	// net/smtp has no context support: the deadline bounds every read and
	// write, and cancelling ctx moves it into the past to unblock them.
	if err := conn.SetDeadline(deadline); err != nil {
		return s.fail(ctx, dctx, "dial", err)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		return s.fail(ctx, dctx, "greeting", err)
	}
	defer c.Close()
	if err := c.Hello(s.helo); err != nil {
		return s.fail(ctx, dctx, "EHLO", err)
	}
	if s.mode == TLSStartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return errors.New("smtp: server does not offer STARTTLS")
		}
		if err := c.StartTLS(s.tlsConfig); err != nil {
			return s.fail(ctx, dctx, "STARTTLS", err)
		}
	}
	if s.auth != nil {
		if ok, _ := c.Extension("AUTH"); !ok {
			return errors.New("smtp: server does not offer AUTH")
		}
		if err := c.Auth(s.auth); err != nil {
			return s.fail(ctx, dctx, "AUTH", err)
		}
	}
	if err := c.Mail(s.from.Address); err != nil {
		return s.fail(ctx, dctx, "MAIL", err)
	}
	for _, r := range rcpts {
		if err := c.Rcpt(r.Address); err != nil {
			return s.fail(ctx, dctx, "RCPT", err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return s.fail(ctx, dctx, "DATA", err)
	}
	if _, err := w.Write(raw); err != nil {
		return s.fail(ctx, dctx, "DATA", err)
	}
	if err := w.Close(); err != nil {
		return s.fail(ctx, dctx, "DATA", err)
	}
	// The message is accepted; a failing QUIT does not change that.
	_ = c.Quit()
	return nil
}

// fail maps an error of one dialogue stage to a log-safe error.
func (s *SMTP) fail(ctx, dctx context.Context, stage string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("smtp: %s: %w", stage, ctx.Err())
	}
	var te *textproto.Error
	if errors.As(err, &te) {
		return &ReplyError{Stage: stage, Code: te.Code, Enhanced: enhancedRe.FindString(te.Msg)}
	}
	var ne net.Error
	if dctx.Err() != nil || errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("smtp: %s: timed out after %s: %w", stage, s.timeout, context.DeadlineExceeded)
	}
	var pe textproto.ProtocolError
	if errors.As(err, &pe) {
		// A malformed reply; its text may echo what we sent.
		return fmt.Errorf("smtp: %s: malformed server reply", stage)
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		// Network errors name the relay, never a recipient.
		return fmt.Errorf("smtp: %s: %w", stage, err)
	}
	if stage == "MAIL" || stage == "RCPT" || stage == "DATA" {
		// Keep unknown errors of the address/content stages generic.
		return fmt.Errorf("smtp: %s: connection failed", stage)
	}
	return fmt.Errorf("smtp: %s: %w", stage, err)
}
