package docx

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/docvet/docvet/extractor/doctext"
)

const wNS = `xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" ` +
	`xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006" ` +
	`xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships" ` +
	`xmlns:m="http://schemas.openxmlformats.org/officeDocument/2006/math" ` +
	`xmlns:v="urn:schemas-microsoft-com:vml"`

const relsNS = `http://schemas.openxmlformats.org/officeDocument/2006/relationships/`

// zipOf builds a zip from name/content pairs, in order.
func zipOf(t testing.TB, files ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i := 0; i+1 < len(files); i += 2 {
		w, err := zw.Create(files[i])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(files[i+1])); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// docxOf builds a minimal DOCX whose body is the given WordprocessingML;
// extra are additional name/content pairs, and rels extra relationships of
// the main part (type suffix, target).
func docxOf(t testing.TB, body string, rels [][2]string, extra ...string) []byte {
	t.Helper()
	var rs strings.Builder
	for i, r := range rels {
		fmt.Fprintf(&rs, `<Relationship Id="rId%d" Type="%s%s" Target="%s"/>`, i+1, relsNS, r[0], r[1])
	}
	files := []string{
		"[Content_Types].xml", `<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>`,
		"_rels/.rels", `<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">` +
			`<Relationship Id="rId1" Type="` + relsNS + `officeDocument" Target="word/document.xml"/></Relationships>`,
		"word/document.xml", `<?xml version="1.0" encoding="UTF-8"?><w:document ` + wNS + `><w:body>` + body + `</w:body></w:document>`,
		"word/_rels/document.xml.rels", `<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">` + rs.String() + `</Relationships>`,
	}
	return zipOf(t, append(files, extra...)...)
}

func xmlPart(root, inner string) string {
	return `<?xml version="1.0" encoding="UTF-8"?><w:` + root + ` ` + wNS + `>` + inner + `</w:` + root + `>`
}

func run(t testing.TB, data []byte, lim doctext.Limits) (*doctext.Builder, error) {
	t.Helper()
	b := doctext.NewBuilder(lim.WithDefaults().MaxChars)
	err := Extract(context.Background(), doctext.Input{R: bytes.NewReader(data), Size: int64(len(data))}, b, doctext.Options{Limits: lim})
	return b, err
}

// segText returns the text of every segment with the location.
func segText(b *doctext.Builder, loc string) string {
	var sb strings.Builder
	text := []rune(b.Text())
	for _, s := range b.Segments() {
		if s.Location == loc {
			sb.WriteString(string(text[s.Offset : s.Offset+s.Length]))
		}
	}
	return sb.String()
}

func TestTextRules(t *testing.T) {
	tests := []struct {
		name, body string
		want       string // exact text of the body segment
	}{
		{"runs joined across proofErr and bookmarks",
			`<w:p><w:r><w:t>mail jo</w:t></w:r><w:proofErr w:type="spellStart"/><w:r><w:rPr><w:b/></w:rPr><w:t>hn.doe@</w:t></w:r>` +
				`<w:bookmarkStart w:id="0" w:name="x"/><w:r><w:t>example.com</w:t></w:r><w:bookmarkEnd w:id="0"/>` +
				`<w:r><w:t xml:space="preserve"> tel +44 20 </w:t></w:r><w:r><w:t>7946 0958</w:t></w:r></w:p>`,
			"mail john.doe@example.com tel +44 20 7946 0958\n"},
		{"paragraphs tabs and breaks",
			`<w:p><w:pPr><w:tabs><w:tab w:val="left" w:pos="720"/></w:tabs></w:pPr><w:r><w:t>a</w:t><w:tab/><w:t>b</w:t><w:br/><w:t>c</w:t></w:r></w:p><w:p><w:r><w:t>d</w:t></w:r></w:p>`,
			"a\tb\nc\nd\n"},
		{"table cells and rows",
			`<w:tbl><w:tblPr/><w:tr><w:tc><w:p><w:r><w:t>a1</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>b1</w:t></w:r></w:p><w:p><w:r><w:t>b1b</w:t></w:r></w:p></w:tc></w:tr>` +
				`<w:tr><w:tc><w:p><w:r><w:t>a2</w:t></w:r></w:p></w:tc><w:tc><w:p/></w:tc></w:tr></w:tbl><w:p><w:r><w:t>after</w:t></w:r></w:p>`,
			"a1\tb1\nb1b\na2\nafter\n"},
		{"alternate content read once",
			`<w:p><w:r><w:t>x </w:t></w:r><w:r><mc:AlternateContent><mc:Choice Requires="wps"><w:drawing><w:txbxContent><w:p><w:r><w:t>boxed</w:t></w:r></w:p></w:txbxContent></w:drawing></mc:Choice>` +
				`<mc:Fallback><w:pict><v:shape><v:textbox><w:txbxContent><w:p><w:r><w:t>boxed</w:t></w:r></w:p></w:txbxContent></v:textbox></v:shape></w:pict></mc:Fallback></mc:AlternateContent></w:r></w:p>`,
			"x boxed\n"},
		{"legacy VML text box",
			`<w:p><w:r><w:pict><v:shape><v:textbox><w:txbxContent><w:p><w:r><w:t>vml box</w:t></w:r></w:p></w:txbxContent></v:textbox></v:shape></w:pict></w:r></w:p>`,
			"vml box\n"},
		{"field code excluded, result kept",
			`<w:p><w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText> HYPERLINK "http://secret.example" </w:instrText></w:r><w:r><w:fldChar w:fldCharType="separate"/></w:r>` +
				`<w:r><w:t>shown</w:t></w:r><w:r><w:fldChar w:fldCharType="end"/></w:r><w:fldSimple w:instr="PAGE"><w:r><w:t>7</w:t></w:r></w:fldSimple></w:p>`,
			"shown7\n"},
		{"content controls",
			`<w:sdt><w:sdtPr><w:alias w:val="Name"/><w:placeholder><w:docPart w:val="x"/></w:placeholder></w:sdtPr><w:sdtContent><w:p><w:r><w:t>Jane Roe</w:t></w:r></w:p></w:sdtContent></w:sdt>`,
			"Jane Roe\n"},
		{"tracked insertion in place, deletion aside",
			`<w:p><w:r><w:t>Call </w:t></w:r><w:del w:author="A"><w:r><w:delText>Bob</w:delText></w:r></w:del><w:ins w:author="A"><w:r><w:t>Alice</w:t></w:r></w:ins><w:r><w:t> now</w:t></w:r></w:p>`,
			"Call Alice now\n"},
		{"math and ruby",
			`<w:p><m:oMath><m:r><m:t>x=2</m:t></m:r></m:oMath><w:r><w:t> </w:t></w:r><w:ruby><w:rubyPr/><w:rt><w:r><w:t>とうきょう</w:t></w:r></w:rt><w:rubyBase><w:r><w:t>東京</w:t></w:r></w:rubyBase></w:ruby></w:p>`,
			"x=2 東京(とうきょう)\n"},
		{"symbols and hyphens",
			`<w:p><w:r><w:t>co</w:t><w:noBreakHyphen/><w:t>op</w:t><w:softHyphen/><w:t>erate</w:t></w:r></w:p>`,
			"co-operate\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := run(t, docxOf(t, tt.body, nil), doctext.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			// The last separator of a part is owed, never written.
			if got, want := strings.TrimSuffix(segText(b, "body"), "\n"), strings.TrimSuffix(tt.want, "\n"); got != want {
				t.Errorf("body = %q, want %q", got, want)
			}
			if strings.Contains(b.Text(), "<w:") {
				t.Errorf("XML in text: %q", b.Text())
			}
		})
	}
}

func TestTrackedDeletions(t *testing.T) {
	body := `<w:p><w:r><w:t>Mail </w:t></w:r><w:del w:author="A"><w:r><w:delText>old.addr</w:delText></w:r></w:del>` +
		`<w:del w:author="A"><w:r><w:delText>@example.com</w:delText></w:r></w:del><w:r><w:t>new@example.com</w:t></w:r></w:p>` +
		`<w:p><w:moveFrom><w:r><w:t>moved away</w:t></w:r></w:moveFrom><w:moveTo><w:r><w:t>moved here</w:t></w:r></w:moveTo></w:p>`
	b, err := run(t, docxOf(t, body, nil), doctext.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := segText(b, "body"), "Mail new@example.com\nmoved here\n"; got != want {
		t.Errorf("body = %q, want %q", got, want)
	}
	if got, want := segText(b, "body tracked deletions"), "old.addr@example.com\nmoved away"; got != want {
		t.Errorf("deletions = %q, want %q", got, want)
	}
}

func TestPartsOrderAndLocations(t *testing.T) {
	rels := [][2]string{
		{"comments", "comments.xml"}, {"footer", "footer1.xml"}, {"header", "header10.xml"},
		{"header", "header2.xml"}, {"endnotes", "endnotes.xml"}, {"footnotes", "/word/footnotes.xml"},
		{"hyperlink", "http://example.com\" TargetMode=\"External"},
	}
	data := docxOf(t, `<w:p><w:r><w:t>Body</w:t></w:r></w:p>`, rels,
		"word/header2.xml", xmlPart("hdr", `<w:p><w:r><w:t>H2</w:t></w:r></w:p>`),
		"word/header10.xml", xmlPart("hdr", `<w:p><w:r><w:t>H10</w:t></w:r></w:p>`),
		"word/footer1.xml", xmlPart("ftr", `<w:p><w:r><w:t>F1</w:t></w:r></w:p>`),
		"word/footnotes.xml", xmlPart("footnotes", `<w:footnote w:type="separator" w:id="-1"><w:p><w:r><w:separator/></w:r></w:p></w:footnote><w:footnote w:id="1"><w:p><w:r><w:t>FN</w:t></w:r></w:p></w:footnote>`),
		"word/endnotes.xml", xmlPart("endnotes", `<w:endnote w:id="1"><w:p><w:r><w:t>EN</w:t></w:r></w:p></w:endnote>`),
		"word/comments.xml", xmlPart("comments", `<w:comment w:id="0" w:author="Jane Roe"><w:p><w:r><w:t>Check this</w:t></w:r></w:p></w:comment>`),
		"docProps/core.xml", `<?xml version="1.0"?><cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:creator>John Doe</dc:creator><cp:lastModifiedBy>Jane Roe</cp:lastModifiedBy></cp:coreProperties>`,
	)
	b, err := run(t, data, doctext.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	text := []rune(b.Text())
	for _, s := range b.Segments() {
		got = append(got, s.Location+"="+strings.TrimSpace(string(text[s.Offset:s.Offset+s.Length])))
	}
	want := []string{"body=Body", "header2=H2", "header10=H10", "footer1=F1", "footnotes=FN", "endnotes=EN",
		"comments=Jane Roe: Check this", "properties=Author: John Doe\nLast modified by: Jane Roe"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("segments\n got %q\nwant %q", got, want)
	}
}

func TestFallbackWithoutRelationships(t *testing.T) {
	data := zipOf(t,
		"word/document.xml", xmlPart("document", `<w:body><w:p><w:r><w:t>Body</w:t></w:r></w:p></w:body>`),
		"word/header1.xml", xmlPart("hdr", `<w:p><w:r><w:t>Head</w:t></w:r></w:p>`),
		"word/footnotes.xml", xmlPart("footnotes", `<w:footnote w:id="1"><w:p><w:r><w:t>Note</w:t></w:r></w:p></w:footnote>`),
	)
	b, err := run(t, data, doctext.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if segText(b, "header1") != "Head\n" || segText(b, "footnotes") != "Note" {
		t.Errorf("text = %q", b.Text())
	}
}

func TestAltChunk(t *testing.T) {
	data := docxOf(t, `<w:altChunk r:id="rId1"/>`, [][2]string{{"aFChunk", "chunk.html"}},
		"word/chunk.html", "<html><body>Imported text</body></html>")
	b, err := run(t, data, doctext.Limits{})
	if err != nil || len(b.Warnings()) == 0 {
		t.Fatalf("no recursion: err %v, warnings %q", err, b.Warnings())
	}
	var gotMIME string
	b = doctext.NewBuilder(0)
	opt := doctext.Options{Recurse: func(ctx context.Context, in doctext.Input, depth int, b *doctext.Builder) error {
		gotMIME = in.MIME
		buf := make([]byte, in.Size)
		_, _ = in.R.ReadAt(buf, 0)
		return b.WriteString(string(buf))
	}}
	if err := Extract(context.Background(), doctext.Input{R: bytes.NewReader(data), Size: int64(len(data))}, b, opt); err != nil {
		t.Fatal(err)
	}
	if gotMIME != "text/html" || !strings.Contains(segText(b, "body altChunk"), "Imported text") {
		t.Errorf("mime %q, text %q", gotMIME, b.Text())
	}
}

func TestErrors(t *testing.T) {
	deep := strings.Repeat("<w:sdt><w:sdtContent>", 300) + strings.Repeat("</w:sdtContent></w:sdt>", 300)
	laughs := `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">` +
		`<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">]><w:document ` + wNS + `><w:body><w:p><w:r><w:t>&lol2;</w:t></w:r></w:p></w:body></w:document>`
	xxe := `<?xml version="1.0"?><!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><w:document ` + wNS + `><w:body><w:p><w:r><w:t>&xxe;</w:t></w:r></w:p></w:body></w:document>`
	tests := []struct {
		name  string
		data  []byte
		lim   doctext.Limits
		want  error
		limit string
	}{
		{"not a zip", []byte("plain text, not a document"), doctext.Limits{}, doctext.ErrMalformed, ""},
		{"empty", nil, doctext.Limits{}, doctext.ErrMalformed, ""},
		{"no main part", zipOf(t, "a.txt", "x"), doctext.Limits{}, doctext.ErrMalformed, ""},
		{"spreadsheet", zipOf(t, "xl/workbook.xml", "<workbook/>"), doctext.Limits{}, doctext.ErrUnsupported, ""},
		{"truncated body", zipOf(t, "word/document.xml", `<w:document `+wNS+`><w:body><w:p><w:r><w:t>cut`), doctext.Limits{}, doctext.ErrMalformed, ""},
		{"deep nesting", docxOf(t, deep, nil), doctext.Limits{}, doctext.ErrLimit, "xml_depth"},
		{"billion laughs", zipOf(t, "word/document.xml", laughs), doctext.Limits{}, doctext.ErrMalformed, ""},
		{"xxe", zipOf(t, "word/document.xml", xxe), doctext.Limits{}, doctext.ErrMalformed, ""},
		{"max chars", docxOf(t, `<w:p><w:r><w:t>`+strings.Repeat("a", 100)+`</w:t></w:r></w:p>`, nil), doctext.Limits{MaxChars: 10}, doctext.ErrLimit, "max_chars"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := run(t, tt.data, tt.lim)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			var le *doctext.LimitError
			if tt.limit != "" && (!errors.As(err, &le) || le.Limit != tt.limit) {
				t.Errorf("limit = %v, want %s", err, tt.limit)
			}
			if strings.Contains(b.Text(), "root:") || strings.Contains(b.Text(), "lol") {
				t.Errorf("entity expanded: %q", b.Text())
			}
		})
	}
}

// TestHostileContainers: bombs and huge entry counts fail fast on the
// checks made before decompression.
func TestHostileContainers(t *testing.T) {
	// 256 MiB of one byte deflates to ~256 KB: ratio ~1000.
	var bomb bytes.Buffer
	zw := zip.NewWriter(&bomb)
	w, _ := zw.Create("word/document.xml")
	chunk := bytes.Repeat([]byte(" "), 1<<20)
	_, _ = w.Write([]byte(`<w:document ` + wNS + `><w:body><w:p><w:r><w:t>`))
	for range 256 {
		_, _ = w.Write(chunk)
	}
	_, _ = w.Write([]byte(`</w:t></w:r></w:p></w:body></w:document>`))
	_ = zw.Close()

	var many bytes.Buffer
	zw = zip.NewWriter(&many)
	for i := range 100_000 {
		if _, err := zw.CreateHeader(&zip.FileHeader{Name: fmt.Sprintf("word/media/%d", i), Method: zip.Store}); err != nil {
			t.Fatal(err)
		}
	}
	_ = zw.Close()

	for _, tc := range []struct {
		name  string
		data  []byte
		limit string
	}{{"zip bomb", bomb.Bytes(), "zip_ratio"}, {"100k entries", many.Bytes(), "zip_entries"}} {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtimeMem
			before.read()
			start := time.Now()
			_, err := run(t, tc.data, doctext.Limits{})
			var le *doctext.LimitError
			if !errors.As(err, &le) || le.Limit != tc.limit {
				t.Fatalf("err = %v, want limit %s", err, tc.limit)
			}
			after.read()
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v", d)
			}
			if grew := int64(after.total) - int64(before.total); grew > 64<<20 {
				t.Errorf("allocated %d MiB", grew>>20)
			}
		})
	}
}

// TestBrokenCorpus: every broken DOCX gives an error (no panic, no hang),
// and the password-protected ones say so.
func TestBrokenCorpus(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(corpusDir, "broken", "*.docx"))
	if len(files) == 0 {
		t.Skip("corpus not present")
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		base := filepath.Base(f)
		t.Run(base, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			b := doctext.NewBuilder(0)
			err := Extract(ctx, doctext.Input{R: bytes.NewReader(data), Size: int64(len(data))}, b, doctext.Options{})
			t.Logf("err=%v chars=%d warnings=%d", err, b.Len(), len(b.Warnings()))
			encrypted := bytes.HasPrefix(data, []byte{0xD0, 0xCF, 0x11, 0xE0})
			switch {
			case encrypted && !errors.Is(err, doctext.ErrEncrypted):
				t.Errorf("want ErrEncrypted, got %v", err)
			case !encrypted && err == nil && len(b.Warnings()) == 0:
				t.Errorf("broken file read as ok (%d chars)", b.Len())
			case errors.Is(err, context.DeadlineExceeded):
				t.Errorf("hang")
			}
		})
	}
}

// runtimeMem samples the cumulative heap allocation.
type runtimeMem struct{ total uint64 }

func (m *runtimeMem) read() {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m.total = ms.TotalAlloc
}

func TestEmbeddings(t *testing.T) {
	data := docxOf(t, `<w:p><w:r><w:t>Body</w:t></w:r></w:p>`, nil,
		"word/embeddings/Microsoft_Excel_Worksheet.xlsx", "fake workbook",
		"word/embeddings/oleObject1.bin", "fake ole")
	b, err := run(t, data, doctext.Limits{})
	if err != nil || len(b.Warnings()) != 1 || !strings.Contains(b.Warnings()[0], "2 embedded") {
		t.Fatalf("without recursion: err %v, warnings %q", err, b.Warnings())
	}
	var mimes []string
	opt := doctext.Options{Recurse: func(ctx context.Context, in doctext.Input, depth int, b *doctext.Builder) error {
		mimes = append(mimes, in.MIME)
		if in.MIME == "application/x-ole-storage" {
			return fmt.Errorf("ole: %w", doctext.ErrUnsupported)
		}
		return b.WriteString("cell text")
	}}
	b = doctext.NewBuilder(0)
	if err := Extract(context.Background(), doctext.Input{R: bytes.NewReader(data), Size: int64(len(data))}, b, opt); err != nil {
		t.Fatal(err)
	}
	if want := "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet|application/x-ole-storage"; strings.Join(mimes, "|") != want {
		t.Errorf("mimes %q", mimes)
	}
	if strings.TrimSpace(segText(b, "embedded Microsoft_Excel_Worksheet.xlsx")) != "cell text" || len(b.Warnings()) != 1 {
		t.Errorf("text %q warnings %q", b.Text(), b.Warnings())
	}
}

func TestListNumbering(t *testing.T) {
	numbering := xmlPart("numbering", `<w:abstractNum w:abstractNumId="0">`+
		`<w:lvl w:ilvl="0"><w:start w:val="1"/><w:numFmt w:val="decimal"/><w:lvlText w:val="%1."/></w:lvl>`+
		`<w:lvl w:ilvl="1"><w:start w:val="1"/><w:numFmt w:val="lowerLetter"/><w:lvlText w:val="%1.%2)"/></w:lvl>`+
		`<w:lvl w:ilvl="2"><w:start w:val="4"/><w:numFmt w:val="upperRoman"/><w:lvlText w:val="%3"/></w:lvl></w:abstractNum>`+
		`<w:abstractNum w:abstractNumId="1"><w:lvl w:ilvl="0"><w:numFmt w:val="bullet"/><w:lvlText w:val="o"/></w:lvl></w:abstractNum>`+
		`<w:num w:numId="1"><w:abstractNumId w:val="0"/></w:num><w:num w:numId="2"><w:abstractNumId w:val="1"/></w:num>`+
		`<w:num w:numId="3"><w:abstractNumId w:val="0"/><w:lvlOverride w:ilvl="0"><w:startOverride w:val="7"/></w:lvlOverride></w:num>`)
	p := func(num, lvl, text string) string {
		return `<w:p><w:pPr><w:numPr><w:ilvl w:val="` + lvl + `"/><w:numId w:val="` + num + `"/></w:numPr></w:pPr><w:r><w:t>` + text + `</w:t></w:r></w:p>`
	}
	body := p("1", "0", "one") + p("1", "1", "sub") + p("1", "1", "sub") + p("1", "2", "deep") + p("1", "0", "two") + p("1", "1", "sub") +
		p("2", "0", "bullet") + p("3", "0", "seven") + p("0", "0", "unnumbered")
	data := docxOf(t, body, [][2]string{{"numbering", "numbering.xml"}}, "word/numbering.xml", numbering)
	b, err := run(t, data, doctext.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	want := "1. one\n1.a) sub\n1.b) sub\nIV deep\n2. two\n2.a) sub\nbullet\n7. seven\nunnumbered"
	if got := strings.TrimSpace(segText(b, "body")); got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
}
