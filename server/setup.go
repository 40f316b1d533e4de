package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"sort"
	"strings"

	"github.com/xuri/excelize/v2"

	"github.com/docvet/docvet/store"
)

// Limits of the setup spreadsheet reader. A real setup sheet has tens of
// rows; these bound what a hostile upload can cost.
const (
	setupUnzipLimit    = 64 << 20 // all parts together, uncompressed
	setupUnzipXMLLimit = 16 << 20 // one worksheet or the shared strings
	setupMaxRows       = 10000
	setupMaxColumns    = 200
	setupSheetName     = "data type"
)

// SetupError lists every problem of an uploaded setup spreadsheet, each
// naming the sheet, row and column.
type SetupError struct{ Problems []string }

func (e *SetupError) Error() string { return strings.Join(e.Problems, "; ") }

// setupType is one data type read from the spreadsheet.
type setupType struct {
	row  int
	id   string
	body map[string]any
}

// setupResult describes a parsed spreadsheet.
type setupResult struct {
	types          []setupType
	ignoredColumns []string
	ignoredSheets  []string
}

// parseSetup reads the "data type" sheet (name case-insensitive) of an
// .xlsx: a header row of data type property names (with or without the
// "gdpr-data-type:" prefix), then one row per data type. Formulas are
// refused: a setup sheet holds values, and a formula's cached value may not
// be what the author sees.
func parseSetup(data []byte) (setupResult, error) {
	var res setupResult
	if !bytes.HasPrefix(data, []byte("PK\x03\x04")) {
		return res, &SetupError{[]string{"not an .xlsx file (expected an Excel workbook)"}}
	}
	f, err := excelize.OpenReader(bytes.NewReader(data), excelize.Options{
		UnzipSizeLimit:    setupUnzipLimit,
		UnzipXMLSizeLimit: setupUnzipXMLLimit,
	})
	if err != nil {
		return res, &SetupError{[]string{"not a readable .xlsx file (" + safeExcelErr(err) + ")"}}
	}
	defer f.Close()
	sheet := ""
	for _, name := range f.GetSheetList() {
		if strings.EqualFold(strings.TrimSpace(name), setupSheetName) {
			sheet = name
		} else {
			res.ignoredSheets = append(res.ignoredSheets, name)
		}
	}
	if sheet == "" {
		return res, &SetupError{[]string{fmt.Sprintf("no sheet named %q", setupSheetName)}}
	}
	where := func(row, col int) string {
		if col < 0 {
			return fmt.Sprintf("sheet %q row %d", sheet, row)
		}
		c, _ := excelize.ColumnNumberToName(col + 1)
		return fmt.Sprintf("sheet %q row %d column %s", sheet, row, c)
	}

	// Pass 1: read the values with the streaming iterator.
	type rowVals struct {
		n    int
		cols []string
	}
	var rows []rowVals
	it, err := f.Rows(sheet)
	if err != nil {
		return res, &SetupError{[]string{fmt.Sprintf("sheet %q cannot be read (%s)", sheet, safeExcelErr(err))}}
	}
	n := 0
	for it.Next() {
		n++
		cols, err := it.Columns(excelize.Options{RawCellValue: false})
		if err != nil {
			it.Close()
			return res, &SetupError{[]string{where(n, -1) + " cannot be read"}}
		}
		if len(rows) > setupMaxRows {
			it.Close()
			return res, &SetupError{[]string{fmt.Sprintf("sheet %q has more than %d rows", sheet, setupMaxRows)}}
		}
		if len(cols) > setupMaxColumns {
			it.Close()
			return res, &SetupError{[]string{where(n, -1) + fmt.Sprintf(" has more than %d columns", setupMaxColumns)}}
		}
		if len(cols) > 0 {
			rows = append(rows, rowVals{n, cols})
		}
	}
	if err := it.Error(); err != nil {
		it.Close()
		return res, &SetupError{[]string{fmt.Sprintf("sheet %q cannot be read (%s)", sheet, safeExcelErr(err))}}
	}
	it.Close()

	// Pass 2: refuse formulas anywhere in the used cells.
	var problems []string
	for _, r := range rows {
		for c := range r.cols {
			cell, _ := excelize.CoordinatesToCellName(c+1, r.n)
			if fm, err := f.GetCellFormula(sheet, cell); err == nil && fm != "" {
				problems = append(problems, where(r.n, c)+": formulas are not allowed (enter the value)")
			}
		}
	}
	if len(problems) > 0 {
		return res, &SetupError{problems}
	}

	// Header: the first row with a non-empty cell.
	hi := -1
	for i, r := range rows {
		if !allBlank(r.cols) {
			hi = i
			break
		}
	}
	if hi < 0 {
		return res, &SetupError{[]string{fmt.Sprintf("sheet %q is empty", sheet)}}
	}
	header := map[int]string{}
	colOf := map[string]int{}
	for c, h := range rows[hi].cols {
		name := strings.ToLower(strings.TrimSpace(h))
		name = strings.TrimPrefix(name, dtPrefix)
		if name == "" {
			continue
		}
		if !isDataTypeField(name) {
			res.ignoredColumns = append(res.ignoredColumns, strings.TrimSpace(h))
			continue
		}
		if prev, dup := colOf[name]; dup {
			pc, _ := excelize.ColumnNumberToName(prev + 1)
			problems = append(problems, where(rows[hi].n, c)+fmt.Sprintf(": column %q repeats column %s", name, pc))
			continue
		}
		colOf[name] = c
		header[c] = name
	}
	for _, req := range []string{dtID, dtLevel} {
		if _, ok := colOf[req]; !ok {
			problems = append(problems, fmt.Sprintf("sheet %q row %d: missing column %q", sheet, rows[hi].n, dtPrefix+req))
		}
	}
	if len(problems) > 0 {
		return res, &SetupError{problems}
	}
	// Longest names first, so "description-en" is matched before "description".
	names := make([]string, 0, len(colOf))
	for k := range colOf {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool { return len(names[i]) > len(names[j]) })

	seen := map[string]int{}
	for _, r := range rows[hi+1:] {
		if allBlank(r.cols) {
			continue
		}
		props := map[string]any{}
		for c, v := range r.cols {
			if name, ok := header[c]; ok && strings.TrimSpace(v) != "" {
				props[name] = v
			}
		}
		id, body, probs := normalizeDataType(props)
		for _, p := range probs {
			col := -1
			for _, name := range names {
				if strings.Contains(p, dtPrefix+name) {
					col = colOf[name]
					break
				}
			}
			problems = append(problems, where(r.n, col)+": "+p)
		}
		if len(probs) > 0 {
			continue
		}
		if prev, dup := seen[id]; dup {
			problems = append(problems, where(r.n, colOf[dtID])+fmt.Sprintf(": data-type-id %q repeats row %d", id, prev))
			continue
		}
		seen[id] = r.n
		res.types = append(res.types, setupType{row: r.n, id: id, body: body})
	}
	if len(problems) > 0 {
		return res, &SetupError{problems}
	}
	if len(res.types) == 0 {
		return res, &SetupError{[]string{fmt.Sprintf("sheet %q has no data type rows", sheet)}}
	}
	return res, nil
}

// safeExcelErr keeps excelize's message (it names parts and limits, not
// cell contents) short.
func safeExcelErr(err error) string {
	msg := err.Error()
	if len(msg) > 200 {
		msg = msg[:200]
	}
	return msg
}

func allBlank(cols []string) bool {
	for _, c := range cols {
		if strings.TrimSpace(c) != "" {
			return false
		}
	}
	return true
}

// handleSetup registers the data types of an uploaded setup spreadsheet:
// the raw .xlsx as the body, or a multipart/form-data upload (the first
// file part). All or nothing: any problem rejects the whole upload (400,
// listing every problem by sheet, row and column). Data types missing from
// the sheet are left registered; delete them through the push API.
func (s *Server) handleSetup(w http.ResponseWriter, r *http.Request) {
	body := http.MaxBytesReader(w, r.Body, int64(s.cfg.Limits.MaxRequestBody))
	var src io.Reader = body
	if mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err == nil && mt == "multipart/form-data" {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			part, err := mr.NextPart()
			if err != nil {
				if tooLarge(err) {
					writeTooLarge(w, s.cfg.Limits.MaxRequestBody)
					return
				}
				writeError(w, http.StatusBadRequest, "multipart upload without a file part")
				return
			}
			if part.FileName() != "" {
				src = part
				break
			}
		}
	}
	data, err := io.ReadAll(src)
	if err != nil {
		if tooLarge(err) {
			writeTooLarge(w, s.cfg.Limits.MaxRequestBody)
			return
		}
		writeError(w, http.StatusBadRequest, "could not read the upload")
		return
	}
	res, err := parseSetup(data)
	var se *SetupError
	if errors.As(err, &se) {
		s.log.Info("setup upload rejected", "problems", len(se.Problems))
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "setup spreadsheet rejected; nothing was registered", "problems": se.Problems})
		return
	}
	changed := 0
	err = s.st.Update(r.Context(), func(tx *store.Tx) error {
		changed = 0
		for _, t := range res.types {
			b, err := json.Marshal(t.body)
			if err != nil {
				return err
			}
			pr, err := tx.Put(datasetDataTypes, store.Write{ID: t.id, Body: b})
			if err != nil {
				return err
			}
			if pr.Changed {
				changed++
			}
			if err := tx.ClearRejection(datasetDataTypes, t.id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		s.log.Error("setup upload", "err", err)
		writeError(w, http.StatusInternalServerError, "internal error: nothing was registered")
		return
	}
	if changed > 0 {
		s.dataTypesChanged(r.Context())
	}
	s.log.Info("setup upload", "data_types", len(res.types), "changed", changed)
	writeJSON(w, http.StatusOK, map[string]any{
		"data_types":      len(res.types),
		"changed":         changed,
		"ignored_columns": nonNil(res.ignoredColumns),
		"ignored_sheets":  nonNil(res.ignoredSheets),
	})
}

func tooLarge(err error) bool {
	var mbe *http.MaxBytesError
	return errors.As(err, &mbe)
}

func writeTooLarge(w http.ResponseWriter, limit ByteSize) {
	writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body exceeds %d bytes; nothing was stored", int64(limit)))
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
