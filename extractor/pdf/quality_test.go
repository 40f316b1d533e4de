package pdf

import (
	"bytes"
	"context"
	"os"
	"path"
	"path/filepath"
	"testing"
	"time"

	"github.com/docvet/docvet/extractor/doctext"
	"github.com/docvet/docvet/extractor/internal/corpus"
)

// needCorpus returns the shared corpus directory or skips.
func needCorpus(t testing.TB) string {
	t.Helper()
	return corpus.DirOrSkip(t)
}

// anchorStatus reads reference/ANCHORS.tsv: rel path -> pdftotext status.
func anchorStatus(t testing.TB, dir string) map[string]string {
	t.Helper()
	all, err := corpus.Anchors(dir)
	if err != nil {
		t.Fatalf("anchors: %v", err)
	}
	out := map[string]string{}
	for rel, as := range all {
		for _, a := range as {
			if a.Name == "pdftotext" {
				out[rel] = a.Status
			}
		}
	}
	return out
}

// tokens is the corpus tokenizer (TestDebugFile diffs with it).
var tokens = corpus.Tokens

type qualityRow struct {
	name    string
	score   corpus.Score
	err     string
	seconds float64
}

// measure extracts every pdf/ file that pdftotext read (ANCHORS.tsv status
// ok) with x and scores it against that reference; extraction errors are
// recorded in the row, not failed.
func measure(t *testing.T, x *Extractor) (rows []qualityRow, total corpus.Score) {
	dir, files := corpus.Load(t, func(a corpus.Anchor) bool { return path.Dir(a.Path) == "pdf" && a.Name == "pdftotext" })
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(dir, f.Path))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		start := time.Now()
		b := doctext.NewBuilder(0)
		xerr := x.Extract(ctx, doctext.Input{R: bytes.NewReader(data), Size: int64(len(data))}, b, doctext.Options{})
		cancel()
		row := qualityRow{name: filepath.Base(f.Path), score: corpus.Compare(f.Refs[0], b.Text()), seconds: time.Since(start).Seconds()}
		if xerr != nil {
			row.err = xerr.Error()
		}
		rows = append(rows, row)
		total.Add(row.score)
	}
	return rows, total
}

// Overall token recall and precision of the Go engine against pdftotext on
// the corpus files pdftotext read. The floors are the values measured when
// this engine was written, minus a small margin.
const (
	minRecall    = 0.975 // measured 0.9784
	minPrecision = 0.975 // measured 0.9805
)

func TestQualityCorpus(t *testing.T) {
	rows, total := measure(t, New(Config{Engine: EngineGo, Pdftotext: "-"}))
	for _, r := range rows {
		prec := r.score.Precision()
		if r.score.GotTokens == 0 {
			prec = 0 // no text is no precision, not a perfect one
		}
		t.Logf("%-58s recall %.3f precision %.3f ref %6d got %6d %5.2fs %s",
			r.name, r.score.Recall(), prec, r.score.RefTokens, r.score.GotTokens, r.seconds, r.err)
	}
	t.Logf("OVERALL recall %.4f precision %.4f over %d files", total.Recall(), total.Precision(), len(rows))
	if total.Recall() < minRecall {
		t.Errorf("overall recall %.4f below %.4f", total.Recall(), minRecall)
	}
	if total.Precision() < minPrecision {
		t.Errorf("overall precision %.4f below %.4f", total.Precision(), minPrecision)
	}
}

// TestQualityEngines reports the overall recall/precision of the auto and
// pdftotext engines (pdftotext is the reference tool, so it measures the
// harness, not quality); the auto engine must not do worse than Go alone.
func TestQualityEngines(t *testing.T) {
	auto := New(Config{})
	if !auto.HasPdftotext() {
		t.Skip("pdftotext not installed; skipping engine comparison")
	}
	_, goTotal := measure(t, New(Config{Engine: EngineGo, Pdftotext: "-"}))
	_, autoTotal := measure(t, auto)
	_, popTotal := measure(t, New(Config{Engine: EnginePdftotext}))
	t.Logf("auto: recall %.4f precision %.4f; pdftotext: recall %.4f precision %.4f",
		autoTotal.Recall(), autoTotal.Precision(), popTotal.Recall(), popTotal.Precision())
	if autoTotal.Recall() < goTotal.Recall() {
		t.Errorf("auto recall %.4f below go recall %.4f", autoTotal.Recall(), goTotal.Recall())
	}
}
