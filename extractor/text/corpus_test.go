package text

import (
	"testing"

	"github.com/docvet/docvet/extractor/internal/corpus"
)

// TestCorpusRecall measures token recall against the decode anchors of
// misc/ and checks the e-mail/phone identifiers of the reference. Floors:
// 0.99 per file and 0.995 token-weighted; every file reaches 1.0 today, a
// miss is a decoding error.
func TestCorpusRecall(t *testing.T) {
	corpus.PrimaryRecall{
		Format: "text", Keep: corpus.Select("misc", "decode("), Extract: Extract,
		Note:          func(data []byte) string { return "detected=" + Detect(data, true) },
		MinFileRecall: 0.99, MinRecall: 0.995,
	}.Run(t)
}

// benchCorpus extracts every corpus file in dir with one of the suffixes
// per iteration and reports files/s and MB/s.
var benchCorpus = corpus.Bench{Extract: Extract}.Run
