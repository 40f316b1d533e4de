package pdf

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/docvet/docvet/extractor/doctext"
)

// FuzzExtract feeds mutated PDFs to the Go engine: it must return (any
// status) without panicking and well within its deadline. Seeds are small
// corpus files (testdata/seed, from the shared corpus; see SOURCES.md there)
// and the hostile files of testdata/hostile.
func FuzzExtract(f *testing.F) {
	for _, pattern := range []string{"testdata/seed/*.pdf", "testdata/hostile/*.pdf"} {
		files, _ := filepath.Glob(pattern)
		for _, p := range files {
			data, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	x := New(Config{Engine: EngineGo, Pdftotext: "-"})
	opt := doctext.Options{Limits: doctext.Limits{MaxChars: 1 << 20, MaxPDFStreamBytes: 4 << 20, MaxPDFPages: 1000}}
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		b := doctext.NewBuilder(opt.Limits.MaxChars)
		_ = x.Extract(ctx, doctext.Input{R: bytes.NewReader(data), Size: int64(len(data))}, b, opt)
		if ctx.Err() != nil {
			t.Fatalf("extraction hit the 10s deadline on a %d-byte input", len(data))
		}
	})
}
