package pdf

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/docvet/docvet/extractor/doctext"
)

// TestDebugFile prints the token diff of one corpus file against its
// reference; run with PDFDEBUG=name.pdf (development aid, skipped otherwise).
func TestDebugFile(t *testing.T) {
	name := os.Getenv("PDFDEBUG")
	if name == "" {
		t.Skip("set PDFDEBUG=file.pdf to diff one corpus file")
	}
	dir := needCorpus(t)
	data, err := os.ReadFile(filepath.Join(dir, "pdf", name))
	if err != nil {
		data, err = os.ReadFile(filepath.Join(dir, "broken", name))
		if err != nil {
			t.Fatal(err)
		}
	}
	b := doctext.NewBuilder(0)
	xerr := New(Config{Engine: EngineGo, Pdftotext: "-"}).Extract(context.Background(), doctext.Input{R: strings.NewReader(string(data)), Size: int64(len(data))}, b, doctext.Options{})
	t.Logf("err=%v warnings=%v", xerr, b.Warnings())
	ref, _ := os.ReadFile(filepath.Join(dir, "reference", "pdf", name+".txt"))
	rt, gt := tokens(string(ref)), tokens(b.Text())
	type kv struct {
		w string
		n int
	}
	var miss, extra []kv
	for w, n := range rt {
		if d := n - gt[w]; d > 0 {
			miss = append(miss, kv{w, d})
		}
	}
	for w, n := range gt {
		if d := n - rt[w]; d > 0 {
			extra = append(extra, kv{w, d})
		}
	}
	sort.Slice(miss, func(i, j int) bool { return miss[i].n > miss[j].n })
	sort.Slice(extra, func(i, j int) bool { return extra[i].n > extra[j].n })
	t.Logf("missing: %v", miss[:min(len(miss), 60)])
	t.Logf("extra: %v", extra[:min(len(extra), 60)])
	if os.Getenv("PDFDEBUGTEXT") != "" {
		os.WriteFile("/tmp/pdfdebug.txt", []byte(b.Text()), 0o600)
	}
}
