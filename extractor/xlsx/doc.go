// Package xlsx owns text extraction from SpreadsheetML workbooks (.xlsx,
// .xlsm; transitional and strict OOXML) with github.com/xuri/excelize/v2.
//
// The container is checked with extractor/zipsafe before excelize sees it
// (entry count, declared sizes, compression ratio, DOCTYPE in any XML part's
// prolog, OLE2-wrapped encrypted packages), and excelize is opened with
// UnzipSizeLimit = Limits.MaxZipTotalBytes and UnzipXMLSizeLimit =
// min(Limits.MaxZipEntryBytes, 16 MiB), so larger worksheets and shared
// string tables are spooled to a temporary file instead of memory. Worksheets
// are read with the streaming Rows iterator, never GetRows.
//
// Output: every sheet in workbook order, hidden ones included and marked
// "(hidden)", starts with its name on a line of its own (segment location:
// the sheet name). Then one line per non-empty row: cell values as excelize
// displays them (number formats and dates applied, cached formula results,
// shared and inline strings), separated by one tab per column step, so empty
// cells between values keep their column position. Tabs inside a value are
// replaced by spaces.
//
// Segment granularity: one segment per row, located "Sheet!C7:F7" from its
// first to its last non-empty cell ("Sheet!B7" for a single cell; sheet names
// quoted as in Excel formulas when needed). A hit at offset o inside a row
// segment is in column first-column + (number of tabs between the segment
// start and o). Per-cell segments were rejected: a segment costs about 60
// bytes, and a sheet of one-character cells at the 64M-rune cap would need
// ~2 GB of segments; per row it is bounded by the row count.
//
// Cell comments follow the sheet's rows (location "Sheet!B7 comment", text
// "Author: comment"), and its header/footer text (segments "Sheet header",
// "Sheet footer", "Sheet first page header", ...; formatting codes and
// page-number/date/file-name fields removed). excelize only exposes
// headers by loading the whole worksheet, so the part is scanned as bytes
// for the headerFooter element, which alone is parsed. Then the text of text
// boxes and shapes (DrawingML a:t in xl/drawings/*.xml, segment "drawing
// drawing1.xml"), then embedded files (xl/embeddings/*, segment "embedded
// NAME") through Options.Recurse (warned when there is none), then the
// workbook's core properties (segment "properties": title, subject,
// creator, last modified by, keywords, description). Not read: charts.
//
// A sheet's name line is written only once some content (a cell, comment,
// header, drawing or embedded text) exists; if none does, the workbook
// produces no text at all (not even properties, which every saved workbook
// has), so a workbook of pasted scans is reported empty instead of ok.
// Empty sheets' names are kept in order when the workbook has content.
//
// excelize spools parts over 16 MiB, decompressed, to its TmpDir: each call
// uses a private 0700 directory removed when it returns, whether excelize
// opened the workbook or not.
package xlsx
