package notify_test

import (
	"context"
	"errors"
	"net"
	"net/mail"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docvet/docvet/notify"
	"github.com/docvet/docvet/notify/smtptest"
)

var env = map[string]string{
	"portal-url":           "https://portal.example.org/login",
	"sesam-portal-gui-url": "https://review.example.org/",
	"subscription":         "sub-1",
}

func newMailer(t *testing.T, srv *smtptest.Server, mod func(*notify.SMTPOptions)) *notify.SMTP {
	t.Helper()
	o := notify.SMTPOptions{
		Host:      srv.Host(),
		Port:      srv.Port(),
		From:      "docvet <noreply@docvet.example>",
		Username:  "docvet",
		Password:  "s3cret",
		HELO:      "test.docvet.example",
		TLSConfig: srv.TLSConfig(),
		Timeout:   5 * time.Second,
	}
	if mod != nil {
		mod(&o)
	}
	m, err := notify.NewSMTP(o)
	if err != nil {
		t.Fatalf("NewSMTP: %v", err)
	}
	return m
}

func crlfToLF(s string) string { return strings.ReplaceAll(s, "\r\n", "\n") }

func TestSMTPSendStartTLSAuth(t *testing.T) {
	srv := smtptest.NewServer(t, smtptest.WithAuth("docvet", "s3cret"))
	mailer := newMailer(t, srv, nil)
	tpl := notify.DefaultTemplates()

	longInfo := strings.Repeat("ærlig-østlig-åpen ", 8) + "<kari@example.no>"
	tests := []struct {
		name, key, lang string
		contactinfo     string
		to              []string
	}{
		{"norwegian subject", notify.AccessRequestMail, "no", "kari.nordmann@example.no", []string{"reviewer@example.org"}},
		{"english, two recipients", notify.AccessRequestDeleteMail, "en", "+4712345678", []string{"a@example.org", "Bø Bøe <b@example.org>"}},
		{"long non-ASCII subject is folded", notify.AccessRequestMail, "nb-NO", longInfo, []string{"reviewer@example.org"}},
		{"subject mail", notify.SubjectDataAvailableMail, "no", "kari@example.no", []string{"kari@example.no"}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := tpl.Render(tc.key, tc.lang, notify.Values{ContactInfo: tc.contactinfo, Contact: "reviewer@example.org", RequestID: "req-" + strconv.Itoa(i), Env: env})
			if err != nil {
				t.Fatal(err)
			}
			m.To = tc.to
			if err := mailer.Send(context.Background(), m); err != nil {
				t.Fatalf("Send: %v", err)
			}
			msgs := srv.Messages()
			if len(msgs) != i+1 {
				t.Fatalf("server has %d messages, want %d", len(msgs), i+1)
			}
			rec := msgs[i]
			if !rec.TLS || rec.AuthUser != "docvet" || rec.Helo != "test.docvet.example" {
				t.Errorf("envelope: tls=%v auth=%q helo=%q", rec.TLS, rec.AuthUser, rec.Helo)
			}
			if rec.From != "noreply@docvet.example" {
				t.Errorf("MAIL FROM = %q", rec.From)
			}
			var wantRcpt []string
			for _, a := range tc.to {
				pa, _ := mail.ParseAddress(a)
				wantRcpt = append(wantRcpt, pa.Address)
			}
			if strings.Join(rec.To, ",") != strings.Join(wantRcpt, ",") {
				t.Errorf("RCPT TO = %v, want %v", rec.To, wantRcpt)
			}
			for j, b := range rec.Data {
				if b >= 0x80 {
					t.Fatalf("8-bit byte at %d: message must be 7-bit clean", j)
				}
			}
			if rec.MaxLineLen > 998 || rec.BareLF != 0 {
				t.Errorf("line discipline: max line %d, bare LF %d", rec.MaxLineLen, rec.BareLF)
			}
			// Header lines hold at most one encoded-word (<= 75) after the
			// name; quoted-printable body lines are <= 76.
			head, body, _ := strings.Cut(string(rec.Data), "\r\n\r\n")
			for _, l := range strings.Split(head, "\r\n") {
				if len(l) > 90 {
					t.Errorf("header line of %d octets: %q", len(l), l)
				}
			}
			for _, l := range strings.Split(body, "\r\n") {
				if len(l) > 76 {
					t.Errorf("body line of %d octets: %q", len(l), l)
				}
			}
			p, err := rec.Parse()
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if p.Subject != m.Subject {
				t.Errorf("subject = %q, want %q", p.Subject, m.Subject)
			}
			if p.From.Address != "noreply@docvet.example" || p.From.Name != "docvet" {
				t.Errorf("From = %v", p.From)
			}
			if len(p.To) != len(tc.to) || p.To[len(p.To)-1].Address != wantRcpt[len(wantRcpt)-1] {
				t.Errorf("To = %v", p.To)
			}
			if crlfToLF(p.Text) != m.Text || crlfToLF(p.HTML) != m.HTML {
				t.Errorf("bodies differ:\ntext %q\nwant %q\nhtml %q\nwant %q", p.Text, m.Text, p.HTML, m.HTML)
			}
			if len(p.Parts) != 2 {
				t.Fatalf("%d parts, want 2", len(p.Parts))
			}
			for _, part := range p.Parts {
				if part.Charset != "utf-8" || part.TransferEncoding != "quoted-printable" {
					t.Errorf("part %s: charset %q encoding %q", part.ContentType, part.Charset, part.TransferEncoding)
				}
			}
			if ct := p.Header.Get("Content-Type"); !strings.HasPrefix(ct, "multipart/alternative;") {
				t.Errorf("Content-Type = %q", ct)
			}
			if id := p.Header.Get("Message-Id"); !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@docvet.example>") || len(id) < 40 {
				t.Errorf("Message-ID = %q", id)
			}
			if d, err := p.Header.Date(); err != nil || time.Since(d) > time.Minute {
				t.Errorf("Date = %q (%v)", p.Header.Get("Date"), err)
			}
			if p.Header.Get("MIME-Version") != "1.0" {
				t.Errorf("MIME-Version = %q", p.Header.Get("MIME-Version"))
			}
		})
	}
}

func TestSMTPHeaderInjectionAndPlainText(t *testing.T) {
	srv := smtptest.NewServer(t)
	mailer := newMailer(t, srv, func(o *notify.SMTPOptions) { o.Username, o.Password = "", "" })
	err := mailer.Send(context.Background(), notify.Message{
		To:      []string{"a@example.org"},
		Subject: "hi\r\nBcc: evil@example.org\r\n\r\nbody",
		Text:    "line one\nline two ü",
	})
	if err != nil {
		t.Fatal(err)
	}
	p, err := srv.Messages()[0].Parse()
	if err != nil {
		t.Fatal(err)
	}
	if p.Header.Get("Bcc") != "" || p.Subject != "hi Bcc: evil@example.org body" {
		t.Errorf("injection: Bcc=%q subject=%q", p.Header.Get("Bcc"), p.Subject)
	}
	if len(p.Parts) != 1 || p.Parts[0].ContentType != "text/plain" || crlfToLF(p.Text) != "line one\nline two ü\n" {
		t.Errorf("plain text message: %+v", p.Parts)
	}
}

func TestSMTPModes(t *testing.T) {
	t.Run("implicit TLS", func(t *testing.T) {
		srv := smtptest.NewServer(t, smtptest.WithImplicitTLS(), smtptest.WithAuth("docvet", "s3cret"))
		mailer := newMailer(t, srv, func(o *notify.SMTPOptions) { o.TLS = notify.TLSImplicit })
		if err := mailer.Send(context.Background(), notify.Message{To: []string{"a@example.org"}, Subject: "s", Text: "t"}); err != nil {
			t.Fatal(err)
		}
		if m := srv.Messages(); len(m) != 1 || !m[0].TLS || m[0].AuthUser != "docvet" {
			t.Errorf("messages: %v", m)
		}
	})
	t.Run("plaintext to loopback", func(t *testing.T) {
		srv := smtptest.NewServer(t, smtptest.WithoutSTARTTLS())
		mailer := newMailer(t, srv, func(o *notify.SMTPOptions) { o.TLS, o.Username, o.Password = notify.TLSNone, "", "" })
		if err := mailer.Send(context.Background(), notify.Message{To: []string{"a@example.org"}, Subject: "s", Text: "t"}); err != nil {
			t.Fatal(err)
		}
		if m := srv.Messages(); len(m) != 1 || m[0].TLS {
			t.Errorf("messages: %v", m)
		}
	})
	t.Run("STARTTLS required but not offered", func(t *testing.T) {
		srv := smtptest.NewServer(t, smtptest.WithoutSTARTTLS())
		mailer := newMailer(t, srv, func(o *notify.SMTPOptions) { o.Username, o.Password = "", "" })
		err := mailer.Send(context.Background(), notify.Message{To: []string{"a@example.org"}, Subject: "s", Text: "t"})
		if err == nil || !strings.Contains(err.Error(), "STARTTLS") || len(srv.Messages()) != 0 {
			t.Errorf("err = %v, messages %d", err, len(srv.Messages()))
		}
	})
	t.Run("untrusted certificate", func(t *testing.T) {
		srv := smtptest.NewServer(t)
		mailer := newMailer(t, srv, func(o *notify.SMTPOptions) { o.TLSConfig, o.Username, o.Password = nil, "", "" })
		err := mailer.Send(context.Background(), notify.Message{To: []string{"a@example.org"}, Subject: "s", Text: "t"})
		if err == nil || !strings.Contains(err.Error(), "STARTTLS") || len(srv.Messages()) != 0 {
			t.Errorf("err = %v", err)
		}
	})
}

func TestNewSMTPValidation(t *testing.T) {
	base := notify.SMTPOptions{Host: "mail.example.org", From: "noreply@example.org"}
	tests := []struct {
		name    string
		mod     func(*notify.SMTPOptions)
		wantErr string
	}{
		{"defaults ok", func(*notify.SMTPOptions) {}, ""},
		{"plaintext to remote refused", func(o *notify.SMTPOptions) { o.TLS = "none" }, "only allowed to a loopback host"},
		{"plaintext to remote with explicit flag", func(o *notify.SMTPOptions) { o.TLS, o.InsecureAllowPlaintext = "none", true }, ""},
		{"credentials over remote plaintext refused", func(o *notify.SMTPOptions) {
			o.TLS, o.InsecureAllowPlaintext, o.Username, o.Password = "none", true, "u", "p"
		}, "credentials are never sent"},
		{"plaintext to localhost", func(o *notify.SMTPOptions) { o.TLS, o.Host = "none", "localhost" }, ""},
		{"plaintext to ::1", func(o *notify.SMTPOptions) { o.TLS, o.Host = "none", "[::1]" }, ""},
		{"unknown mode", func(o *notify.SMTPOptions) { o.TLS = "ssl" }, "unknown TLS mode"},
		{"bad from", func(o *notify.SMTPOptions) { o.From = "not an address" }, "From"},
		{"from with CRLF", func(o *notify.SMTPOptions) { o.From = "a@b.c\r\nBcc: x@y.z" }, "From"},
		{"user without password", func(o *notify.SMTPOptions) { o.Username = "u" }, "together"},
		{"bad port", func(o *notify.SMTPOptions) { o.Port = 70000 }, "invalid port"},
		{"empty host", func(o *notify.SMTPOptions) { o.Host = "" }, "invalid host"},
		{"bad helo", func(o *notify.SMTPOptions) { o.HELO = "a b" }, "HELO"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := base
			tc.mod(&o)
			_, err := notify.NewSMTP(o)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestSMTPErrors(t *testing.T) {
	const rcpt = "victim@example.org"
	msg := notify.Message{To: []string{rcpt}, Subject: "Secret subject", Text: "secret text"}
	tests := []struct {
		name      string
		opts      []smtptest.Option
		mod       func(*notify.SMTPOptions)
		msg       *notify.Message
		want      string
		permanent bool
	}{
		{"RCPT 550", []smtptest.Option{smtptest.WithRcptReply(550)}, nil, nil, "smtp: RCPT rejected (550 5.1.1)", true},
		{"RCPT 451", []smtptest.Option{smtptest.WithRcptReply(451)}, nil, nil, "smtp: RCPT rejected (451 4.3.0)", false},
		{"DATA 554", []smtptest.Option{smtptest.WithDataReply(554)}, nil, nil, "smtp: DATA rejected (554 5.1.1)", true},
		{"DATA 452", []smtptest.Option{smtptest.WithDataReply(452)}, nil, nil, "smtp: DATA rejected (452 4.3.0)", false},
		{"wrong password", []smtptest.Option{smtptest.WithAuth("docvet", "other")}, nil, nil, "smtp: AUTH rejected (535 5.7.8)", true},
		{"auth required", []smtptest.Option{smtptest.WithAuth("docvet", "s3cret")}, func(o *notify.SMTPOptions) { o.Username, o.Password = "", "" }, nil, "smtp: MAIL rejected (530 5.7.0)", true},
		{"invalid recipient", nil, nil, &notify.Message{To: []string{"victim at example.org"}, Text: "x"}, "smtp: recipient 0: address does not parse: permanent failure", true},
		{"recipient with CRLF", nil, nil, &notify.Message{To: []string{"victim@example.org\r\nBcc: x@example.org"}, Text: "x"}, "smtp: recipient 0: address contains a line break: permanent failure", true},
		{"no recipients", nil, nil, &notify.Message{Text: "x"}, "smtp: no recipients: permanent failure", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := smtptest.NewServer(t, tc.opts...)
			mailer := newMailer(t, srv, func(o *notify.SMTPOptions) {
				o.Username, o.Password = "", ""
				if len(tc.opts) > 0 && strings.Contains(tc.name, "password") {
					o.Username, o.Password = "docvet", "s3cret"
				}
				if tc.mod != nil {
					tc.mod(o)
				}
			})
			m := msg
			if tc.msg != nil {
				m = *tc.msg
			}
			err := mailer.Send(context.Background(), m)
			if err == nil {
				t.Fatal("Send succeeded")
			}
			if err.Error() != tc.want {
				t.Errorf("err = %q, want %q", err, tc.want)
			}
			if errors.Is(err, notify.ErrPermanent) != tc.permanent {
				t.Errorf("permanent = %v, want %v", !tc.permanent, tc.permanent)
			}
			for _, leak := range []string{"victim", "@", "Secret", "secret", "rejected <", "refused"} {
				if strings.Contains(err.Error(), leak) {
					t.Errorf("error %q leaks %q", err, leak)
				}
			}
			if len(srv.Messages()) != 0 {
				t.Errorf("a message was stored")
			}
			var re *notify.ReplyError
			if strings.Contains(tc.want, "rejected") && !errors.As(err, &re) {
				t.Errorf("not a *ReplyError: %T", err)
			}
		})
	}
}

func TestSMTPStallAndCancel(t *testing.T) {
	msg := notify.Message{To: []string{"a@example.org"}, Subject: "s", Text: "t"}
	tests := []struct {
		name    string
		stall   string
		ctx     func() (context.Context, context.CancelFunc)
		timeout time.Duration
		want    error
	}{
		{"ctx deadline at greeting", "greeting", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 200*time.Millisecond)
		}, 0, context.DeadlineExceeded},
		{"ctx cancel after DATA", "DATA-END", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(200*time.Millisecond, cancel)
			return ctx, cancel
		}, 0, context.Canceled},
		{"option timeout at RCPT", "RCPT", func() (context.Context, context.CancelFunc) {
			return context.WithCancel(context.Background())
		}, 300 * time.Millisecond, context.DeadlineExceeded},
		{"option timeout after STARTTLS", "MAIL", func() (context.Context, context.CancelFunc) {
			return context.WithCancel(context.Background())
		}, 300 * time.Millisecond, context.DeadlineExceeded},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := smtptest.NewServer(t, smtptest.WithStall(tc.stall))
			mailer := newMailer(t, srv, func(o *notify.SMTPOptions) {
				o.Username, o.Password = "", ""
				if tc.timeout > 0 {
					o.Timeout = tc.timeout
				}
			})
			ctx, cancel := tc.ctx()
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- mailer.Send(ctx, msg) }()
			select {
			case err := <-done:
				if !errors.Is(err, tc.want) || errors.Is(err, notify.ErrPermanent) {
					t.Errorf("err = %v, want transient %v", err, tc.want)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Send did not return after its deadline")
			}
		})
	}
	t.Run("already cancelled", func(t *testing.T) {
		srv := smtptest.NewServer(t)
		mailer := newMailer(t, srv, nil)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := mailer.Send(ctx, msg); !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v", err)
		}
	})
}

func TestSMTPConnectionRefusedIsTransient(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	mailer, err := notify.NewSMTP(notify.SMTPOptions{Host: "127.0.0.1", Port: port, From: "a@example.org", Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = mailer.Send(context.Background(), notify.Message{To: []string{"victim@example.org"}, Text: "x"})
	if err == nil || errors.Is(err, notify.ErrPermanent) || !strings.HasPrefix(err.Error(), "smtp: dial:") || strings.Contains(err.Error(), "victim") {
		t.Errorf("err = %v", err)
	}
}
