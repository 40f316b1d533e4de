package vetting

import (
	"cmp"
	"fmt"
	"io"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"

	"github.com/docvet/docvet/search"
)

// MaxRowsPerSheet caps the rows of one data sheet. Excel allows 65,530
// hyperlinks per worksheet and every row has two, so a data type with more
// hits continues on "<type> (2)", "<type> (3)", ...
const MaxRowsPerSheet = 30000

// maxMetadataColumns caps the metadata columns of one data type (a sheet
// has 16,384 columns and the manifest row needs one per key plus ten).
const maxMetadataColumns = 2000

const recAux = "aux"

type dataSheet struct {
	name     string
	dataType string
	hits     []*search.Hit
	metaKeys []string
}

type link struct{ ref, url string }

// Export writes the vetting workbook for one request (or one data type of
// it) to w. key is the server's vetting key (>= 16 bytes): it signs the
// manifest and derives the row ids.
func Export(w io.Writer, in ExportInput, key []byte) error {
	if len(key) < 16 {
		return ErrKey
	}
	if in.RequestID == "" {
		return fmt.Errorf("export: empty request id")
	}
	if in.GeneratedAt.IsZero() {
		in.GeneratedAt = time.Now()
	}
	tx := textsFor(in.Lang)
	sheets, err := planSheets(in, tx)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}

	f := excelize.NewFile()
	defer f.Close()
	if err := f.SetSheetName("Sheet1", tx.instructions); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	for _, s := range sheets {
		if _, err := f.NewSheet(s.name); err != nil {
			return fmt.Errorf("export: new sheet: %w", err)
		}
	}
	for _, name := range []string{tx.notSearchable, manifestSheet} {
		if _, err := f.NewSheet(name); err != nil {
			return fmt.Errorf("export: new sheet: %w", err)
		}
	}
	f.SetActiveSheet(0)
	// Before its stream writer exists: on a flushed stream sheet excelize
	// re-parses the whole part.
	if err := f.SetSheetVisible(manifestSheet, false, true); err != nil {
		return fmt.Errorf("export: hide manifest: %w", err)
	}
	st, err := newStyles(f)
	if err != nil {
		return fmt.Errorf("export: styles: %w", err)
	}
	if err := writeInstructions(f, in, tx, sheets, st); err != nil {
		return fmt.Errorf("export: instructions: %w", err)
	}

	ids := sheetIDs(f)
	links := make(map[string][]link)
	mw, err := newManifestWriter(f, key)
	if err != nil {
		return fmt.Errorf("export: manifest: %w", err)
	}
	scope := in.DataType
	if err := mw.row(manifestMagic, manifestVersion, in.RequestID, scope, in.GeneratedAt.UTC().Format(time.RFC3339)); err != nil {
		return err
	}
	for _, name := range []string{tx.instructions, tx.notSearchable} {
		if err := mw.row(recAux, name); err != nil {
			return err
		}
	}
	for _, s := range sheets {
		if err := mw.row(append([]string{recSheet, s.name, s.dataType}, s.headers()...)...); err != nil {
			return err
		}
	}
	for _, s := range sheets {
		l, err := writeDataSheet(f, s, in.RequestID, key, st, mw)
		if err != nil {
			return fmt.Errorf("export: sheet of data type %q: %w", s.dataType, err)
		}
		if len(l) > 0 {
			links[fmt.Sprintf("xl/worksheets/sheet%d.xml", ids[s.name])] = l
		}
	}
	if err := mw.finish(); err != nil {
		return fmt.Errorf("export: manifest: %w", err)
	}
	if err := writeNotSearchable(f, in, tx, st); err != nil {
		return fmt.Errorf("export: not searchable: %w", err)
	}
	f.SetZipWriter(func(w io.Writer) excelize.ZipWriter { return newLinkZip(w, links) })
	if _, err := f.WriteTo(w); err != nil {
		return fmt.Errorf("export: write: %w", err)
	}
	return nil
}

func (s *dataSheet) headers() []string {
	h := slices.Clone(fixedColumns)
	for _, k := range s.metaKeys {
		h = append(h, metaPrefix+k)
	}
	return h
}

// planSheets groups the hits by data type (in the order of the result's
// data types, then any other in name order) and names the sheets.
func planSheets(in ExportInput, tx texts) ([]*dataSheet, error) {
	byType := make(map[string][]*search.Hit)
	var order []string
	add := func(dt string) {
		if _, ok := byType[dt]; !ok {
			byType[dt] = nil
			order = append(order, dt)
		}
	}
	if in.DataType != "" {
		add(in.DataType)
	} else {
		for _, dt := range in.Result.DataTypes {
			add(dt)
		}
	}
	var extra []string
	for i := range in.Result.Hits {
		h := &in.Result.Hits[i]
		if in.DataType != "" && h.DataType != in.DataType {
			continue
		}
		if _, ok := byType[h.DataType]; !ok {
			extra = append(extra, h.DataType)
			byType[h.DataType] = nil
		}
		byType[h.DataType] = append(byType[h.DataType], h)
	}
	sort.Strings(extra)
	order = append(order, extra...)

	used := map[string]bool{
		strings.ToLower(tx.instructions):  true,
		strings.ToLower(tx.notSearchable): true,
		strings.ToLower(manifestSheet):    true,
		"history":                         true, // reserved by Excel
	}
	var out []*dataSheet
	for _, dt := range order {
		hits := byType[dt]
		keySet := make(map[string]bool)
		for _, h := range hits {
			for k := range flattenMetadata(h.Metadata) {
				keySet[k] = true
			}
		}
		if len(keySet) > maxMetadataColumns {
			return nil, fmt.Errorf("data type %q has %d metadata keys, more than %d", dt, len(keySet), maxMetadataColumns)
		}
		keys := sortedKeys(keySet)
		part := 1
		for start := 0; start == 0 || start < len(hits); start += MaxRowsPerSheet {
			end := min(start+MaxRowsPerSheet, len(hits))
			suffix := ""
			if part > 1 {
				suffix = fmt.Sprintf(" (%d)", part)
			}
			out = append(out, &dataSheet{
				name:     uniqueSheetName(dt, suffix, used),
				dataType: dt,
				hits:     hits[start:end],
				metaKeys: keys,
			})
			part++
			if end == len(hits) {
				break
			}
		}
	}
	return out, nil
}

// uniqueSheetName makes a valid, unique (case-insensitively) sheet name:
// at most 31 characters, none of []:*?/\, not starting or ending with '.
func uniqueSheetName(base, suffix string, used map[string]bool) string {
	base = strings.Map(func(r rune) rune {
		if strings.ContainsRune(`[]:*?/\`, r) || r < 0x20 || !xmlChar(r) {
			return '_'
		}
		return r
	}, base)
	base = strings.Trim(base, "' ")
	if base == "" {
		base = "data"
	}
	for n := 1; ; n++ {
		tail := suffix
		if n > 1 {
			tail += fmt.Sprintf(" ~%d", n)
		}
		b := base
		for utf8.RuneCountInString(b)+utf8.RuneCountInString(tail) > 31 {
			_, size := utf8.DecodeLastRuneInString(b)
			b = b[:len(b)-size]
		}
		name := strings.TrimRight(b, "'") + tail
		if !used[strings.ToLower(name)] {
			used[strings.ToLower(name)] = true
			return name
		}
	}
}

func sheetIDs(f *excelize.File) map[string]int {
	out := make(map[string]int)
	for id, name := range f.GetSheetMap() {
		out[name] = id
	}
	return out
}

type styles struct {
	header, link, wrap, editable, editableWrap, title, bold int
}

func newStyles(f *excelize.File) (styles, error) {
	var st styles
	var err error
	text := 49 // "@": what a reviewer types stays text, even "=..."
	mk := func(s *excelize.Style) int {
		if err != nil {
			return 0
		}
		var id int
		id, err = f.NewStyle(s)
		return id
	}
	st.header = mk(&excelize.Style{Font: &excelize.Font{Bold: true},
		Fill:      excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"D9E1F2"}},
		Alignment: &excelize.Alignment{Vertical: "top"}})
	st.link = mk(&excelize.Style{Font: &excelize.Font{Color: "0563C1", Underline: "single"},
		Alignment: &excelize.Alignment{Vertical: "top"}, NumFmt: text})
	st.wrap = mk(&excelize.Style{Alignment: &excelize.Alignment{WrapText: true, Vertical: "top"}, NumFmt: text})
	st.editable = mk(&excelize.Style{Fill: excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"FFF2CC"}},
		Alignment: &excelize.Alignment{Vertical: "top"}, NumFmt: text})
	st.editableWrap = mk(&excelize.Style{Fill: excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"FFF2CC"}},
		Alignment: &excelize.Alignment{WrapText: true, Vertical: "top"}, NumFmt: text})
	st.title = mk(&excelize.Style{Font: &excelize.Font{Bold: true, Size: 14}})
	st.bold = mk(&excelize.Style{Font: &excelize.Font{Bold: true}, Alignment: &excelize.Alignment{Vertical: "top"}})
	return st, err
}

func writeInstructions(f *excelize.File, in ExportInput, tx texts, sheets []*dataSheet, st styles) error {
	sh := tx.instructions
	r := 1
	set := func(col string, v any, style int) error {
		ref := col + strconv.Itoa(r)
		if s, ok := v.(string); ok {
			s, _ = fitCell(s)
			v = s
		}
		if err := f.SetCellValue(sh, ref, v); err != nil {
			return err
		}
		if style != 0 {
			return f.SetCellStyle(sh, ref, ref, style)
		}
		return nil
	}
	title := tx.title
	if in.Title != "" {
		title += ": " + in.Title
	}
	steps := []func() error{
		func() error { return set("A", title, st.title) },
		func() error { r += 2; return nil },
		func() error { _ = set("A", tx.request, st.bold); return set("B", in.RequestID, 0) },
		func() error {
			r++
			_ = set("A", tx.generated, st.bold)
			return set("B", in.GeneratedAt.UTC().Format(time.RFC3339), 0)
		},
		func() error {
			if in.Result.SearchedAt.IsZero() {
				return nil
			}
			r++
			_ = set("A", tx.searched, st.bold)
			return set("B", in.Result.SearchedAt.UTC().Format(time.RFC3339), 0)
		},
		func() error {
			r++
			_ = set("A", tx.scope, st.bold)
			if in.DataType == "" {
				return set("B", tx.scopeAll, 0)
			}
			return set("B", in.DataType, 0)
		},
	}
	for _, s := range steps {
		if err := s(); err != nil {
			return err
		}
	}
	r += 2
	if err := set("A", tx.howTitle, st.title); err != nil {
		return err
	}
	for i, h := range tx.how {
		r++
		_ = set("A", strconv.Itoa(i+1)+".", 0)
		if err := set("B", h, st.wrap); err != nil {
			return err
		}
	}
	r++
	if err := set("B", tx.truncatedNote, st.wrap); err != nil {
		return err
	}
	r += 2
	if err := set("A", tx.columnsTitle, st.title); err != nil {
		return err
	}
	for _, c := range tx.columns {
		r++
		_ = set("A", c[0], st.bold)
		if err := set("B", c[1], st.wrap); err != nil {
			return err
		}
	}
	r += 2
	if err := set("A", tx.dataTypesTitle, st.title); err != nil {
		return err
	}
	r++
	_ = set("A", tx.dataTypeHead[0], st.header)
	_ = set("B", tx.dataTypeHead[1], st.header)
	_ = set("C", tx.dataTypeHead[2], st.header)
	for _, s := range sheets {
		r++
		_ = set("A", s.name, 0)
		desc := s.dataType
		if info, ok := in.DataTypeInfo[s.dataType]; ok {
			if info.Title != "" {
				desc += " — " + info.Title
			}
			if info.Description != "" {
				desc += ": " + info.Description
			}
		}
		_ = set("B", desc, st.wrap)
		if err := set("C", len(s.hits), 0); err != nil {
			return err
		}
	}
	if err := f.SetColWidth(sh, "A", "A", 28); err != nil {
		return err
	}
	if err := f.SetColWidth(sh, "B", "B", 110); err != nil {
		return err
	}
	return f.SetColWidth(sh, "C", "C", 12)
}

// manifestWriter streams the manifest sheet and signs it as it goes.
type manifestWriter struct {
	sw   *excelize.StreamWriter
	sig  *manifestSigner
	rows int
	buf  []any
}

func newManifestWriter(f *excelize.File, key []byte) (*manifestWriter, error) {
	sw, err := f.NewStreamWriter(manifestSheet)
	if err != nil {
		return nil, err
	}
	return &manifestWriter{sw: sw, sig: newSigner(key)}, nil
}

func (m *manifestWriter) row(cells ...string) error {
	m.sig.addRow(cells)
	return m.write(cells)
}

func (m *manifestWriter) write(cells []string) error {
	m.rows++
	m.buf = m.buf[:0]
	for _, c := range cells {
		if c == "" {
			m.buf = append(m.buf, nil)
		} else {
			m.buf = append(m.buf, c)
		}
	}
	ref, _ := excelize.CoordinatesToCellName(1, m.rows)
	if err := m.sw.SetRow(ref, m.buf); err != nil {
		return fmt.Errorf("manifest row: %w", err)
	}
	return nil
}

func (m *manifestWriter) finish() error {
	if err := m.write([]string{recSignature, m.sig.sum()}); err != nil {
		return err
	}
	return m.sw.Flush()
}

// linkable reports whether u may become a clickable link: only http(s),
// never javascript:, file: or other schemes a source could smuggle in.
func linkable(u string) bool {
	if len(u) > 2000 { // Excel's limit for a hyperlink address
		return false
	}
	p, err := url.Parse(u)
	return err == nil && (p.Scheme == "http" || p.Scheme == "https") && p.Host != ""
}

// stripTransit drops the Sesam "~r" URI marker.
func stripTransit(u string) string { return strings.TrimPrefix(u, "~r") }

func writeDataSheet(f *excelize.File, s *dataSheet, requestID string, key []byte, st styles, mw *manifestWriter) ([]link, error) {
	sw, err := f.NewStreamWriter(s.name)
	if err != nil {
		return nil, err
	}
	headers := s.headers()
	ncol := len(headers)
	widths := map[string]float64{colRowID: 12, colDocumentID: 30, colFilename: 28, colMIMEType: 18, colSize: 10,
		colStatus: 10, colOriginalURL: 36, colExtract: 36, colText: 40, colMatched: 30, colCount: 9, colSnippets: 80}
	for i, h := range headers {
		wd, ok := widths[h]
		if !ok {
			wd = 20
		}
		if err := sw.SetColWidth(i+1, i+1, wd); err != nil {
			return nil, err
		}
	}
	if err := sw.SetColVisible(1, 1, false); err != nil { // row-id
		return nil, err
	}
	if err := sw.SetPanes(&excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); err != nil {
		return nil, err
	}
	row := make([]any, ncol)
	for i, h := range headers {
		row[i] = excelize.Cell{StyleID: st.header, Value: h}
	}
	if err := sw.SetRow("A1", row, excelize.RowOpts{Height: 20}); err != nil {
		return nil, err
	}
	col := func(name string) int { return slices.Index(fixedColumns, name) }
	var links []link
	mrow := make([]string, 0, 4+len(readOnlyColumns)+len(s.metaKeys))
	for i, h := range s.hits {
		r := i + 2
		clear(row)
		id := RowID(key, requestID, h.IndexID)
		orig := stripTransit(h.OriginalURL)
		extract := stripTransit(h.ExtractContent)
		var e error
		if orig, e = exactCell(orig, "original-url"); e != nil {
			return nil, e
		}
		if extract, e = exactCell(extract, "extract-content"); e != nil {
			return nil, e
		}
		docID, e := exactCell(h.DocumentID, "document id")
		if e != nil {
			return nil, e
		}
		filename, _ := fitCell(h.Filename)
		mime, _ := fitCell(h.MIMEType)
		status, _ := fitCell(h.Status)
		size := strconv.FormatInt(h.FileSize, 10)
		matched, _ := fitCell(matchedText(h.Matched))

		row[col(colRowID)] = id
		row[col(colDocumentID)] = cellOrNil(docID, st.wrap)
		row[col(colFilename)] = cellOrNil(filename, st.wrap)
		row[col(colMIMEType)] = cellOrNil(mime, 0)
		row[col(colSize)] = h.FileSize
		row[col(colStatus)] = cellOrNil(status, 0)
		row[col(colOriginalURL)] = cellOrNil(orig, st.link)
		row[col(colExtract)] = cellOrNil(extract, st.link)
		row[col(colText)] = excelize.Cell{StyleID: st.editableWrap}
		row[col(colMatched)] = cellOrNil(matched, st.wrap)
		row[col(colCount)] = h.Count
		if runs := snippetRuns(h.Snippets); len(runs) > 0 {
			row[col(colSnippets)] = excelize.Cell{StyleID: st.wrap, Value: runs}
		}
		md := flattenMetadata(h.Metadata)
		mrow = append(mrow[:0], recRow, id, s.name, extract)
		for _, c := range []string{docID, filename, mime, size, status, orig} {
			mrow = append(mrow, cellHash(c))
		}
		for j, k := range s.metaKeys {
			v, ok := md[k]
			v, _ = fitCell(v)
			if ok && v != "" {
				row[len(fixedColumns)+j] = excelize.Cell{StyleID: st.editable, Value: v}
			} else {
				row[len(fixedColumns)+j] = excelize.Cell{StyleID: st.editable}
			}
			mrow = append(mrow, cellHash(v))
		}
		ref, _ := excelize.CoordinatesToCellName(1, r)
		if err := sw.SetRow(ref, row); err != nil {
			return nil, err
		}
		if err := mw.row(mrow...); err != nil {
			return nil, err
		}
		if linkable(orig) {
			ref, _ := excelize.CoordinatesToCellName(col(colOriginalURL)+1, r)
			links = append(links, link{ref, orig})
		}
		if linkable(extract) {
			ref, _ := excelize.CoordinatesToCellName(col(colExtract)+1, r)
			links = append(links, link{ref, extract})
		}
	}
	last, _ := excelize.CoordinatesToCellName(ncol, max(len(s.hits)+1, 2))
	if err := f.AutoFilter(s.name, "A1:"+last, nil); err != nil {
		return nil, err
	}
	return links, sw.Flush()
}

func cellOrNil(v string, style int) any {
	if v == "" {
		if style == 0 {
			return nil
		}
		return excelize.Cell{StyleID: style}
	}
	return excelize.Cell{StyleID: style, Value: v}
}

func matchedText(ms []search.Matched) string {
	var b strings.Builder
	for i, m := range ms {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString(string(m.Kind))
		if m.Pattern != "" {
			b.WriteString("/" + m.Pattern)
		}
		fmt.Fprintf(&b, ": %s (%d)", m.Value, m.Count)
	}
	return b.String()
}

var (
	fontLocation = &excelize.Font{Italic: true, Color: "595959"}
	fontHit      = &excelize.Font{Bold: true, Color: "C00000"}
)

// snippetRuns renders snippets as rich text: each prefixed by its location,
// separated by blank lines, matched ranges (in runes) bold and red, cut
// visibly to the cell limit.
func snippetRuns(snips []search.Snippet) []excelize.RichTextRun {
	var runs []excelize.RichTextRun
	budget := maxCellChars - utf16Len(truncMarker)
	cut := false
	emit := func(text string, font *excelize.Font) {
		if cut || text == "" {
			return
		}
		text = cleanXML(text)
		if n := utf16Len(text); n > budget {
			text, _ = fitCellBudget(text, budget)
			cut = true
		}
		budget -= utf16Len(text)
		if text != "" {
			runs = append(runs, excelize.RichTextRun{Text: text, Font: font})
		}
		if cut {
			runs = append(runs, excelize.RichTextRun{Text: truncMarker, Font: fontLocation})
		}
	}
	for i, s := range snips {
		if i > 0 {
			emit("\n\n", nil)
		}
		if s.Location != "" {
			emit("["+s.Location+"] ", fontLocation)
		}
		rs := []rune(s.Text)
		hl := slices.Clone(s.Highlights)
		slices.SortFunc(hl, func(a, b search.Highlight) int { return cmp.Compare(a.Start, b.Start) })
		pos := 0
		for _, h := range hl {
			start, end := max(h.Start, pos), min(h.End, len(rs))
			if start >= end {
				continue
			}
			emit(string(rs[pos:start]), nil)
			emit(string(rs[start:end]), fontHit)
			pos = end
		}
		emit(string(rs[pos:]), nil)
	}
	return runs
}

// fitCellBudget cuts s to at most budget UTF-16 units.
func fitCellBudget(s string, budget int) (string, bool) {
	n := 0
	for i, r := range s {
		w := 1
		if r >= 0x10000 {
			w = 2
		}
		if n+w > budget {
			return s[:i], true
		}
		n += w
	}
	return s, false
}

func writeNotSearchable(f *excelize.File, in ExportInput, tx texts, st styles) error {
	sw, err := f.NewStreamWriter(tx.notSearchable)
	if err != nil {
		return err
	}
	for i, w := range []float64{16, 36, 18, 28, 40, 12, 50} {
		if err := sw.SetColWidth(i+1, i+1, w); err != nil {
			return err
		}
	}
	if err := sw.SetPanes(&excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); err != nil {
		return err
	}
	head := make([]any, len(tx.notSearchableHead))
	for i, h := range tx.notSearchableHead {
		head[i] = excelize.Cell{StyleID: st.header, Value: h}
	}
	if err := sw.SetRow("A1", head); err != nil {
		return err
	}
	r := 1
	for _, ns := range in.Result.NotSearchable {
		if in.DataType != "" && ns.DataType != in.DataType {
			continue
		}
		r++
		vals := []string{ns.Source, ns.EntityID, ns.DataType, ns.Filename, stripTransit(ns.OriginalURL), ns.Status, ns.Reason}
		row := make([]any, len(vals))
		for i, v := range vals {
			v, _ = fitCell(v)
			row[i] = cellOrNil(v, st.wrap)
		}
		ref, _ := excelize.CoordinatesToCellName(1, r)
		if err := sw.SetRow(ref, row); err != nil {
			return err
		}
	}
	if r == 1 {
		r++
		if err := sw.SetRow("A2", []any{tx.notSearchableNone}); err != nil {
			return err
		}
	} else {
		last, _ := excelize.CoordinatesToCellName(len(head), r)
		if err := f.AutoFilter(tx.notSearchable, "A1:"+last, nil); err != nil {
			return err
		}
	}
	return sw.Flush()
}
