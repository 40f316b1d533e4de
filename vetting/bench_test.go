package vetting

import (
	"bytes"
	"io"
	"testing"
)

// go test -run '^$' -bench . ./vetting/ ; RSS and 10k/100k rows:
// go run ./bench/vetting (numbers in /work/coord/bench-vetting.md).
func BenchmarkExport1k(b *testing.B) {
	in := testInput(testResult(800, 200))
	for b.Loop() {
		if err := Export(io.Discard, in, testKey); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkImport1k(b *testing.B) {
	wb := exportBytes(b, testInput(testResult(800, 200)))
	b.SetBytes(int64(len(wb)))
	for b.Loop() {
		if _, err := Import(bytes.NewReader(wb), int64(len(wb)), ImportInput{RequestID: "req-1"}, testKey); err != nil {
			b.Fatal(err)
		}
	}
}
