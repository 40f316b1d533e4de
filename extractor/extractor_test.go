package extractor

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docvet/docvet/extractor/doctext"
	"github.com/docvet/docvet/extractor/sniff"
	"golang.org/x/sync/errgroup"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		text     string
		warnings []string
		status   doctext.Status
		reason   string // substring
		not      string // must not appear in the reason
	}{
		{"ok", nil, "hello", nil, doctext.StatusOK, "", ""},
		{"empty", nil, " \n\t", nil, doctext.StatusEmpty, "no text found", ""},
		{"warnings", nil, "hello", []string{"embedded pdf file (depth 1): encrypted"}, doctext.StatusPartial, "warnings: embedded pdf file (depth 1): encrypted", ""},
		{"encrypted", fmt.Errorf("pdf: %w", doctext.ErrEncrypted), "", nil, doctext.StatusEncrypted, "encrypted", ""},
		{"unsupported", fmt.Errorf("xlsb: %w", doctext.ErrUnsupported), "", nil, doctext.StatusUnsupported, "unsupported", ""},
		{"limit with text", &doctext.LimitError{Limit: "max_chars", Value: 5}, "hello", nil, doctext.StatusPartial, "limit max_chars=5 reached", ""},
		{"limit without text", fmt.Errorf("docx: %w", &doctext.LimitError{Limit: "zip_entry_size", Value: 9}), "", nil, doctext.StatusFailed, "limit zip_entry_size=9 reached before any text", ""},
		{"malformed hides data", fmt.Errorf("cell %q: %w", "John Smith 1970-01-01", doctext.ErrMalformed), "", nil, doctext.StatusFailed, "malformed document", "John"},
		{"other error hides data", fmt.Errorf("strconv.ParseFloat: parsing 'Jane Doe': invalid syntax"), "x", nil, doctext.StatusFailed, "extraction failed: strconv.ParseFloat", "Jane"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, reason := classify(tc.err, tc.text, tc.warnings)
			if st != tc.status || !strings.Contains(reason, tc.reason) || (tc.not != "" && strings.Contains(reason, tc.not)) {
				t.Fatalf("classify = %s %q, want %s containing %q", st, reason, tc.status, tc.reason)
			}
			if st != doctext.StatusOK && reason == "" {
				t.Fatal("non-ok status without reason")
			}
		})
	}
}

func newTestExtractor(opt Options) *Extractor {
	opt.testHooks = true
	return New(opt)
}

// encryptedOLE is a minimal compound file listing an EncryptedPackage stream.
func encryptedOLE() []byte {
	b := make([]byte, 512*3)
	copy(b, []byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1})
	binary.LittleEndian.PutUint16(b[0x1E:], 9)
	binary.LittleEndian.PutUint32(b[0x30:], 1)
	binary.LittleEndian.PutUint32(b[0x4C:], 0)
	binary.LittleEndian.PutUint32(b[512+4:], 0xFFFFFFFE)
	name := []byte("E\x00n\x00c\x00r\x00y\x00p\x00t\x00e\x00d\x00P\x00a\x00c\x00k\x00a\x00g\x00e\x00")
	copy(b[1024:], name)
	binary.LittleEndian.PutUint16(b[1024+64:], uint16(len(name)+2))
	b[1024+66] = 2
	return b
}

func TestExtractInProcess(t *testing.T) {
	e := newTestExtractor(Options{Timeout: 300 * time.Millisecond})
	tests := []struct {
		name   string
		data   []byte
		hint   Hint
		status doctext.Status
		reason string
		mime   string
	}{
		{"echo", []byte("hello"), Hint{MIME: TestMIMEEcho}, doctext.StatusOK, "", TestMIMEEcho},
		{"panic", []byte("x"), Hint{MIME: TestMIMEPanic}, doctext.StatusFailed, "parser crashed", TestMIMEPanic},
		{"hang", []byte("x"), Hint{MIME: TestMIMEHang}, doctext.StatusFailed, "timeout after 300ms", TestMIMEHang},
		{"encrypted ooxml", encryptedOLE(), Hint{Name: "secret.docx"}, doctext.StatusEncrypted, "password-protected Office document", sniff.DOCX},
		{"unknown binary", []byte{0, 1, 2, 3, 0, 0, 9, 8, 7}, Hint{}, doctext.StatusUnsupported, "unsupported format application/octet-stream", sniff.Octet},
		{"image", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), Hint{Name: "a.pdf"}, doctext.StatusUnsupported, "unsupported format image/png", "image/png"},
		{"empty echo", []byte(""), Hint{MIME: TestMIMEEcho}, doctext.StatusEmpty, "no text found", TestMIMEEcho},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := e.Extract(context.Background(), bytes.NewReader(tc.data), tc.hint)
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != tc.status || res.Reason != tc.reason || res.MIME != tc.mime {
				t.Fatalf("got %s %q %s, want %s %q %s", res.Status, res.Reason, res.MIME, tc.status, tc.reason, tc.mime)
			}
			if res.SHA256 != sum(string(tc.data)) || res.Size != int64(len(tc.data)) {
				t.Errorf("sha/size = %s/%d", res.SHA256, res.Size)
			}
		})
	}
}

func TestExtractOversize(t *testing.T) {
	e := newTestExtractor(Options{Limits: doctext.Limits{MaxInputBytes: 8}})
	// A textual format gets the first MaxInputBytes and is partial.
	e.formats[sniff.Plain] = e.formats[TestMIMEEcho]
	body := "abcdefghijklmnop"
	res, err := e.Extract(context.Background(), strings.NewReader(body), Hint{Name: "a.txt"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != doctext.StatusPartial || res.Text != "abcdefgh" || !strings.HasPrefix(res.Reason, "input larger than 8 bytes") ||
		res.SHA256 != sum(body) || res.Size != int64(len(body)) {
		t.Fatalf("textual oversize: %+v", res)
	}
	// Anything else fails, with the hash of the whole input.
	res, err = e.Extract(context.Background(), strings.NewReader(body), Hint{MIME: TestMIMEEcho})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != doctext.StatusFailed || res.Reason != "input larger than 8 bytes" || res.SHA256 != sum(body) {
		t.Fatalf("binary oversize: %+v", res)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

func TestExtractInfrastructureErrors(t *testing.T) {
	e := New(Options{})
	if _, err := e.Extract(context.Background(), errReader{}, Hint{}); !errors.Is(err, ErrInputRead) {
		t.Fatalf("read error: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.Extract(ctx, strings.NewReader("x"), Hint{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}

// TestRecurse drives the Recurser with a nesting test container: each
// "NEST:" prefix is one more level of embedding.
func TestRecurse(t *testing.T) {
	const nestMIME = testMIMEPrefix + "nest"
	e := newTestExtractor(Options{Limits: doctext.Limits{MaxAttachDepth: 3}})
	var nest doctext.ExtractFunc = func(ctx context.Context, in doctext.Input, b *doctext.Builder, opt doctext.Options) error {
		p := make([]byte, in.Size)
		if _, err := in.R.ReadAt(p, 0); err != nil {
			return err
		}
		if err := b.WriteString(fmt.Sprintf("[level %d]", opt.Depth)); err != nil {
			return err
		}
		rest, ok := bytes.CutPrefix(p, []byte("NEST:"))
		if !ok {
			_, err := b.Write(p)
			return err
		}
		mime := nestMIME
		switch {
		case bytes.HasPrefix(rest, []byte("PANIC")):
			mime = TestMIMEPanic
		case bytes.HasPrefix(rest, []byte{0}):
			mime = "" // detected from content: unknown binary
		}
		err := opt.Recurse(ctx, doctext.Input{R: bytes.NewReader(rest), Size: int64(len(rest)), MIME: mime}, opt.Depth+1, b)
		if errors.Is(err, doctext.ErrUnsupported) {
			return b.WriteString("[unsupported attachment]")
		}
		return err
	}
	e.formats[nestMIME] = format{"nest", nest}
	tests := []struct {
		in     string
		status doctext.Status
		text   string
		reason string
	}{
		{"NEST:NEST:leaf", doctext.StatusOK, "[level 0][level 1][level 2]leaf", ""},
		{"NEST:NEST:NEST:NEST:NEST:leaf", doctext.StatusPartial, "[level 0][level 1][level 2][level 3]", "warnings: embedded file nested deeper than 3 levels not read"},
		{"NEST:PANIC", doctext.StatusPartial, "[level 0]", "warnings: embedded test file (depth 1): parser crashed"},
		{"NEST:\x00\x01\x02\x03binary", doctext.StatusOK, "[level 0][unsupported attachment]", ""},
	}
	for _, tc := range tests {
		res, err := e.Extract(context.Background(), strings.NewReader(tc.in), Hint{MIME: nestMIME})
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != tc.status || res.Text != tc.text || res.Reason != tc.reason {
			t.Errorf("%q: got %s %q %q, want %s %q %q", tc.in, res.Status, res.Text, res.Reason, tc.status, tc.text, tc.reason)
		}
	}
}

// TestCorpusStatuses runs every real and broken corpus file through the
// worker pool (in-process, ledongthuc/pdf can take the whole test binary
// down with a 128 GB allocation on a fuzzed PDF): each must get a status,
// with a reason where required, never an error.
func TestCorpusStatuses(t *testing.T) {
	root := filepath.Join("..", "..", "shared", "corpus")
	if _, err := os.Stat(root); err != nil {
		t.Skipf("corpus not found at %s", root)
	}
	if testing.Short() {
		t.Skip("corpus run skipped in -short mode")
	}
	opt := testPoolOptions("rlimit")
	opt.Size, opt.Timeout = 2, 30*time.Second
	p, err := NewPool(opt)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var files []string
	for _, dir := range []string{"pdf", "docx", "xlsx", "eml", "misc", "broken"} {
		fs, _ := filepath.Glob(filepath.Join(root, dir, "*"))
		files = append(files, fs...)
	}
	type outcome struct {
		file string
		res  Result
		err  error
	}
	out := make([]outcome, len(files))
	g, ctx := errgroup.WithContext(context.Background())
	g.SetLimit(2)
	for i, f := range files {
		g.Go(func() error {
			fh, err := os.Open(f)
			if err != nil {
				return err
			}
			defer fh.Close()
			res, err := p.Extract(ctx, fh, Hint{Name: filepath.Base(f)})
			out[i] = outcome{f, res, err}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, o := range out {
		rel, _ := filepath.Rel(root, o.file)
		if o.err != nil {
			t.Errorf("%s: %v", rel, o.err)
			continue
		}
		r := o.res
		counts[filepath.Dir(rel)+" "+string(r.Status)]++
		if r.Status == "" || (r.Status != doctext.StatusOK && r.Reason == "") || len(r.SHA256) != 64 {
			t.Errorf("%s: status %q reason %q sha %q", rel, r.Status, r.Reason, r.SHA256)
		}
		if strings.Contains(rel, "protected") && !strings.HasSuffix(rel, ".pdf") && r.Status != doctext.StatusEncrypted {
			t.Errorf("%s: %s %q, want encrypted", rel, r.Status, r.Reason)
		}
		if !strings.HasPrefix(rel, "broken") && r.Status == doctext.StatusFailed {
			t.Errorf("%s: real document failed: %q", rel, r.Reason)
		}
		if r.Status != doctext.StatusOK {
			t.Logf("%-70s %-11s %s", rel, r.Status, r.Reason)
		}
	}
	t.Logf("status counts: %v", counts)
}
