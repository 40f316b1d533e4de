package identifiers

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

var testOpt = Options{
	DefaultRegion: "NO",
	IDs: []IDPattern{
		{Name: "customer", Regexp: regexp.MustCompile(`(?i)\bCUST[- ]?\d{3}[- ]?\d{4}\b`), StripSeparators: true},
		{Name: "fnr", Regexp: regexp.MustCompile(`\b\d{6} ?\d{5}\b`), StripSeparators: true, Valid: NorwegianNationalID},
	},
}

// got renders Find's result as "kind=value@offset+len" for compact tables.
func got(text string, opt Options) []string {
	var out []string
	for _, id := range Find(text, opt) {
		out = append(out, fmt.Sprintf("%s=%s@%d+%d", id.Kind, id.Value, id.Offset, id.Length))
	}
	return out
}

func TestFindEmail(t *testing.T) {
	tests := []struct {
		name, text string
		want       []string
	}{
		{"plain", "mail kari@example.no now", []string{"email=kari@example.no@5+15"}},
		{"capitalised", "Kari.Nordmann@Example.NO", []string{"email=kari.nordmann@example.no@0+24"}},
		{"all caps", "LPETERS@PACIFIER.COM", []string{"email=lpeters@pacifier.com@0+20"}},
		{"mailto", "<a href=mailto:Kari@Example.no>", []string{"email=kari@example.no@15+15"}},
		{"MAILTO caps", "MAILTO:KARI@EXAMPLE.NO", []string{"email=kari@example.no@7+15"}},
		{"angle brackets", "Kari <kari@example.no>", []string{"email=kari@example.no@6+15"}},
		{"trailing dot", "Write to kari@example.no.", []string{"email=kari@example.no@9+15"}},
		{"trailing dots and dash", "kari@example.no...-", []string{"email=kari@example.no@0+15"}},
		{"quoted", "'kari@example.no'", []string{"email=kari@example.no@1+15"}},
		{"parenthesised comma", "(kari@example.no, ola@example.no)", []string{"email=kari@example.no@1+15", "email=ola@example.no@18+14"}},
		{"plus tag", "kari+hr@example.no", []string{"email=kari+hr@example.no@0+18"}},
		{"apostrophe in local", "o'brien@example.ie", []string{"email=o'brien@example.ie@0+18"}},
		{"query string", "https://x.example/?email=Kari@Example.no&x=1", []string{"email=kari@example.no@25+15"}},
		{"idn kept", "Bjørn@Ødegård.NO", []string{"email=bjørn@ødegård.no@0+16"}},
		{"punycode tld", "kari@example.xn--p1ai", []string{"email=kari@example.xn--p1ai@0+21"}},
		{"rune offsets after non-ascii", "Ærlig: kari@example.no", []string{"email=kari@example.no@7+15"}},
		{"subdomain is another address", "kari.nordmann@example.no.evil.com", []string{"email=kari.nordmann@example.no.evil.com@0+33"}},
		{"no tld", "kari.nordmann@example", nil},
		{"single label test host", "greg@inbucket", nil},
		{"numeric tld", "kari@10.0.0.1", nil},
		{"one-letter tld", "kari@example.n", nil},
		{"double dot local", "kari..n@example.no", nil},
		{"dot before at", "kari.@example.no", nil},
		{"double dot domain", "kari@example..no", nil},
		{"dash label", "kari@-example.no", nil},
		{"two ats", "kari@example.no@evil.com", nil},
		{"lone at", "@ @@ a@ @b.no", nil},
		{"twitter handle", "follow @kari_nordmann today", nil},
		{"digits local kept as email not phone", "91234567@sms.example.no", []string{"email=91234567@sms.example.no@0+23"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := got(tt.text, testOpt)
			if strings.Join(g, "|") != strings.Join(tt.want, "|") {
				t.Errorf("Find(%q)\n got %q\nwant %q", tt.text, g, tt.want)
			}
		})
	}
}

func TestFindPhone(t *testing.T) {
	const e = "phone=+4791234567"
	tests := []struct {
		name, text string
		want       []string
	}{
		{"intl spaced", "Tlf: +47 912 34 567", []string{e + "@5+14"}},
		{"00 prefix", "0047 91234567", []string{e + "@0+13"}},
		{"national 3-2-3", "mob 912 34 567.", []string{e + "@4+10"}},
		{"national 2-2-2-2", "91 23 45 67", []string{e + "@0+11"}},
		{"paren plus dots", "(+47) 912.34.567", []string{e + "@0+16"}},
		{"compact", "+4791234567", []string{e + "@0+11"}},
		{"bare 8 digits", "ring 91234567 i dag", []string{e + "@5+8"}},
		{"dashes", "912-34-567", []string{e + "@0+10"}},
		{"nbsp", "912\u00a034\u00a0567", []string{e + "@0+10"}},
		{"tel colon", "Tel.:91234567", []string{e + "@5+8"}},
		{"uk with (0)", "+44 (0)20 7946 0958", []string{"phone=+442079460958@0+19"}},
		{"us", "call +1 (415) 555-2671 now", []string{"phone=+14155552671@5+17"}},
		{"german 00", "0049 30 123456", []string{"phone=+4930123456@0+14"}},
		{"two numbers in a row", "22 33 44 55 91234567", []string{"phone=+4722334455@0+11", e + "@12+8"}},
		{"two numbers with slash", "22334455/91234567", []string{"phone=+4722334455@0+8", e + "@9+8"}},
		{"list", "91234567, 22334455", []string{e + "@0+8", "phone=+4722334455@10+8"}},
		{"spaced pair all or nothing", "8601 1117 947", nil},
		{"long row keeps valid parts", "1 2 3 4 5 6 7 8 9 10 11 12 91234567 13", []string{e + "@27+8"}},
		{"long row of numbers", strings.Repeat("91234567 ", 13), func() []string {
			var w []string
			for i := 0; i < 13; i++ {
				w = append(w, fmt.Sprintf("%s@%d+8", e, 9*i))
			}
			return w
		}()},
		// Decoys.
		{"iso date", "2019-04-01", nil},
		{"dotted date valid as number", "21.03.2019", nil},
		{"slash date", "01/04/2019", nil},
		{"five digits", "12345", nil},
		{"postcode", "0150 Oslo", nil},
		{"amount decimal", "NOK 1 250,50", nil},
		{"amount millions", "kr 22 500 000", nil},
		{"amount decimal valid digits", "kr 91234567,00", nil},
		{"percent", "91234567%", nil},
		{"isbn", "ISBN 978-3-16-148410-0", nil},
		{"iban", "IBAN NO93 8601 1117 947", nil},
		{"iban spaced after letters", "GB82 WEST 1234 5698 7654 32", nil},
		{"glued to letters", "A91234567", nil},
		{"glued after", "91234567kr", nil},
		{"ip address", "192.168.10.11", nil},
		{"invoice glued dash", "INV-91234567", nil},
		{"part of longer number", "1,91234567", nil},
		{"too long", "912345678901234567890", nil},
		{"year range", "2019 2020 2021", nil},
		{"decimal", "p = 0.6687", nil},
		{"uuid head", "78691781-c9b7-30a0-9a0a-1234567890ab", nil},
		{"page range", "Sciences 9: 5766-5771.", nil},
		{"spaced range", "2100 - 2500 m2", nil},
		{"decimal long", "(7230050.2 kode)", nil},
		{"decimal with 00", "-0.049751244", nil},
		{"polish postcode", "02-092 Warszawa", nil},
		{"five digit service number", "ring 02800", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := got(tt.text, Options{DefaultRegion: "NO"})
			if strings.Join(g, "|") != strings.Join(tt.want, "|") {
				t.Errorf("Find(%q)\n got %q\nwant %q", tt.text, g, tt.want)
			}
		})
	}
}

func TestFindIDs(t *testing.T) {
	tests := []struct {
		name, text string
		want       []string
	}{
		{"customer dashed", "Kunde CUST-001-1234 klaget", []string{"id:customer=CUST0011234@6+13"}},
		{"customer lower spaced", "cust 001 1234", []string{"id:customer=CUST0011234@0+13"}},
		{"customer compact", "CUST0011234", []string{"id:customer=CUST0011234@0+11"}},
		{"customer in longer token", "XCUST-001-1234", nil},
		// 01019012345 style numbers need a valid mod-11 check digit.
		{"fnr valid", "fnr 15076500565", []string{"id:fnr=15076500565@4+11"}},
		{"fnr spaced", "fnr 150765 00565", []string{"id:fnr=15076500565@4+12"}},
		{"fnr bad check digit", "fnr 15076500566", nil},
		{"id wins over phone", "CUST-912-3456 91234567", []string{"id:customer=CUST9123456@0+13", "phone=+4791234567@14+8"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := got(tt.text, testOpt)
			if strings.Join(g, "|") != strings.Join(tt.want, "|") {
				t.Errorf("Find(%q)\n got %q\nwant %q", tt.text, g, tt.want)
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	tests := []struct {
		kind   Kind
		raw    string
		want   string
		wantOK bool
	}{
		{KindEmail, " Kari.Nordmann@Example.NO ", "kari.nordmann@example.no", true},
		{KindEmail, "mailto:KARI@example.no", "kari@example.no", true},
		{KindEmail, "<kari@example.no>", "kari@example.no", true},
		{KindEmail, "kari@example.no.", "kari@example.no", true},
		{KindEmail, "kari@example", "", false},
		{KindEmail, "kari", "", false},
		{KindEmail, "kari@example.no ola@example.no", "", false},
		{KindEmail, "x kari@example.no", "", false},
		{KindPhone, "+47 912 34 567", "+4791234567", true},
		{KindPhone, "0047 91234567", "+4791234567", true},
		{KindPhone, "912 34 567", "+4791234567", true},
		{KindPhone, "91 23 45 67", "+4791234567", true},
		{KindPhone, "(+47) 912.34.567", "+4791234567", true},
		{KindPhone, "+4791234567", "+4791234567", true},
		{KindPhone, "tel:+4791234567", "+4791234567", true},
		{KindPhone, "+44 (0)20 7946 0958", "+442079460958", true},
		{KindPhone, "12345", "", false},
		{KindPhone, "1-800-FLOWERS", "", false},
		{KindPhone, "", "", false},
		{IDKind("customer"), "cust-001-1234", "CUST0011234", true},
		{IDKind("customer"), "CUST 001 1234", "CUST0011234", true},
		{IDKind("customer"), "CUST-001-12345", "", false},
		{IDKind("fnr"), "150765 00565", "15076500565", true},
		{IDKind("fnr"), "15076500566", "", false},
		{IDKind("unknown"), "x", "", false},
		{Kind("name"), "Kari", "", false},
	}
	for _, tt := range tests {
		v, ok := Normalize(tt.kind, tt.raw, testOpt)
		if v != tt.want || ok != tt.wantOK {
			t.Errorf("Normalize(%s, %q) = %q, %v; want %q, %v", tt.kind, tt.raw, v, ok, tt.want, tt.wantOK)
		}
	}
}

// Whatever form a number is written in, in text and as a subject identifier,
// it must produce the same term: that is the whole matching contract.
func TestPhoneFormsSameTerm(t *testing.T) {
	forms := []string{"+47 912 34 567", "0047 91234567", "912 34 567", "91 23 45 67", "(+47) 912.34.567", "+4791234567", "912-34-567"}
	want := Term(KindPhone, "+4791234567")
	for _, f := range forms {
		ids := Find("Kontakt: "+f+".", testOpt)
		if len(ids) != 1 || ids[0].Term() != want {
			t.Errorf("Find(%q) = %+v, want one %s", f, ids, want)
		}
		v, ok := Normalize(KindPhone, f, testOpt)
		if !ok || Term(KindPhone, v) != want {
			t.Errorf("Normalize(%q) = %q, %v", f, v, ok)
		}
	}
}

func TestDefaultRegion(t *testing.T) {
	us := Options{DefaultRegion: "us"}
	if v, ok := Normalize(KindPhone, "(415) 555-2671", us); !ok || v != "+14155552671" {
		t.Errorf("US national: %q %v", v, ok)
	}
	// 00 is not the US international prefix; it is still understood.
	if v, ok := Normalize(KindPhone, "0047 91234567", us); !ok || v != "+4791234567" {
		t.Errorf("00 prefix with US region: %q %v", v, ok)
	}
	if v, ok := Normalize(KindPhone, "912 34 567", us); ok {
		t.Errorf("Norwegian national number accepted for US region: %q", v)
	}
}

// Offsets are runes, and the written span round-trips through Normalize.
func checkSpans(t *testing.T, text string, ids []Identifier, opt Options) {
	t.Helper()
	runes := []rune(strings.ToValidUTF8(text, "\uFFFD"))
	prev := -1
	for _, id := range ids {
		if id.Offset < 0 || id.Length <= 0 || id.Offset+id.Length > len(runes) {
			t.Fatalf("span %+v out of range (%d runes)", id, len(runes))
		}
		if id.Offset < prev {
			t.Fatalf("not ordered by offset: %+v", ids)
		}
		prev = id.Offset
		span := string(runes[id.Offset : id.Offset+id.Length])
		v, ok := Normalize(id.Kind, span, opt)
		if !ok || v != id.Value {
			t.Fatalf("span %q of %+v normalises to %q, %v", span, id, v, ok)
		}
	}
}

func TestSpansRoundTrip(t *testing.T) {
	text := "Bjørn Ødegård <Bjorn.Odegard@Example.NO>, tlf. +47 912 34 567, kunde CUST-001-1234, fnr 150765 00565."
	ids := Find(text, testOpt)
	if len(ids) != 4 {
		t.Fatalf("want 4 identifiers, got %+v", ids)
	}
	checkSpans(t, text, ids, testOpt)
}

func TestNorwegianNationalID(t *testing.T) {
	for s, want := range map[string]bool{
		"15076500565": true,
		"15076500566": false,
		"1507650056":  false,
		"1507650056a": false,
		"00000000000": false, // passes the arithmetic, but day 00
		"55076500559": true,  // D-number: day 15 + 40
		"15876500520": true,  // synthetic: month 07 + 80
		"15136500543": false, // month 13, check digits valid
		"55136500537": false, // D-number with month 13
		"32076500680": false, // day 32, check digits valid
	} {
		if NorwegianNationalID(s) != want {
			t.Errorf("NorwegianNationalID(%q) = %v", s, !want)
		}
	}
}

func FuzzFind(f *testing.F) {
	for _, s := range []string{
		"kari@example.no", "+47 912 34 567", "2019-04-01", "NOK 1 250,50", "ISBN 978-3-16-148410-0",
		"CUST-001-1234", "150765 00565", "mailto:KARI@EXAMPLE.NO.", "22 33 44 55 91234567", "a@b@c.no",
		"(+47) 912.34.567", "\xff\xfe91234567", "ø@æ.å",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		ids := Find(text, testOpt)
		checkSpans(t, text, ids, testOpt)
		again := Find(text, testOpt)
		if fmt.Sprint(ids) != fmt.Sprint(again) {
			t.Fatalf("not deterministic")
		}
		for _, id := range ids {
			if id.Kind == KindEmail && !utf8.ValidString(id.Value) {
				t.Fatalf("invalid UTF-8 value %q", id.Value)
			}
		}
	})
}

// corpusTexts returns the reference texts of the shared corpus, or skips.
func corpusTexts(tb testing.TB) []string {
	tb.Helper()
	root := filepath.Join("..", "..", "..", "shared", "corpus", "reference")
	var texts []string
	_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".txt") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err == nil {
			texts = append(texts, string(b))
		}
		return nil
	})
	if len(texts) == 0 {
		tb.Skip("corpus reference texts not found at " + root)
	}
	return texts
}

// Every identifier found in the real corpus must satisfy the span contract,
// and no date-looking span may come out as a phone number.
func TestCorpus(t *testing.T) {
	date := regexp.MustCompile(`^\d{4}-\d{1,2}-\d{1,2}$|^\d{1,2}[./-]\d{1,2}[./-]\d{2,4}$`)
	counts := map[Kind]int{}
	for _, text := range corpusTexts(t) {
		ids := Find(text, testOpt)
		checkSpans(t, text, ids, testOpt)
		runes := []rune(strings.ToValidUTF8(text, "\uFFFD"))
		for _, id := range ids {
			counts[id.Kind]++
			if span := string(runes[id.Offset : id.Offset+id.Length]); id.Kind == KindPhone && date.MatchString(span) {
				t.Errorf("date %q found as phone %s", span, id.Value)
			}
		}
	}
	t.Logf("identifiers in corpus: %v", counts)
	if counts[KindEmail] == 0 {
		t.Errorf("no e-mail found in the corpus; the reference texts contain several")
	}
}

// BenchmarkFind reports MB/s over the corpus reference texts: e-mail and
// phone only, and with the two test ID patterns (Go regexps without a
// literal prefix dominate the cost there).
func BenchmarkFind(b *testing.B) {
	texts := corpusTexts(b)
	n := 0
	for _, s := range texts {
		n += len(s)
	}
	for _, c := range []struct {
		name string
		opt  Options
	}{{"email+phone", Options{DefaultRegion: "NO"}}, {"with-id-patterns", testOpt}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				for _, s := range texts {
					Find(s, c.opt)
				}
			}
		})
	}
}

func TestFingerprintAndRegion(t *testing.T) {
	base := Options{IDs: []IDPattern{{Name: "c", Regexp: regexp.MustCompile(`C\d+`)}}}
	if base.Fingerprint() != (Options{DefaultRegion: "no", IDs: base.IDs}).Fingerprint() {
		t.Error("default region and explicit NO differ")
	}
	withCheck := Options{IDs: []IDPattern{{Name: "c", Regexp: regexp.MustCompile(`C\d+`), Valid: NorwegianNationalID}}}
	if base.Fingerprint() == withCheck.Fingerprint() {
		t.Error("check not in fingerprint")
	}
	if withCheck.Fingerprint() != (Options{IDs: []IDPattern{{Name: "c", Regexp: regexp.MustCompile(`C\d+`), Valid: Checks["no-national-id"]}}}).Fingerprint() {
		t.Error("the same named check differs")
	}
	for r, want := range map[string]bool{"NO": true, "se": true, "US": true, "XX": false, "": false, "NOR": false} {
		if ValidRegion(r) != want {
			t.Errorf("ValidRegion(%q) = %v", r, !want)
		}
	}
}
