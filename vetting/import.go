package vetting

import (
	"archive/zip"
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"
)

// problems collects validation problems up to a cap.
type problems struct {
	list      []Problem
	max       int
	truncated bool
}

func (p *problems) add(sheet string, row int, col, msg string, args ...any) {
	if len(p.list) >= p.max {
		p.truncated = true
		return
	}
	p.list = append(p.list, Problem{Sheet: sheet, Row: row, Column: col, Msg: fmt.Sprintf(msg, args...)})
}

func (p *problems) err() error {
	if len(p.list) == 0 && !p.truncated {
		return nil
	}
	return &ValidationError{Problems: p.list, Truncated: p.truncated}
}

func reject(sentinel error, msg string, args ...any) error {
	return &ValidationError{Problems: []Problem{{Msg: fmt.Sprintf(msg, args...)}}, sentinel: sentinel}
}

type mSheet struct {
	name, dataType string
	headers        []string
}

type mRow struct {
	id, sheet, extract string
	ro, meta           []string
	order              int
}

type manifestData struct {
	requestID, scope string
	generatedAt      time.Time
	aux              map[string]bool
	sheets           []*mSheet
	byName           map[string]*mSheet
	rows             []*mRow
	byID             map[string]*mRow
}

// Import validates an uploaded vetting workbook and returns the reviewer's
// decisions. size is the upload's declared size (-1 if unknown). Every
// rejection is a *ValidationError naming sheet, row and column; nothing is
// partially applied.
func Import(r io.Reader, size int64, in ImportInput, key []byte) (Decisions, error) {
	if len(key) < 16 {
		return Decisions{}, ErrKey
	}
	in = withDefaults(in)
	if size > in.MaxBytes {
		return Decisions{}, reject(ErrTooLarge, "upload of %d bytes exceeds the limit of %d bytes", size, in.MaxBytes)
	}
	data, err := io.ReadAll(io.LimitReader(r, in.MaxBytes+1))
	if err != nil {
		return Decisions{}, fmt.Errorf("import: read upload: %w", err)
	}
	if int64(len(data)) > in.MaxBytes {
		return Decisions{}, reject(ErrTooLarge, "upload exceeds the limit of %d bytes", in.MaxBytes)
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return Decisions{}, reject(ErrNotWorkbook, "not an xlsx file (not a zip archive)")
	}
	var unpacked uint64
	for _, zf := range zr.File {
		unpacked += zf.UncompressedSize64
	}
	if unpacked > uint64(in.UnzipSizeLimit) {
		return Decisions{}, reject(ErrTooLarge, "workbook unpacks to more than %d bytes", in.UnzipSizeLimit)
	}
	pr := &problems{max: in.MaxProblems}
	if err := scanParts(zr, in, pr); err != nil {
		return Decisions{}, err
	}
	if err := pr.err(); err != nil {
		return Decisions{}, err
	}

	f, err := excelize.OpenReader(bytes.NewReader(data), excelize.Options{
		UnzipSizeLimit:    in.UnzipSizeLimit,
		UnzipXMLSizeLimit: in.UnzipXMLSizeLimit,
		RawCellValue:      true,
	})
	if err != nil {
		return Decisions{}, reject(ErrNotWorkbook, "not a readable xlsx workbook")
	}
	defer f.Close()

	m, err := readManifest(f, key)
	if err != nil {
		return Decisions{}, err
	}
	if m.requestID != in.RequestID {
		return Decisions{}, reject(ErrOtherRequest, "workbook belongs to another access request")
	}
	if m.scope != in.DataType {
		return Decisions{}, reject(ErrOtherRequest, "workbook covers data type scope %q, expected %q", m.scope, in.DataType)
	}
	var indexIDs map[string]string
	if in.Result != nil {
		indexIDs = make(map[string]string, len(in.Result.Hits))
		for _, h := range in.Result.Hits {
			indexIDs[RowID(key, in.RequestID, h.IndexID)] = h.IndexID
		}
		for _, mr := range m.rows {
			if _, ok := indexIDs[mr.id]; !ok {
				pr.add(mr.sheet, 0, "", "workbook row matches no hit of the request's search result")
				break
			}
		}
	}

	present := make(map[string]bool)
	for _, name := range f.GetSheetList() {
		present[name] = true
		if name != manifestSheet && !m.aux[name] && m.byName[name] == nil {
			pr.add(name, 0, "", "sheet was added or renamed; only the exported sheets may be uploaded")
		}
	}
	decided := make(map[string]*RowDecision, len(m.rows))
	for _, s := range m.sheets {
		if !present[s.name] {
			pr.add(s.name, 0, "", "data sheet is missing (removed or renamed); delete rows to withhold documents, not the sheet")
			continue
		}
		if err := readDataSheet(f, s, m, pr, decided); err != nil {
			return Decisions{}, err
		}
	}
	if err := pr.err(); err != nil {
		return Decisions{}, err
	}
	d := Decisions{RequestID: m.requestID, DataType: m.scope, GeneratedAt: m.generatedAt, Rows: make([]RowDecision, 0, len(m.rows))}
	for _, mr := range m.rows {
		rd, ok := decided[mr.id]
		if !ok {
			rd = &RowDecision{RowID: mr.id, Sheet: mr.sheet, Withheld: true}
		}
		rd.DataType = m.byName[mr.sheet].dataType
		rd.IndexID = indexIDs[mr.id]
		d.Rows = append(d.Rows, *rd)
	}
	return d, nil
}

func withDefaults(in ImportInput) ImportInput {
	if in.MaxBytes <= 0 {
		in.MaxBytes = defaultMaxBytes
	}
	if in.UnzipSizeLimit <= 0 {
		in.UnzipSizeLimit = defaultUnzipSizeLimit
	}
	if in.UnzipXMLSizeLimit <= 0 {
		in.UnzipXMLSizeLimit = defaultUnzipXMLSizeLimit
	}
	if in.UnzipXMLSizeLimit > in.UnzipSizeLimit {
		in.UnzipXMLSizeLimit = in.UnzipSizeLimit
	}
	if in.MaxProblems <= 0 {
		in.MaxProblems = defaultMaxProblems
	}
	return in
}

// scanParts checks the package before excelize reads it: formulas in any
// worksheet (excelize's Rows iterator hides them: it returns the cached
// value) and external links are rejected, with sheet and cell named.
func scanParts(zr *zip.Reader, in ImportInput, pr *problems) error {
	names := sheetPartNames(zr)
	for _, zf := range zr.File {
		name := strings.TrimPrefix(zf.Name, "/")
		switch {
		case strings.HasPrefix(name, "xl/externalLinks/"):
			pr.add("", 0, "", "workbook contains links to other workbooks")
		case strings.HasPrefix(name, "xl/worksheets/") && strings.HasSuffix(name, ".xml") && !strings.Contains(name, "/_rels/"):
			sheet := names[name]
			if sheet == "" {
				sheet = path.Base(name)
			}
			if err := scanFormulas(zf, sheet, in.UnzipSizeLimit, pr); err != nil {
				return err
			}
		}
	}
	return nil
}

// sheetPartNames maps worksheet part paths to sheet names (for messages).
func sheetPartNames(zr *zip.Reader) map[string]string {
	out := make(map[string]string)
	read := func(name string, v any) bool {
		for _, zf := range zr.File {
			if strings.TrimPrefix(zf.Name, "/") != name {
				continue
			}
			rc, err := zf.Open()
			if err != nil {
				return false
			}
			defer rc.Close()
			return xml.NewDecoder(io.LimitReader(rc, 16<<20)).Decode(v) == nil
		}
		return false
	}
	var wb struct {
		Sheets []struct {
			Name string `xml:"name,attr"`
			RID  string `xml:"http://schemas.openxmlformats.org/officeDocument/2006/relationships id,attr"`
		} `xml:"sheets>sheet"`
	}
	var rels struct {
		Rel []struct {
			ID     string `xml:"Id,attr"`
			Target string `xml:"Target,attr"`
		} `xml:"Relationship"`
	}
	if !read("xl/workbook.xml", &wb) || !read("xl/_rels/workbook.xml.rels", &rels) {
		return out
	}
	targets := make(map[string]string)
	for _, r := range rels.Rel {
		t := r.Target
		if strings.HasPrefix(t, "/") {
			t = strings.TrimPrefix(t, "/")
		} else {
			t = path.Join("xl", t)
		}
		targets[r.ID] = t
	}
	for _, s := range wb.Sheets {
		if t, ok := targets[s.RID]; ok {
			out[t] = s.Name
		}
	}
	return out
}

// scanFormulas streams one worksheet part and reports every cell with a
// formula element. A cheap byte scan runs first; only a part that may hold
// a formula is decoded as XML to name the cells.
func scanFormulas(zf *zip.File, sheet string, limit int64, pr *problems) error {
	rc, err := zf.Open()
	if err != nil {
		return reject(ErrNotWorkbook, "cannot read worksheet part")
	}
	maybe, err := mayHaveFormula(io.LimitReader(rc, limit))
	rc.Close()
	if err != nil {
		return reject(ErrNotWorkbook, "cannot read worksheet part")
	}
	if !maybe {
		return nil
	}
	rc, err = zf.Open()
	if err != nil {
		return reject(ErrNotWorkbook, "cannot read worksheet part")
	}
	defer rc.Close()
	dec := xml.NewDecoder(io.LimitReader(rc, limit))
	cell := ""
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return reject(ErrNotWorkbook, "sheet %q is not well-formed XML", sheet)
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		switch se.Name.Local {
		case "c":
			cell = ""
			for _, a := range se.Attr {
				if a.Name.Local == "r" {
					cell = a.Value
				}
			}
		case "f":
			_, row, _ := excelize.CellNameToCoordinates(cell)
			col := strings.TrimRight(cell, "0123456789")
			pr.add(sheet, row, col, "cell contains a formula; formulas are not allowed")
		}
	}
}

// mayHaveFormula reports whether the part contains "<f" or "<x:f"-like
// element starts followed by a space, '>' or '/'.
func mayHaveFormula(r io.Reader) (bool, error) {
	buf := make([]byte, 64<<10)
	var carry []byte
	for {
		n, err := r.Read(buf)
		chunk := append(carry, buf[:n]...)
		if hasFormulaTag(chunk) {
			return true, nil
		}
		if len(chunk) > 32 {
			carry = append([]byte(nil), chunk[len(chunk)-32:]...)
		} else {
			carry = append([]byte(nil), chunk...)
		}
		if err == io.EOF {
			return false, nil
		}
		if err != nil {
			return false, err
		}
	}
}

func hasFormulaTag(b []byte) bool {
	for i := 0; i < len(b); i++ {
		if b[i] != '<' {
			continue
		}
		j := i + 1
		// optional namespace prefix
		k := j
		for k < len(b) && k-j < 16 && (isNameByte(b[k])) {
			k++
		}
		if k < len(b) && b[k] == ':' {
			j = k + 1
		}
		if j+1 < len(b) && b[j] == 'f' && (b[j+1] == '>' || b[j+1] == ' ' || b[j+1] == '/' || b[j+1] == '\t' || b[j+1] == '\n' || b[j+1] == '\r') {
			return true
		}
	}
	return false
}

func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.'
}

func readManifest(f *excelize.File, key []byte) (*manifestData, error) {
	if idx, _ := f.GetSheetIndex(manifestSheet); idx < 0 {
		return nil, reject(ErrNoManifest, "workbook was not exported by docvet or its manifest sheet was removed")
	}
	rows, err := f.Rows(manifestSheet)
	if err != nil {
		return nil, reject(ErrNoManifest, "cannot read the manifest sheet")
	}
	defer rows.Close()
	m := &manifestData{aux: map[string]bool{}, byName: map[string]*mSheet{}, byID: map[string]*mRow{}}
	sig := newSigner(key)
	bad := func() error { return reject(ErrBadSignature, "manifest sheet is damaged or was edited") }
	first, signed := true, false
	for rows.Next() {
		cells, err := rows.Columns()
		if err != nil {
			return nil, bad()
		}
		if signed {
			if len(strings.Join(cells, "")) > 0 {
				return nil, bad()
			}
			continue
		}
		if len(cells) == 0 {
			return nil, bad()
		}
		if cells[0] == recSignature {
			if len(cells) < 2 || !sig.verify(cells[1]) {
				return nil, reject(ErrBadSignature, "manifest signature does not verify (edited, or signed by another server)")
			}
			signed = true
			continue
		}
		sig.addRow(cells)
		if first {
			first = false
			if len(cells) < 5 || cells[0] != manifestMagic || cells[1] != manifestVersion {
				return nil, bad()
			}
			m.requestID, m.scope = cells[2], cells[3]
			m.generatedAt, _ = time.Parse(time.RFC3339, cells[4])
			continue
		}
		switch cells[0] {
		case recAux:
			if len(cells) > 1 {
				m.aux[cells[1]] = true
			}
		case recSheet:
			if len(cells) < 3+len(fixedColumns) {
				return nil, bad()
			}
			s := &mSheet{name: cells[1], dataType: cells[2], headers: cells[3:]}
			m.sheets = append(m.sheets, s)
			m.byName[s.name] = s
		case recRow:
			if len(cells) < 4 {
				return nil, bad()
			}
			full := make([]string, 4+len(readOnlyColumns)+len(m.byName[cells[2]].metaHeaders()))
			copy(full, cells)
			r := &mRow{id: full[1], sheet: full[2], extract: full[3], ro: full[4 : 4+len(readOnlyColumns)],
				meta: full[4+len(readOnlyColumns):], order: len(m.rows)}
			if m.byName[r.sheet] == nil {
				return nil, bad()
			}
			m.rows = append(m.rows, r)
			m.byID[r.id] = r
		default:
			return nil, bad()
		}
	}
	if !signed {
		return nil, reject(ErrBadSignature, "manifest signature is missing")
	}
	return m, nil
}

// metaHeaders returns the metadata headers of a sheet (nil-safe).
func (s *mSheet) metaHeaders() []string {
	if s == nil {
		return nil
	}
	return s.headers[len(fixedColumns):]
}

func readDataSheet(f *excelize.File, s *mSheet, m *manifestData, pr *problems, decided map[string]*RowDecision) error {
	rows, err := f.Rows(s.name)
	if err != nil {
		return reject(ErrNotWorkbook, "cannot read sheet %q", s.name)
	}
	defer rows.Close()
	want := make(map[string]int, len(s.headers))
	for i, h := range s.headers {
		want[h] = i
	}
	// col[i] = the column in the upload holding manifest header i.
	col := make([]int, len(s.headers))
	for i := range col {
		col[i] = -1
	}
	rowNum := 0
	headerOK := false
	for rows.Next() {
		rowNum++
		cells, err := rows.Columns()
		if err != nil {
			return reject(ErrNotWorkbook, "cannot read sheet %q row %d", s.name, rowNum)
		}
		if rowNum == 1 {
			headerOK = checkHeader(s, cells, want, col, pr)
			continue
		}
		if !headerOK {
			break
		}
		if allEmpty(cells) {
			continue
		}
		// Cells outside the exported columns are additions.
		for i, v := range cells {
			if v != "" && !slicesContains(col, i) {
				name, _ := excelize.ColumnNumberToName(i + 1)
				pr.add(s.name, rowNum, name, "value outside the exported columns")
			}
		}
		get := func(h string) string {
			c := col[want[h]]
			if c < len(cells) {
				return cells[c]
			}
			return ""
		}
		id := get(colRowID)
		mr := m.byID[id]
		switch {
		case id == "":
			pr.add(s.name, rowNum, colRowID, "row was added (no row id); rows may only be deleted")
			continue
		case mr == nil:
			pr.add(s.name, rowNum, colRowID, "unknown row id; rows may only be deleted")
			continue
		case mr.sheet != s.name:
			pr.add(s.name, rowNum, colRowID, "row belongs to sheet %q; rows may not be moved between sheets", mr.sheet)
			continue
		}
		if prev, dup := decided[id]; dup {
			pr.add(s.name, rowNum, colRowID, "duplicate row id (also on row %d)", prev.Row)
			continue
		}
		rd := &RowDecision{RowID: id, Sheet: s.name, Row: rowNum}
		decided[id] = rd
		for i, h := range readOnlyColumns {
			if cellHash(get(h)) != mr.ro[i] {
				pr.add(s.name, rowNum, h, "read-only column was changed")
			}
		}
		switch ex := get(colExtract); {
		case ex == "":
			rd.FileWithheld = true
		case ex != mr.extract:
			pr.add(s.name, rowNum, colExtract, "extract-content was changed; it may only be kept or cleared")
		}
		if t := get(colText); strings.TrimSpace(t) != "" {
			rd.HasText, rd.Text = true, t
		}
		for j, h := range s.metaHeaders() {
			v := get(h)
			if cellHash(v) == mr.meta[j] {
				continue
			}
			e := MetadataEdit{Key: strings.TrimPrefix(h, metaPrefix), Cleared: v == ""}
			if !e.Cleared {
				e.Value = v
			}
			rd.Metadata = append(rd.Metadata, e)
		}
	}
	return nil
}

func checkHeader(s *mSheet, cells []string, want map[string]int, col []int, pr *problems) bool {
	ok := true
	for i, h := range cells {
		if h == "" {
			continue
		}
		j, known := want[h]
		name, _ := excelize.ColumnNumberToName(i + 1)
		switch {
		case !known:
			pr.add(s.name, 1, name, "column %q was added or renamed; columns may not be changed", h)
			ok = false
		case col[j] >= 0:
			pr.add(s.name, 1, name, "column %q appears twice", h)
			ok = false
		default:
			col[j] = i
		}
	}
	for j, c := range col {
		if c < 0 {
			pr.add(s.name, 1, s.headers[j], "column was removed or renamed; clear its cells instead")
			ok = false
		}
	}
	return ok
}

func allEmpty(cells []string) bool {
	for _, c := range cells {
		if c != "" {
			return false
		}
	}
	return true
}

func slicesContains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
