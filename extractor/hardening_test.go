package extractor

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docvet/docvet/extractor/doctext"
)

// Regression tests for the extraction engine's review findings.

func TestPoolCloseTwice(t *testing.T) {
	p, err := NewPool(testPoolOptions("rlimit"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Extract(context.Background(), strings.NewReader("x"), Hint{MIME: TestMIMEEcho}); err != nil {
		t.Fatal(err)
	}
	p.Close()
	done := make(chan struct{})
	go func() { p.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("second Close blocks")
	}
}

// writerFormat ignores ctx and keeps writing into the Builder for a while.
func writerFormat(started chan<- struct{}) format {
	return format{"w", func(ctx context.Context, in doctext.Input, b *doctext.Builder, o doctext.Options) error {
		b.WriteString("first words ")
		if started != nil {
			close(started)
		}
		for i := 0; i < 300000; i++ {
			b.WriteString("abcdefgh ")
			b.Start(fmt.Sprint(i))
		}
		return nil
	}}
}

// TestExtractCancelAbandonsParser: when the caller's ctx is cancelled the
// parser is abandoned like on a timeout, and its Builder is never read
// (run with -race: reading it raced with the still-running parser).
func TestExtractCancelAbandonsParser(t *testing.T) {
	const m = testMIMEPrefix + "writer"
	e := newTestExtractor(Options{Timeout: 10 * time.Second})
	started := make(chan struct{})
	e.formats[m] = writerFormat(started)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-started; cancel() }()
	res := e.extract(ctx, []byte("x"), request{MIME: m, Size: 1})
	if res.Status != doctext.StatusFailed || res.Reason != "cancelled" || res.Text != "" || res.Segments != nil || res.Warnings != nil {
		t.Fatalf("abandoned parser: got %s %q, %d bytes of text, %d segments", res.Status, res.Reason, len(res.Text), len(res.Segments))
	}
	// Through the public API the caller gets ctx's error.
	ctx2, cancel2 := context.WithCancel(context.Background())
	started2 := make(chan struct{})
	e.formats[m] = writerFormat(started2)
	go func() { <-started2; cancel2() }()
	if _, err := e.Extract(ctx2, strings.NewReader("x"), Hint{MIME: m}); err != context.Canceled {
		t.Fatalf("Extract after cancel: %v", err)
	}
}

// floodMail is a message with n tiny attachments of an unsupported type:
// every one is a warning and a segment.
func floodMail(n int) string {
	var sb strings.Builder
	sb.WriteString("From: a@b\nTo: c@d\nSubject: s\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n")
	for range n {
		sb.WriteString("--b\nContent-Type: application/x-a\nContent-Transfer-Encoding: base64\n\nAAE=\n")
	}
	sb.WriteString("--b--\n")
	return sb.String()
}

// TestWarningAndSegmentFlood: a crafted document cannot make the result's
// metadata (the worker's response header) larger than its input, and the
// pool reports it normally, not as a crashed worker.
func TestWarningAndSegmentFlood(t *testing.T) {
	in := floodMail(100000)
	res, err := New(Options{}).Extract(context.Background(), strings.NewReader(in), Hint{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != doctext.MaxWarnings+1 || res.Warnings[doctext.MaxWarnings] != fmt.Sprintf("and %d more warnings", 100000-doctext.MaxWarnings) {
		t.Errorf("%d warnings, last %q", len(res.Warnings), res.Warnings[len(res.Warnings)-1])
	}
	if len(res.Segments) > doctext.MaxSegments {
		t.Errorf("%d segments, cap %d", len(res.Segments), doctext.MaxSegments)
	}
	res.Text = ""
	h, _ := json.Marshal(response{Result: res})
	if len(h) >= len(in) || len(h) > maxHeaderBytes {
		t.Errorf("header %d bytes for %d bytes of input", len(h), len(in))
	}
	if len(res.Reason) > maxReason+len("…") {
		t.Errorf("reason of %d bytes", len(res.Reason))
	}
	opt := testPoolOptions("rlimit")
	opt.Size = 1
	p, err := NewPool(opt)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	pres, err := p.Extract(context.Background(), strings.NewReader(in), Hint{})
	if err != nil {
		t.Fatal(err)
	}
	if pres.Status != doctext.StatusPartial || len(pres.Segments) != len(res.Segments) {
		t.Fatalf("pool: %s %q, %d segments", pres.Status, pres.Reason, len(pres.Segments))
	}
}

// TestResponseHeaderCap: a header that would still be too large loses its
// segments (text intact, status partial) instead of killing the exchange.
func TestResponseHeaderCap(t *testing.T) {
	loc := strings.Repeat("\x01", doctext.MaxLocationBytes) // 6 bytes each, JSON-escaped
	res := Result{Status: doctext.StatusOK, Version: Version}
	for i := range doctext.MaxSegments {
		res.Segments = append(res.Segments, doctext.Segment{Location: loc, Offset: int64(i), Length: 1})
	}
	h, err := responseHeader(res)
	if err != nil {
		t.Fatal(err)
	}
	var got response
	if err := json.Unmarshal(h, &got); err != nil {
		t.Fatal(err)
	}
	if len(h) > maxHeaderBytes || got.Result.Segments != nil || got.Result.Status != doctext.StatusPartial ||
		!strings.HasPrefix(got.Result.Reason, "limit result_header_bytes=") {
		t.Fatalf("header %d bytes: %s %q, %d segments", len(h), got.Result.Status, got.Result.Reason, len(got.Result.Segments))
	}
	// The parent refuses a larger header as a limit, not garbage.
	var buf bytes.Buffer
	if err := writeFrame(&buf, bytes.Repeat([]byte(" "), maxHeaderBytes+1), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := readResponse(&buf, &response{}, 10); !errorsIs(err, errHeaderTooLarge) {
		t.Fatalf("oversized header: %v", err)
	}
}

// blockingReader records whether it was read and then blocks until released.
type blockingReader struct {
	read    atomic.Bool
	release chan struct{}
	r       io.Reader
}

func (b *blockingReader) Read(p []byte) (int, error) {
	b.read.Store(true)
	<-b.release
	return b.r.Read(p)
}

// TestPoolSlotBeforeInput: a document waiting for a worker slot is not read
// (buffered) until it has one, so at most Size inputs sit in memory.
func TestPoolSlotBeforeInput(t *testing.T) {
	opt := testPoolOptions("rlimit")
	opt.Size = 1
	opt.Timeout = time.Second
	p, err := NewPool(opt)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	hung := make(chan struct{})
	go func() {
		defer close(hung)
		p.Extract(context.Background(), strings.NewReader("x"), Hint{MIME: TestMIMEHang})
	}()
	time.Sleep(300 * time.Millisecond) // the hang holds the only slot
	br := &blockingReader{release: make(chan struct{}), r: strings.NewReader("second")}
	done := make(chan Result, 1)
	go func() {
		res, _ := p.Extract(context.Background(), br, Hint{MIME: TestMIMEEcho})
		done <- res
	}()
	time.Sleep(200 * time.Millisecond)
	if br.read.Load() {
		t.Error("input read before a worker slot was free")
	}
	close(br.release)
	<-hung
	if res := <-done; res.Text != "second" {
		t.Fatalf("second document: %+v", res)
	}
}

func errorsIs(err, target error) bool {
	for err != nil {
		if err == target {
			return true
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		err = u.Unwrap()
	}
	return false
}

// TestPoolCrashNotBlamedOnEarlierStderr: a worker that printed "out of
// memory" for one document and later crashes on another is reported
// crashed, not out of memory.
func TestPoolCrashNotBlamedOnEarlierStderr(t *testing.T) {
	opt := testPoolOptions("rlimit")
	opt.Size = 1
	p, err := NewPool(opt)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, s := range []struct{ mime, reason string }{{TestMIMEStderr, ""}, {TestMIMECrash, "worker crashed"}} {
		res, err := p.Extract(context.Background(), strings.NewReader("x"), Hint{MIME: s.mime})
		if err != nil || res.Reason != s.reason {
			t.Fatalf("%s: %v %s %q, want reason %q", s.mime, err, res.Status, res.Reason, s.reason)
		}
	}
}

// TestPoolPrivateTempDir: each worker gets its own 0700 TMPDIR, removed
// when the worker is killed and when the pool is closed.
func TestPoolPrivateTempDir(t *testing.T) {
	opt := testPoolOptions("rlimit")
	opt.Size = 1
	opt.Timeout = time.Second
	p, err := NewPool(opt)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	tempDir := func() string {
		res, err := p.Extract(context.Background(), strings.NewReader("x"), Hint{MIME: TestMIMETempDir})
		if err != nil || res.Status != doctext.StatusOK {
			t.Fatalf("tempdir: %v %s %q", err, res.Status, res.Reason)
		}
		st, err := os.Stat(filepath.Join(res.Text, "spooled-document"))
		if err != nil || res.Text == os.TempDir() {
			t.Fatalf("worker temp dir %q: %v", res.Text, err)
		}
		if di, _ := os.Stat(res.Text); di.Mode().Perm() != 0o700 || st.Mode().Perm() != 0o600 {
			t.Errorf("temp dir mode %v", di.Mode())
		}
		return res.Text
	}
	d1 := tempDir()
	if res, _ := p.Extract(context.Background(), strings.NewReader("x"), Hint{MIME: TestMIMEHang}); res.Reason != "timeout after 1s" {
		t.Fatalf("hang: %s %q", res.Status, res.Reason)
	}
	if _, err := os.Stat(d1); !os.IsNotExist(err) {
		t.Errorf("killed worker's temp dir still there: %v", err)
	}
	d2 := tempDir()
	if d2 == d1 {
		t.Error("new worker reuses the old temp dir")
	}
	p.Close()
	if _, err := os.Stat(d2); !os.IsNotExist(err) {
		t.Errorf("closed pool's temp dir still there: %v", err)
	}
}

// TestPoolCancelledIsError: a cancelled caller always gets ctx's error,
// never a document status, also when the input read is what notices.
func TestPoolCancelledIsError(t *testing.T) {
	opt := testPoolOptions("rlimit")
	opt.Size = 1
	p, err := NewPool(opt)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for range 5 {
		ctx, cancel := context.WithCancel(context.Background())
		r := &cancelAtEOF{r: strings.NewReader("abc"), cancel: cancel}
		if res, err := p.Extract(ctx, r, Hint{MIME: TestMIMEEcho}); err != context.Canceled {
			t.Fatalf("got %v %s %q, want context.Canceled", err, res.Status, res.Reason)
		}
	}
}

type cancelAtEOF struct {
	r      io.Reader
	cancel func()
}

func (c *cancelAtEOF) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err == io.EOF {
		c.cancel()
	}
	return n, err
}

// canary is planted in names, content, entities and types of hostile
// documents; it must never reach a Reason or a Warning.
const canary = "Zqxmustermannzq"

func zipBytes(t *testing.T, files ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i := 0; i+1 < len(files); i += 2 {
		w, err := zw.Create(files[i])
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, files[i+1])
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

const (
	wNS    = `xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"`
	relNS  = `http://schemas.openxmlformats.org/officeDocument/2006/relationships/`
	pkgRel = `<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">`
)

func docxWith(t *testing.T, body string, extra ...string) []byte {
	files := []string{
		"_rels/.rels", pkgRel + `<Relationship Id="rId1" Type="` + relNS + `officeDocument" Target="word/document.xml"/></Relationships>`,
		"word/document.xml", `<?xml version="1.0"?><w:document ` + wNS + `><w:body>` + body + `</w:body></w:document>`,
	}
	return zipBytes(t, append(files, extra...)...)
}

func xlsxWith(t *testing.T, sheetName, sheetData string, extra ...string) []byte {
	files := []string{
		"[Content_Types].xml", `<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>`,
		"_rels/.rels", pkgRel + `<Relationship Id="rId1" Type="` + relNS + `officeDocument" Target="xl/workbook.xml"/></Relationships>`,
		"xl/workbook.xml", `<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="` + sheetName + `" sheetId="1" r:id="rId1"/></sheets></workbook>`,
		"xl/_rels/workbook.xml.rels", pkgRel + `<Relationship Id="rId1" Type="` + relNS + `worksheet" Target="worksheets/sheet1.xml"/></Relationships>`,
		"xl/worksheets/sheet1.xml", `<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>` + sheetData + `</sheetData></worksheet>`,
	}
	return zipBytes(t, append(files, extra...)...)
}

func mailWith(parts ...string) string {
	var sb strings.Builder
	sb.WriteString("From: a@b\nTo: c@d\nSubject: s\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=zz\n\n")
	for _, p := range parts {
		sb.WriteString("--zz\n" + p + "\n")
	}
	sb.WriteString("--zz--\n")
	return sb.String()
}

func b64(b []byte) string {
	var sb strings.Builder
	enc := base64Encode(b)
	for len(enc) > 76 {
		sb.WriteString(enc[:76] + "\n")
		enc = enc[76:]
	}
	sb.WriteString(enc + "\n")
	return sb.String()
}

// TestReasonsNeverLeakContent runs hostile documents of every format with
// the canary in file names, part names, entities, content and types, and
// checks that no Reason or Warning carries it.
func TestReasonsNeverLeakContent(t *testing.T) {
	c := canary
	badDocx := docxWith(t, `<w:p><w:r><w:t>Client Erika &`+c+`-Partner GmbH</w:t></w:r></w:p>`)
	badXlsx := xlsxWith(t, c, `<row r="1"><c r="A1" t="inlineStr"><is><t>x &`+c+`; y</t></is></c></row>`)
	docxBadHeader := docxWith(t, `<w:p><w:r><w:t>Body text</w:t></w:r></w:p><w:sectPr><w:headerReference w:type="default" r:id="rId9"/></w:sectPr>`,
		"word/_rels/document.xml.rels", pkgRel+`<Relationship Id="rId9" Type="`+relNS+`header" Target="`+c+`.xml"/></Relationships>`,
		"word/"+c+".xml", `<?xml version="1.0"?><w:hdr `+wNS+`><w:p><w:r><w:t>a &`+c+`; b</w:t></w:r></w:p></w:hdr>`)
	docxEmbedded := docxWith(t, `<w:p><w:r><w:t>Body text</w:t></w:r></w:p>`,
		"word/embeddings/"+c+".docx", string(badDocx))
	xlsxEmbedded := xlsxWith(t, "S", `<row r="1"><c r="A1" t="inlineStr"><is><t>cell</t></is></c></row>`,
		"xl/embeddings/"+c+".docx", string(badDocx))
	tests := []struct {
		name string
		data []byte
		hint Hint
	}{
		{"docx entity", badDocx, Hint{Name: c + ".docx"}},
		{"docx header part", docxBadHeader, Hint{Name: c + ".docx"}},
		{"docx embedded", docxEmbedded, Hint{Name: c + ".docx"}},
		{"docx missing part", docxWith(t, `<w:p><w:r><w:t>t</w:t></w:r></w:p><w:sectPr><w:footerReference w:type="default" r:id="rId9"/></w:sectPr>`,
			"word/_rels/document.xml.rels", pkgRel+`<Relationship Id="rId9" Type="`+relNS+`footer" Target="`+c+`.xml"/></Relationships>`), Hint{}},
		{"docx bad zip entry", zipBytes(t, "word/document.xml", "<w:document "+wNS+"><w:body><w:p><w:r><w:t>"+c+"</w:t></w:r></w:p></w:body></w:document>"+string(rune(0))+"&"+c), Hint{}},
		{"docx bad encoding", zipBytes(t, "word/document.xml", `<?xml version="1.0" encoding="`+c+`"?><w:document `+wNS+`/>`), Hint{}},
		{"xlsx entity", badXlsx, Hint{Name: c + ".xlsx"}},
		{"xlsx embedded", xlsxEmbedded, Hint{}},
		{"xlsx drawing", xlsxWith(t, "S", ``, "xl/drawings/"+c+".xml", `<?xml version="1.0"?><xdr:wsDr xmlns:xdr="x" xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main"><a:t>&`+c+`;</a:t></xdr:wsDr>`), Hint{}},
		{"pdf garbage", []byte("%PDF-1.4\n1 0 obj << /Type /" + c + " /Kids [" + c + "] >>\nendobj\ntrailer << /Root 1 0 R /" + c + " (" + c + ") >>\n%%EOF\n"), Hint{Name: c + ".pdf"}},
		{"pdf broken xref", []byte("%PDF-1.4\nxref\n0 " + c + "\ntrailer << /Size " + c + " /Root (" + c + ") >>\nstartxref\n9\n%%EOF\n"), Hint{}},
		{"mail attachment", []byte(mailWith(
			"Content-Type: text/plain\n\nhello "+c,
			"Content-Type: application/vnd.openxmlformats-officedocument.wordprocessingml.document; name=\""+c+".docx\"\nContent-Disposition: attachment; filename=\""+c+".docx\"\nContent-Transfer-Encoding: base64\n\n"+b64(badDocx),
			"Content-Type: application/x-"+c+"; name=\""+c+"\"\nContent-Transfer-Encoding: base64\n\n!!"+c+"!!\n",
			"Content-Type: application/pdf; name=\""+c+".pdf\"\nContent-Transfer-Encoding: base64\n\n"+b64([]byte("%PDF-1.4\n/"+c+"\n")),
			"Content-Type: text/"+c+"; charset="+c+"\nContent-Transfer-Encoding: quoted-printable\n\n="+c,
		)), Hint{Name: c + ".eml"}},
		{"html", []byte("<html><head><meta charset=\"" + c + "\"><title>" + c + "</title></head><body>&" + c + ";<p>" + c + "</body></html>"), Hint{Name: c + ".html"}},
		{"text", append([]byte(c+"\xff\xfe\x00"), bytes.Repeat([]byte{0x81, 0x00}, 50)...), Hint{Name: c + ".txt", MIME: "text/plain; charset=" + c}},
	}
	e := New(Options{Pdftotext: "-"})
	nonOK := 0
	for _, tc := range tests {
		res, err := e.Extract(context.Background(), bytes.NewReader(tc.data), tc.hint)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if res.Status != doctext.StatusOK {
			nonOK++
		}
		all := strings.ToLower(res.Reason + "\n" + strings.Join(res.Warnings, "\n"))
		if strings.Contains(all, strings.ToLower(c)) {
			t.Errorf("%s: %s: canary in reason %q / warnings %q", tc.name, res.Status, res.Reason, res.Warnings)
		}
		t.Logf("%-20s %-11s %s", tc.name, res.Status, res.Reason)
	}
	if nonOK < len(tests)/2 {
		t.Errorf("only %d of %d hostile inputs produced a reason: the test lost its teeth", nonOK, len(tests))
	}
}

// TestBase64PaddingMidBody: a body encoded in chunks (padding inside) is
// decoded to its end, not cut silently at the first '='.
func TestBase64PaddingMidBody(t *testing.T) {
	msg := "From: a@b\nSubject: s\nMIME-Version: 1.0\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\n" +
		"SGVsbG8gd29ybGQ=\nRXJpa2EgTXVzdGVybWFubg==\n"
	res, err := New(Options{}).Extract(context.Background(), strings.NewReader(msg), Hint{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res.Text, "Hello world") || !strings.Contains(res.Text, "Erika Mustermann") || res.Status != doctext.StatusOK {
		t.Fatalf("status=%s reason=%q text=%q", res.Status, res.Reason, res.Text)
	}
}

// TestXLSXLeavesNoTempFiles: a workbook with a sheet part over excelize's
// 16 MiB spool threshold that fails to open afterwards leaves nothing in
// TMPDIR.
func TestXLSXLeavesNoTempFiles(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 17 MiB sheet")
	}
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	var sh strings.Builder
	for r := 1; sh.Len() < 17<<20; r++ {
		fmt.Fprintf(&sh, `<row r="%d"><c r="A%d" t="inlineStr"><is><t>Erika Mustermann %x</t></is></c></row>`, r, r, r*2654435761)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	zw.RegisterCompressor(99, func(w io.Writer) (io.WriteCloser, error) { return nopWC{w}, nil })
	zr := xlsxWith(t, "S", sh.String())
	// Re-pack with one entry of an unknown compression method at the end.
	src, _ := zip.NewReader(bytes.NewReader(zr), int64(len(zr)))
	for _, f := range src.File {
		w, _ := zw.Create(f.Name)
		rc, _ := f.Open()
		io.Copy(w, rc)
		rc.Close()
	}
	w, _ := zw.CreateHeader(&zip.FileHeader{Name: "xl/media/image1.bin", Method: 99})
	io.WriteString(w, "junk")
	zw.Close()
	res, err := New(Options{}).Extract(context.Background(), bytes.NewReader(buf.Bytes()), Hint{Name: "x.xlsx"})
	if err != nil {
		t.Fatal(err)
	}
	left, _ := os.ReadDir(tmp)
	for _, f := range left {
		t.Errorf("left behind in TMPDIR: %s", f.Name())
	}
	if res.Status != doctext.StatusFailed || strings.Contains(res.Reason, "Mustermann") {
		t.Errorf("status=%s reason=%q", res.Status, res.Reason)
	}
}

type nopWC struct{ io.Writer }

func (nopWC) Close() error { return nil }

// TestPdftotextOption: Options.Pdftotext reaches the pdf engine (also
// through the pool): "-" disables the fallback, a path selects the binary.
func TestPdftotextOption(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, "pdftotext")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\necho 'Text from the fake pdftotext'\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	notPDF := "%PDF-1.4\nnot really a pdf\n%%EOF\n"
	for _, tc := range []struct {
		path   string
		status doctext.Status
	}{{"-", doctext.StatusFailed}, {fake, doctext.StatusPartial}} {
		res, err := New(Options{Pdftotext: tc.path}).Extract(context.Background(), strings.NewReader(notPDF), Hint{})
		if err != nil || res.Status != tc.status || (tc.status == doctext.StatusPartial) != strings.Contains(res.Text, "fake pdftotext") {
			t.Errorf("in-process, pdftotext %q: %v %s %q %q", tc.path, err, res.Status, res.Reason, res.Text)
		}
		opt := testPoolOptions("rlimit")
		opt.Size, opt.Pdftotext = 1, tc.path
		p, err := NewPool(opt)
		if err != nil {
			t.Fatal(err)
		}
		res, err = p.Extract(context.Background(), strings.NewReader(notPDF), Hint{})
		p.Close()
		if err != nil || res.Status != tc.status || (tc.status == doctext.StatusPartial) != strings.Contains(res.Text, "fake pdftotext") {
			t.Errorf("pool, pdftotext %q: %v %s %q %q", tc.path, err, res.Status, res.Reason, res.Text)
		}
	}
}

func base64Encode(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
