package notify

import (
	"bytes"
	"mime"
	"net/mail"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestBuildMessageHeaders(t *testing.T) {
	from, _ := mail.ParseAddress("Dåcvet <noreply@docvet.example>")
	var to []*mail.Address
	for _, a := range []string{"a@example.org", "Bø Bøe <b@example.org>", "c@example.org", "d@example.org", "e@example.org"} {
		pa, _ := mail.ParseAddress(a)
		to = append(to, pa)
	}
	tests := []struct {
		name, subject, want string
	}{
		{"ascii", "Hello there", "Hello there"},
		{"norwegian", "GDPR data tilgjengelig – ærlig", "GDPR data tilgjengelig – ærlig"},
		{"crlf folded", "a\r\nBcc: x@y", "a Bcc: x@y"},
		{"truncated", strings.Repeat("ø", 400), strings.Repeat("ø", maxSubjectRunes-1) + "…"},
		{"long ascii word", strings.Repeat("x", 600), strings.Repeat("x", maxSubjectRunes-1) + "…"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := buildMessage(from, to, Message{Subject: tc.subject, HTML: "<p>hi <a href=\"https://x/\">link</a></p>"}, time.Unix(1700000000, 0))
			if err != nil {
				t.Fatal(err)
			}
			msg, err := mail.ReadMessage(bytes.NewReader(raw))
			if err != nil {
				t.Fatal(err)
			}
			got, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
			if err != nil || got != tc.want {
				t.Errorf("subject = %q (%v), want %q", got, err, tc.want)
			}
			if utf8.RuneCountInString(got) > maxSubjectRunes {
				t.Errorf("subject has %d runes", utf8.RuneCountInString(got))
			}
			if msg.Header.Get("Bcc") != "" {
				t.Error("Bcc injected")
			}
			addrs, err := msg.Header.AddressList("To")
			if err != nil || len(addrs) != 5 || addrs[1].Name != "Bø Bøe" {
				t.Errorf("To = %v (%v)", addrs, err)
			}
			f, err := mail.ParseAddress(msg.Header.Get("From"))
			if err != nil || f.Name != "Dåcvet" {
				t.Errorf("From = %v (%v)", f, err)
			}
			head, _, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
			for _, l := range bytes.Split(head, []byte("\r\n")) {
				if len(l) > 998 {
					t.Errorf("header line of %d octets", len(l))
				}
			}
			// Text derived from HTML when only HTML is given.
			if !bytes.Contains(raw, []byte("hi link (https://x/)")) {
				t.Errorf("derived text part missing:\n%s", raw)
			}
		})
	}
}
