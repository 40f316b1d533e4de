package xlsx

import (
	"archive/zip"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/xuri/excelize/v2"

	"github.com/docvet/docvet/extractor/doctext"
	"github.com/docvet/docvet/extractor/zipsafe"
)

var _ doctext.ExtractFunc = Extract

// xmlSpoolBytes is the largest worksheet / shared-string part excelize keeps
// in memory; bigger ones are spooled to a temporary file (excelize's own
// default).
const xmlSpoolBytes = 16 << 20

// Extract writes the text of an XLSX workbook into b. See the package doc
// for the layout and segment locations.
func Extract(ctx context.Context, in doctext.Input, b *doctext.Builder, opt doctext.Options) (err error) {
	lim := opt.Limits.WithDefaults()
	zr, err := zipsafe.Open(in, lim)
	if err != nil {
		return err
	}
	// excelize decompresses every entry, media included: check them all.
	if err := zr.CheckAllRatios(); err != nil {
		return err
	}
	if err := precheck(zr); err != nil {
		return err
	}
	// excelize spools parts over xmlSpoolBytes, decompressed, to files in
	// TmpDir that only f.Close removes. A private directory removed here
	// (deferred first, so it runs after f.Close) leaves nothing behind even
	// when OpenReader fails after spooling; a killed worker's whole TMPDIR
	// is removed by the pool.
	tmp, err := os.MkdirTemp("", "docvet-xlsx-*")
	if err != nil {
		return fmt.Errorf("xlsx: temporary directory: %w", err)
	}
	defer os.RemoveAll(tmp)
	defer func() {
		// excelize is third-party code reading hostile input: a panic costs
		// this document, not the worker.
		if r := recover(); r != nil {
			err = fmt.Errorf("xlsx: parser panic: %w", doctext.ErrMalformed)
		}
	}()
	f, err := excelize.OpenReader(io.NewSectionReader(in.R, 0, in.Size), excelize.Options{
		UnzipSizeLimit:    lim.MaxZipTotalBytes,
		UnzipXMLSizeLimit: min(lim.MaxZipEntryBytes, lim.MaxZipTotalBytes, xmlSpoolBytes),
		TmpDir:            tmp,
	})
	if err != nil {
		return mapErr(err, lim)
	}
	defer f.Close()
	sheets := f.GetSheetList()
	if len(sheets) == 0 {
		return fmt.Errorf("xlsx: workbook lists no sheets: %w", doctext.ErrMalformed)
	}
	x := &extractor{ctx: ctx, f: f, zr: zr, b: b, lim: lim, opt: opt, parts: sheetParts(zr, lim)}
	for _, sheet := range sheets {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := x.sheet(sheet); err != nil {
			return err
		}
	}
	if err := x.drawings(); err != nil {
		return err
	}
	if err := x.embeddings(); err != nil {
		return err
	}
	if !x.content {
		// Only sheet names (and properties, which every saved workbook
		// has): report no text, so a workbook of pasted scans is empty.
		return nil
	}
	if err := x.flush(); err != nil {
		return err
	}
	return properties(f, b)
}

// extractor holds one workbook's state.
type extractor struct {
	ctx   context.Context
	f     *excelize.File
	zr    *zipsafe.Reader
	b     *doctext.Builder
	lim   doctext.Limits
	opt   doctext.Options
	parts map[string]string // sheet name -> worksheet part, where known
	// pending are the headings of sheets without content so far: written
	// (in order) before the next content, so no text at all is produced
	// for a workbook whose only text is its sheet names.
	pending [][2]string // location, heading
	content bool
}

// begin starts a located segment of content, writing pending headings first.
func (x *extractor) begin(loc string) error {
	x.content = true
	if err := x.flush(); err != nil {
		return err
	}
	x.b.Start(loc)
	return nil
}

func (x *extractor) flush() error {
	for _, h := range x.pending {
		if err := x.b.EnsureSep("\n"); err != nil {
			return err
		}
		x.b.Start(h[0])
		if err := x.b.WriteString(h[1] + "\n"); err != nil {
			return err
		}
	}
	x.pending = x.pending[:0]
	return nil
}

// precheck refuses what excelize should not be handed: a package without a
// workbook, and XML parts that declare a DTD (entity bombs, XXE).
func precheck(zr *zipsafe.Reader) error {
	if !zr.Has("xl/workbook.xml") && !hasWorkbookRel(zr) {
		if zr.Has("word/document.xml") || zr.Has("ppt/presentation.xml") {
			return fmt.Errorf("xlsx: package is not a spreadsheet: %w", doctext.ErrUnsupported)
		}
		return fmt.Errorf("xlsx: no workbook part: %w", doctext.ErrMalformed)
	}
	for _, name := range zr.Names() {
		ln := strings.ToLower(name)
		if !strings.HasSuffix(ln, ".xml") && !strings.HasSuffix(ln, ".rels") {
			continue
		}
		rc, err := zr.Open(name)
		if err != nil {
			return err
		}
		err = zipsafe.CheckProlog(rc)
		rc.Close()
		if err != nil {
			return fmt.Errorf("xlsx part: %w", err)
		}
	}
	return nil
}

// hasWorkbookRel reports whether some part other than xl/workbook.xml
// looks like the workbook (excelize finds it through _rels/.rels).
func hasWorkbookRel(zr *zipsafe.Reader) bool {
	for _, n := range zr.Names() {
		if strings.HasSuffix(strings.ToLower(n), "workbook.xml") {
			return true
		}
	}
	return false
}

// mapErr turns an excelize open error into a status-bearing error. The
// category goes before the sentinel; excelize's own text (which can quote
// document content) only after it, where reasons never look (see
// doctext.SafeDetail).
func mapErr(err error, lim doctext.Limits) error {
	var le *doctext.LimitError
	var se *xml.SyntaxError
	switch {
	case errors.As(err, &le):
		return err
	case errors.Is(err, excelize.ErrWorkbookFileFormat), errors.Is(err, excelize.ErrWorkbookPassword):
		return fmt.Errorf("xlsx: %w", doctext.ErrEncrypted)
	case strings.Contains(err.Error(), "unzip size exceeds"):
		return &doctext.LimitError{Limit: "zip_total_bytes", Value: lim.MaxZipTotalBytes}
	case errors.Is(err, zip.ErrAlgorithm):
		return fmt.Errorf("xlsx: zip entry with unsupported compression: %w: %w", doctext.ErrMalformed, err)
	case errors.Is(err, zip.ErrFormat), errors.Is(err, zip.ErrChecksum):
		return fmt.Errorf("xlsx: damaged zip container: %w: %w", doctext.ErrMalformed, err)
	case errors.As(err, &se):
		return fmt.Errorf("xlsx: xml line %d: syntax error: %w", se.Line, doctext.ErrMalformed)
	}
	return fmt.Errorf("xlsx: workbook unreadable: %w: %w", doctext.ErrMalformed, err)
}

func (x *extractor) sheet(sheet string) error {
	if err := x.rows(sheet); err != nil {
		return err
	}
	if err := x.comments(sheet); err != nil {
		return err
	}
	return x.headerFooter(sheet)
}

func (x *extractor) rows(sheet string) error {
	ctx, f, b := x.ctx, x.f, x.b
	visible, err := f.GetSheetVisible(sheet)
	head := sheet
	if err == nil && !visible {
		head += " (hidden)"
	}
	x.pending = append(x.pending, [2]string{sheet, head})
	rows, err := f.Rows(sheet)
	if err != nil {
		// A chart sheet or a broken sheet part: the other sheets still count.
		b.Warn("xlsx: a sheet could not be read")
		return nil
	}
	defer rows.Close()
	ref := sheetRef(sheet)
	var line strings.Builder
	for r := 1; rows.Next(); r++ {
		if r&1023 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		cols, err := rows.Columns()
		if err != nil {
			b.Warn("xlsx: a row could not be read")
			break
		}
		first, last := -1, -1
		for i, c := range cols {
			if strings.TrimSpace(c) != "" {
				if first < 0 {
					first = i
				}
				last = i
			}
		}
		if first < 0 {
			continue
		}
		line.Reset()
		for i := first; i <= last; i++ {
			if i > first {
				line.WriteByte('\t')
			}
			line.WriteString(strings.ReplaceAll(cols[i], "\t", " "))
		}
		line.WriteByte('\n')
		loc := ref + "!" + cellName(first, r)
		if last > first {
			loc += ":" + cellName(last, r)
		}
		if err := x.begin(loc); err != nil {
			return err
		}
		if err := b.WriteString(line.String()); err != nil {
			return err
		}
	}
	if err := rows.Error(); err != nil {
		b.Warn("xlsx: a sheet is truncated (unreadable rows)")
	}
	return nil
}

func (x *extractor) comments(sheet string) error {
	f, b, ref := x.f, x.b, sheetRef(sheet)
	cs, err := f.GetComments(sheet)
	if err != nil {
		b.Warn("xlsx: comments could not be read")
		return nil
	}
	sort.SliceStable(cs, func(i, j int) bool { return cellLess(cs[i].Cell, cs[j].Cell) })
	for _, c := range cs {
		text := c.Text
		if text == "" {
			var sb strings.Builder
			for _, p := range c.Paragraph {
				sb.WriteString(p.Text)
			}
			text = sb.String()
		}
		text = strings.TrimSpace(text)
		if text == "" {
			continue
		}
		if c.Author != "" && !strings.HasPrefix(text, c.Author) {
			text = c.Author + ": " + text
		}
		if err := x.begin(ref + "!" + c.Cell + " comment"); err != nil {
			return err
		}
		if err := b.WriteString(text + "\n"); err != nil {
			return err
		}
	}
	return nil
}

func properties(f *excelize.File, b *doctext.Builder) error {
	p, err := f.GetDocProps()
	if err != nil || p == nil {
		return nil
	}
	var lines []string
	for _, kv := range [][2]string{
		{"Title", p.Title}, {"Subject", p.Subject}, {"Author", p.Creator},
		{"Last modified by", p.LastModifiedBy}, {"Keywords", p.Keywords},
		{"Description", p.Description}, {"Category", p.Category},
	} {
		if v := strings.TrimSpace(kv[1]); v != "" {
			lines = append(lines, kv[0]+": "+v)
		}
	}
	if len(lines) == 0 {
		return nil
	}
	if err := b.EnsureSep("\n"); err != nil {
		return err
	}
	b.Start("properties")
	return b.WriteString(strings.Join(lines, "\n") + "\n")
}

// sheetRef quotes a sheet name the way Excel formulas do when it is not a
// plain identifier.
func sheetRef(name string) string {
	plain := name != ""
	for _, r := range name {
		if !(r == '_' || r == '.' || r >= '0' && r <= '9' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r > 127 && r != '\u00a0') {
			plain = false
			break
		}
	}
	if plain && !(name[0] >= '0' && name[0] <= '9') {
		return name
	}
	return "'" + strings.ReplaceAll(name, "'", "''") + "'"
}

// cellName returns the A1 name of 0-based column col in 1-based row.
func cellName(col, row int) string {
	var buf [8]byte
	i := len(buf)
	for c := col + 1; c > 0; c = (c - 1) / 26 {
		i--
		buf[i] = byte('A' + (c-1)%26)
	}
	return fmt.Sprintf("%s%d", buf[i:], row)
}

// cellLess orders A1 references by row, then column.
func cellLess(a, b string) bool {
	ca, ra, errA := excelize.CellNameToCoordinates(a)
	cb, rb, errB := excelize.CellNameToCoordinates(b)
	if errA != nil || errB != nil {
		return a < b
	}
	if ra != rb {
		return ra < rb
	}
	return ca < cb
}
