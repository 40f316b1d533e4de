package smtptest_test

import (
	"crypto/tls"
	"net/smtp"
	"strings"
	"testing"

	"github.com/docvet/docvet/notify/smtptest"
)

func TestServerDialogue(t *testing.T) {
	srv := smtptest.NewServer(t, smtptest.WithAuth("u", "p"))
	c, err := smtp.Dial(srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Extension("AUTH"); ok {
		t.Error("AUTH offered before TLS")
	}
	if err := c.Mail("a@example.org"); err == nil || !strings.HasPrefix(err.Error(), "530") {
		t.Errorf("MAIL before AUTH: %v", err)
	}
	cfg := srv.TLSConfig()
	cfg.ServerName = srv.Host()
	if err := c.StartTLS(cfg); err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(smtp.PlainAuth("", "u", "p", srv.Host())); err != nil {
		t.Fatal(err)
	}
	if err := c.Noop(); err != nil {
		t.Error(err)
	}
	if err := c.Mail("first@example.org"); err != nil {
		t.Fatal(err)
	}
	if err := c.Reset(); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("x@example.org"); err == nil {
		t.Error("RCPT after RSET accepted")
	}
	if err := c.Mail("a@example.org"); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("b@example.org"); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("Subject: hi\r\nContent-Type: text/plain\r\nFrom: a@example.org\r\nTo: b@example.org\r\n\r\n.leading dot\r\nbody\r\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Quit(); err != nil {
		t.Error(err)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 || msgs[0].From != "a@example.org" || msgs[0].To[0] != "b@example.org" || !msgs[0].TLS || msgs[0].AuthUser != "u" {
		t.Fatalf("messages: %v", msgs)
	}
	p, err := msgs[0].Parse()
	if err != nil {
		t.Fatal(err)
	}
	if p.Subject != "hi" || p.Text != ".leading dot\r\nbody\r\n" {
		t.Errorf("parsed: %q %q", p.Subject, p.Text)
	}
}

func TestServerRejectsBadAuthAndUntrustedClients(t *testing.T) {
	srv := smtptest.NewServer(t, smtptest.WithAuth("u", "p"))
	c, err := smtp.Dial(srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.StartTLS(&tls.Config{ServerName: srv.Host(), RootCAs: srv.CertPool()}); err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(smtp.PlainAuth("", "u", "wrong", srv.Host())); err == nil || !strings.HasPrefix(err.Error(), "535") {
		t.Errorf("wrong password: %v", err)
	}
}
