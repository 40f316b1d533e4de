package search

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/docvet/docvet/extractor"
	"github.com/docvet/docvet/extractor/doctext"
	"github.com/docvet/docvet/index"
	"github.com/xuri/excelize/v2"
)

// docxWithRuns builds a DOCX whose paragraphs are split into the given runs
// (Word splits text into runs at every formatting or spell-check change).
func docxWithRuns(t *testing.T, paras ...[]string) []byte {
	t.Helper()
	var body strings.Builder
	for _, runs := range paras {
		body.WriteString("<w:p>")
		for i, r := range runs {
			body.WriteString("<w:r>")
			if i%2 == 1 {
				body.WriteString("<w:rPr><w:b/></w:rPr>")
			}
			body.WriteString(`<w:t xml:space="preserve">` + r + `</w:t></w:r>`)
		}
		body.WriteString("</w:p>")
	}
	files := [][2]string{
		{"[Content_Types].xml", `<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">` +
			`<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>` +
			`<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>`},
		{"_rels/.rels", `<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">` +
			`<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>`},
		{"word/document.xml", `<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>` +
			body.String() + `</w:body></w:document>`},
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range files {
		w, err := zw.Create(f[0])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(f[1])); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func xlsxWithCells(t *testing.T, cells map[string]any) []byte {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	if _, err := f.NewSheet("Kunder"); err != nil {
		t.Fatal(err)
	}
	for ref, v := range cells {
		if err := f.SetCellValue("Kunder", ref, v); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if err := f.Write(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func emlWithAttachment(body, attName, attText string) []byte {
	att := base64.StdEncoding.EncodeToString([]byte(attText))
	return []byte("From: Support <support@example.com>\r\n" +
		"To: Ola <ola@example.com>\r\n" +
		"Subject: Ticket 8812\r\n" +
		"Date: Mon, 1 Jan 2024 10:00:00 +0100\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n" +
		"--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + body + "\r\n" +
		"--b1\r\nContent-Type: text/plain; charset=utf-8; name=\"" + attName + "\"\r\n" +
		"Content-Disposition: attachment; filename=\"" + attName + "\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n" + att + "\r\n--b1--\r\n")
}

// Documents in real formats go through the real extractor (in process) and
// the index; the needles the formats hide (split runs, cells, attachments)
// are found and located.
func TestRecallThroughExtractor(t *testing.T) {
	files := []struct {
		id, name, mime string
		data           []byte
		// want: identifier value -> count, and a location substring of the
		// first snippet.
		want     map[string]int
		location string
	}{
		{"docx-split", "notat.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
			docxWithRuns(t, []string{"Referat fra møtet."},
				[]string{"Kontakt: ", "Kari.Nord", "mann@Exam", "ple.no", " eller ", "+47 912", " 34 567"},
				[]string{"Til stede: ", "Ødegård", ", ", "Bjørn"}),
			map[string]int{kari[0].Value: 1, kari[1].Value: 1, kari[2].Value: 1}, ""},
		{"xlsx-cell", "kunder.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
			xlsxWithCells(t, map[string]any{"A1": "Navn", "B1": "E-post", "C1": "Kundenr", "A2": "Bjorn Odegard",
				"B2": "KARI.NORDMANN@EXAMPLE.NO", "C2": "CUST 001 1234", "A3": "Bjørnar Ødegårdsen", "B3": "kari.nordmann@example.no.evil.com", "C3": "CUST-001-1235"}),
			map[string]int{kari[0].Value: 1, kari[2].Value: 1, kari[3].Value: 1}, "Kunder!"},
		{"eml-attachment", "ticket.eml", "message/rfc822",
			emlWithAttachment("Hei, se vedlegget.", "notes.txt", "Kunde ringte fra 0047 91234567 om EMP 778899.\n"),
			map[string]int{kari[1].Value: 1, kari[4].Value: 1}, "attachment"},
		{"docx-decoys", "decoys.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
			docxWithRuns(t, []string{"Bjørnar ", "Ødegårdsen", " +47 922 34 567 ", "kari.nordmann@example.no", ".evil.com"}),
			nil, ""},
	}
	ex := extractor.New(extractor.Options{Pdftotext: "-"})
	e := newEnv(t)
	ctx := context.Background()
	var docs []index.Doc
	for _, f := range files {
		r, err := ex.Extract(ctx, bytes.NewReader(f.data), extractor.Hint{Name: f.name, MIME: f.mime})
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != doctext.StatusOK {
			t.Fatalf("%s: extraction %s: %s", f.id, r.Status, r.Reason)
		}
		docs = append(docs, index.Doc{Source: testSource, EntityID: f.id, DataType: "support", MIMEType: f.mime,
			Filename: f.name, FileSize: r.Size, SHA256: r.SHA256, Status: string(r.Status), Text: r.Text, Segments: r.Segments})
	}
	if err := e.ix.Apply(ctx, docs, nil); err != nil {
		t.Fatal(err)
	}
	res := e.run(Query{RequestID: "r", Identifiers: kari})
	got := map[string]Hit{}
	for _, h := range res.Hits {
		got[h.EntityID] = h
	}
	for _, f := range files {
		h, ok := got[f.id]
		if f.want == nil {
			if ok {
				t.Errorf("%s: decoys matched %+v", f.id, h.Matched)
			}
			continue
		}
		if !ok {
			t.Errorf("%s: not found", f.id)
			continue
		}
		gm := map[string]int{}
		for _, m := range h.Matched {
			gm[m.Value] = m.Count
		}
		for k, v := range f.want {
			if gm[k] != v {
				t.Errorf("%s: %s matched %d times, want %d (all: %v)", f.id, k, gm[k], v, gm)
			}
		}
		if len(gm) != len(f.want) {
			t.Errorf("%s: matched %v, want %v", f.id, gm, f.want)
		}
		if len(h.Snippets) == 0 || !strings.Contains(h.Snippets[0].Location, f.location) {
			t.Errorf("%s: snippets %+v, want location containing %q", f.id, h.Snippets, f.location)
		}
	}
}
