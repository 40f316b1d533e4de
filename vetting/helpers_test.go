package vetting

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/docvet/docvet/search"
)

var testKey = []byte("0123456789abcdef-test-key")

func testHit(i int, dt string) search.Hit {
	return search.Hit{
		IndexID:        fmt.Sprintf("fileshare:%s/docs/person-%04d.pdf", dt, i),
		Source:         "fileshare",
		EntityID:       fmt.Sprintf("%s/docs/person-%04d.pdf", dt, i),
		DataType:       dt,
		DocumentID:     fmt.Sprintf("fileshare:%s/docs/person-%04d.pdf", dt, i),
		Filename:       fmt.Sprintf("person-%04d.pdf", i),
		MIMEType:       "application/pdf",
		FileSize:       int64(1000 + i),
		OriginalURL:    fmt.Sprintf("~rhttp://files.example/%s/person-%04d.pdf", dt, i),
		ExtractContent: fmt.Sprintf("~rhttp://127.0.0.1:8081/content/%s/person-%04d.pdf", dt, i),
		SHA256:         "abc",
		Status:         "ok",
		Metadata: map[string]any{
			"owner":    "hr",
			"modified": "2019-04-01T10:00:00Z",
			"author":   map[string]any{"name": "Kari Nordmann", "dept": "HR"},
			"tags":     []any{"a", "b"},
			"pages":    float64(3 + i),
		},
		Matched: []search.Matched{{Kind: search.KindEmail, Value: "kari@example.no", Count: 2}},
		Count:   2,
		Snippets: []search.Snippet{
			{Location: "page 1", Text: "Kontakt kari@example.no om saken", Highlights: []search.Highlight{{Start: 8, End: 23}}},
			{Location: "page 3", Text: "Bjørn Ødegård og kari@example.no", Highlights: []search.Highlight{{Start: 17, End: 32}}},
		},
	}
}

// testResult has n hits of "hr-documents" and m of "mail".
func testResult(n, m int) search.Result {
	r := search.Result{
		RequestID:  "req-1",
		SearchedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		DataTypes:  []string{"hr-documents", "mail", "empty-type"},
		NotSearchable: []search.NotSearchable{
			{Source: "fileshare", EntityID: "hr/scan.pdf", DataType: "hr-documents", Filename: "scan.pdf", Status: "empty", Reason: "no text layer"},
			{Source: "mail", EntityID: "m/1", DataType: "mail", Status: "encrypted"},
		},
	}
	for i := range n {
		r.Hits = append(r.Hits, testHit(i, "hr-documents"))
	}
	for i := range m {
		r.Hits = append(r.Hits, testHit(i, "mail"))
	}
	return r
}

func testInput(res search.Result) ExportInput {
	return ExportInput{RequestID: "req-1", Lang: "en", Title: "Kari", Result: res,
		GeneratedAt:  time.Date(2026, 1, 3, 0, 0, 0, 0, time.UTC),
		DataTypeInfo: map[string]DataTypeInfo{"hr-documents": {Title: "HR", Description: "Personnel files"}}}
}

func exportBytes(t testing.TB, in ExportInput) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Export(&buf, in, testKey); err != nil {
		t.Fatalf("Export: %v", err)
	}
	return buf.Bytes()
}

func openBytes(t testing.TB, b []byte) *excelize.File {
	t.Helper()
	f, err := excelize.OpenReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return f
}

func saveBytes(t testing.TB, f *excelize.File) []byte {
	t.Helper()
	buf, err := f.WriteToBuffer()
	if err != nil {
		t.Fatalf("save: %v", err)
	}
	return buf.Bytes()
}

func importBytes(b []byte, in ImportInput) (Decisions, error) {
	return Import(bytes.NewReader(b), int64(len(b)), in, testKey)
}

// findRow returns the row number on sheet whose column col has value v.
func findRow(t testing.TB, f *excelize.File, sheet, colName, v string) int {
	t.Helper()
	rows, err := f.GetRows(sheet, excelize.Options{RawCellValue: true})
	if err != nil {
		t.Fatal(err)
	}
	c := colIndex(t, f, sheet, colName)
	for i, r := range rows {
		if c < len(r) && r[c] == v {
			return i + 1
		}
	}
	t.Fatalf("no row with %s=%q on %s", colName, v, sheet)
	return 0
}

func colIndex(t testing.TB, f *excelize.File, sheet, colName string) int {
	t.Helper()
	rows, err := f.GetRows(sheet)
	if err != nil || len(rows) == 0 {
		t.Fatalf("rows of %s: %v", sheet, err)
	}
	for i, h := range rows[0] {
		if h == colName {
			return i
		}
	}
	t.Fatalf("no column %s on %s", colName, sheet)
	return 0
}

func cellRef(t testing.TB, f *excelize.File, sheet, colName string, row int) string {
	t.Helper()
	ref, err := excelize.CoordinatesToCellName(colIndex(t, f, sheet, colName)+1, row)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

func asValidation(t testing.TB, err error) *ValidationError {
	t.Helper()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("want *ValidationError, got %T %v", err, err)
	}
	return ve
}
