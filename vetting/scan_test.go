package vetting

import (
	"archive/zip"
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

// rezip rewrites a workbook's zip: fn gets each part and returns its new
// name and data (name "" drops it); extra parts are appended.
func rezip(t *testing.T, b []byte, fn func(name string, data []byte) (string, []byte), extra map[string]string) []byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	write := func(name string, data []byte) {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	for _, zf := range zr.File {
		rc, err := zf.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if name, data := fn(zf.Name, data); name != "" {
			write(name, data)
		}
	}
	for _, name := range sortedKeys(extra) {
		write(name, []byte(extra[name]))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// sheetPart returns the zip part holding sheet.
func sheetPart(t *testing.T, b []byte, sheet string) string {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	for part, name := range sheetPartNames(zr) {
		if name == sheet {
			return part
		}
	}
	t.Fatalf("no part for sheet %s", sheet)
	return ""
}

// TestFormulaScanBypasses: excelize reads a sheet from wherever the
// workbook's relationships point and matches <f> by local name whatever the
// prefix; every such formula must be rejected and located.
func TestFormulaScanBypasses(t *testing.T) {
	const hr, formula = "hr-documents", `HYPERLINK("http://evil.example/","click")`
	good := exportBytes(t, testInput(testResult(3, 1)))
	f := openBytes(t, good)
	ref := cellRef(t, f, hr, colText, 2)
	if err := f.SetCellFormula(hr, ref, formula); err != nil {
		t.Fatal(err)
	}
	withFormula := saveBytes(t, f)
	part := sheetPart(t, withFormula, hr)

	prefixed := func(prefix string) func(string, []byte) (string, []byte) {
		return func(name string, data []byte) (string, []byte) {
			if name == part {
				data = bytes.ReplaceAll(data, []byte("<f>"), []byte("<"+prefix+":f>"))
				data = bytes.ReplaceAll(data, []byte("</f>"), []byte("</"+prefix+":f>"))
			}
			return name, data
		}
	}
	moved := func(to string) func(string, []byte) (string, []byte) {
		rel := strings.TrimPrefix(part, "xl/")
		return func(name string, data []byte) (string, []byte) {
			switch name {
			case part:
				return to, data
			case "xl/_rels/workbook.xml.rels":
				return name, bytes.Replace(data, []byte(`Target="`+rel+`"`), []byte(`Target="`+strings.TrimPrefix(to, "xl/")+`"`), 1)
			case "[Content_Types].xml":
				return name, bytes.Replace(data, []byte(`"/`+part+`"`), []byte(`"/`+to+`"`), 1)
			}
			return name, data
		}
	}
	for _, tc := range []struct {
		name string
		fn   func(string, []byte) (string, []byte)
	}{
		{"plain", func(n string, d []byte) (string, []byte) { return n, d }},
		{"17-char prefix", prefixed("abcdefghijklmnopq")},
		{"long prefix", prefixed(strings.Repeat("p", 300))},
		{"sheet moved", moved("xl/ws/sheet2.xml")},
		{"sheet moved, not .xml", moved("xl/ws/data.bin")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := rezip(t, withFormula, tc.fn, nil)
			// The bypass is real: excelize still sees the formula.
			ef := openBytes(t, b)
			if got, err := ef.GetCellFormula(hr, ref); err != nil || got != formula {
				t.Fatalf("excelize does not see the formula (%q, %v): test no longer reproduces the bypass", got, err)
			}
			ef.Close()
			_, err := importBytes(b, ImportInput{RequestID: "req-1"})
			if err == nil {
				t.Fatal("workbook with a formula accepted")
			}
			ve := asValidation(t, err)
			if !errors.Is(err, ErrRejected) {
				t.Errorf("error %v is not ErrRejected", err)
			}
			for _, p := range ve.Problems {
				if p.Sheet == hr && p.Row == 2 && p.Column == "I" && strings.Contains(p.Msg, "formula") {
					return
				}
			}
			t.Errorf("no formula problem at %s!I2 in %v", hr, ve.Problems)
		})
	}
}

// TestScanOtherParts: a formula cell or an external link in a part that is
// not a known sheet is rejected, naming the part by index, never by name.
func TestScanOtherParts(t *testing.T) {
	good := exportBytes(t, testInput(testResult(2, 1)))
	keep := func(n string, d []byte) (string, []byte) { return n, d }
	const secret = "xl/kari-nordmann-secret/"
	for _, tc := range []struct {
		name  string
		extra map[string]string
		msg   string
	}{
		{"formula in other part", map[string]string{secret + "p.xml": `<x:worksheet xmlns:x="urn:x"><x:sheetData><x:row><x:c r="A1"><x:f>1+1</x:f></x:c></x:row></x:sheetData></x:worksheet>`}, "package part"},
		{"formula nested deeper in a cell", map[string]string{secret + "q.xml": `<a><C><is><F>1</F></is></C></a>`}, "package part"},
		{"external link relationship", map[string]string{secret + "_rels/r.xml.rels": `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId9" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/externalLink" Target="x.xml"/></Relationships>`}, "links to other workbooks"},
		{"connections relationship", map[string]string{secret + "_rels/s.xml.rels": `<Relationships><Relationship Id="rId9" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/connections" Target="c.xml"/></Relationships>`}, "data connections"},
		{"malformed xml part", map[string]string{secret + "m.xml": `<a><b</a>`}, "not well-formed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := importBytes(rezip(t, good, keep, tc.extra), ImportInput{RequestID: "req-1"})
			if err == nil {
				t.Fatal("accepted")
			}
			ve := asValidation(t, err)
			if strings.Contains(err.Error(), "kari") {
				t.Errorf("message quotes the part name: %v", err)
			}
			for _, p := range ve.Problems {
				if strings.Contains(p.Msg, tc.msg) {
					return
				}
			}
			t.Errorf("no problem %q in %v", tc.msg, ve.Problems)
		})
	}
	// A binary part (an image) and cells without formulas are fine.
	b := rezip(t, good, keep, map[string]string{"xl/media/image1.png": "\x89PNG\r\n\x1a\n\x00\xff<c><f"})
	if _, err := importBytes(b, ImportInput{RequestID: "req-1"}); err != nil {
		t.Fatalf("workbook with a binary part rejected: %v", err)
	}
}

// TestHeaderMessageDoesNotQuote: a typed header is cell content; the
// message names the column letter instead.
func TestHeaderMessageDoesNotQuote(t *testing.T) {
	const hr, typed = "hr-documents", "metadata.Kari-Nordmann-12345"
	f := openBytes(t, exportBytes(t, testInput(testResult(2, 0))))
	ref := cellRef(t, f, hr, "metadata.owner", 1)
	col := strings.TrimRight(ref, "0123456789")
	if err := f.SetCellStr(hr, ref, typed); err != nil {
		t.Fatal(err)
	}
	// A second copy of an existing header elsewhere: "repeats".
	if err := f.SetCellStr(hr, "ZA1", colFilename); err != nil {
		t.Fatal(err)
	}
	_, err := importBytes(saveBytes(t, f), ImportInput{RequestID: "req-1"})
	ve := asValidation(t, err)
	if strings.Contains(err.Error(), "Kari") {
		t.Errorf("message quotes the typed header: %v", err)
	}
	var renamed, twice bool
	for _, p := range ve.Problems {
		if strings.Contains(p.Msg, typed) || strings.Contains(p.Msg, `"`+colFilename+`"`) {
			t.Errorf("problem quotes cell content: %+v", p)
		}
		renamed = renamed || p.Column == col && p.Row == 1 && strings.Contains(p.Msg, "column "+col+" was added or renamed")
		twice = twice || p.Column == "ZA" && p.Row == 1 && strings.Contains(p.Msg, "column ZA repeats")
	}
	if !renamed || !twice {
		t.Errorf("renamed %v twice %v in %v", renamed, twice, ve.Problems)
	}
}

func TestFlattenMetadataCollisions(t *testing.T) {
	md := map[string]any{
		"a.b":  "literal",
		"a":    map[string]any{"b": "nested", "c.d": map[string]any{"e": 1.0}},
		`x\`:   "backslash",
		`x\.y`: "both",
		"x":    map[string]any{"": "empty"},
		"":     "top-empty",
	}
	want := map[string]string{
		`a\.b`:     "literal",
		"a.b":      "nested",
		`a.c\.d.e`: "1",
		`x\\`:      "backslash",
		`x\\\.y`:   "both",
		"x.":       "empty",
		"":         "top-empty",
	}
	paths := map[string][]string{
		`a\.b`: {"a.b"}, "a.b": {"a", "b"}, `a.c\.d.e`: {"a", "c.d", "e"},
		`x\\`: {`x\`}, `x\\\.y`: {`x\.y`}, "x.": {"x", ""}, "": {""},
	}
	for range 20 { // map order varies between runs; the result must not
		got := flattenMetadata(md)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("flatten:\n got %q\nwant %q", got, want)
		}
	}
	for k, p := range paths {
		if got := SplitMetadataKey(k); !reflect.DeepEqual(got, p) {
			t.Errorf("SplitMetadataKey(%q) = %q, want %q", k, got, p)
		}
	}
}

// TestMetadataCollisionRoundTrip: both colliding keys get their own
// column, and an edit maps back to the right key.
func TestMetadataCollisionRoundTrip(t *testing.T) {
	const hr = "hr-documents"
	res := testResult(1, 0)
	res.Hits[0].Metadata = map[string]any{"a.b": "literal", "a": map[string]any{"b": "nested"}}
	b := exportBytes(t, testInput(res))
	f := openBytes(t, b)
	lit, nest := cellRef(t, f, hr, `metadata.a\.b`, 2), cellRef(t, f, hr, "metadata.a.b", 2)
	for ref, want := range map[string]string{lit: "literal", nest: "nested"} {
		if v, _ := f.GetCellValue(hr, ref); v != want {
			t.Errorf("%s = %q, want %q", ref, v, want)
		}
	}
	if err := f.SetCellStr(hr, lit, "changed"); err != nil {
		t.Fatal(err)
	}
	if err := f.SetCellStr(hr, nest, ""); err != nil {
		t.Fatal(err)
	}
	d, err := importBytes(saveBytes(t, f), ImportInput{RequestID: "req-1"})
	if err != nil {
		t.Fatal(err)
	}
	got := d.Rows[0].Metadata
	want := []MetadataEdit{{Key: `a\.b`, Value: "changed"}, {Key: "a.b", Cleared: true}}
	if len(got) != 2 {
		t.Fatalf("edits %+v", got)
	}
	if got[0].Key != `a\.b` {
		got[0], got[1] = got[1], got[0]
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("edits %+v, want %+v", got, want)
	}
	if p := SplitMetadataKey(got[0].Key); !reflect.DeepEqual(p, []string{"a.b"}) {
		t.Errorf("path %q", p)
	}
}
