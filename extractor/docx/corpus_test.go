package docx

import (
	"testing"

	"github.com/docvet/docvet/extractor/doctext"
	"github.com/docvet/docvet/extractor/internal/corpus"
)

// corpusDir is the shared corpus ("" when absent: globs over it then find
// nothing and the tests that use it skip).
var corpusDir, _ = corpus.Dir()

// TestCorpusRecall scores every docx outside broken/ against the better of
// its two anchors (docx2txt and LibreOffice's .lo.txt): each has its own
// artefacts (docx2txt spells € as "Euro", prints raw XML for pretty-printed
// parts and repeats mc:Fallback text; LibreOffice drops text boxes).
// Floors: the achieved corpus recall (see the log) minus a small margin; a
// drop below either is a regression. The word floor counts only tokens with
// a letter, which no tool renders differently.
func TestCorpusRecall(t *testing.T) {
	corpus.BestAnchorRecall{Format: "docx", Extract: Extract, MinRecall: 0.998, MinWordRecall: 0.998}.Run(t)
}

// BenchmarkCorpus extracts every corpus/docx file (all of them, one pass per
// iteration) and reports files/s and input MB/s; bench/office.sh compares
// it with the anchor tool on the same files.
func BenchmarkCorpus(b *testing.B) {
	corpus.Bench{Extract: Extract, Tolerate: doctext.ErrLimit}.Run(b, "docx", ".docx")
}
