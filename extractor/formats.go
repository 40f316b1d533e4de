package extractor

import (
	"github.com/docvet/docvet/extractor/docx"
	htmlx "github.com/docvet/docvet/extractor/html"
	"github.com/docvet/docvet/extractor/mail"
	"github.com/docvet/docvet/extractor/pdf"
	"github.com/docvet/docvet/extractor/sniff"
	"github.com/docvet/docvet/extractor/text"
	"github.com/docvet/docvet/extractor/xlsx"
)

// formatTable maps a detected MIME type to its format package. Any textual
// type without its own entry (text/*, JSON, XML) falls back to the
// sniff.Plain entry (see Extractor.lookup). Formats with configuration
// (pdf: which engines) are built here from opt.
func formatTable(opt Options) map[string]format {
	px := pdf.New(pdf.Config{Pdftotext: opt.Pdftotext})
	return map[string]format{
		sniff.PDF:   {"pdf", px.Extract},
		sniff.DOCX:  {"docx", docx.Extract},
		sniff.XLSX:  {"xlsx", xlsx.Extract},
		sniff.Plain: {"text", text.Extract},
		sniff.CSV:   {"text", text.Extract},
		sniff.TSV:   {"text", text.Extract},
		sniff.JSON:  {"text", text.Extract},
		sniff.XML:   {"text", text.Extract},
		sniff.HTML:  {"html", htmlx.Extract},
		sniff.EML:   {"mail", mail.Extract},
		sniff.Mbox:  {"mail", mail.Extract},
	}
}
