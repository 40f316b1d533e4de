package server

import (
	"bytes"
	"context"
	"encoding/json"
	"mime/multipart"
	"testing"

	"github.com/xuri/excelize/v2"
)

const xlsxType = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

// workbook builds an .xlsx with a "Data Type" sheet of the given rows and a
// purpose sheet; formulas maps a cell to a formula to set.
func workbook(t *testing.T, sheet string, rows [][]any, formulas map[string]string) []byte {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	if err := f.SetSheetName("Sheet1", sheet); err != nil {
		t.Fatal(err)
	}
	for i, r := range rows {
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		if err := f.SetSheetRow(sheet, cell, &r); err != nil {
			t.Fatal(err)
		}
	}
	for cell, fm := range formulas {
		if err := f.SetCellFormula(sheet, cell, fm); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.NewSheet("Purpose"); err != nil {
		t.Fatal(err)
	}
	f.SetSheetRow("Purpose", "A1", &[]any{"purpose-id", "description"})
	var b bytes.Buffer
	if err := f.Write(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

var goodRows = [][]any{
	{"gdpr-data-type:data-type-id", "Level", "description", "contact", "purpose-id", "system-id", "description-en", "TypeID"},
	{"hr", "Personal", "HR files", "hr@example.com,boss@example.com", "employment, payroll", "fileshare", "HR files", "hr-docs"},
	{}, // blank rows are skipped
	{"mail", "RELATED", "", "", "", "", "", ""},
}

func TestSetupUpload(t *testing.T) {
	cases := []struct {
		name   string
		sheet  string
		rows   [][]any
		form   map[string]string
		raw    []byte
		status int
		want   []string
	}{
		{name: "good", sheet: "Data Type", rows: goodRows, status: 200, want: []string{`"data_types":2`, `"ignored_columns":["TypeID"]`, `"ignored_sheets":["Purpose"]`}},
		{name: "missing column", sheet: "data type", rows: [][]any{{"data-type-id", "description"}, {"hr", "x"}}, status: 400,
			want: []string{`sheet \"data type\" row 1: missing column \"gdpr-data-type:level\"`}},
		{name: "formula", sheet: "data type", rows: goodRows, form: map[string]string{"B4": `"re"&"lated"`}, status: 400,
			want: []string{`sheet \"data type\" row 4 column B: formulas are not allowed`}},
		{name: "bad level", sheet: "data type", rows: [][]any{goodRows[0], {"hr", "secret", "d", "", "", "", "", ""}}, status: 400,
			want: []string{`row 2 column B: gdpr-data-type:level must be one of sensitive, personal, related`}},
		{name: "bad contact", sheet: "data type", rows: [][]any{goodRows[0], {"hr", "personal", "d", "hr@example.com,nobody", "", "", "", ""}}, status: 400,
			want: []string{`row 2 column D: gdpr-data-type:contact: 1 of 2 addresses`}},
		{name: "duplicate id", sheet: "data type", rows: [][]any{goodRows[0], goodRows[1], goodRows[1]}, status: 400,
			want: []string{`row 3 column A: data-type-id \"hr\" repeats row 2`}},
		{name: "no data type sheet", sheet: "types", rows: goodRows, status: 400, want: []string{`no sheet named \"data type\"`}},
		{name: "not an xlsx", raw: []byte("hello, I am a CSV\n1,2,3\n"), status: 400, want: []string{"not an .xlsx file"}},
		{name: "zip but not xlsx", raw: append([]byte("PK\x03\x04"), bytes.Repeat([]byte{0}, 100)...), status: 400, want: []string{"not a readable .xlsx file"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			data := tc.raw
			if data == nil {
				data = workbook(t, tc.sheet, tc.rows, tc.form)
			}
			r := e.do("POST", "/api/admin/setup", e.tokens[ScopeAdmin], xlsxType, bytes.NewReader(data))
			t.Logf("%d %s", r.status, r.body)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			mustContain(t, "response", r.body, tc.want...)
			n := len(e.live(datasetDataTypes))
			if tc.status != 200 {
				if n != 0 {
					t.Fatalf("a rejected upload registered %d data types", n)
				}
				return
			}
			if n != 2 {
				t.Fatalf("%d data types registered", n)
			}
			en, _ := e.st.Get(context.Background(), datasetDataTypes, "hr")
			var b map[string]any
			json.Unmarshal(en.Body, &b)
			if b["gdpr-data-type:level"] != "personal" || b["gdpr-data-type:description-en"] != "HR files" ||
				len(b["gdpr-data-type:purpose-id"].([]any)) != 2 || b["gdpr-data-type:contact"] != "hr@example.com,boss@example.com" {
				t.Fatalf("stored %s", en.Body)
			}
			// Documents of the registered type are accepted now.
			doc := document("d1", "mail", "http://files.example:8081/content/d1.eml")
			if r := e.push("custom-documents", "", doc); r.status != 200 {
				t.Fatalf("document after setup: %d %s", r.status, r.body)
			}
			// Re-uploading the same sheet changes nothing.
			r = e.do("POST", "/api/admin/setup", e.tokens[ScopeAdmin], xlsxType, bytes.NewReader(data))
			mustContain(t, "re-upload", r.body, `"changed":0`)
		})
	}
}

func TestSetupMultipartAndAuth(t *testing.T) {
	e := newEnv(t, nil)
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	mw.WriteField("note", "x")
	fw, _ := mw.CreateFormFile("file", "setup.xlsx")
	fw.Write(workbook(t, "DATA TYPE", goodRows, nil))
	mw.Close()
	if r := e.do("POST", "/api/admin/setup", e.tokens[ScopePush], mw.FormDataContentType(), bytes.NewReader(b.Bytes())); r.status != 403 {
		t.Fatalf("push token could upload setup: %d", r.status)
	}
	r := e.do("POST", "/api/admin/setup", e.tokens[ScopeAdmin], mw.FormDataContentType(), bytes.NewReader(b.Bytes()))
	if r.status != 200 {
		t.Fatalf("multipart: %d %s", r.status, r.body)
	}
}
