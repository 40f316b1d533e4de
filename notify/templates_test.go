package notify

import (
	"errors"
	"os"
	"strings"
	"testing"
)

var testEnv = map[string]string{
	"portal-url":           "https://portal.example.org/login",
	"sesam-portal-gui-url": "https://review.example.org/",
	"subscription":         "sub-1",
}

func testValues() Values {
	return Values{ContactInfo: "alice@example.org", Contact: "bob+review@example.org", RequestID: "req-42", Env: testEnv}
}

func TestRenderDefaults(t *testing.T) {
	const reviewLink = "https://review.example.org/subscription/sub-1/gdpr/access-requests?email=bob%2Breview%40example.org&id=req-42"
	tests := []struct {
		name, key, lang string
		subject         string
		htmlHas         []string
		text            string
	}{
		{
			name: "en access request", key: AccessRequestMail, lang: "en",
			subject: "GDPR data access request submitted by alice@example.org",
			htmlHas: []string{`A GDPR data access request from alice@example.org for data`, `href="` + reviewLink + `"`},
			text: "A GDPR data access request from alice@example.org for data that you have been set as responsible for has been submitted to the GDPR portal.\n\n" +
				"You can download the Excel file to fill out at here (" + reviewLink + ").",
		},
		{
			name: "no access request", key: AccessRequestMail, lang: "no",
			subject: "GDPR data tilgangsforespørsel mottatt fra alice@example.org",
			htmlHas: []string{"En GDPR data tilgangsforespørsel fra alice@example.org", `href="` + reviewLink + `"`},
			text: "En GDPR data tilgangsforespørsel fra alice@example.org som du er oppgitt som ansvarlig for har blitt registrert i GDPR portalen.\n\n" +
				"Du kan laste ned en Excel mal som du kan fylle ut her (" + reviewLink + ").",
		},
		{
			name: "en delete request", key: AccessRequestDeleteMail, lang: "en",
			subject: "GDPR data access data deletion request submitted by alice@example.org",
			htmlHas: []string{"for deletion of data"},
		},
		{
			name: "nb-NO falls back to no", key: SubjectDataAvailableMail, lang: "nb-NO",
			subject: "GDPR data tilgjengelig",
			htmlHas: []string{`<a href="https://portal.example.org/login">GDPR portalen</a>`},
			text:    "Data du har forespurt er tilgjengelig i GDPR portalen.\n\nLogg inn i GDPR portalen (https://portal.example.org/login) for å se dem.",
		},
		{name: "nn falls back to no", key: SubjectDataAvailableMail, lang: "nn", subject: "GDPR data tilgjengelig"},
		{name: "nb_NO underscore, upper case", key: SubjectDataAvailableMail, lang: "NB_no", subject: "GDPR data tilgjengelig"},
		{name: "NO upper case", key: SubjectDataAvailableMail, lang: "NO", subject: "GDPR data tilgjengelig"},
		{name: "en-GB falls back to en", key: SubjectDataAvailableMail, lang: "en-GB", subject: "GDPR data access request results available"},
		{name: "de falls back to en", key: SubjectDataAvailableMail, lang: "de", subject: "GDPR data access request results available"},
		{name: "empty lang is en", key: SubjectDataAvailableMail, lang: "", subject: "GDPR data access request results available",
			text: "Your requested data is now available in the GDPR portal.\n\nPlease log in at GDPR portal (https://portal.example.org/login) to see it."},
		{name: "sms en", key: SubjectDataAvailableSMS, lang: "en",
			text: "Your requested data is now available in the GDPR portal. Please log in at https://portal.example.org/login to see it."},
		{name: "sms nb", key: SubjectDataAvailableSMS, lang: "nb",
			text: "Data du har forespurt er tilgjengelig i GDPR portalen. Logg inn i https://portal.example.org/login for å se dem."},
	}
	tpl := DefaultTemplates()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := tpl.Render(tc.key, tc.lang, testValues())
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if m.Subject != tc.subject {
				t.Errorf("subject = %q, want %q", m.Subject, tc.subject)
			}
			for _, h := range tc.htmlHas {
				if !strings.Contains(m.HTML, h) {
					t.Errorf("HTML lacks %q:\n%s", h, m.HTML)
				}
			}
			if tc.text != "" && m.Text != tc.text {
				t.Errorf("text = %q\nwant   %q", m.Text, tc.text)
			}
			if tc.key == SubjectDataAvailableSMS && (m.HTML != "" || m.Subject != "") {
				t.Errorf("SMS has subject/HTML: %+v", m)
			}
			if tc.key != SubjectDataAvailableSMS && (m.HTML == "" || m.Text == "") {
				t.Errorf("mail lacks a body: %+v", m)
			}
		})
	}
}

func TestRenderErrors(t *testing.T) {
	tpl := DefaultTemplates()
	noEnv := testValues()
	noEnv.Env = map[string]string{"portal-url": "https://p/"}
	emptyEnv := testValues()
	emptyEnv.Env = map[string]string{"portal-url": ""}
	noContact := testValues()
	noContact.Contact = ""
	tests := []struct {
		name, key string
		v         Values
		want      error
		mention   string
	}{
		{"unknown key", "gdpr_welcome_text", testValues(), ErrUnknownTemplate, "gdpr_welcome_text"},
		{"missing env", AccessRequestMail, noEnv, ErrMissingValue, "$ENV(sesam-portal-gui-url)"},
		{"empty env", SubjectDataAvailableSMS, emptyEnv, ErrMissingValue, "$ENV(portal-url)"},
		{"nil env", SubjectDataAvailableMail, Values{}, ErrMissingValue, "$ENV(portal-url)"},
		{"missing macro value", AccessRequestMail, noContact, ErrMissingValue, "{{ contact }}"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tpl.Render(tc.key, "en", tc.v)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("error %q does not name %q", err, tc.mention)
			}
		})
	}
}

func TestRenderHostileValues(t *testing.T) {
	tpl := DefaultTemplates()
	tests := []struct {
		name        string
		contactinfo string
		contact     string
		htmlHas     []string
		htmlLacks   []string
		subject     string
	}{
		{
			name: "script", contactinfo: `<script>alert(1)</script>`, contact: "bob@example.org",
			htmlHas:   []string{"&lt;script&gt;alert(1)&lt;/script&gt;"},
			htmlLacks: []string{"<script>"},
			subject:   "GDPR data access request submitted by <script>alert(1)</script>",
		},
		{
			name: "header injection", contactinfo: "\"x@y\r\nBcc: evil", contact: "bob@example.org",
			htmlHas:   []string{"&#34;x@y  Bcc: evil"},
			htmlLacks: []string{"\r", "\n"},
			subject:   "GDPR data access request submitted by \"x@y  Bcc: evil",
		},
		{
			name: "unicode line separators", contactinfo: "a\u2028b\u0085c\x00d", contact: "bob@example.org",
			subject: "GDPR data access request submitted by a b c d",
		},
		{
			name: "attribute breakout in href", contactinfo: "a@b", contact: `"><img src=x onerror=alert(1)>&x=`,
			htmlHas:   []string{"email=%22%3E%3Cimg+src%3Dx+onerror%3Dalert%281%29%3E%26x%3D&id=req-42"},
			htmlLacks: []string{"<img", `"><`},
			subject:   "GDPR data access request submitted by a@b",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := testValues()
			v.ContactInfo, v.Contact = tc.contactinfo, tc.contact
			m, err := tpl.Render(AccessRequestMail, "en", v)
			if err != nil {
				t.Fatal(err)
			}
			if m.Subject != tc.subject {
				t.Errorf("subject = %q, want %q", m.Subject, tc.subject)
			}
			if strings.ContainsAny(m.Subject, "\r\n") {
				t.Errorf("subject has CR/LF: %q", m.Subject)
			}
			for _, h := range tc.htmlHas {
				if !strings.Contains(m.HTML, h) {
					t.Errorf("HTML lacks %q:\n%s", h, m.HTML)
				}
			}
			for _, h := range tc.htmlLacks {
				if strings.Contains(m.HTML, h) {
					t.Errorf("HTML contains %q:\n%s", h, m.HTML)
				}
			}
		})
	}
}

func entityJSON(id, lang, fields string) string {
	return `[{"_id":"` + id + `","translations":{"` + lang + `":{` + fields + `}}}]`
}

func TestOverride(t *testing.T) {
	tests := []struct {
		name    string
		json    string
		key     string
		lang    string
		subject string // expected after a successful override
		text    string
		wantErr string // substring; "" = success
	}{
		{
			name: "replace en subject",
			json: entityJSON(SubjectDataAvailableMail, "en", `"subject_template":"Your data ({{requestId}})","body_template":"<p>Ready: <a href=\"$ENV(portal-url)\">open</a></p>"`),
			key:  SubjectDataAvailableMail, lang: "en", subject: "Your data (req-42)",
			text: "Ready: open (https://portal.example.org/login)",
		},
		{
			name: "new language", json: entityJSON(SubjectDataAvailableMail, "de", `"subject_template":"Ihre Daten","body_template":"Fertig","text_body_template":""`),
			key: SubjectDataAvailableMail, lang: "de-AT", subject: "Ihre Daten", text: "Fertig",
		},
		{
			name: "text body template used", json: entityJSON(AccessRequestMail, "en", `"subject_template":"S","body_template":"<b>{{ contactinfo }}</b>","text_body_template":"T {{contactinfo}} <raw>"`),
			key: AccessRequestMail, lang: "en", subject: "S", text: "T alice@example.org <raw>",
		},
		{
			name: "sms override", json: entityJSON(SubjectDataAvailableSMS, "sv", `"body_template":"Data klar: $ENV(portal-url)"`),
			key: SubjectDataAvailableSMS, lang: "sv-SE", text: "Data klar: https://portal.example.org/login",
		},
		{name: "unknown macro", json: entityJSON(AccessRequestMail, "en", `"subject_template":"S {{ name }}","body_template":"B"`), wantErr: "unknown macro"},
		{name: "recipients macro of change_request_mail", json: entityJSON(AccessRequestMail, "en", `"subject_template":"S","body_template":"{{ recipients }}"`), wantErr: "unknown macro"},
		{name: "unterminated macro", json: entityJSON(AccessRequestMail, "en", `"subject_template":"S {{ contact","body_template":"B"`), wantErr: "unterminated {{"},
		{name: "unterminated env", json: entityJSON(AccessRequestMail, "en", `"subject_template":"S","body_template":"$ENV(portal-url"`), wantErr: "unterminated $ENV("},
		{name: "bad env name", json: entityJSON(AccessRequestMail, "en", `"subject_template":"S","body_template":"$ENV(a b)"`), wantErr: "invalid $ENV name"},
		{name: "missing subject", json: entityJSON(AccessRequestMail, "en", `"body_template":"B"`), wantErr: "missing subject_template"},
		{name: "blank subject", json: entityJSON(AccessRequestMail, "en", `"subject_template":"  ","body_template":"B"`), wantErr: "missing subject_template"},
		{name: "missing body", json: entityJSON(AccessRequestMail, "en", `"subject_template":"S"`), wantErr: "missing body_template"},
		{name: "newline in subject", json: entityJSON(AccessRequestMail, "en", `"subject_template":"S\r\nBcc: x@y","body_template":"B"`), wantErr: "line break"},
		{name: "subject on sms", json: entityJSON(SubjectDataAvailableSMS, "en", `"subject_template":"S","body_template":"B"`), wantErr: "SMS templates take only"},
		{name: "unknown field", json: entityJSON(AccessRequestMail, "en", `"subject_template":"S","body_template":"B","rdf:title":"x"`), wantErr: `unknown field "rdf:title"`},
		{name: "unknown id", json: entityJSON("acces_request_mail", "en", `"subject_template":"S","body_template":"B"`), wantErr: `unknown _id "acces_request_mail"`},
		{name: "bad language", json: entityJSON(AccessRequestMail, "english!", `"subject_template":"S","body_template":"B"`), wantErr: "invalid language"},
		{name: "macro in tag", json: entityJSON(AccessRequestMail, "en", `"subject_template":"S","body_template":"<a {{ contact }}>x</a>"`), wantErr: "neither in text nor in a quoted attribute"},
		{name: "macro in unquoted attribute", json: entityJSON(AccessRequestMail, "en", `"subject_template":"S","body_template":"<a href={{ contact }}>x</a>"`), wantErr: "neither in text nor in a quoted attribute"},
		{name: "script element", json: entityJSON(AccessRequestMail, "en", `"subject_template":"S","body_template":"<SCRIPT>x</SCRIPT>"`), wantErr: "<script> is not allowed"},
		{name: "not an array", json: `{"_id":"x"}`, wantErr: "decode"},
		{name: "trailing data", json: `[] []`, wantErr: "trailing data"},
		{name: "unknown entity field", json: `[{"_id":"access_request_mail","translation":{}}]`, wantErr: "unknown field"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tpl := DefaultTemplates()
			before, err := tpl.Render(AccessRequestMail, "en", testValues())
			if err != nil {
				t.Fatal(err)
			}
			err = tpl.Override([]byte(tc.json))
			if tc.wantErr != "" {
				if !errors.Is(err, ErrInvalidTemplate) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want ErrInvalidTemplate containing %q", err, tc.wantErr)
				}
				after, err := tpl.Render(AccessRequestMail, "en", testValues())
				if err != nil || after.Subject != before.Subject || after.Text != before.Text || after.HTML != before.HTML {
					t.Errorf("failed override changed templates: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Override: %v", err)
			}
			m, err := tpl.Render(tc.key, tc.lang, testValues())
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if m.Subject != tc.subject || m.Text != tc.text {
				t.Errorf("got subject %q text %q, want %q %q", m.Subject, m.Text, tc.subject, tc.text)
			}
			// Other languages of the same key are untouched.
			if tc.lang != "no" {
				no, err := tpl.Render(tc.key, "no", testValues())
				def, _ := DefaultTemplates().Render(tc.key, "no", testValues())
				if err != nil || no.Subject != def.Subject || no.Text != def.Text {
					t.Errorf("override of %s touched no: %q vs %q (%v)", tc.lang, no.Subject, def.Subject, err)
				}
			}
		})
	}
}

// The operators' instructions say to start from the whole official list; it
// must load as is and render exactly like the built-in defaults.
func TestOverrideWholeSeedList(t *testing.T) {
	data, err := os.ReadFile("testdata/seed001_translations.json")
	if err != nil {
		t.Fatal(err)
	}
	tpl := DefaultTemplates()
	if err := tpl.Override(data); err != nil {
		t.Fatalf("Override(seed list): %v", err)
	}
	def := DefaultTemplates()
	for key := range knownKeys {
		for _, lang := range []string{"en", "no"} {
			got, err1 := tpl.Render(key, lang, testValues())
			want, err2 := def.Render(key, lang, testValues())
			if err1 != nil || err2 != nil || got.Subject != want.Subject || got.HTML != want.HTML || got.Text != want.Text {
				t.Errorf("%s/%s differs after loading the seed list (%v, %v)", key, lang, err1, err2)
			}
		}
		if got := tpl.Languages(key); len(got) != 2 || got[0] != "en" || got[1] != "no" {
			t.Errorf("%s languages = %v", key, got)
		}
	}
}

func TestOverrideEntitiesYAMLShape(t *testing.T) {
	tpl := DefaultTemplates()
	err := tpl.OverrideEntities([]Entity{{ID: AccessRequestMail, Translations: map[string]map[string]string{
		"sv": {"subject_template": "Begäran från {{ contactinfo }}", "body_template": "Hej"},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := tpl.Render(AccessRequestMail, "sv", testValues())
	if err != nil || m.Subject != "Begäran från alice@example.org" || m.Text != "Hej" {
		t.Fatalf("got %+v, %v", m, err)
	}
}

func TestCheckEnv(t *testing.T) {
	tpl := DefaultTemplates()
	if err := tpl.CheckEnv(testEnv); err != nil {
		t.Errorf("full env: %v", err)
	}
	err := tpl.CheckEnv(map[string]string{"portal-url": "https://p/"})
	if !errors.Is(err, ErrMissingValue) || err.Error() != "notify: missing template value: $ENV(sesam-portal-gui-url), $ENV(subscription) not configured" {
		t.Errorf("partial env: %v", err)
	}
}

func TestLangChain(t *testing.T) {
	tests := map[string]string{
		"nb-NO":      "nb-no nb no en",
		"nn":         "nn no en",
		"no":         "no nb en",
		"en":         "en",
		"":           "en",
		"zh-Hant-TW": "zh-hant-tw zh-hant zh en",
		"pt_BR":      "pt-br pt en",
	}
	for in, want := range tests {
		if got := strings.Join(langChain(in), " "); got != want {
			t.Errorf("langChain(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestHTMLToText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"a <br>b<br/>c", "a\nb\nc"},
		{"a<br><br><br><br>b", "a\n\nb"},
		{`go <a href="https://x/?a=1&amp;b=2">here</a>.`, "go here (https://x/?a=1&b=2)."},
		{`seed style <a href="https://x/"/>here</a>.`, "seed style here (https://x/)."},
		{`<a href="https://x/">https://x/</a>`, "https://x/"},
		{`<a href="https://x/"></a>`, "https://x/"},
		{`<a>no href</a>`, "no href"},
		{"<p>one</p><p>two</p>", "one\n\ntwo"},
		{"  lots \n\t of   space  ", "lots of space"},
		{"&lt;script&gt; &amp; &#34;q&#34;", `<script> & "q"`},
		{"<style>p{}</style><script>x()</script>shown", "shown"},
		{"<ul><li>a</li><li>b</li></ul>", "a\n\nb"},
		{"unclosed <a href='u'>link", "unclosed link (u)"},
	}
	for _, tc := range tests {
		if got := HTMLToText(tc.in); got != tc.want {
			t.Errorf("HTMLToText(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func BenchmarkRender(b *testing.B) {
	tpl := DefaultTemplates()
	v := testValues()
	for b.Loop() {
		if _, err := tpl.Render(AccessRequestMail, "nb-NO", v); err != nil {
			b.Fatal(err)
		}
	}
}
