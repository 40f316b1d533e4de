package notify

import (
	"bytes"
	"encoding/json"
	"html"
	"net/mail"
	"strings"
	"testing"
	"time"
)

// FuzzRender: rendering never panics, a subject never holds CR/LF, hostile
// values never reach the HTML unescaped, and the built message always parses
// with no injected header.
func FuzzRender(f *testing.F) {
	f.Add("GDPR {{ contactinfo }}", `<a href="$ENV(portal-url)?e={{contact}}">x</a>`, "alice@example.org", "bob@example.org", "req-1", "nb-NO")
	f.Add("S", "B", "<script>alert(1)</script>", "\"x@y\r\nBcc: evil", "r\n2", "en")
	f.Add("{{ contact", "$ENV(", "", "", "", "")
	f.Add("Ær {{requestId}}", "<p title='{{ contactinfo }}'>{{ contact }}</p><br>", "ø\u2028å", "a+b@c", "\x00", "no")
	tpl := DefaultTemplates()
	from, _ := mail.ParseAddress("docvet <noreply@docvet.example>")
	to, _ := mail.ParseAddress("r@example.org")
	f.Fuzz(func(t *testing.T, subject, body, contactinfo, contact, reqID, lang string) {
		v := Values{ContactInfo: contactinfo, Contact: contact, RequestID: reqID, Env: map[string]string{
			"portal-url": "https://p.example/", "sesam-portal-gui-url": "https://r.example/", "subscription": "s",
		}}
		check := func(m Message) {
			if strings.ContainsAny(m.Subject, "\r\n") {
				t.Fatalf("subject has CR/LF: %q", m.Subject)
			}
			raw, err := buildMessage(from, []*mail.Address{to}, m, time.Unix(0, 0))
			if err != nil {
				t.Fatalf("buildMessage: %v", err)
			}
			msg, err := mail.ReadMessage(bytes.NewReader(raw))
			if err != nil {
				t.Fatalf("built message does not parse: %v", err)
			}
			for k := range msg.Header {
				switch k {
				case "Date", "From", "To", "Subject", "Message-Id", "Mime-Version", "Content-Type", "Content-Transfer-Encoding":
				default:
					t.Fatalf("unexpected header %q", k)
				}
			}
			head, _, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
			for _, l := range bytes.Split(head, []byte("\r\n")) {
				if len(l) > 998 || bytes.ContainsAny(l, "\r\n") {
					t.Fatalf("bad header line (%d octets)", len(l))
				}
			}
		}
		m, err := tpl.Render(AccessRequestMail, lang, v)
		if err == nil {
			check(m)
			// The value changes no markup: same tags and quotes as with a
			// benign value, and it appears escaped.
			bv := v
			bv.ContactInfo = "X"
			base, err := tpl.Render(AccessRequestMail, lang, bv)
			if err != nil {
				t.Fatalf("benign render failed: %v", err)
			}
			for _, c := range []string{"<", ">", "\"", "'"} {
				if strings.Count(m.HTML, c) != strings.Count(base.HTML, c) {
					t.Fatalf("contactinfo changed the count of %q in the HTML", c)
				}
			}
			if !strings.Contains(m.HTML, html.EscapeString(foldBreaks(contactinfo))) {
				t.Fatalf("escaped contactinfo missing from HTML")
			}
		}
		ov, _ := json.Marshal([]Entity{{ID: SubjectDataAvailableMail, Translations: map[string]map[string]string{
			"xx": {fieldSubject: subject, fieldBody: body},
		}}})
		local := DefaultTemplates()
		if local.Override(ov) == nil {
			if m, err := local.Render(SubjectDataAvailableMail, "xx", v); err == nil {
				check(m)
			}
		}
		_ = HTMLToText(body)
	})
}
