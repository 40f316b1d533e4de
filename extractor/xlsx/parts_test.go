package xlsx

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/docvet/docvet/extractor/doctext"
)

const dmlNS = `xmlns:xdr="http://schemas.openxmlformats.org/drawingml/2006/spreadsheetDrawing" xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main"`

// TestHiddenTextParts: text boxes, headers/footers and embedded files are
// read, not silently lost.
func TestHiddenTextParts(t *testing.T) {
	cell := `<row r="1"><c r="A1" t="inlineStr"><is><t>cell</t></is></c></row>`
	drawing := `<?xml version="1.0"?><xdr:wsDr ` + dmlNS + `><xdr:twoCellAnchor><xdr:sp><xdr:txBody><a:p><a:r><a:t>Text box: Erika</a:t></a:r><a:r><a:t> Mustermann</a:t></a:r></a:p><a:p><a:r><a:t>second line</a:t></a:r></a:p></xdr:txBody></xdr:sp></xdr:twoCellAnchor></xdr:wsDr>`
	data := xlsxOf(t, []string{cell}, "xl/drawings/drawing1.xml", drawing)
	data = replacePart(t, data, "xl/worksheets/sheet1.xml", `<?xml version="1.0"?><worksheet `+ssNS+`><sheetData>`+cell+`</sheetData>`+
		`<headerFooter><oddHeader>&amp;L&amp;"Arial,Bold"Personnel file&amp;RPage &amp;P of &amp;N</oddHeader><oddFooter>&amp;C&amp;12Confidential &amp;&amp; private</oddFooter></headerFooter></worksheet>`)
	embedded := []byte("embedded text file")
	data = addPart(t, data, "xl/embeddings/notes.txt", string(embedded))

	var got []doctext.Input
	rec := func(ctx context.Context, in doctext.Input, depth int, b *doctext.Builder) error {
		got = append(got, in)
		p := make([]byte, in.Size)
		in.R.ReadAt(p, 0)
		return b.WriteString(string(p))
	}
	b := doctext.NewBuilder(0)
	if err := Extract(context.Background(), doctext.Input{R: bytes.NewReader(data), Size: int64(len(data))}, b, doctext.Options{Recurse: rec}); err != nil {
		t.Fatal(err)
	}
	want := []string{"S1=S1", "S1!A1=cell", "S1 header=Personnel file Page of", "S1 footer=Confidential & private",
		"drawing drawing1.xml=Text box: Erika Mustermann\nsecond line", "embedded notes.txt=embedded text file"}
	if g := segs(b); strings.Join(g, "|") != strings.Join(want, "|") {
		t.Errorf("segments\n got %q\nwant %q", g, want)
	}
	if len(got) != 1 || got[0].Name != "notes.txt" || len(b.Warnings()) != 0 {
		t.Errorf("recursed into %+v, warnings %q", got, b.Warnings())
	}
	// Without a Recurser the embedded file is not silently dropped.
	b = doctext.NewBuilder(0)
	if err := Extract(context.Background(), doctext.Input{R: bytes.NewReader(data), Size: int64(len(data))}, b, doctext.Options{}); err != nil {
		t.Fatal(err)
	}
	if w := b.Warnings(); len(w) != 1 || w[0] != "xlsx: 1 embedded object(s) not read (no recursion)" {
		t.Errorf("warnings %q", w)
	}
}

// TestSheetNamesOnlyIsEmpty: a workbook whose only text would be its sheet
// names and properties (pasted scans) produces no text, so the dispatcher
// reports it empty; a workbook with content keeps empty sheets' names.
func TestSheetNamesOnlyIsEmpty(t *testing.T) {
	b, err := run(t, xlsxOf(t, []string{``, `<row r="1"><c r="A1"/></row>`}), doctext.Limits{})
	if err != nil || b.Text() != "" {
		t.Fatalf("sheet names only: %v %q", err, b.Text())
	}
	b, err = run(t, xlsxOf(t, []string{``, `<row r="2"><c r="B2" t="inlineStr"><is><t>x</t></is></c></row>`, ``}), doctext.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"S1=S1", "S2=S2", "S2!B2=x", "S3=S3"}
	if g := segs(b); strings.Join(g, "|") != strings.Join(want, "|") {
		t.Errorf("segments\n got %q\nwant %q", g, want)
	}
}

// TestNoTempFilesLeft: excelize spools parts over 16 MiB to its TmpDir;
// whether the workbook opens or fails after spooling, nothing stays behind.
func TestNoTempFilesLeft(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 17 MiB sheet")
	}
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	var sh strings.Builder
	for r := 1; sh.Len() < xmlSpoolBytes+1<<20; r++ {
		fmt.Fprintf(&sh, `<row r="%d"><c r="A%d" t="inlineStr"><is><t>Erika Mustermann %x</t></is></c></row>`, r, r, r*2654435761)
	}
	data := xlsxOf(t, []string{sh.String()})
	// An entry with an unknown compression method makes excelize fail
	// after it has spooled the sheet.
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	zw.RegisterCompressor(99, func(w io.Writer) (io.WriteCloser, error) { return nopCloser{w}, nil })
	zr, _ := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	for _, f := range zr.File {
		w, _ := zw.Create(f.Name)
		rc, _ := f.Open()
		io.Copy(w, rc)
		rc.Close()
	}
	w, _ := zw.CreateHeader(&zip.FileHeader{Name: "xl/media/image1.bin", Method: 99})
	io.WriteString(w, "junk")
	zw.Close()
	for _, tc := range []struct {
		name string
		data []byte
		ok   bool
	}{{"opens", data, true}, {"fails after spooling", buf.Bytes(), false}} {
		b, err := run(t, tc.data, doctext.Limits{})
		if (err == nil) != tc.ok || (tc.ok && !strings.Contains(b.Text(), "Erika Mustermann")) {
			t.Errorf("%s: %v, %d chars", tc.name, err, b.Len())
		}
		left, _ := os.ReadDir(tmp)
		for _, f := range left {
			t.Errorf("%s: left in TMPDIR: %s", tc.name, f.Name())
		}
	}
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

func TestStripHFCodes(t *testing.T) {
	for in, want := range map[string]string{
		`&L&"Arial,Bold"&14Name&C&D&R&P/&N`: "Name /",
		`&KFF0000Red &B&Ibold`:              "Red bold",
		`a && b &`:                          "a & b &",
		`&"unterminated`:                    "",
	} {
		if got := stripHFCodes(in); got != want {
			t.Errorf("stripHFCodes(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFindElementAcrossChunks(t *testing.T) {
	for _, pad := range []int{0, 100, 256<<10 - 20, 256<<10 - 5, 600 << 10} {
		doc := strings.Repeat("x", pad) + `<x:headerFooter differentFirst="1"><x:oddHeader>h</x:oddHeader></x:headerFooter>`
		frag, err := findElement(context.Background(), strings.NewReader(doc), []byte("headerFooter"), 1<<10)
		if err != nil || !strings.HasPrefix(string(frag), `<x:headerFooter `) {
			t.Errorf("pad %d: %v %.40q", pad, err, frag)
		}
	}
	if frag, err := findElement(context.Background(), strings.NewReader("<headerFooterX/><a>headerFooter</a>"), []byte("headerFooter"), 100); frag != nil || err != nil {
		t.Errorf("false match: %q %v", frag, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := findElement(ctx, strings.NewReader("abc"), []byte("headerFooter"), 100); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// rezip copies a zip, replacing (or adding) the part name with content.
func rezip(t *testing.T, data []byte, name, content string) []byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range zr.File {
		if f.Name == name {
			continue
		}
		w, _ := zw.Create(f.Name)
		rc, _ := f.Open()
		io.Copy(w, rc)
		rc.Close()
	}
	w, _ := zw.Create(name)
	io.WriteString(w, content)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func replacePart(t *testing.T, data []byte, name, content string) []byte {
	return rezip(t, data, name, content)
}

func addPart(t *testing.T, data []byte, name, content string) []byte {
	return rezip(t, data, name, content)
}
