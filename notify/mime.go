package notify

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
	"time"
	"unicode/utf8"
)

// maxSubjectRunes caps the subject so that, encoded and folded, no header
// line can exceed RFC 5322's 998 octets.
const maxSubjectRunes = 250

// parseAddress validates one address with net/mail. The error never repeats
// the address: it ends up in logs.
func parseAddress(s string) (*mail.Address, error) {
	if strings.ContainsAny(s, "\r\n") {
		return nil, fmt.Errorf("address contains a line break")
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return nil, fmt.Errorf("address does not parse")
	}
	if strings.IndexFunc(a.Address, isBreak) >= 0 || strings.ContainsAny(a.Address, " <>") {
		return nil, fmt.Errorf("address contains forbidden characters")
	}
	return a, nil
}

// buildMessage renders an RFC 5322 message: multipart/alternative with
// quoted-printable UTF-8 text/plain and text/html parts (text/plain only when
// there is no HTML), RFC 2047 subject, Date and a random Message-ID in the
// sender's domain. Every line ends in CRLF and no header carries a bare CR/LF.
func buildMessage(from *mail.Address, to []*mail.Address, m Message, now time.Time) ([]byte, error) {
	var buf bytes.Buffer
	hdr := func(k, v string) {
		buf.WriteString(k)
		buf.WriteString(": ")
		buf.WriteString(foldHeader(len(k)+2, v))
		buf.WriteString("\r\n")
	}
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return nil, fmt.Errorf("message-id: %w", err)
	}
	domain := "localhost"
	if i := strings.LastIndexByte(from.Address, '@'); i >= 0 && i+1 < len(from.Address) {
		domain = from.Address[i+1:]
	}
	tos := make([]string, len(to))
	for i, a := range to {
		tos[i] = a.String()
	}
	subject := strings.Join(strings.Fields(foldBreaks(m.Subject)), " ")
	if utf8.RuneCountInString(subject) > maxSubjectRunes {
		subject = string([]rune(subject)[:maxSubjectRunes-1]) + "…"
	}
	hdr("Date", now.Format(time.RFC1123Z))
	hdr("From", from.String())
	hdr("To", strings.Join(tos, ", "))
	hdr("Subject", mime.QEncoding.Encode("utf-8", subject))
	hdr("Message-ID", "<"+hex.EncodeToString(id)+"@"+domain+">")
	hdr("MIME-Version", "1.0")

	text, htm := m.Text, m.HTML
	if text == "" && htm != "" {
		text = HTMLToText(htm)
	}
	if htm == "" {
		hdr("Content-Type", "text/plain; charset=utf-8")
		hdr("Content-Transfer-Encoding", "quoted-printable")
		buf.WriteString("\r\n")
		if err := writeQP(&buf, text); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	hdr("Content-Type", `multipart/alternative; boundary="`+mw.Boundary()+`"`)
	buf.WriteString("\r\n")
	for _, p := range []struct{ ctype, content string }{
		{"text/plain; charset=utf-8", text},
		{"text/html; charset=utf-8", htm},
	} {
		w, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {p.ctype},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, err
		}
		if err := writeQP(w, p.content); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	buf.Write(body.Bytes())
	return buf.Bytes(), nil
}

func writeQP(w interface{ Write([]byte) (int, error) }, s string) error {
	qp := quotedprintable.NewWriter(w)
	if _, err := qp.Write([]byte(strings.ToValidUTF8(s, "\uFFFD"))); err != nil {
		return err
	}
	// No trailing CRLF: in a multipart body it belongs to the next boundary
	// delimiter, and the DATA writer terminates the last line itself.
	return qp.Close()
}

// foldHeader folds a header value at spaces so lines stay near 78 octets.
// The value itself never contains CR or LF (callers fold them away).
func foldHeader(used int, v string) string {
	if used+len(v) <= 78 {
		return v
	}
	words := strings.Split(v, " ")
	var b strings.Builder
	lineLen := used
	for i, w := range words {
		if i > 0 {
			if lineLen+1+len(w) > 78 && lineLen > 1 {
				b.WriteString("\r\n ")
				lineLen = 1
			} else {
				b.WriteByte(' ')
				lineLen++
			}
		}
		b.WriteString(w)
		lineLen += len(w)
	}
	return b.String()
}
