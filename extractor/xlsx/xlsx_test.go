package xlsx

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

	"github.com/xuri/excelize/v2"

	"github.com/docvet/docvet/extractor/doctext"
)

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

const (
	ssNS   = `xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"`
	relsNS = `http://schemas.openxmlformats.org/officeDocument/2006/relationships/`
)

// xlsxOf builds a minimal workbook by hand: one sheet per sheetData body,
// so formula caches, inline strings and odd layouts can be written exactly.
func xlsxOf(t testing.TB, sheets []string, extra ...string) []byte {
	t.Helper()
	var wb, rels, ct strings.Builder
	for i := range sheets {
		fmt.Fprintf(&wb, `<sheet name="S%d" sheetId="%d" r:id="rId%d"/>`, i+1, i+1, i+1)
		fmt.Fprintf(&rels, `<Relationship Id="rId%d" Type="%sworksheet" Target="worksheets/sheet%d.xml"/>`, i+1, relsNS, i+1)
		fmt.Fprintf(&ct, `<Override PartName="/xl/worksheets/sheet%d.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>`, i+1)
	}
	files := []string{
		"[Content_Types].xml", `<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">` +
			`<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>` +
			`<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>` + ct.String() + `</Types>`,
		"_rels/.rels", `<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="` + relsNS + `officeDocument" Target="xl/workbook.xml"/></Relationships>`,
		"xl/workbook.xml", `<?xml version="1.0"?><workbook ` + ssNS + `><sheets>` + wb.String() + `</sheets></workbook>`,
		"xl/_rels/workbook.xml.rels", `<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">` + rels.String() + `</Relationships>`,
	}
	for i, s := range sheets {
		files = append(files, fmt.Sprintf("xl/worksheets/sheet%d.xml", i+1), `<?xml version="1.0"?><worksheet `+ssNS+`><sheetData>`+s+`</sheetData></worksheet>`)
	}
	return zipOf(t, append(files, extra...)...)
}

func run(t testing.TB, data []byte, lim doctext.Limits) (*doctext.Builder, error) {
	t.Helper()
	b := doctext.NewBuilder(lim.WithDefaults().MaxChars)
	err := Extract(context.Background(), doctext.Input{R: bytes.NewReader(data), Size: int64(len(data))}, b, doctext.Options{Limits: lim})
	return b, err
}

// segs renders the segments as "location=text" lines.
func segs(b *doctext.Builder) []string {
	var out []string
	text := []rune(b.Text())
	for _, s := range b.Segments() {
		out = append(out, s.Location+"="+strings.TrimRight(string(text[s.Offset:s.Offset+s.Length]), "\n"))
	}
	return out
}

func TestHandWrittenWorkbook(t *testing.T) {
	sheet1 := `<row r="1"><c r="A1" t="inlineStr"><is><t>Name</t></is></c><c r="B1" t="inlineStr"><is><t>Phone</t></is></c></row>` +
		`<row r="3"><c r="B3" t="inlineStr"><is><r><t>Jane </t></r><r><t>Roe</t></r></is></c><c r="D3"><f>1+1</f><v>447700900123</v></c>` +
		`<c r="E3" t="str"><f>"a"&amp;"b"</f><v>ab</v></c><c r="F3" t="b"><v>1</v></c><c r="G3" t="e"><v>#N/A</v></c></row>` +
		`<row r="4"><c r="A4" t="inlineStr"><is><t>tab	inside</t></is></c></row>`
	b, err := run(t, xlsxOf(t, []string{sheet1, ``}), doctext.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"S1=S1", "S1!A1:B1=Name\tPhone", "S1!B3:G3=Jane Roe\t\t447700900123\tab\tTRUE\t#N/A", "S1!A4=tab inside", "S2=S2"}
	if got := segs(b); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("segments\n got %q\nwant %q", got, want)
	}
}

// TestExcelizeWorkbook: formats as displayed, hidden sheets marked, shared
// strings, comments and properties.
func TestExcelizeWorkbook(t *testing.T) {
	f := excelize.NewFile()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(f.SetCellValue("Sheet1", "A1", "Customer"))
	must(f.SetCellValue("Sheet1", "B2", 1234567.891))
	st, err := f.NewStyle(&excelize.Style{NumFmt: 4}) // #,##0.00
	must(err)
	must(f.SetCellStyle("Sheet1", "B2", "B2", st))
	must(f.SetCellValue("Sheet1", "C2", time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC)))
	dst, err := f.NewStyle(&excelize.Style{NumFmt: 14}) // excelize: mm-dd-yy
	must(err)
	must(f.SetCellStyle("Sheet1", "C2", "C2", dst))
	_, err = f.NewSheet("Secret Sheet")
	must(err)
	must(f.SetCellValue("Secret Sheet", "A1", "john.doe@example.com"))
	must(f.SetSheetVisible("Secret Sheet", false))
	must(f.AddComment("Sheet1", excelize.Comment{Cell: "A1", Author: "Jane Roe", Paragraph: []excelize.RichTextRun{{Text: "check"}}}))
	must(f.SetDocProps(&excelize.DocProperties{Creator: "John Doe", Title: "Customers"}))
	var buf bytes.Buffer
	must(f.Write(&buf))

	b, err := run(t, buf.Bytes(), doctext.Limits{})
	must(err)
	want := []string{"Sheet1=Sheet1", "Sheet1!A1=Customer", "Sheet1!B2:C2=1,234,567.89\t03-05-24", "Sheet1!A1 comment=Jane Roe: check",
		"Secret Sheet=Secret Sheet (hidden)", "'Secret Sheet'!A1=john.doe@example.com", "properties=Title: Customers\nAuthor: John Doe"}
	if got := segs(b); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("segments\n got %q\nwant %q", got, want)
	}
}

func TestErrors(t *testing.T) {
	deep := strings.Repeat("<x>", 100) + strings.Repeat("</x>", 100)
	laughs := `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>` +
		`<sst ` + ssNS + ` count="1" uniqueCount="1"><si><t>&lol1;</t></si></sst>`
	xxe := `<?xml version="1.0"?><!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><sst ` + ssNS + `><si><t>&xxe;</t></si></sst>`
	sharedCell := `<row r="1"><c r="A1" t="s"><v>0</v></c></row>`
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"not a zip", []byte("hello"), doctext.ErrMalformed},
		{"no workbook", zipOf(t, "a.txt", "x"), doctext.ErrMalformed},
		{"word document", zipOf(t, "word/document.xml", "<d/>"), doctext.ErrUnsupported},
		{"billion laughs", xlsxOf(t, []string{sharedCell}, "xl/sharedStrings.xml", laughs), doctext.ErrMalformed},
		{"xxe", xlsxOf(t, []string{sharedCell}, "xl/sharedStrings.xml", xxe), doctext.ErrMalformed},
		{"no sheets", zipOf(t, "xl/workbook.xml", `<workbook `+ssNS+`><sheets/></workbook>`), doctext.ErrMalformed},
		{"deep nesting is not fatal", xlsxOf(t, []string{`<row r="1"><c r="A1" t="inlineStr"><is><t>ok</t></is></c></row>` + deep}), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := run(t, tt.data, doctext.Limits{})
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if strings.Contains(b.Text(), "root:") || strings.Contains(b.Text(), "lol") {
				t.Errorf("entity expanded: %q", b.Text())
			}
		})
	}
}

func TestMaxChars(t *testing.T) {
	var rows strings.Builder
	for i := 1; i <= 100; i++ {
		fmt.Fprintf(&rows, `<row r="%d"><c r="A%d" t="inlineStr"><is><t>row %d</t></is></c></row>`, i, i, i)
	}
	b, err := run(t, xlsxOf(t, []string{rows.String()}), doctext.Limits{MaxChars: 50})
	var le *doctext.LimitError
	if !errors.As(err, &le) || le.Limit != "max_chars" || b.Len() != 50 {
		t.Fatalf("err = %v, len %d", err, b.Len())
	}
}

func TestHostileContainers(t *testing.T) {
	// A worksheet of 256 MiB of blank rows deflates ~1000:1.
	var bomb bytes.Buffer
	zw := zip.NewWriter(&bomb)
	for _, f := range []struct{ name, body string }{
		{"[Content_Types].xml", `<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>`},
		{"xl/workbook.xml", `<workbook ` + ssNS + `><sheets><sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>`},
	} {
		w, _ := zw.Create(f.name)
		_, _ = w.Write([]byte(f.body))
	}
	w, _ := zw.Create("xl/worksheets/sheet1.xml")
	_, _ = w.Write([]byte(`<worksheet ` + ssNS + `><sheetData>`))
	chunk := bytes.Repeat([]byte(`<row/>`), 1<<20/6)
	for range 256 {
		_, _ = w.Write(chunk)
	}
	_, _ = w.Write([]byte(`</sheetData></worksheet>`))
	_ = zw.Close()

	var many bytes.Buffer
	zw = zip.NewWriter(&many)
	for i := range 100_000 {
		if _, err := zw.CreateHeader(&zip.FileHeader{Name: fmt.Sprintf("xl/media/%d", i), Method: zip.Store}); err != nil {
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
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := run(t, tc.data, doctext.Limits{})
			runtime.ReadMemStats(&after)
			var le *doctext.LimitError
			if !errors.As(err, &le) || le.Limit != tc.limit {
				t.Fatalf("err = %v, want limit %s", err, tc.limit)
			}
			if grew := int64(after.TotalAlloc) - int64(before.TotalAlloc); grew > 64<<20 {
				t.Errorf("allocated %d MiB", grew>>20)
			}
		})
	}
}

// TestBrokenCorpus: every broken XLSX gives a clear outcome (no panic, no
// hang); password-protected ones are ErrEncrypted.
func TestBrokenCorpus(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(corpusDir, "broken", "*.xlsx"))
	if len(files) == 0 {
		t.Skip("corpus not present")
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(filepath.Base(f), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			b := doctext.NewBuilder(0)
			err := Extract(ctx, doctext.Input{R: bytes.NewReader(data), Size: int64(len(data))}, b, doctext.Options{})
			runtime.ReadMemStats(&after)
			t.Logf("err=%v chars=%d warnings=%q alloc=%dMiB", err, b.Len(), b.Warnings(), (after.TotalAlloc-before.TotalAlloc)>>20)
			encrypted := bytes.HasPrefix(data, []byte{0xD0, 0xCF, 0x11, 0xE0})
			if encrypted && !errors.Is(err, doctext.ErrEncrypted) {
				t.Errorf("want ErrEncrypted, got %v", err)
			}
			if errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("hang")
			}
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 256<<20 {
				t.Errorf("allocated %d MiB", grew>>20)
			}
		})
	}
}
