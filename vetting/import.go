package vetting

import (
	"archive/zip"
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"
	"golang.org/x/net/html/charset"
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

// scanParts checks every part of the package before excelize reads it.
// Formulas are rejected (excelize's Rows iterator hides them: it returns the
// cached value) and so are links to other workbooks and data connections.
// excelize finds a worksheet wherever the workbook's relationships point and
// matches elements by local name whatever their prefix, so every part is
// stream-decoded and any element named "f" inside one named "c" counts, in
// any namespace. Sheets are named with the cell; other parts only by their
// index in the zip, since part names come from the upload.
func scanParts(zr *zip.Reader, in ImportInput, pr *problems) error {
	names := sheetPartNames(zr)
	for i, zf := range zr.File {
		name := partName(zf.Name)
		if strings.HasPrefix(strings.ToLower(name), "xl/externallinks/") {
			pr.add("", 0, "", "workbook contains links to other workbooks")
		}
		sheet, isSheet := names[name]
		if err := scanPart(zf, i+1, sheet, isSheet, in.UnzipSizeLimit, pr); err != nil {
			return err
		}
	}
	return nil
}

// partName normalises a zip entry name the way excelize does.
func partName(name string) string {
	return strings.TrimPrefix(strings.ReplaceAll(name, "\\", "/"), "/")
}

// sheetPartNames maps worksheet part paths to sheet names (for messages),
// resolving the workbook and its sheets through the relationships the way
// excelize does.
func sheetPartNames(zr *zip.Reader) map[string]string {
	out := make(map[string]string)
	read := func(name string, v any) bool {
		for _, zf := range zr.File {
			if partName(zf.Name) != name {
				continue
			}
			rc, err := zf.Open()
			if err != nil {
				return false
			}
			defer rc.Close()
			dec := xml.NewDecoder(io.LimitReader(rc, 16<<20))
			dec.CharsetReader = charset.NewReaderLabel
			return dec.Decode(v) == nil
		}
		return false
	}
	type relsXML struct {
		Rel []struct {
			ID     string `xml:"Id,attr"`
			Type   string `xml:"Type,attr"`
			Target string `xml:"Target,attr"`
		} `xml:"Relationship"`
	}
	wbPath := "xl/workbook.xml"
	var root relsXML
	if read("_rels/.rels", &root) {
		for _, r := range root.Rel {
			if strings.HasSuffix(r.Type, "/officeDocument") {
				wbPath = strings.TrimPrefix(r.Target, "/")
				break
			}
		}
	}
	var wb struct {
		Sheets []struct {
			Name string `xml:"name,attr"`
			RID  string `xml:"http://schemas.openxmlformats.org/officeDocument/2006/relationships id,attr"`
		} `xml:"sheets>sheet"`
	}
	var rels relsXML
	dir := path.Dir(wbPath)
	if !read(wbPath, &wb) || !read(strings.TrimPrefix(path.Join(dir, "_rels", path.Base(wbPath)+".rels"), "/"), &rels) {
		return out
	}
	targets := make(map[string]string)
	for _, r := range rels.Rel {
		t := strings.ReplaceAll(r.Target, "\\", "/")
		if strings.HasPrefix(t, "/") {
			t = path.Clean(t)
		} else {
			t = path.Join(dir, t)
		}
		targets[r.ID] = strings.TrimPrefix(t, "/")
	}
	for _, s := range wb.Sheets {
		if t, ok := targets[s.RID]; ok {
			out[t] = s.Name
		}
	}
	return out
}

// scanPart stream-decodes one part and reports every cell holding a formula
// and every relationship to another workbook or a data connection. A part
// that is not XML (images, printer settings) stops at its first decode
// error: excelize's decoder (same settings) cannot read past it either, and
// everything before it has been checked. A part that claims to be XML or is
// a worksheet must tokenize cleanly. RawToken (no nesting check) is ~15%
// faster and safe here: up to the first mismatched tag its elements equal
// Token's, and excelize's strict decoder fails on that tag.
func scanPart(zf *zip.File, index int, sheet string, isSheet bool, limit int64, pr *problems) error {
	rc, err := zf.Open()
	if err != nil {
		return reject(ErrNotWorkbook, "cannot read package part %d", index)
	}
	defer rc.Close()
	dec := xml.NewDecoder(io.LimitReader(rc, limit))
	dec.CharsetReader = charset.NewReaderLabel
	lower := strings.ToLower(zf.Name)
	mustParse := isSheet || strings.HasSuffix(lower, ".xml") || strings.HasSuffix(lower, ".rels")
	var (
		inCell       int  // open elements named "c"
		reported     bool // the current cell (or, outside sheets, the part) was reported
		row, col     int  // position of the current cell, for messages
		partReported bool
	)
	for {
		tok, err := dec.RawToken()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			if mustParse {
				if isSheet {
					return &ValidationError{Problems: []Problem{{Sheet: sheet, Msg: "sheet is not well-formed XML"}}, sentinel: ErrNotWorkbook}
				}
				return reject(ErrNotWorkbook, "package part %d is not well-formed XML", index)
			}
			return nil
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch local := t.Name.Local; {
			case strings.EqualFold(local, "row") && inCell == 0:
				row, col = row+1, 0
				if n, err := strconv.Atoi(attr(t, "r")); err == nil && n > 0 {
					row = n
				}
			case strings.EqualFold(local, "c"):
				if inCell == 0 {
					col++
					if c, r, err := excelize.CellNameToCoordinates(attr(t, "r")); err == nil {
						col, row = c, r
					}
					reported = false
				}
				inCell++
			case strings.EqualFold(local, "f") && inCell > 0:
				switch {
				case isSheet && !reported:
					reported = true
					name, _ := excelize.ColumnNumberToName(col)
					pr.add(sheet, row, name, "cell contains a formula; formulas are not allowed")
				case !isSheet && !partReported:
					partReported = true
					pr.add("", 0, "", "package part %d contains a cell formula; formulas are not allowed", index)
				}
			case strings.EqualFold(local, "Relationship"):
				ty := strings.ToLower(attr(t, "Type"))
				if strings.HasSuffix(ty, "/externallink") || strings.HasSuffix(ty, "/externallinkpath") {
					pr.add("", 0, "", "workbook contains links to other workbooks")
				} else if strings.HasSuffix(ty, "/connections") {
					pr.add("", 0, "", "workbook contains data connections")
				}
			}
		case xml.EndElement:
			if strings.EqualFold(t.Name.Local, "c") && inCell > 0 {
				inCell--
			}
		}
	}
}

// attr returns the value of the attribute with the given local name.
func attr(se xml.StartElement, local string) string {
	for _, a := range se.Attr {
		if a.Name.Local == local {
			return a.Value
		}
	}
	return ""
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
			pr.add(s.name, 1, name, "header of column %s was added or renamed; columns may not be changed", name)
			ok = false
		case col[j] >= 0:
			pr.add(s.name, 1, name, "header of column %s repeats another column's header", name)
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
