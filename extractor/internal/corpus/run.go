package corpus

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/docvet/docvet/extractor/doctext"
)

// DirOrSkip returns the corpus directory, or skips tb when there is none
// (a checkout without ../shared, and DOCVET_CORPUS unset).
func DirOrSkip(tb testing.TB) string {
	tb.Helper()
	d, err := Dir()
	if err != nil {
		tb.Skipf("skipping corpus test: %v", err)
	}
	return d
}

// File is one corpus file with the successful anchors a test scores it
// against and their reference texts.
type File struct {
	Path    string   // relative to the corpus, e.g. "docx/x.docx"
	Anchors []Anchor // status ok and accepted by the filter, primary first
	Refs    []string // reference text of each anchor, same order
}

// Select accepts the anchors whose name starts with namePrefix (e.g.
// "decode(" for every charset) of the files in folder ("" for any folder).
func Select(folder, namePrefix string) func(Anchor) bool {
	return func(a Anchor) bool {
		return (folder == "" || strings.HasPrefix(a.Path, folder+"/")) && strings.HasPrefix(a.Name, namePrefix)
	}
}

// Load returns the corpus directory and, sorted by path, every file with
// at least one successful anchor that keep accepts, each with those anchors
// and their reference texts (primary first). It skips tb when there is no
// corpus and fails it when ANCHORS.tsv or a listed reference is unreadable.
func Load(tb testing.TB, keep func(Anchor) bool) (string, []File) {
	tb.Helper()
	dir := DirOrSkip(tb)
	all, err := Anchors(dir)
	if err != nil {
		tb.Fatalf("read anchors: %v", err)
	}
	var out []File
	for _, path := range slices.Sorted(maps.Keys(all)) {
		f := File{Path: path}
		for _, a := range all[path] {
			if a.Status != "ok" || !keep(a) {
				continue
			}
			ref, ok := Reference(dir, a)
			if !ok {
				tb.Fatalf("%s: reference of %s unreadable", path, a.Name)
			}
			f.Anchors = append(f.Anchors, a)
			f.Refs = append(f.Refs, ref)
		}
		if len(f.Anchors) > 0 {
			out = append(out, f)
		}
	}
	return dir, out
}

// Extract runs fn over data with an unlimited Builder and default options.
func Extract(fn doctext.ExtractFunc, data []byte, mime string) (*doctext.Builder, error) {
	b := doctext.NewBuilder(0)
	err := fn(context.Background(), doctext.Input{R: bytes.NewReader(data), Size: int64(len(data)), MIME: mime}, b, doctext.Options{})
	return b, err
}

// PrimaryRecall scores one extractor against the primary anchor of the
// files it selects: token recall per file and token-weighted over all, and
// every e-mail address and phone number of a reference must be in our text.
type PrimaryRecall struct {
	Format  string                   // name in the summary line
	Keep    func(Anchor) bool        // the files and anchor to score against
	Extract doctext.ExtractFunc      // the extractor under test
	MIME    func(rel string) string  // MIME hint per file; nil: none
	Note    func(data []byte) string // extra per-file log column (e.g. the detected charset); nil: none
	Clean   func(ref string) string  // strips anchor artefacts from a reference; nil: none

	MinFileRecall float64            // floor for every file
	FileFloors    map[string]float64 // per-file floors (path relative to the corpus) replacing MinFileRecall
	MinRecall     float64            // floor for the token-weighted recall
}

// Run scores every selected file and reports a file or total below its
// floor, a missing identifier, and a FileFloors entry that matches no
// scored file (a stale exception), as test errors.
func (c PrimaryRecall) Run(t testing.TB) Tally {
	t.Helper()
	dir, files := Load(t, c.Keep)
	if len(files) == 0 {
		t.Skipf("no %s references in the corpus", c.Format)
	}
	var total Tally
	used := map[string]bool{}
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(dir, f.Path))
		if err != nil {
			t.Fatal(err)
		}
		mime := ""
		if c.MIME != nil {
			mime = c.MIME(f.Path)
		}
		b, err := Extract(c.Extract, data, mime)
		if err != nil {
			t.Fatalf("%s: %v", f.Path, err)
		}
		ref := f.Refs[0]
		if c.Clean != nil {
			ref = c.Clean(ref)
		}
		s := Compare(ref, b.Text())
		r := total.Add(s)
		note := ""
		if c.Note != nil {
			note = c.Note(data)
		}
		t.Logf("%-58s %-26s recall=%.4f tokens=%-6d warnings=%-2d %s", f.Path, f.Anchors[0].Name, r, s.RefTokens, len(b.Warnings()), note)
		floor := c.MinFileRecall
		if fl, ok := c.FileFloors[f.Path]; ok {
			floor, used[f.Path] = fl, true
		}
		if r < floor {
			t.Errorf("%s: recall %.4f < %.2f", f.Path, r, floor)
		}
		if m := IdentifiersMissing(ref, b.Text()); len(m) > 0 {
			t.Errorf("%s: %d e-mail/phone identifiers missing: %q", f.Path, len(m), m)
		}
	}
	for _, p := range slices.Sorted(maps.Keys(c.FileFloors)) {
		if !used[p] {
			t.Errorf("per-file floor for %s: no such scored file", p)
		}
	}
	t.Logf("%s format: %d files, token-weighted recall %.4f", c.Format, total.Files, total.Recall())
	if total.Recall() < c.MinRecall {
		t.Errorf("%s format recall %.4f < %.3f", c.Format, total.Recall(), c.MinRecall)
	}
	return total
}

// BestAnchorRecall scores one extractor against every successful anchor of
// the files it selects and takes, per file, the anchor it agrees with best
// (see Best), separately for all tokens and for words (Words): each anchor
// has its own artefacts, so the better of them is the fair reference.
type BestAnchorRecall struct {
	Format        string              // name in the summary line
	Keep          func(Anchor) bool   // the files and anchors to score against; nil: Format's files outside broken/, every anchor
	Extract       doctext.ExtractFunc // the extractor under test
	MinRecall     float64             // floor for the token-weighted token recall
	MinWordRecall float64             // floor for the token-weighted word recall
}

// Run scores every selected file, logs per-file recalls with the most
// missed tokens, and reports an extraction error or a total below its floor
// as a test error. With DOCVET_DUMP set to a folder it writes our text of
// each file there, to compare by eye.
func (c BestAnchorRecall) Run(t testing.TB) (tokens, words Tally) {
	t.Helper()
	keep := c.Keep
	if keep == nil {
		keep = func(a Anchor) bool { return a.Format == c.Format && !strings.HasPrefix(a.Path, "broken/") }
	}
	dir, files := Load(t, keep)
	if len(files) == 0 {
		t.Skipf("no %s references in the corpus", c.Format)
	}
	dump := os.Getenv("DOCVET_DUMP")
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(dir, f.Path))
		if err != nil {
			t.Fatal(err)
		}
		b, err := Extract(c.Extract, data, "")
		if err != nil {
			t.Errorf("%s: %v", f.Path, err)
			continue
		}
		if dump != "" {
			if err := os.WriteFile(filepath.Join(dump, filepath.Base(f.Path)+".txt"), []byte(b.Text()), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		gt := Tokens(b.Text())
		gw := Words(gt)
		var ts, ws []Score
		var rts, rws []map[string]int
		for _, ref := range f.Refs {
			rt := Tokens(ref)
			rw := Words(rt)
			rts, rws = append(rts, rt), append(rws, rw)
			ts, ws = append(ts, CompareTokens(rt, gt)), append(ws, CompareTokens(rw, gw))
		}
		bt, bw := Best(ts), Best(ws)
		rt := tokens.Add(ts[bt])
		rw := words.Add(ws[bw])
		t.Logf("%-58.58s tokens %.4f (%d/%d) words %.4f; misses %q %q", filepath.Base(f.Path), rt, ts[bt].Hits, ts[bt].RefTokens, rw,
			TopMisses(rts[bt], gt, 8), TopMisses(rws[bw], gw, 8))
	}
	t.Logf("%s: %d files; token recall micro %.4f macro %.4f; word (has a letter) recall micro %.4f macro %.4f",
		c.Format, len(files), tokens.Recall(), tokens.Macro(), words.Recall(), words.Macro())
	if tokens.Recall() < c.MinRecall || words.Recall() < c.MinWordRecall {
		t.Errorf("%s recall below floor: tokens %.4f (floor %.3f), words %.4f (floor %.3f)",
			c.Format, tokens.Recall(), c.MinRecall, words.Recall(), c.MinWordRecall)
	}
	return tokens, words
}

// Bench measures one extractor over corpus files: see Run.
type Bench struct {
	Extract  doctext.ExtractFunc      // the extractor under test
	MIME     func(name string) string // MIME hint per file name; nil: none
	Tolerate error                    // an error matching this (errors.Is) is no failure; nil: none
}

// Run extracts every file of the corpus folder dir with a name ending in
// one of suffixes, all of them once per b.Loop iteration, and reports
// allocations, input MB/s and files/s. It skips b when the corpus or a
// matching file is missing and fails it on an extraction error.
func (c Bench) Run(b *testing.B, dir string, suffixes ...string) {
	root := DirOrSkip(b)
	ents, err := os.ReadDir(filepath.Join(root, dir))
	if err != nil {
		b.Skipf("corpus folder %s: %v", dir, err)
	}
	type file struct {
		data []byte
		mime string
	}
	var files []file
	var size int64
	for _, e := range ents {
		if e.IsDir() || !slices.ContainsFunc(suffixes, func(s string) bool { return strings.HasSuffix(e.Name(), s) }) {
			continue
		}
		data, err := os.ReadFile(filepath.Join(root, dir, e.Name()))
		if err != nil {
			b.Fatal(err)
		}
		m := ""
		if c.MIME != nil {
			m = c.MIME(e.Name())
		}
		files = append(files, file{data, m})
		size += int64(len(data))
	}
	if len(files) == 0 {
		b.Skipf("no %v files in corpus folder %s", suffixes, dir)
	}
	b.ReportAllocs()
	b.SetBytes(size)
	for b.Loop() {
		for _, f := range files {
			if _, err := Extract(c.Extract, f.data, f.mime); err != nil && (c.Tolerate == nil || !errors.Is(err, c.Tolerate)) {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(len(files)*b.N)/b.Elapsed().Seconds(), "files/s")
}
