package pdf

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/docvet/docvet/extractor/doctext"
)

// BenchmarkCorpus extracts every corpus PDF once per iteration and reports
// files/s and MB/s. Compare with pdftotext over the same files:
// bench/pdf.sh runs both.
func BenchmarkCorpus(b *testing.B) {
	for _, engine := range []struct {
		name string
		cfg  Config
	}{
		{"go", Config{Engine: EngineGo, Pdftotext: "-"}},
		{"pdftotext", Config{Engine: EnginePdftotext}},
	} {
		b.Run(engine.name, func(b *testing.B) {
			x := New(engine.cfg)
			if engine.cfg.Engine == EnginePdftotext && !x.HasPdftotext() {
				b.Skip("pdftotext not installed")
			}
			dir := needCorpus(b)
			files, _ := filepath.Glob(filepath.Join(dir, "pdf", "*.pdf"))
			var docs [][]byte
			var total int64
			for _, f := range files {
				data, err := os.ReadFile(f)
				if err != nil {
					b.Fatal(err)
				}
				docs = append(docs, data)
				total += int64(len(data))
			}
			b.SetBytes(total)
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				for _, data := range docs {
					bl := doctext.NewBuilder(0)
					_ = x.Extract(context.Background(), doctext.Input{R: bytes.NewReader(data), Size: int64(len(data))}, bl, doctext.Options{})
				}
				n++
			}
			b.ReportMetric(float64(n*len(docs))/b.Elapsed().Seconds(), "files/s")
		})
	}
}
