package corpus

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/docvet/docvet/extractor/doctext"
)

// fakeCorpus writes a small corpus (ANCHORS.tsv, documents, references)
// and points DOCVET_CORPUS at it. A document's bytes are its text (see
// echo); "" as reference text means the reference file is not written.
func fakeCorpus(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	rows := []struct{ path, format, anchor, status, doc, ref string }{
		{"misc/a.txt", "misc", "decode(utf-8)", "ok", "Kari Nordmann kari@example.no +47 912 34 567", "\uFEFFKari Nordmann kari@example.no +47 912 34 567"},
		{"misc/b.txt", "misc", "decode(cp1252)", "ok", "alpha beta", "alpha beta gamma delta"},
		{"misc/c.html", "misc", "html-strip(utf-8)", "ok", "mail kari@example.no", "mail kari@example.no per@example.com"},
		{"misc/d.txt", "misc", "decode(utf-8)", "FAILED-rc=1", "whatever", "x"},
		{"misc/e.txt", "misc", "lost", "ok", "text", ""},
		// LibreOffice listed before the primary anchor: Load must reorder.
		{"docx/x.docx", "docx", "libreoffice-7.4", "ok", "one two three 1 2", "one two three 1 2"},
		{"docx/x.docx", "docx", "docx2txt", "ok", "", "one two three four 1 9"},
		{"docx/y.docx", "docx", "docx2txt", "EMPTY", "alpha", "x"},
		{"docx/y.docx", "docx", "libreoffice-7.4", "ok", "", "alpha beta"},
		{"broken/z.docx", "docx", "libreoffice-7.4", "ok", "FAIL", "anything"},
	}
	var tsv strings.Builder
	tsv.WriteString("relative_path\tformat\tanchor\treference_file\tstatus\texit_code\tseconds\toutput_chars\tnote\n")
	write := func(rel, s string) {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range rows {
		ref := "reference/" + r.path + ".txt"
		if r.anchor == "libreoffice-7.4" {
			ref = "reference/" + r.path + ".lo.txt"
		}
		fmt.Fprintf(&tsv, "%s\t%s\t%s\t%s\t%s\t0\t0.1\t%d\t\n", r.path, r.format, r.anchor, ref, r.status, len(r.ref))
		if r.doc != "" {
			write(r.path, r.doc)
		}
		if r.ref != "" {
			write(ref, r.ref)
		}
	}
	write("misc/limit.txt", "LIMIT")
	write("reference/ANCHORS.tsv", tsv.String())
	t.Setenv("DOCVET_CORPUS", dir)
	return dir
}

// echo is a fake extractor: the document's bytes are its text. "FAIL"
// fails, "LIMIT" hits a limit; the MIME hint is recorded in lastMIME.
func echo(_ context.Context, in doctext.Input, b *doctext.Builder, _ doctext.Options) error {
	data, err := io.ReadAll(io.NewSectionReader(in.R, 0, in.Size))
	if err != nil {
		return err
	}
	mimeMu.Lock()
	lastMIME = in.MIME
	mimeMu.Unlock()
	switch string(data) {
	case "FAIL":
		return io.ErrUnexpectedEOF // a truncated document
	case "LIMIT":
		return &doctext.LimitError{Limit: "chars", Value: 1}
	}
	return b.WriteString(string(data))
}

var (
	mimeMu   sync.Mutex
	lastMIME string
)

// recorder is a testing.TB that collects failures and skips instead of
// reporting them, so the helpers' own verdicts can be tested.
type recorder struct {
	testing.TB
	errs, fatals, skips []string
}

func (r *recorder) Helper()                   {}
func (r *recorder) Logf(string, ...any)       {}
func (r *recorder) Errorf(f string, a ...any) { r.errs = append(r.errs, fmt.Sprintf(f, a...)) }
func (r *recorder) Fatal(a ...any)            { r.fatals = append(r.fatals, fmt.Sprint(a...)); runtime.Goexit() }
func (r *recorder) Fatalf(f string, a ...any) {
	r.fatals = append(r.fatals, fmt.Sprintf(f, a...))
	runtime.Goexit()
}
func (r *recorder) Skipf(f string, a ...any) {
	r.skips = append(r.skips, fmt.Sprintf(f, a...))
	runtime.Goexit()
}

// record runs fn with a recorder on its own goroutine (Fatal and Skip end it).
func record(t *testing.T, fn func(tb testing.TB)) *recorder {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(r)
	}()
	<-done
	return r
}

func (r *recorder) clean() bool { return len(r.errs)+len(r.fatals)+len(r.skips) == 0 }

func TestDirOrSkip(t *testing.T) {
	t.Setenv("DOCVET_CORPUS", t.TempDir()) // no reference/ANCHORS.tsv
	if r := record(t, func(tb testing.TB) { DirOrSkip(tb) }); len(r.skips) != 1 {
		t.Fatalf("no corpus: skips %q", r.skips)
	}
	dir := fakeCorpus(t)
	var got string
	if r := record(t, func(tb testing.TB) { got = DirOrSkip(tb) }); !r.clean() || got != dir {
		t.Fatalf("DirOrSkip = %q (%+v), want %q", got, r, dir)
	}
}

func TestLoad(t *testing.T) {
	fakeCorpus(t)
	var files []File
	r := record(t, func(tb testing.TB) {
		_, files = Load(tb, func(a Anchor) bool { return a.Name != "lost" })
	})
	if !r.clean() {
		t.Fatalf("Load: %+v", r)
	}
	var paths []string
	for _, f := range files {
		paths = append(paths, f.Path)
	}
	want := []string{"broken/z.docx", "docx/x.docx", "docx/y.docx", "misc/a.txt", "misc/b.txt", "misc/c.html"}
	if !reflect.DeepEqual(paths, want) {
		t.Fatalf("paths %q, want %q (sorted, failed anchors dropped)", paths, want)
	}
	x := files[1]
	if len(x.Anchors) != 2 || x.Anchors[0].Name != "docx2txt" || x.Refs[0] != "one two three four 1 9" || x.Refs[1] != "one two three 1 2" {
		t.Fatalf("docx/x.docx: primary anchor and its reference must come first: %+v", x)
	}
	if y := files[2]; len(y.Anchors) != 1 || y.Anchors[0].Name != "libreoffice-7.4" {
		t.Fatalf("docx/y.docx: only the successful anchor: %+v", y)
	}
	if a := files[3]; strings.HasPrefix(a.Refs[0], "\uFEFF") {
		t.Fatal("byte order mark not stripped from reference")
	}
	r = record(t, func(tb testing.TB) { Load(tb, Select("", "lost")) })
	if len(r.fatals) != 1 || !strings.Contains(r.fatals[0], "misc/e.txt") {
		t.Fatalf("unreadable reference: fatals %q", r.fatals)
	}
}

func TestPrimaryRecall(t *testing.T) {
	fakeCorpus(t)
	base := PrimaryRecall{Format: "text", Keep: Select("misc", "decode("), Extract: echo, MinFileRecall: 0.9, MinRecall: 0.5}
	// a.txt: 9 of 9 tokens; b.txt: 2 of 4; c.html: 4 of 7.
	const ab, c = 11.0 / 13, 4.0 / 7
	for _, tt := range []struct {
		name    string
		change  func(*PrimaryRecall)
		errs    []string // substrings, one per expected error
		recall  float64
		nonSkip bool
	}{
		{"file below floor", func(*PrimaryRecall) {}, []string{"misc/b.txt: recall 0.5000 < 0.90"}, ab, true},
		{"per-file exception", func(c *PrimaryRecall) { c.FileFloors = map[string]float64{"misc/b.txt": 0.5} }, nil, ab, true},
		{"stale exception", func(c *PrimaryRecall) {
			c.FileFloors = map[string]float64{"misc/b.txt": 0.5, "misc/gone.txt": 0.1}
		}, []string{"misc/gone.txt: no such scored file"}, ab, true},
		{"total below floor", func(c *PrimaryRecall) {
			c.MinFileRecall, c.MinRecall = 0, 0.9
		}, []string{"text format recall 0.8462 < 0.900"}, ab, true},
		{"clean reference", func(c *PrimaryRecall) {
			c.Clean = func(s string) string { return strings.TrimSuffix(s, " gamma delta") }
		}, nil, 1, true},
		{"identifier missing", func(c *PrimaryRecall) {
			c.Keep, c.MinFileRecall = Select("misc", "html-strip("), 0
		}, []string{"misc/c.html: 1 e-mail/phone identifiers missing"}, c, true},
		{"nothing selected", func(c *PrimaryRecall) { c.Keep = Select("pdf", "") }, nil, 0, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pr := base
			tt.change(&pr)
			var tl Tally
			r := record(t, func(tb testing.TB) { tl = pr.Run(tb) })
			if !tt.nonSkip {
				if len(r.skips) != 1 {
					t.Fatalf("want a skip, got %+v", r)
				}
				return
			}
			if len(r.fatals)+len(r.skips) > 0 || len(r.errs) != len(tt.errs) {
				t.Fatalf("errors %q fatals %q skips %q, want %q", r.errs, r.fatals, r.skips, tt.errs)
			}
			for i, e := range tt.errs {
				if !strings.Contains(r.errs[i], e) {
					t.Errorf("error %q, want %q", r.errs[i], e)
				}
			}
			if tl.Recall() != tt.recall {
				t.Errorf("recall %v, want %v", tl.Recall(), tt.recall)
			}
		})
	}
}

func TestPrimaryRecallMIME(t *testing.T) {
	fakeCorpus(t)
	c := PrimaryRecall{Format: "html", Keep: Select("misc", "html-strip("), Extract: echo, MIME: func(rel string) string { return "x/" + filepath.Ext(rel)[1:] }}
	if r := record(t, func(tb testing.TB) { c.Run(tb) }); len(r.fatals)+len(r.skips) > 0 {
		t.Fatalf("%+v", r)
	}
	mimeMu.Lock()
	defer mimeMu.Unlock()
	if lastMIME != "x/html" {
		t.Fatalf("MIME hint %q, want x/html", lastMIME)
	}
}

func TestBestAnchorRecall(t *testing.T) {
	fakeCorpus(t)
	dump := t.TempDir()
	t.Setenv("DOCVET_DUMP", dump)
	var tok, wrd Tally
	c := BestAnchorRecall{Format: "docx", Extract: echo, MinRecall: 0.8, MinWordRecall: 0.9}
	r := record(t, func(tb testing.TB) { tok, wrd = c.Run(tb) })
	// x: LibreOffice agrees fully (5/5 tokens, 3/3 words), docx2txt does
	// not; y: only LibreOffice (1/2). broken/ is not scored.
	if tok.Files != 2 || tok.Sum.Hits != 6 || tok.Sum.RefTokens != 7 {
		t.Errorf("tokens %+v, want 6/7 over 2 files", tok)
	}
	if wrd.Sum.Hits != 4 || wrd.Sum.RefTokens != 5 || wrd.Macro() != 0.75 {
		t.Errorf("words %+v macro %v, want 4/5, macro 0.75", wrd, wrd.Macro())
	}
	if len(r.errs) != 1 || !strings.Contains(r.errs[0], "words 0.8000 (floor 0.900)") {
		t.Errorf("errors %q, want the word floor", r.errs)
	}
	if b, err := os.ReadFile(filepath.Join(dump, "x.docx.txt")); err != nil || string(b) != "one two three 1 2" {
		t.Errorf("dump: %q %v", b, err)
	}

	c.Keep = func(a Anchor) bool { return a.Path == "broken/z.docx" }
	c.MinRecall, c.MinWordRecall = 0, 0
	r = record(t, func(tb testing.TB) { tok, _ = c.Run(tb) })
	if len(r.errs) != 1 || !strings.Contains(r.errs[0], "unexpected EOF") || tok.Files != 0 {
		t.Errorf("extraction error: errors %q, files %d", r.errs, tok.Files)
	}
}

func TestBench(t *testing.T) {
	fakeCorpus(t)
	if res := testing.Benchmark(func(b *testing.B) { Bench{Extract: echo}.Run(b, "misc", ".txt") }); res.N != 0 {
		t.Errorf("limit error must fail the benchmark unless tolerated: N=%d", res.N)
	}
	res := testing.Benchmark(func(b *testing.B) { Bench{Extract: echo, Tolerate: doctext.ErrLimit}.Run(b, "misc", ".txt") })
	if res.N == 0 || res.Extra["files/s"] <= 0 || res.Bytes == 0 {
		t.Errorf("tolerated limit: %+v", res)
	}
	if res := testing.Benchmark(func(b *testing.B) { Bench{Extract: echo}.Run(b, "misc", ".pdf") }); res.N != 0 {
		t.Errorf("no matching files must skip: N=%d", res.N)
	}
}
