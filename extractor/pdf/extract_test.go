package pdf

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docvet/docvet/extractor/doctext"
)

var update = flag.Bool("update", false, "rewrite testdata/hostile/*.pdf from the builders in this file")

// buildPDF assembles a classic PDF from object bodies (object i+1 is
// objs[i]) with a correct xref table; trailer is the trailer dictionary body.
func buildPDF(header string, objs []string, trailer string) []byte {
	var b bytes.Buffer
	b.WriteString(header + "\n%\xe2\xe3\xcf\xd3\n")
	offs := make([]int, len(objs))
	for i, o := range objs {
		offs[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, off := range offs {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<<%s/Size %d>>\nstartxref\n%d\n%%%%EOF\n", trailer, len(objs)+1, xref)
	return b.Bytes()
}

func stream(content string) string {
	return fmt.Sprintf("<</Length %d>>\nstream\n%s\nendstream", len(content), content)
}

const helv = "<</Type/Font/Subtype/Type1/BaseFont/Helvetica/Encoding/WinAnsiEncoding>>"

// onePage is a document with the given page content streams.
func pages(header string, contents ...string) []byte {
	objs := []string{"<</Type/Catalog/Pages 2 0 R>>", ""}
	var kids []string
	for _, c := range contents {
		n := len(objs)
		objs = append(objs, fmt.Sprintf("<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]/Resources<</Font<</F1 %d 0 R>>>>/Contents %d 0 R>>", n+2, n+3), helv, stream(c))
		kids = append(kids, fmt.Sprintf("%d 0 R", n+1))
	}
	objs[1] = fmt.Sprintf("<</Type/Pages/Kids[%s]/Count %d>>", strings.Join(kids, " "), len(kids))
	return buildPDF(header, objs, "/Root 1 0 R")
}

// hostile builds the checked-in hostile files.
var hostile = map[string]func() []byte{
	// Kids of the root point back to the root and to each other.
	"cyclic-pages.pdf": func() []byte {
		return buildPDF("%PDF-1.4", []string{
			"<</Type/Catalog/Pages 2 0 R>>",
			"<</Type/Pages/Kids[3 0 R 4 0 R 2 0 R]/Count 3>>",
			"<</Type/Page/Parent 2 0 R/Resources<</Font<</F1 5 0 R>>>>/Contents 6 0 R>>",
			"<</Type/Pages/Parent 2 0 R/Kids[2 0 R 4 0 R]/Count 1>>",
			helv,
			stream("BT /F1 12 Tf 72 700 Td (Reachable page) Tj ET"),
		}, "/Root 1 0 R")
	},
	// A form XObject that draws itself.
	"cyclic-form.pdf": func() []byte {
		return buildPDF("%PDF-1.4", []string{
			"<</Type/Catalog/Pages 2 0 R>>",
			"<</Type/Pages/Kids[3 0 R]/Count 1>>",
			"<</Type/Page/Parent 2 0 R/Resources<</Font<</F1 5 0 R>>/XObject<</X1 4 0 R>>>>/Contents 6 0 R>>",
			"<</Type/XObject/Subtype/Form/BBox[0 0 100 100]/Resources<</Font<</F1 5 0 R>>/XObject<</X1 4 0 R>>>>/Length 39>>\nstream\nBT /F1 9 Tf (In form) Tj ET /X1 Do\n\nendstream",
			helv,
			stream("BT /F1 12 Tf 72 700 Td (Page text) Tj ET /X1 Do"),
		}, "/Root 1 0 R")
	},
	// The xref /Prev points at itself: the library would loop forever.
	"prev-cycle.pdf": func() []byte {
		b := pages("%PDF-1.4", "BT /F1 12 Tf 72 700 Td (Prev cycle) Tj ET")
		i := bytes.LastIndex(b, []byte("startxref\n"))
		var off int
		fmt.Sscanf(string(b[i+len("startxref\n"):]), "%d", &off)
		return bytes.Replace(b, []byte("trailer\n<<"), []byte(fmt.Sprintf("trailer\n<</Prev %d", off)), 1)
	},
	// An xref subsection claiming object numbers near 2^32: the library
	// would allocate a table of that size.
	"huge-xref.pdf": func() []byte {
		b := pages("%PDF-1.4", "BT /F1 12 Tf 72 700 Td (Huge xref) Tj ET")
		return bytes.Replace(b, []byte("xref\n0 "), []byte("xref\n4000000000 "), 1)
	},
	// PDF 2.0 header, which the library rejects as not a PDF.
	"pdf20.pdf": func() []byte {
		return pages("%PDF-2.0", "BT /F1 12 Tf 72 700 Td (Version two) Tj ET")
	},
}

func TestHostileFiles(t *testing.T) {
	if *update {
		for name, build := range hostile {
			if err := os.WriteFile(filepath.Join("testdata", "hostile", name), build(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	cases := []struct {
		file    string
		want    string // text that must be extracted
		warning string // warning that must be recorded ("" = none required)
	}{
		{"cyclic-pages.pdf", "Reachable page", "cycle"},
		{"cyclic-form.pdf", "Page text In form", "cycle"},
		{"prev-cycle.pdf", "Prev cycle", "rebuilt"},
		{"huge-xref.pdf", "Huge xref", "rebuilt"},
		{"pdf20.pdf", "Version two", ""},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", "hostile", c.file))
			if err != nil {
				t.Fatal(err)
			}
			text, warnings, err := extractBytes(t, data, doctext.Options{})
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if !strings.Contains(strings.Join(strings.Fields(text), " "), c.want) {
				t.Errorf("text %q does not contain %q", text, c.want)
			}
			if c.warning != "" && !strings.Contains(strings.Join(warnings, "|"), c.warning) {
				t.Errorf("warnings %q do not mention %q", warnings, c.warning)
			}
		})
	}
}

// extractBytes runs the Go engine with a deadline that a hang would miss.
func extractBytes(t *testing.T, data []byte, opt doctext.Options) (string, []string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b := doctext.NewBuilder(opt.Limits.WithDefaults().MaxChars)
	err := New(Config{Engine: EngineGo, Pdftotext: "-"}).Extract(ctx, doctext.Input{R: bytes.NewReader(data), Size: int64(len(data))}, b, opt)
	if ctx.Err() != nil {
		t.Fatalf("extraction did not finish in time")
	}
	return b.Text(), b.Warnings(), err
}

func TestWordsAndLines(t *testing.T) {
	cases := []struct {
		name, content, want string
	}{
		{"explicit space", "BT /F1 12 Tf 72 700 Td (Hello World) Tj ET", "Hello World\n"},
		{"TJ gap is a space", "BT /F1 12 Tf 72 700 Td [(Hello) -300 (World)] TJ ET", "Hello World\n"},
		{"TJ kerning is not", "BT /F1 12 Tf 72 700 Td [(Wo) 40 (rld)] TJ ET", "World\n"},
		{"glyph by glyph", "BT /F1 12 Tf 72 700 Td (a) Tj 6.67 0 Td (b) Tj 6.67 0 Td (c) Tj 20 0 Td (d) Tj ET", "abc d\n"},
		{"new line", "BT /F1 12 Tf 72 700 Td (Line one) Tj 0 -14 Td (Line two) Tj ET", "Line one\nLine two\n"},
		{"hyphenation joined", "BT /F1 12 Tf 72 700 Td (employ-) Tj 0 -14 Td (ee here) Tj ET", "employee here\n"},
		{"ligature expanded", "BT /F1 12 Tf 72 700 Td (x) Tj ET", "x\n"},
		{"rotated text", "BT /F1 12 Tf 0 1 -1 0 100 100 Tm (Up the page) Tj ET", "Up the page\n"},
		{"fake bold overprint", "BT /F1 12 Tf 72 700 Td (B) Tj ET BT /F1 12 Tf 72.2 700 Td (B) Tj ET", "B\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			text, _, err := extractBytes(t, pages("%PDF-1.4", c.content), doctext.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if text != c.want {
				t.Errorf("got %q, want %q", text, c.want)
			}
		})
	}
}

func TestPageSegments(t *testing.T) {
	data := pages("%PDF-1.4", "BT /F1 12 Tf 72 700 Td (First) Tj ET", "", "BT /F1 12 Tf 72 700 Td (Third) Tj ET")
	b := doctext.NewBuilder(0)
	if err := New(Config{}).Extract(context.Background(), doctext.Input{R: bytes.NewReader(data), Size: int64(len(data))}, b, doctext.Options{}); err != nil {
		t.Fatal(err)
	}
	segs := b.Segments()
	if len(segs) != 2 || segs[0].Location != "page 1" || segs[1].Location != "page 3" {
		t.Fatalf("segments = %+v", segs)
	}
	if got := b.Text()[segs[1].Offset:]; got != "Third\n" {
		t.Errorf("page 3 text = %q", got)
	}
}

func TestLimits(t *testing.T) {
	t.Run("pages", func(t *testing.T) {
		data := pages("%PDF-1.4", "BT /F1 12 Tf 72 700 Td (One) Tj ET", "BT /F1 12 Tf 72 700 Td (Two) Tj ET", "BT /F1 12 Tf 72 700 Td (Three) Tj ET")
		text, _, err := extractBytes(t, data, doctext.Options{Limits: doctext.Limits{MaxPDFPages: 2}})
		var le *doctext.LimitError
		if !errors.As(err, &le) || le.Limit != "max_pdf_pages" || le.Value != 2 {
			t.Fatalf("err = %v, want max_pdf_pages limit", err)
		}
		if text != "One\nTwo\n" {
			t.Errorf("text = %q, want the pages before the limit", text)
		}
	})
	t.Run("stream bytes", func(t *testing.T) {
		content := "BT /F1 12 Tf 72 700 Td (Kept) Tj ET " + strings.Repeat("0 0 m ", 2000) + "BT /F1 12 Tf 72 600 Td (Lost) Tj ET"
		text, _, err := extractBytes(t, pages("%PDF-1.4", content), doctext.Options{Limits: doctext.Limits{MaxPDFStreamBytes: 1000}})
		var le *doctext.LimitError
		if !errors.As(err, &le) || le.Limit != "max_pdf_stream_bytes" {
			t.Fatalf("err = %v, want max_pdf_stream_bytes limit", err)
		}
		if text != "Kept\n" {
			t.Errorf("text = %q, want what was read before the limit", text)
		}
	})
	t.Run("chars", func(t *testing.T) {
		_, _, err := extractBytes(t, pages("%PDF-1.4", "BT /F1 12 Tf 72 700 Td (Too long for the cap) Tj ET"), doctext.Options{Limits: doctext.Limits{MaxChars: 5}})
		var le *doctext.LimitError
		if !errors.As(err, &le) || le.Limit != "max_chars" {
			t.Fatalf("err = %v, want max_chars limit", err)
		}
	})
}

func TestStatusErrors(t *testing.T) {
	_, _, err := extractBytes(t, []byte("not a pdf at all"), doctext.Options{})
	if !errors.Is(err, doctext.ErrMalformed) {
		t.Errorf("garbage: err = %v, want ErrMalformed", err)
	}
	full := pages("%PDF-1.4", "BT /F1 12 Tf 72 700 Td (Cut short) Tj ET")
	_, _, err = extractBytes(t, full[:len(full)/3], doctext.Options{})
	if err == nil {
		t.Errorf("truncated file: err = nil")
	}
}

// corpusFile reads a corpus file or skips.
func corpusFile(t *testing.T, rel string) []byte {
	t.Helper()
	dir := needCorpus(t)
	data, err := os.ReadFile(filepath.Join(dir, rel))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestCorpusStatuses(t *testing.T) {
	cases := []struct {
		rel   string
		empty bool   // a scan: no text, nil error
		want  string // text expected
		err   error
	}{
		{rel: "pdf/tika_testOCR.pdf", empty: true},
		{rel: "pdf/fscrawler_test-ocr-notext.pdf", empty: true},
		{rel: "pdf/tika_testPDF_protected.pdf", want: "RETHINKING THE FINANCIAL NETWORK"}, // owner password only
		{rel: "broken/pdfplumber_password-example.pdf", err: doctext.ErrEncrypted},
		{rel: "broken/pdfminer_aes-256-r6.pdf", err: doctext.ErrEncrypted},
		{rel: "broken/pdfjs_Pages-tree-refs.pdf", want: ""},
	}
	for _, c := range cases {
		t.Run(filepath.Base(c.rel), func(t *testing.T) {
			text, warnings, err := extractBytes(t, corpusFile(t, c.rel), doctext.Options{})
			switch {
			case c.err != nil:
				if !errors.Is(err, c.err) {
					t.Errorf("err = %v, want %v", err, c.err)
				}
			case err != nil:
				t.Errorf("err = %v", err)
			case c.empty && strings.TrimSpace(text) != "":
				t.Errorf("scan produced text %q", text)
			case !c.empty && !strings.Contains(text, c.want):
				t.Errorf("text lacks %q", c.want)
			}
			_ = warnings
		})
	}
}

func TestPdftotextEngine(t *testing.T) {
	x := New(Config{Engine: EnginePdftotext})
	if !x.HasPdftotext() {
		t.Skip("pdftotext not installed (apt-get install poppler-utils); skipping the poppler engine test")
	}
	data := pages("%PDF-1.4", "BT /F1 12 Tf 72 700 Td (Poppler one) Tj ET", "BT /F1 12 Tf 72 700 Td (Poppler two) Tj ET")
	b := doctext.NewBuilder(0)
	if err := x.Extract(context.Background(), doctext.Input{R: bytes.NewReader(data), Size: int64(len(data))}, b, doctext.Options{}); err != nil {
		t.Fatal(err)
	}
	segs := b.Segments()
	if b.Text() != "Poppler one\nPoppler two\n" || len(segs) != 2 || segs[1].Location != "page 2" {
		t.Errorf("text %q segments %+v", b.Text(), segs)
	}
	// User password: encrypted.
	enc := corpusFile(t, "broken/pdfplumber_password-example.pdf")
	err := x.Extract(context.Background(), doctext.Input{R: bytes.NewReader(enc), Size: int64(len(enc))}, doctext.NewBuilder(0), doctext.Options{})
	if !errors.Is(err, doctext.ErrEncrypted) {
		t.Errorf("password PDF: err = %v, want ErrEncrypted", err)
	}
	// Auto mode reads through pdftotext what the Go engine refuses
	// (40-bit RC4, owner password only).
	rc4 := corpusFile(t, "pdf/tika_testPDF_no_extract_no_accessibility_owner_empty.pdf")
	b = doctext.NewBuilder(0)
	if err := New(Config{}).Extract(context.Background(), doctext.Input{R: bytes.NewReader(rc4), Size: int64(len(rc4))}, b, doctext.Options{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.Text(), "Hello World") {
		t.Errorf("auto engine text = %q", b.Text())
	}
}
