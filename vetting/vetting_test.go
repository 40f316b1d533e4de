package vetting

import (
	"archive/zip"
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/docvet/docvet/search"
)

func TestRoundTrip(t *testing.T) {
	res := testResult(4, 2)
	b := exportBytes(t, testInput(res))

	// Untouched workbook: every row kept, nothing changed.
	d, err := importBytes(b, ImportInput{RequestID: "req-1", Result: &res})
	if err != nil {
		t.Fatalf("import untouched: %v", err)
	}
	if len(d.Rows) != 6 {
		t.Fatalf("rows = %d, want 6", len(d.Rows))
	}
	for _, r := range d.Rows {
		if r.Changed() || r.IndexID == "" || r.Row == 0 {
			t.Fatalf("untouched row decided %+v", r)
		}
	}

	f := openBytes(t, b)
	hr := "hr-documents"
	id := func(i int, dt string) string { return RowID(testKey, "req-1", testHit(i, dt).IndexID) }
	// Delete row of hit 1 (withhold), clear extract-content of hit 2,
	// type text into hit 0 and hit 3, edit and clear metadata on mail 0.
	if err := f.RemoveRow(hr, findRow(t, f, hr, colRowID, id(1, hr))); err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	r2 := findRow(t, f, hr, colRowID, id(2, hr))
	must(f.SetCellValue(hr, cellRef(t, f, hr, colExtract, r2), ""))
	must(f.SetCellStr(hr, cellRef(t, f, hr, colText, findRow(t, f, hr, colRowID, id(0, hr))), "=SUM(A1:A9) redacted"))
	must(f.SetCellStr(hr, cellRef(t, f, hr, colText, findRow(t, f, hr, colRowID, id(3, hr))), "@cmd|' /C calc'!A0\nline 2"))
	rm := findRow(t, f, "mail", colRowID, id(0, "mail"))
	must(f.SetCellStr("mail", cellRef(t, f, "mail", "metadata.owner", rm), "legal"))
	must(f.SetCellValue("mail", cellRef(t, f, "mail", "metadata.author.name", rm), ""))
	// Whitespace-only text is no text.
	must(f.SetCellStr("mail", cellRef(t, f, "mail", colText, findRow(t, f, "mail", colRowID, id(1, "mail"))), "   "))
	// Informational columns may be cleared freely.
	must(f.SetCellValue("mail", cellRef(t, f, "mail", colSnippets, rm), ""))
	edited := saveBytes(t, f)

	d, err = importBytes(edited, ImportInput{RequestID: "req-1", Result: &res})
	if err != nil {
		t.Fatalf("import edited: %v", err)
	}
	type want struct {
		withheld, fileWithheld, hasText bool
		text                            string
		meta                            []MetadataEdit
	}
	wants := map[string]want{
		id(0, hr):     {hasText: true, text: "=SUM(A1:A9) redacted"},
		id(1, hr):     {withheld: true},
		id(2, hr):     {fileWithheld: true},
		id(3, hr):     {hasText: true, text: "@cmd|' /C calc'!A0\nline 2"},
		id(0, "mail"): {meta: []MetadataEdit{{Key: "author.name", Cleared: true}, {Key: "owner", Value: "legal"}}},
		id(1, "mail"): {},
	}
	if len(d.Rows) != len(wants) {
		t.Fatalf("rows = %d", len(d.Rows))
	}
	for i, r := range d.Rows {
		w, ok := wants[r.RowID]
		if !ok {
			t.Fatalf("unexpected row %s", r.RowID)
		}
		got := want{r.Withheld, r.FileWithheld, r.HasText, r.Text, r.Metadata}
		if !reflect.DeepEqual(got, w) {
			t.Errorf("row %d (%s): got %+v want %+v", i, r.IndexID, got, w)
		}
		if r.IndexID != res.Hits[i].IndexID || r.DataType != res.Hits[i].DataType {
			t.Errorf("row %d: index id %q data type %q out of order", i, r.IndexID, r.DataType)
		}
	}
	kept, withheld, fileWithheld, text, meta := d.Counts()
	if kept != 5 || withheld != 1 || fileWithheld != 1 || text != 2 || meta != 1 {
		t.Errorf("counts %d %d %d %d %d", kept, withheld, fileWithheld, text, meta)
	}
	if ch := d.Rows[4].Changes(); !reflect.DeepEqual(ch, []string{"metadata-cleared:author.name", "metadata-edited:owner"}) {
		t.Errorf("changes %v", ch)
	}
}

func TestScopedWorkbook(t *testing.T) {
	res := testResult(3, 2)
	in := testInput(res)
	in.DataType = "mail"
	b := exportBytes(t, in)
	f := openBytes(t, b)
	sheets := f.GetSheetList()
	if !reflect.DeepEqual(sheets, []string{"Instructions", "mail", "Not searchable", "docvet"}) {
		t.Fatalf("sheets %v", sheets)
	}
	rows, _ := f.GetRows("Not searchable")
	if len(rows) != 2 || rows[1][2] != "mail" {
		t.Fatalf("not searchable rows %v", rows)
	}
	d, err := importBytes(b, ImportInput{RequestID: "req-1", DataType: "mail"})
	if err != nil || len(d.Rows) != 2 || d.DataType != "mail" {
		t.Fatalf("import scoped: %v %+v", err, d)
	}
	if _, err := importBytes(b, ImportInput{RequestID: "req-1"}); !errors.Is(err, ErrOtherRequest) {
		t.Fatalf("scope mismatch: %v", err)
	}
}

func TestWorkbookLayout(t *testing.T) {
	res := testResult(2, 1)
	in := testInput(res)
	in.Lang = "nb"
	b := exportBytes(t, in)
	f := openBytes(t, b)
	if got := f.GetSheetList(); !reflect.DeepEqual(got, []string{"Instruksjoner", "hr-documents", "mail", "empty-type", "Ikke søkbare", "docvet"}) {
		t.Fatalf("sheets %v", got)
	}
	if v, _ := f.GetSheetVisible("docvet"); v {
		t.Error("manifest sheet visible")
	}
	rows, _ := f.GetRows("hr-documents")
	wantHead := append(append([]string{}, fixedColumns...), "metadata.author.dept", "metadata.author.name", "metadata.modified", "metadata.owner", "metadata.pages", "metadata.tags")
	if !reflect.DeepEqual(rows[0], wantHead) {
		t.Fatalf("header %v", rows[0])
	}
	row := rows[1]
	get := func(c string) string { return row[colIndex(t, f, "hr-documents", c)] }
	if get(colOriginalURL) != "http://files.example/hr-documents/person-0000.pdf" || get(colText) != "" ||
		get("metadata.tags") != `["a","b"]` || get("metadata.pages") != "3" || get(colSize) != "1000" {
		t.Errorf("row %q", row)
	}
	// Hyperlinks on both link columns.
	ok, target, err := f.GetCellHyperLink("hr-documents", cellRef(t, f, "hr-documents", colExtract, 3))
	if err != nil || !ok || target != "http://127.0.0.1:8081/content/hr-documents/person-0001.pdf" {
		t.Errorf("extract link %v %q %v", ok, target, err)
	}
	ok, target, _ = f.GetCellHyperLink("hr-documents", cellRef(t, f, "hr-documents", colOriginalURL, 2))
	if !ok || target != "http://files.example/hr-documents/person-0000.pdf" {
		t.Errorf("original link %v %q", ok, target)
	}
	// Snippets as rich text with the hit bold.
	runs, err := f.GetCellRichText("hr-documents", cellRef(t, f, "hr-documents", colSnippets, 2))
	if err != nil {
		t.Fatal(err)
	}
	var bold []string
	var all strings.Builder
	for _, r := range runs {
		all.WriteString(r.Text)
		if r.Font != nil && r.Font.Bold {
			bold = append(bold, r.Text)
		}
	}
	if !reflect.DeepEqual(bold, []string{"kari@example.no", "kari@example.no"}) ||
		all.String() != "[page 1] Kontakt kari@example.no om saken\n\n[page 3] Bjørn Ødegård og kari@example.no" {
		t.Errorf("snippet runs %q bold %q", all.String(), bold)
	}
	// Frozen header, hidden row id, autofilter.
	panes, err := f.GetPanes("hr-documents")
	if err != nil || !panes.Freeze || panes.YSplit != 1 {
		t.Errorf("panes %+v %v", panes, err)
	}
	if vis, _ := f.GetColVisible("hr-documents", "A"); vis {
		t.Error("row-id column visible")
	}
	raw := sheetXML(t, b, "xl/worksheets/sheet2.xml")
	if !strings.Contains(raw, "<autoFilter") {
		t.Error("no autofilter")
	}
	// Instructions in Norwegian.
	inst, _ := f.GetRows("Instruksjoner")
	var text strings.Builder
	for _, r := range inst {
		text.WriteString(strings.Join(r, " "))
	}
	for _, w := range []string{"slett raden", "extract-content", "req-1", "Personnel files"} {
		if !strings.Contains(text.String(), w) {
			t.Errorf("instructions lack %q", w)
		}
	}
}

func sheetXML(t testing.TB, b []byte, name string) string {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	rc, err := zr.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	data, _ := io.ReadAll(rc)
	return string(data)
}

func TestFormulaInjectionValuesRoundTrip(t *testing.T) {
	res := testResult(1, 0)
	vals := []string{"=1+1", "+47 912 34 567", "-2+3", "@SUM(A1)", "\tTAB", "\rCR", "=HYPERLINK(\"http://evil\")", "_x000D_ literal", "ctl\x01char"}
	for i, v := range vals {
		res.Hits[0].Metadata[string(rune('a'+i))] = v
	}
	res.Hits[0].Filename = "=cmd|' /C calc'!A0"
	b := exportBytes(t, testInput(res))
	f := openBytes(t, b)
	sh := "hr-documents"
	for i, v := range vals {
		ref := cellRef(t, f, sh, "metadata."+string(rune('a'+i)), 2)
		got, err := f.GetCellValue(sh, ref)
		want := cleanXML(v)
		if err != nil || got != want {
			t.Errorf("%s: got %q want %q (%v)", ref, got, want, err)
		}
		if fm, _ := f.GetCellFormula(sh, ref); fm != "" {
			t.Errorf("%s written as formula %q", ref, fm)
		}
		if typ, _ := f.GetCellType(sh, ref); typ != excelize.CellTypeInlineString && typ != excelize.CellTypeSharedString {
			t.Errorf("%s type %v", ref, typ)
		}
	}
	if raw := sheetXML(t, b, "xl/worksheets/sheet2.xml"); strings.Contains(raw, "<f>") {
		t.Error("formula element in export")
	}
	// Read back identically: import sees no change.
	d, err := importBytes(b, ImportInput{RequestID: "req-1"})
	if err != nil {
		t.Fatal(err)
	}
	if d.Rows[0].Changed() {
		t.Fatalf("unchanged injection values read as edits: %+v", d.Rows[0])
	}
}

func TestTruncation(t *testing.T) {
	res := testResult(1, 0)
	long := strings.Repeat("x😀", 20000) // 60,000 UTF-16 units
	res.Hits[0].Metadata["long"] = long
	res.Hits[0].Snippets = nil
	for range 3 {
		res.Hits[0].Snippets = append(res.Hits[0].Snippets, search.Snippet{Location: "page 1", Text: long,
			Highlights: []search.Highlight{{Start: 1, End: 2}, {Start: 39990, End: 40000}}})
	}
	b := exportBytes(t, testInput(res))
	f := openBytes(t, b)
	for _, c := range []string{"metadata.long", colSnippets} {
		v, _ := f.GetCellValue("hr-documents", cellRef(t, f, "hr-documents", c, 2))
		if !strings.HasSuffix(v, truncMarker) || utf16Len(v) > maxCellChars {
			t.Errorf("%s: len %d, suffix %q", c, utf16Len(v), v[max(0, len(v)-20):])
		}
	}
	// The cut value is what the manifest remembers: no false edit.
	d, err := importBytes(b, ImportInput{RequestID: "req-1"})
	if err != nil || d.Rows[0].Changed() {
		t.Fatalf("import: %v %+v", err, d.Rows)
	}
	// An oversized extract-content is an export error, never cut.
	res.Hits[0].ExtractContent = "http://x/" + strings.Repeat("a", 40000)
	if err := Export(io.Discard, testInput(res), testKey); err == nil {
		t.Fatal("oversized extract-content exported")
	}
}

func TestSheetNames(t *testing.T) {
	used := map[string]bool{"instructions": true}
	for _, tc := range []struct{ in, suffix, want string }{
		{"hr/docs:[x]*?", "", "hr_docs__x___"},
		{"Instructions", "", "Instructions ~2"},
		{"a-very-long-data-type-name-that-goes-on", "", "a-very-long-data-type-name-that"},
		{"a-very-long-data-type-name-that-goes-on", " (2)", "a-very-long-data-type-name- (2)"},
		{"A-VERY-LONG-DATA-TYPE-NAME-THAT-goes", "", "A-VERY-LONG-DATA-TYPE-NAME-T ~2"},
		{"'quoted'", "", "quoted"},
		{"", "", "data"},
	} {
		if got := uniqueSheetName(tc.in, tc.suffix, used); got != tc.want {
			t.Errorf("%q%q: got %q want %q", tc.in, tc.suffix, got, tc.want)
		}
	}
}

func TestRowIDOpaque(t *testing.T) {
	a := RowID(testKey, "req-1", "fileshare:hr/kari-nordmann.pdf")
	if strings.Contains(strings.ToLower(a), "kari") || a == RowID(testKey, "req-2", "fileshare:hr/kari-nordmann.pdf") {
		t.Fatalf("row id not opaque per request: %s", a)
	}
	if err := Export(io.Discard, testInput(testResult(1, 0)), []byte("short")); !errors.Is(err, ErrKey) {
		t.Fatalf("short key: %v", err)
	}
}
