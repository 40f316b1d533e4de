package index

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/search/query"
	"github.com/docvet/docvet/extractor/doctext"
	"github.com/docvet/docvet/index/identifiers"
)

var testOpt = Options{
	Identifiers: identifiers.Options{
		DefaultRegion: "NO",
		IDs: []identifiers.IDPattern{
			{Name: "customer", Regexp: regexp.MustCompile(`(?i)\bCUST[- ]?\d{3}[- ]?\d{4}\b`), StripSeparators: true},
		},
	},
	BoltTimeout: 200 * time.Millisecond,
}

func openTest(t *testing.T) (*Index, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "idx")
	ix, err := Open(dir, testOpt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ix.Close() })
	return ix, dir
}

func doc(entity, text string) Doc {
	return Doc{
		Source: "fileshare", EntityID: entity, DataType: "hr-documents", DocumentID: entity,
		MIMEType: "text/plain", Filename: filepath.Base(entity), FileSize: int64(len(text)),
		OriginalURL: "http://fileserver.example/" + entity, ExtractContent: "http://127.0.0.1:8081/content/" + entity,
		SHA256: strings.Repeat("ab", 32), Status: string(doctext.StatusOK), Text: text,
		Segments: []doctext.Segment{{Location: "page 1", Offset: 0, Length: int64(len([]rune(text)))}},
	}
}

func apply(t *testing.T, ix *Index, up []Doc, del []string) {
	t.Helper()
	if err := ix.Apply(context.Background(), up, del); err != nil {
		t.Fatal(err)
	}
}

// hits returns the sorted entity ids matching q in a fresh snapshot.
func hits(t *testing.T, ix *Index, q query.Query) []string {
	t.Helper()
	s, err := ix.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var out []string
	err = s.Each(context.Background(), q, func(m Match) error {
		d, err := s.Get(m.ID)
		if err != nil {
			return err
		}
		out = append(out, d.EntityID)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func term(field, t string) query.Query {
	q := bleve.NewTermQuery(t)
	q.SetField(field)
	return q
}

func phrase(field, text, analyzer string) query.Query {
	q := bleve.NewMatchPhraseQuery(text)
	q.SetField(field)
	q.Analyzer = analyzer
	return q
}

func eq(a, b []string) bool { return strings.Join(a, ",") == strings.Join(b, ",") }

func TestAccentFolding(t *testing.T) {
	ix, _ := openTest(t)
	apply(t, ix, []Doc{
		doc("a", "Kontrakt for Bjørn Ødegård, Oslo."),
		doc("b", "Kontrakt for BJORN ODEGARD."),
		doc("c", "bjørn ødegard og Æsa Ågren"),
		doc("d", "Odegaard is a different name"),
	}, nil)
	for _, q := range []string{"Ødegård", "ødegård", "Odegard", "ODEGARD", "Ødegard", "odegård"} {
		got := hits(t, ix, phrase(FieldTextFolded, q, AnalyzerFolded))
		if want := []string{"a", "b", "c"}; !eq(got, want) {
			t.Errorf("folded %q: got %v want %v", q, got, want)
		}
	}
	if got := hits(t, ix, phrase(FieldTextFolded, "bjorn odegard", AnalyzerFolded)); !eq(got, []string{"a", "b", "c"}) {
		t.Errorf("folded phrase: got %v", got)
	}
	// æ -> ae, å -> a.
	if got := hits(t, ix, phrase(FieldTextFolded, "aesa agren", AnalyzerFolded)); !eq(got, []string{"c"}) {
		t.Errorf("æ/å folding: got %v", got)
	}
	// The text field is stored, not searchable: every query goes to the
	// folded field.
	if got := hits(t, ix, phrase(FieldText, "ØDEGÅRD", AnalyzerText)); len(got) != 0 {
		t.Errorf("text field is searchable: got %v", got)
	}
}

// Folding is a token filter, so offsets on text_folded point into the
// stored text: the search layer can highlight a folded hit in place.
func TestFoldedOffsetsPointIntoText(t *testing.T) {
	ix, _ := openTest(t)
	text := "Søknad fra Bjørn Ødegård (født 1970)"
	apply(t, ix, []Doc{doc("a", text)}, nil)
	s, err := ix.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	n := 0
	err = s.Each(context.Background(), phrase(FieldTextFolded, "bjorn odegard", AnalyzerFolded), func(m Match) error {
		for term, locs := range m.Locations[FieldTextFolded] {
			for _, l := range locs {
				n++
				w := text[l.Start:l.End]
				if string(Fold([]byte(strings.ToLower(w)))) != term {
					t.Errorf("location %d-%d is %q, not term %q", l.Start, l.End, w, term)
				}
			}
		}
		return nil
	})
	if err != nil || n != 2 {
		t.Fatalf("want 2 locations, got %d (%v)", n, err)
	}
}

func TestFold(t *testing.T) {
	for in, want := range map[string]string{
		"ødegård": "odegard", "æsa": "aesa", "straße": "strasse", "é": "e",
		"e\u0301": "e", "ﬁle": "file", "plain": "plain", "łódź": "lodz", "ɐ": "a",
		"σωκράτης": "σωκρατης", "москва": "москва",
	} {
		if got := string(Fold([]byte(in))); got != want {
			t.Errorf("Fold(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestIdentifiersField(t *testing.T) {
	ix, _ := openTest(t)
	apply(t, ix, []Doc{
		doc("mail", "Fra: KARI.NORDMANN@EXAMPLE.NO\nHei"),
		doc("mailto", "<a href=\"mailto:Kari.Nordmann@Example.no\">skriv</a>"),
		doc("decoy", "kari.nordmann@example.no.evil.com and kari.nordmann@example"),
		doc("p1", "Tlf +47 912 34 567"),
		doc("p2", "ring 0047 91234567"),
		doc("p3", "mob: 912 34 567."),
		doc("p4", "(+47) 912.34.567"),
		doc("p5", "91 23 45 67"),
		doc("date", "dato 2019-04-01, beløp NOK 1 250,50, ISBN 978-3-16-148410-0"),
		doc("cust", "kundenr cust 001-1234"),
	}, nil)
	v, ok := identifiers.Normalize(identifiers.KindEmail, "Kari.Nordmann@example.NO", testOpt.Identifiers)
	if !ok {
		t.Fatal("normalize e-mail")
	}
	if got := hits(t, ix, term(FieldIdentifiers, identifiers.Term(identifiers.KindEmail, v))); !eq(got, []string{"mail", "mailto"}) {
		t.Errorf("e-mail: got %v", got)
	}
	v, ok = identifiers.Normalize(identifiers.KindPhone, "912 34 567", testOpt.Identifiers)
	if !ok {
		t.Fatal("normalize phone")
	}
	if got := hits(t, ix, term(FieldIdentifiers, identifiers.Term(identifiers.KindPhone, v))); !eq(got, []string{"p1", "p2", "p3", "p4", "p5"}) {
		t.Errorf("phone: got %v", got)
	}
	v, _ = identifiers.Normalize(identifiers.IDKind("customer"), "CUST-001-1234", testOpt.Identifiers)
	if got := hits(t, ix, term(FieldIdentifiers, identifiers.Term(identifiers.IDKind("customer"), v))); !eq(got, []string{"cust"}) {
		t.Errorf("customer id: got %v", got)
	}
	// Nothing from the decoy document is a phone number.
	s, _ := ix.Snapshot()
	defer s.Close()
	fd, err := s.Reader().FieldDict(FieldIdentifiers)
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	var terms []string
	for e, err := fd.Next(); e != nil && err == nil; e, err = fd.Next() {
		terms = append(terms, e.Term)
	}
	want := []string{"email:kari.nordmann@example.no", "email:kari.nordmann@example.no.evil.com",
		"id:customer:CUST0011234", "phone:+4791234567"}
	if !eq(terms, want) {
		t.Errorf("identifier terms:\n got %v\nwant %v", terms, want)
	}
}

func TestIdempotentReindexAndDelete(t *testing.T) {
	ix, dir := openTest(t)
	docs := []Doc{doc("a", "first text"), doc("b", "second text"), doc("c", "third")}
	apply(t, ix, docs, nil)
	apply(t, ix, docs, nil)
	if n, _ := ix.Count(); n != 3 {
		t.Fatalf("count after re-index = %d, want 3", n)
	}
	// Changed content replaces the old version.
	changed := doc("a", "rewritten body")
	apply(t, ix, []Doc{changed}, nil)
	if n, _ := ix.Count(); n != 3 {
		t.Fatalf("count after change = %d, want 3", n)
	}
	if got := hits(t, ix, term(FieldTextFolded, "first")); len(got) != 0 {
		t.Errorf("old text still found: %v", got)
	}
	if got := hits(t, ix, term(FieldTextFolded, "rewritten")); !eq(got, []string{"a"}) {
		t.Errorf("new text: %v", got)
	}
	// Delete + upsert in one batch.
	apply(t, ix, []Doc{doc("d", "fourth")}, []string{DocID("fileshare", "b")})
	if n, _ := ix.Count(); n != 3 {
		t.Fatalf("count after delete+add = %d, want 3", n)
	}
	if got := hits(t, ix, term(FieldTextFolded, "second")); len(got) != 0 {
		t.Errorf("deleted doc found: %v", got)
	}
	// Same entity id in another source is another document.
	other := doc("a", "other source")
	other.Source = "mail"
	apply(t, ix, []Doc{other}, nil)
	if n, _ := ix.Count(); n != 4 {
		t.Fatalf("count = %d, want 4", n)
	}
	// Persisted: visible after reopening.
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	if err := ix.Apply(context.Background(), docs, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Apply after Close: %v", err)
	}
	if _, err := ix.Snapshot(); !errors.Is(err, ErrClosed) {
		t.Errorf("Snapshot after Close: %v", err)
	}
	ix2, err := Open(dir, testOpt)
	if err != nil {
		t.Fatal(err)
	}
	defer ix2.Close()
	if n, _ := ix2.Count(); n != 4 {
		t.Fatalf("count after reopen = %d, want 4", n)
	}
}

func TestStoredRoundTrip(t *testing.T) {
	ix, _ := openTest(t)
	d := doc("hr/2019/contract-4711.pdf", "Side én\fSide to")
	d.Segments = []doctext.Segment{{Location: "page 1", Offset: 0, Length: 7}, {Location: "page 2", Offset: 8, Length: 7}}
	d.FileSize = 123456
	apply(t, ix, []Doc{d}, nil)
	s, _ := ix.Snapshot()
	defer s.Close()
	got, err := s.Get(DocID(d.Source, d.EntityID))
	if err != nil {
		t.Fatal(err)
	}
	d.ID = DocID(d.Source, d.EntityID)
	if !reflect.DeepEqual(got, d) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, d)
	}
	if _, err := s.Get("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing doc: %v", err)
	}
}

func TestKeywordFields(t *testing.T) {
	ix, _ := openTest(t)
	a := doc("a", "x")
	a.Status = string(doctext.StatusPartial)
	b := doc("b", "y")
	b.DataType = "customer-mail"
	apply(t, ix, []Doc{a, b}, nil)
	for _, c := range []struct {
		field, term string
		want        []string
	}{
		{FieldStatus, "partial", []string{"a"}},
		{FieldDataType, "hr-documents", []string{"a"}},
		{FieldDataType, "customer-mail", []string{"b"}},
		{FieldMIME, "text/plain", []string{"a", "b"}},
		{FieldFilename, "a", []string{"a"}},
		{FieldDocumentID, "b", []string{"b"}},
		{FieldSHA256, strings.Repeat("ab", 32), []string{"a", "b"}},
		{FieldOriginalURL, "http://fileserver.example/a", []string{"a"}},
		// Stored, not indexed: even the exact stored value finds nothing.
		{FieldSegments, `[{"location":"page 1","offset":0,"length":1}]`, nil},
	} {
		if got := hits(t, ix, term(c.field, c.term)); !eq(got, c.want) {
			t.Errorf("%s=%q: got %v want %v", c.field, c.term, got, c.want)
		}
	}
	lo, hi := 0.0, 2.0
	nq := bleve.NewNumericRangeQuery(&lo, &hi)
	nq.SetField(FieldFileSize)
	if got := hits(t, ix, nq); !eq(got, []string{"a", "b"}) {
		t.Errorf("filesize range: %v", got)
	}
}

// The mapping is explicit: a property it does not list is not indexed and
// not stored, even when a document carries it.
func TestNoDynamicFields(t *testing.T) {
	ix, _ := openTest(t)
	err := ix.b.Index("x", map[string]interface{}{
		"text":     "known words",
		"unknown":  "secret",
		"metadata": map[string]interface{}{"owner": "hr"},
	})
	if err != nil {
		t.Fatal(err)
	}
	fields, err := ix.b.Fields()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fields {
		if f == "unknown" || strings.HasPrefix(f, "metadata") {
			t.Errorf("dynamic field %q was indexed", f)
		}
	}
	for _, q := range []query.Query{term("unknown", "secret"), term("metadata.owner", "hr"), term(FieldTextFolded, "secret")} {
		if got := hits(t, ix, q); len(got) != 0 {
			t.Errorf("%v found %v", q, got)
		}
	}
	if got := hits(t, ix, term(FieldTextFolded, "known")); len(got) != 1 {
		t.Errorf("mapped field not indexed: %v", got)
	}
	// The mapping itself says so.
	m, _ := NewMapping()
	if m.IndexDynamic || m.StoreDynamic || m.DefaultMapping.Dynamic {
		t.Errorf("mapping is dynamic")
	}
}

// A snapshot does not see batches applied after it was taken.
func TestSnapshotIsPointInTime(t *testing.T) {
	ix, _ := openTest(t)
	apply(t, ix, []Doc{doc("a", "kari"), doc("b", "kari")}, nil)
	s, err := ix.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	apply(t, ix, []Doc{doc("c", "kari")}, []string{DocID("fileshare", "a")})
	var got []string
	err = s.Each(context.Background(), term(FieldTextFolded, "kari"), func(m Match) error {
		d, err := s.Get(m.ID)
		got = append(got, d.EntityID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(got)
	if !eq(got, []string{"a", "b"}) {
		t.Errorf("snapshot saw later changes: %v", got)
	}
	if now := hits(t, ix, term(FieldTextFolded, "kari")); !eq(now, []string{"b", "c"}) {
		t.Errorf("new snapshot: %v", now)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Each(ctx, term(FieldTextFolded, "kari"), func(Match) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Each: %v", err)
	}
}

func TestApplyValidation(t *testing.T) {
	ix, _ := openTest(t)
	bad := doc("", "x")
	if err := ix.Apply(context.Background(), []Doc{doc("a", "x"), bad}, nil); !errors.Is(err, ErrInvalidDoc) {
		t.Fatalf("want ErrInvalidDoc, got %v", err)
	}
	if n, _ := ix.Count(); n != 0 {
		t.Errorf("a failed Apply indexed %d docs", n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := ix.Apply(ctx, []Doc{doc("a", "x")}, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Apply: %v", err)
	}
	if err := ix.Apply(context.Background(), nil, nil); err != nil {
		t.Errorf("empty Apply: %v", err)
	}
}

// bbolt's flock is per open file description, so a second Open in the same
// process contends like another process would. The child-process variant
// below checks the real two-process case.
func TestInUseSameProcess(t *testing.T) {
	_, dir := openTest(t)
	start := time.Now()
	_, err := Open(dir, testOpt)
	if !errors.Is(err, ErrInUse) {
		t.Fatalf("second Open: want ErrInUse, got %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("second Open took %v", d)
	}
}

const childEnv = "DOCVET_INDEX_TEST_CHILD"

func TestInUseOtherProcess(t *testing.T) {
	if dir := os.Getenv(childEnv); dir != "" {
		_, err := Open(dir, testOpt)
		if errors.Is(err, ErrInUse) {
			os.Exit(3)
		}
		os.Exit(4)
	}
	_, dir := openTest(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestInUseOtherProcess$")
	cmd.Env = append(os.Environ(), childEnv+"="+dir)
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("child Open: want exit 3 (ErrInUse), got %v", err)
	}
}

func TestCorrupt(t *testing.T) {
	for _, c := range []struct {
		name    string
		damage  func(dir string) error
		wantErr error
	}{
		{"garbage meta", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, "index_meta.json"), []byte("{not json"), 0o600)
		}, ErrCorrupt},
		{"truncated root.bolt", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, "store", "root.bolt"), []byte("short"), 0o600)
		}, ErrCorrupt},
		{"other mapping version", func(dir string) error {
			ix, err := Open(dir, testOpt)
			if err != nil {
				return err
			}
			defer ix.Close()
			return ix.b.SetInternal([]byte(mappingVersionKy), []byte("docvet-mapping-0"))
		}, ErrIncompatible},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "idx")
			ix, err := Open(dir, testOpt)
			if err != nil {
				t.Fatal(err)
			}
			apply(t, ix, []Doc{doc("a", "x")}, nil)
			if err := ix.Close(); err != nil {
				t.Fatal(err)
			}
			if err := c.damage(dir); err != nil {
				t.Fatal(err)
			}
			ix, err = Open(dir, testOpt)
			if !errors.Is(err, c.wantErr) {
				if ix != nil {
					ix.Close()
				}
				t.Fatalf("want %v, got %v", c.wantErr, err)
			}
		})
	}
}

// Changing the identifier options of a filled index is detected; the same
// options (rebuilt from config, equal but not identical values) are not;
// an empty index takes the new options.
func TestIdentifierOptionsChanged(t *testing.T) {
	ix, dir := openTest(t)
	apply(t, ix, []Doc{doc("a", "ring 912 34 567")}, nil)
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	same := testOpt
	same.Identifiers = identifiers.Options{
		DefaultRegion: "no",
		IDs: []identifiers.IDPattern{
			{Name: "customer", Regexp: regexp.MustCompile(`(?i)\bCUST[- ]?\d{3}[- ]?\d{4}\b`), StripSeparators: true},
		},
	}
	ix, err := Open(dir, same)
	if err != nil {
		t.Fatalf("equal options: %v", err)
	}
	ix.Close()
	changes := map[string]func(o *identifiers.Options){
		"region": func(o *identifiers.Options) { o.DefaultRegion = "SE" },
		"no ids": func(o *identifiers.Options) { o.IDs = nil },
		"strip":  func(o *identifiers.Options) { o.IDs[0].StripSeparators = false },
		"regexp": func(o *identifiers.Options) { o.IDs[0].Regexp = regexp.MustCompile(`CUST\d{7}`) },
		"name":   func(o *identifiers.Options) { o.IDs[0].Name = "kunde" },
		"check":  func(o *identifiers.Options) { o.IDs[0].Valid = identifiers.NorwegianNationalID },
		"extra pat": func(o *identifiers.Options) {
			o.IDs = append(o.IDs, identifiers.IDPattern{Name: "x", Regexp: regexp.MustCompile(`X\d+`)})
		},
	}
	for name, change := range changes {
		t.Run(name, func(t *testing.T) {
			o := testOpt
			o.Identifiers.IDs = append([]identifiers.IDPattern(nil), testOpt.Identifiers.IDs...)
			change(&o.Identifiers)
			ix, err := Open(dir, o)
			if !errors.Is(err, ErrIdentifiersChanged) {
				if ix != nil {
					ix.Close()
				}
				t.Fatalf("want ErrIdentifiersChanged, got %v", err)
			}
		})
	}
	// An emptied index adopts the new options, and keeps them.
	ix, err = Open(dir, testOpt)
	if err != nil {
		t.Fatal(err)
	}
	apply(t, ix, nil, []string{DocID("fileshare", "a")})
	ix.Close()
	se := testOpt
	se.Identifiers.DefaultRegion = "SE"
	for i := 0; i < 2; i++ {
		ix, err = Open(dir, se)
		if err != nil {
			t.Fatalf("empty index, new options (open %d): %v", i, err)
		}
		ix.Close()
	}
}
