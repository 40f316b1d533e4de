package xlsx

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/docvet/docvet/extractor/doctext"
	"github.com/docvet/docvet/extractor/internal/corpus"
)

// TestCorpusRecall scores every xlsx outside broken/ against the better of
// its two anchors (xlsx2csv -a and LibreOffice's .lo.txt), for all tokens
// and for words (tokens with a letter). Floors: the achieved corpus recall
// (see the log) minus a small margin; a drop below either is a regression.
// The token floor is lower because xlsx2csv prints raw floats where we
// print what Excel displays ("1,200", "6.2%"); words no tool renders
// differently.
func TestCorpusRecall(t *testing.T) {
	corpus.BestAnchorRecall{Format: "xlsx", Extract: Extract, MinRecall: 0.97, MinWordRecall: 0.997}.Run(t)
}

// corpusDir is the shared corpus ("" when absent: globs and reads under it
// then find nothing and the tests and benchmarks that use it skip).
var corpusDir, _ = corpus.Dir()

// BenchmarkBigSheet measures the largest corpus sheet (7.3 MB of sheet XML,
// ~214k tokens) for time and allocation, and reports the segment count
// that the per-row granularity produces.
func BenchmarkBigSheet(b *testing.B) {
	data, err := os.ReadFile(filepath.Join(corpusDir, "xlsx", "poi_bug62181.xlsx"))
	if err != nil {
		b.Skip("corpus file poi_bug62181.xlsx not present")
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	var segs int
	for b.Loop() {
		bl, err := corpus.Extract(Extract, data, "")
		if err != nil {
			b.Fatal(err)
		}
		segs = len(bl.Segments())
	}
	b.ReportMetric(float64(segs), "segments")
}

// BenchmarkCorpus extracts every corpus/xlsx file (all of them, one pass per
// iteration) and reports files/s and input MB/s; bench/office.sh compares
// it with the anchor tool on the same files.
func BenchmarkCorpus(b *testing.B) {
	corpus.Bench{Extract: Extract, Tolerate: doctext.ErrLimit}.Run(b, "xlsx", ".xlsx")
}
