package fileshare

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/docvet/docvet/store"
)

// BenchmarkRescanNoChange measures a rescan of an unchanged share of 2000
// small files (the steady state of a periodic rescan). The full-size numbers
// come from bench/fileshare.
func BenchmarkRescanNoChange(b *testing.B) {
	dir := b.TempDir()
	root := filepath.Join(dir, "share")
	for i := range 2000 {
		p := filepath.Join(root, fmt.Sprintf("d%02d", i/100), fmt.Sprintf("f%05d.txt", i))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, fmt.Appendf(nil, "document %d", i), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	st, err := store.Open(context.Background(), filepath.Join(dir, "s.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	sh, err := New(root, st, Options{DataType: "x", PublicURL: testPublicURL, Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := sh.Rescan(context.Background()); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := sh.Rescan(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*2000)/b.Elapsed().Seconds(), "files/s")
}
