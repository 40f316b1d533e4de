package xlsx

import (
	"archive/zip"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/docvet/docvet/extractor/doctext"
)

func FuzzXlsx(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/seeds/*.xlsx")
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		if s := stored(data); s != nil {
			f.Add(s)
		}
	}
	// Uncompressed, so mutations reach the XML.
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, p := range [][2]string{
		{"xl/workbook.xml", `<workbook ` + ssNS + `><sheets><sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>`},
		{"xl/_rels/workbook.xml.rels", `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="` + relsNS + `worksheet" Target="worksheets/sheet1.xml"/></Relationships>`},
		{"xl/worksheets/sheet1.xml", `<worksheet ` + ssNS + `><sheetData><row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" s="1"><v>3.5</v></c></row></sheetData></worksheet>`},
		{"xl/sharedStrings.xml", `<sst ` + ssNS + `><si><t>x</t></si></sst>`},
	} {
		w, _ := zw.CreateHeader(&zip.FileHeader{Name: p[0], Method: zip.Store})
		_, _ = w.Write([]byte(p[1]))
	}
	_ = zw.Close()
	f.Add(buf.Bytes())
	lim := doctext.Limits{MaxChars: 1 << 20, MaxZipEntryBytes: 8 << 20, MaxZipTotalBytes: 16 << 20}
	f.Fuzz(func(t *testing.T, data []byte) {
		b := doctext.NewBuilder(lim.MaxChars)
		// Any outcome but a panic or a hang is acceptable: excelize reports
		// many of its failures as plain errors, which the dispatcher records
		// as "failed".
		_ = Extract(context.Background(), doctext.Input{R: bytes.NewReader(data), Size: int64(len(data))}, b, doctext.Options{Limits: lim})
		if b.Len() > lim.MaxChars {
			t.Fatalf("text over the cap: %d", b.Len())
		}
	})
}

// stored re-packs a zip with every entry uncompressed, so the fuzzer's
// mutations reach the XML instead of breaking deflate streams and
// checksums. It returns nil for an unreadable zip.
func stored(data []byte) []byte {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			return nil
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: f.Name, Method: zip.Store})
		if err == nil {
			_, err = io.Copy(w, rc)
		}
		rc.Close()
		if err != nil {
			return nil
		}
	}
	if zw.Close() != nil {
		return nil
	}
	return buf.Bytes()
}
