package smtptest

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Received is one message the server accepted.
type Received struct {
	Helo     string
	From     string   // envelope MAIL FROM
	To       []string // envelope RCPT TO
	Data     []byte   // raw message, dot-unstuffed, CRLF line ends
	TLS      bool     // the transaction ran over TLS
	AuthUser string   // "" when not authenticated
	// MaxLineLen is the longest DATA line in octets without CRLF (RFC 5321: <= 998).
	MaxLineLen int
	// BareLF counts DATA lines ended by LF without CR.
	BareLF int
}

type config struct {
	user, pass  string
	startTLS    bool
	implicitTLS bool
	rcptCode    int
	dataCode    int
	stall       string
}

// Option configures a Server.
type Option func(*config)

// WithAuth requires AUTH PLAIN with these credentials before MAIL. AUTH is
// only offered over TLS.
func WithAuth(user, pass string) Option { return func(c *config) { c.user, c.pass = user, pass } }

// WithoutSTARTTLS stops the server from offering STARTTLS.
func WithoutSTARTTLS() Option { return func(c *config) { c.startTLS = false } }

// WithImplicitTLS makes the listener speak TLS from the first byte.
func WithImplicitTLS() Option { return func(c *config) { c.implicitTLS = true } }

// WithRcptReply answers every RCPT with code (e.g. 550 or 451). Like real
// servers, the reply text echoes the address.
func WithRcptReply(code int) Option { return func(c *config) { c.rcptCode = code } }

// WithDataReply answers the end of DATA with code instead of 250; the message
// is not stored.
func WithDataReply(code int) Option { return func(c *config) { c.dataCode = code } }

// WithStall makes the server stop answering at stage: "greeting", or a verb
// ("EHLO", "STARTTLS", "AUTH", "MAIL", "RCPT", "DATA"), or "DATA-END" (after
// the message body). It then waits until the client or the server closes.
func WithStall(stage string) Option { return func(c *config) { c.stall = strings.ToUpper(stage) } }

// Server is an in-process SMTP server on 127.0.0.1 for tests.
type Server struct {
	cfg       config
	ln        net.Listener
	tlsServer *tls.Config
	pool      *x509.CertPool

	mu     sync.Mutex
	msgs   []Received
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// NewServer starts a server on 127.0.0.1:0 with a fresh self-signed
// certificate (valid for 127.0.0.1, ::1 and localhost). It is closed by
// t.Cleanup.
func NewServer(t testing.TB, opts ...Option) *Server {
	t.Helper()
	cfg := config{startTLS: true}
	for _, o := range opts {
		o(&cfg)
	}
	cert, pool, err := selfSigned()
	if err != nil {
		t.Fatalf("smtptest: certificate: %v", err)
	}
	s := &Server{
		cfg:       cfg,
		tlsServer: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		pool:      pool,
		conns:     map[net.Conn]struct{}{},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("smtptest: listen: %v", err)
	}
	if cfg.implicitTLS {
		ln = tls.NewListener(ln, s.tlsServer)
	}
	s.ln = ln
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(s.Close)
	return s
}

// Addr is "127.0.0.1:port".
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Host is "127.0.0.1".
func (s *Server) Host() string { return s.ln.Addr().(*net.TCPAddr).IP.String() }

// Port is the listening port.
func (s *Server) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// CertPool trusts the server's certificate.
func (s *Server) CertPool() *x509.CertPool { return s.pool }

// TLSConfig is a client configuration that trusts the server's certificate.
// ServerName is left empty for the client to fill in (e.g. "127.0.0.1").
func (s *Server) TLSConfig() *tls.Config {
	return &tls.Config{RootCAs: s.pool, MinVersion: tls.VersionTLS12}
}

// Messages returns copies of the messages accepted so far.
func (s *Server) Messages() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Received, len(s.msgs))
	for i, m := range s.msgs {
		m.To = append([]string(nil), m.To...)
		m.Data = append([]byte(nil), m.Data...)
		out[i] = m
	}
	return out
}

// Close stops the listener, closes open connections and waits for them.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.ln.Close()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				c.Close()
			}()
			s.serve(c)
		}()
	}
}

type session struct {
	conn     net.Conn
	r        *bufio.Reader
	w        *bufio.Writer
	tls      bool
	helo     string
	authUser string
	from     string
	to       []string
	inMail   bool
}

func (ss *session) reply(code int, lines ...string) {
	if len(lines) == 0 {
		lines = []string{"OK"}
	}
	for i, l := range lines {
		sep := "-"
		if i == len(lines)-1 {
			sep = " "
		}
		fmt.Fprintf(ss.w, "%d%s%s\r\n", code, sep, l)
	}
	ss.w.Flush()
}

// readLine reads one CRLF line; lines over 4 KiB are an error.
func (ss *session) readLine() (string, error) {
	var buf []byte
	for {
		chunk, isPrefix, err := ss.r.ReadLine()
		if err != nil {
			return "", err
		}
		buf = append(buf, chunk...)
		if len(buf) > 4096 {
			return "", fmt.Errorf("line too long")
		}
		if !isPrefix {
			return string(buf), nil
		}
	}
}

// stall blocks until the peer or the server closes the connection.
func (ss *session) stall() { _, _ = io.Copy(io.Discard, ss.conn) }

func (s *Server) serve(c net.Conn) {
	ss := &session{conn: c, r: bufio.NewReader(c), w: bufio.NewWriter(c), tls: s.cfg.implicitTLS}
	if s.cfg.stall == "GREETING" {
		ss.stall()
		return
	}
	ss.reply(220, "smtptest ESMTP ready")
	for {
		line, err := ss.readLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		verb = strings.ToUpper(verb)
		if s.cfg.stall == verb {
			ss.stall()
			return
		}
		switch verb {
		case "EHLO", "HELO":
			ss.helo, ss.inMail, ss.from, ss.to = arg, false, "", nil
			if verb == "HELO" {
				ss.reply(250, "smtptest")
				continue
			}
			ext := []string{"smtptest greets " + arg, "8BITMIME", "SIZE 10485760"}
			if s.cfg.startTLS && !ss.tls {
				ext = append(ext, "STARTTLS")
			}
			if s.cfg.user != "" && ss.tls {
				ext = append(ext, "AUTH PLAIN")
			}
			ss.reply(250, ext...)
		case "STARTTLS":
			if !s.cfg.startTLS || ss.tls {
				ss.reply(502, "5.5.1 STARTTLS not available")
				continue
			}
			ss.reply(220, "2.0.0 go ahead")
			tc := tls.Server(c, s.tlsServer)
			if err := tc.Handshake(); err != nil {
				return
			}
			// RFC 3207: forget everything learned before TLS.
			*ss = session{conn: tc, r: bufio.NewReader(tc), w: bufio.NewWriter(tc), tls: true}
		case "AUTH":
			s.auth(ss, arg)
		case "MAIL":
			if ss.helo == "" {
				ss.reply(503, "5.5.1 EHLO first")
				continue
			}
			if s.cfg.user != "" && ss.authUser == "" {
				ss.reply(530, "5.7.0 authentication required")
				continue
			}
			addr, ok := pathArg(arg, "FROM:")
			if !ok {
				ss.reply(501, "5.5.4 syntax: MAIL FROM:<address>")
				continue
			}
			ss.from, ss.to, ss.inMail = addr, nil, true
			ss.reply(250, "2.1.0 sender ok")
		case "RCPT":
			if !ss.inMail {
				ss.reply(503, "5.5.1 MAIL first")
				continue
			}
			addr, ok := pathArg(arg, "TO:")
			if !ok {
				ss.reply(501, "5.5.4 syntax: RCPT TO:<address>")
				continue
			}
			if code := s.cfg.rcptCode; code != 0 {
				ss.reply(code, enhanced(code)+" <"+addr+">: recipient rejected")
				continue
			}
			ss.to = append(ss.to, addr)
			ss.reply(250, "2.1.5 recipient ok")
		case "DATA":
			if len(ss.to) == 0 {
				ss.reply(503, "5.5.1 RCPT first")
				continue
			}
			ss.reply(354, "end data with <CR><LF>.<CR><LF>")
			rec, err := readData(ss.r)
			if err != nil {
				return
			}
			if s.cfg.stall == "DATA-END" {
				ss.stall()
				return
			}
			if code := s.cfg.dataCode; code != 0 {
				ss.reply(code, enhanced(code)+" message from <"+ss.from+"> refused")
				ss.inMail, ss.from, ss.to = false, "", nil
				continue
			}
			rec.Helo, rec.From, rec.To, rec.TLS, rec.AuthUser = ss.helo, ss.from, ss.to, ss.tls, ss.authUser
			s.mu.Lock()
			s.msgs = append(s.msgs, rec)
			s.mu.Unlock()
			ss.inMail, ss.from, ss.to = false, "", nil
			ss.reply(250, "2.0.0 queued")
		case "RSET":
			ss.inMail, ss.from, ss.to = false, "", nil
			ss.reply(250, "2.0.0 reset")
		case "NOOP":
			ss.reply(250, "2.0.0 ok")
		case "QUIT":
			ss.reply(221, "2.0.0 bye")
			return
		default:
			ss.reply(502, "5.5.2 command not implemented")
		}
	}
}

func (s *Server) auth(ss *session, arg string) {
	if s.cfg.user == "" {
		ss.reply(502, "5.5.1 AUTH not available")
		return
	}
	if !ss.tls {
		ss.reply(538, "5.7.11 encryption required")
		return
	}
	if ss.authUser != "" {
		ss.reply(503, "5.5.1 already authenticated")
		return
	}
	mech, ir, _ := strings.Cut(arg, " ")
	if !strings.EqualFold(mech, "PLAIN") {
		ss.reply(504, "5.5.4 only PLAIN")
		return
	}
	if ir == "" {
		ss.reply(334, "")
		l, err := ss.readLine()
		if err != nil {
			return
		}
		ir = l
	}
	raw, err := base64.StdEncoding.DecodeString(ir)
	if err != nil {
		ss.reply(501, "5.5.2 bad base64")
		return
	}
	parts := strings.Split(string(raw), "\x00")
	if len(parts) != 3 || parts[1] != s.cfg.user || parts[2] != s.cfg.pass {
		ss.reply(535, "5.7.8 authentication failed")
		return
	}
	ss.authUser = parts[1]
	ss.reply(235, "2.7.0 authenticated")
}

// pathArg parses "FROM:<addr> PARAMS" and returns addr.
func pathArg(arg, prefix string) (string, bool) {
	if len(arg) < len(prefix) || !strings.EqualFold(arg[:len(prefix)], prefix) {
		return "", false
	}
	rest := strings.TrimSpace(arg[len(prefix):])
	if !strings.HasPrefix(rest, "<") {
		return "", false
	}
	end := strings.IndexByte(rest, '>')
	if end < 0 {
		return "", false
	}
	return rest[1:end], true
}

func enhanced(code int) string {
	switch {
	case code >= 500:
		return "5.1.1"
	case code >= 400:
		return "4.3.0"
	}
	return "2.0.0"
}

func readData(r *bufio.Reader) (Received, error) {
	var rec Received
	var buf bytes.Buffer
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			return rec, err
		}
		content := bytes.TrimSuffix(line, []byte("\n"))
		if bytes.HasSuffix(content, []byte("\r")) {
			content = content[:len(content)-1]
		} else {
			rec.BareLF++
		}
		if string(content) == "." {
			rec.Data = buf.Bytes()
			return rec, nil
		}
		content = bytes.TrimPrefix(content, []byte(".")) // dot-unstuffing
		rec.MaxLineLen = max(rec.MaxLineLen, len(content))
		buf.Write(content)
		buf.WriteString("\r\n")
	}
}

func selfSigned() (tls.Certificate, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "smtptest"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool, nil
}

// Part is one decoded MIME leaf part.
type Part struct {
	ContentType      string // media type, e.g. "text/plain"
	Charset          string
	TransferEncoding string // as sent, e.g. "quoted-printable"
	Body             string // decoded
}

// Parsed is a message decoded for assertions.
type Parsed struct {
	Header  mail.Header
	Subject string // RFC 2047-decoded
	From    *mail.Address
	To      []*mail.Address
	Text    string // first text/plain part, decoded
	HTML    string // first text/html part, decoded
	Parts   []Part
}

// Parse decodes r.Data with net/mail and mime/multipart.
func (r Received) Parse() (*Parsed, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(r.Data))
	if err != nil {
		return nil, fmt.Errorf("read message: %w", err)
	}
	p := &Parsed{Header: msg.Header}
	dec := new(mime.WordDecoder)
	if p.Subject, err = dec.DecodeHeader(msg.Header.Get("Subject")); err != nil {
		return nil, fmt.Errorf("subject: %w", err)
	}
	if p.From, err = mail.ParseAddress(msg.Header.Get("From")); err != nil {
		return nil, fmt.Errorf("from: %w", err)
	}
	if p.To, err = msg.Header.AddressList("To"); err != nil {
		return nil, fmt.Errorf("to: %w", err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		return nil, fmt.Errorf("content-type: %w", err)
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(msg.Body, params["boundary"])
		for {
			part, err := mr.NextRawPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("part: %w", err)
			}
			pp, err := decodePart(part.Header.Get("Content-Type"), part.Header.Get("Content-Transfer-Encoding"), part)
			if err != nil {
				return nil, err
			}
			p.Parts = append(p.Parts, pp)
		}
	} else {
		pp, err := decodePart(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body)
		if err != nil {
			return nil, err
		}
		p.Parts = append(p.Parts, pp)
	}
	for _, pp := range p.Parts {
		switch {
		case pp.ContentType == "text/plain" && p.Text == "":
			p.Text = pp.Body
		case pp.ContentType == "text/html" && p.HTML == "":
			p.HTML = pp.Body
		}
	}
	return p, nil
}

func decodePart(ctype, cte string, r io.Reader) (Part, error) {
	mt, params, err := mime.ParseMediaType(ctype)
	if err != nil {
		return Part{}, fmt.Errorf("part content-type: %w", err)
	}
	p := Part{ContentType: mt, Charset: params["charset"], TransferEncoding: strings.ToLower(cte)}
	switch p.TransferEncoding {
	case "quoted-printable":
		r = quotedprintable.NewReader(r)
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, r)
	case "", "7bit", "8bit":
	default:
		return Part{}, fmt.Errorf("unknown transfer encoding %q", cte)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return Part{}, fmt.Errorf("part body: %w", err)
	}
	p.Body = string(b)
	return p, nil
}

// String summarises the envelope for test failure messages.
func (r Received) String() string {
	return "from=" + r.From + " to=" + strings.Join(r.To, ",") + " tls=" + strconv.FormatBool(r.TLS) + " bytes=" + strconv.Itoa(len(r.Data))
}
