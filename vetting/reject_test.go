package vetting

import (
	"archive/zip"
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"
)

func TestImportRejects(t *testing.T) {
	res := testResult(3, 2)
	good := exportBytes(t, testInput(res))
	hr := "hr-documents"
	id0 := RowID(testKey, "req-1", testHit(0, hr).IndexID)
	edit := func(fn func(t *testing.T, f *excelize.File)) func(t *testing.T) []byte {
		return func(t *testing.T) []byte {
			f := openBytes(t, good)
			fn(t, f)
			return saveBytes(t, f)
		}
	}
	raw := func(b []byte) func(t *testing.T) []byte { return func(*testing.T) []byte { return b } }
	must := func(t *testing.T, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name     string
		make     func(t *testing.T) []byte
		in       ImportInput
		sentinel error
		// want: a problem on this sheet/row/column whose message contains msg
		sheet string
		row   int
		col   string
		msg   string
	}{
		{name: "row added", make: edit(func(t *testing.T, f *excelize.File) {
			must(t, f.SetCellStr(hr, "B5", "fileshare:new.pdf"))
		}), sheet: hr, row: 5, col: colRowID, msg: "row was added"},
		{name: "unknown row id", make: edit(func(t *testing.T, f *excelize.File) {
			must(t, f.SetCellStr(hr, "A3", "rAAAAAAAAAAAAAAAAAAAA"))
		}), sheet: hr, row: 3, col: colRowID, msg: "unknown row id"},
		{name: "duplicate row id", make: edit(func(t *testing.T, f *excelize.File) {
			must(t, f.DuplicateRow(hr, 2))
		}), sheet: hr, row: 3, col: colRowID, msg: "duplicate row id"},
		{name: "row moved to other sheet", make: edit(func(t *testing.T, f *excelize.File) {
			must(t, f.SetCellStr("mail", "A2", id0))
		}), sheet: "mail", row: 2, col: colRowID, msg: "belongs to sheet"},
		{name: "extract-content changed", make: edit(func(t *testing.T, f *excelize.File) {
			must(t, f.SetCellStr(hr, cellRef(t, f, hr, colExtract, 3), "http://evil.example/x"))
		}), sheet: hr, row: 3, col: colExtract, msg: "may only be kept or cleared"},
		{name: "read-only column changed", make: edit(func(t *testing.T, f *excelize.File) {
			must(t, f.SetCellStr(hr, cellRef(t, f, hr, colFilename, 2), "other.pdf"))
		}), sheet: hr, row: 2, col: colFilename, msg: "read-only"},
		{name: "formula in text cell", make: edit(func(t *testing.T, f *excelize.File) {
			must(t, f.SetCellFormula(hr, cellRef(t, f, hr, colText, 2), "1+1"))
		}), sheet: hr, row: 2, col: "I", msg: "formula"},
		{name: "formula on instructions sheet", make: edit(func(t *testing.T, f *excelize.File) {
			must(t, f.SetCellFormula("Instructions", "D1", `HYPERLINK("http://evil")`))
		}), sheet: "Instructions", row: 1, col: "D", msg: "formula"},
		{name: "data sheet removed", make: edit(func(t *testing.T, f *excelize.File) {
			must(t, f.DeleteSheet("mail"))
		}), sheet: "mail", msg: "missing"},
		{name: "data sheet renamed", make: edit(func(t *testing.T, f *excelize.File) {
			must(t, f.SetSheetName("mail", "post"))
		}), sheet: "post", msg: "added or renamed"},
		{name: "sheet added", make: edit(func(t *testing.T, f *excelize.File) {
			_, err := f.NewSheet("notes")
			must(t, err)
		}), sheet: "notes", msg: "added or renamed"},
		{name: "column renamed", make: edit(func(t *testing.T, f *excelize.File) {
			must(t, f.SetCellStr(hr, cellRef(t, f, hr, "metadata.owner", 1), "metadata.eier"))
		}), sheet: hr, row: 1, msg: "added or renamed"},
		{name: "value outside columns", make: edit(func(t *testing.T, f *excelize.File) {
			must(t, f.SetCellStr("mail", "ZZ2", "note"))
		}), sheet: "mail", row: 2, col: "ZZ", msg: "outside the exported columns"},
		{name: "manifest edited", make: edit(func(t *testing.T, f *excelize.File) {
			rows, _ := f.GetRows(manifestSheet)
			for i, r := range rows {
				if r[0] == recRow {
					ref, _ := excelize.CoordinatesToCellName(4, i+1)
					must(t, f.SetCellStr(manifestSheet, ref, "http://evil.example/"))
					return
				}
			}
		}), sentinel: ErrBadSignature, msg: "signature"},
		{name: "manifest removed", make: edit(func(t *testing.T, f *excelize.File) {
			must(t, f.DeleteSheet(manifestSheet))
		}), sentinel: ErrNoManifest, msg: "not exported by docvet"},
		{name: "another request", make: raw(good), in: ImportInput{RequestID: "req-2"}, sentinel: ErrOtherRequest, msg: "another access request"},
		{name: "another scope", make: raw(good), in: ImportInput{RequestID: "req-1", DataType: "mail"}, sentinel: ErrOtherRequest, msg: "scope"},
		{name: "signed by another key", make: func(t *testing.T) []byte {
			var buf bytes.Buffer
			must(t, Export(&buf, testInput(res), []byte("another-key-0123456789")))
			return buf.Bytes()
		}, sentinel: ErrBadSignature, msg: "signature"},
		{name: "not a zip", make: raw([]byte("PK\x03\x04 definitely not a workbook")), sentinel: ErrNotWorkbook, msg: "not an xlsx"},
		{name: "truncated file", make: raw(good[:len(good)/2]), sentinel: ErrNotWorkbook, msg: "not an xlsx"},
		{name: "zip but not xlsx", make: func(t *testing.T) []byte {
			var buf bytes.Buffer
			zw := zip.NewWriter(&buf)
			w, _ := zw.Create("hello.txt")
			w.Write([]byte("hi"))
			zw.Close()
			return buf.Bytes()
		}, sentinel: ErrNotWorkbook, msg: "not a readable"},
		{name: "too large", make: raw(good), in: ImportInput{RequestID: "req-1", MaxBytes: 1000}, sentinel: ErrTooLarge, msg: "limit"},
		{name: "unzips too large", make: raw(good), in: ImportInput{RequestID: "req-1", UnzipSizeLimit: 20000}, sentinel: ErrTooLarge, msg: "unpacks"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.make(t)
			in := tc.in
			if in.RequestID == "" {
				in.RequestID = "req-1"
			}
			_, err := importBytes(b, in)
			if err == nil {
				t.Fatal("accepted")
			}
			ve := asValidation(t, err)
			want := tc.sentinel
			if want == nil {
				want = ErrRejected
			}
			if !errors.Is(err, want) {
				t.Errorf("error %v is not %v", err, want)
			}
			for _, p := range ve.Problems {
				if p.Sheet == tc.sheet && (tc.row == 0 || p.Row == tc.row) && (tc.col == "" || p.Column == tc.col) &&
					strings.Contains(p.Msg, tc.msg) {
					return
				}
			}
			t.Errorf("no problem {%q row %d col %q %q} in %v", tc.sheet, tc.row, tc.col, tc.msg, ve.Problems)
		})
	}
}

func TestProblemsCapped(t *testing.T) {
	res := testResult(30, 0)
	f := openBytes(t, exportBytes(t, testInput(res)))
	for r := 2; r <= 31; r++ {
		ref, _ := excelize.CoordinatesToCellName(8, r)
		if err := f.SetCellStr("hr-documents", ref, "http://changed/"); err != nil {
			t.Fatal(err)
		}
	}
	_, err := importBytes(saveBytes(t, f), ImportInput{RequestID: "req-1", MaxProblems: 10})
	ve := asValidation(t, err)
	if len(ve.Problems) != 10 || !ve.Truncated || !strings.Contains(err.Error(), "more not listed") {
		t.Fatalf("problems %d truncated %v: %v", len(ve.Problems), ve.Truncated, err)
	}
	if strings.Contains(err.Error(), "http://changed/") {
		t.Fatal("error quotes cell content")
	}
}
