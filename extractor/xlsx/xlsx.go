package xlsx

import (
	"archive/zip"
	"context"
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
		TmpDir:            os.TempDir(),
	})
	if err != nil {
		return mapErr(err, lim)
	}
	defer f.Close()
	sheets := f.GetSheetList()
	if len(sheets) == 0 {
		return fmt.Errorf("xlsx: workbook lists no sheets: %w", doctext.ErrMalformed)
	}
	for _, sheet := range sheets {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := extractSheet(ctx, f, sheet, b); err != nil {
			return err
		}
	}
	return properties(f, b)
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

// mapErr turns an excelize open error into a status-bearing error.
func mapErr(err error, lim doctext.Limits) error {
	var le *doctext.LimitError
	switch {
	case errors.As(err, &le):
		return err
	case errors.Is(err, excelize.ErrWorkbookFileFormat), errors.Is(err, excelize.ErrWorkbookPassword):
		return fmt.Errorf("xlsx: %w", doctext.ErrEncrypted)
	case strings.Contains(err.Error(), "unzip size exceeds"):
		return &doctext.LimitError{Limit: "zip_total_bytes", Value: lim.MaxZipTotalBytes}
	case errors.Is(err, zip.ErrFormat), errors.Is(err, zip.ErrChecksum), errors.Is(err, zip.ErrAlgorithm):
		return fmt.Errorf("xlsx: %w: %w", doctext.ErrMalformed, err)
	}
	return fmt.Errorf("xlsx: %w: %w", doctext.ErrMalformed, err)
}

func extractSheet(ctx context.Context, f *excelize.File, sheet string, b *doctext.Builder) error {
	visible, err := f.GetSheetVisible(sheet)
	head := sheet
	if err == nil && !visible {
		head += " (hidden)"
	}
	if err := b.EnsureSep("\n"); err != nil {
		return err
	}
	b.Start(sheet)
	if err := b.WriteString(head + "\n"); err != nil {
		return err
	}
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
		b.Start(loc)
		if err := b.WriteString(line.String()); err != nil {
			return err
		}
	}
	if err := rows.Error(); err != nil {
		b.Warn("xlsx: sheet truncated: " + err.Error())
	}
	return comments(f, sheet, ref, b)
}

func comments(f *excelize.File, sheet, ref string, b *doctext.Builder) error {
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
		b.Start(ref + "!" + c.Cell + " comment")
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
