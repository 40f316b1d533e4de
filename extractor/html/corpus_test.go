package html

import (
	"testing"

	"github.com/docvet/docvet/extractor/internal/corpus"
)

// TestCorpusRecall measures token recall against the html-strip anchors of
// misc/ and checks the e-mail/phone identifiers of the reference. Floors:
// 0.99 per file and 0.995 token-weighted, as for plain text: the anchor
// strips tags like we do, so a miss is a decoding or parsing error.
func TestCorpusRecall(t *testing.T) {
	corpus.PrimaryRecall{
		Format: "html", Keep: corpus.Select("misc", "html-strip("), Extract: Extract,
		Note:          func(data []byte) string { return "meta=" + MetaCharset(data) },
		MinFileRecall: 0.99, MinRecall: 0.995,
	}.Run(t)
}

// benchCorpus extracts every corpus file in dir with one of the suffixes
// per iteration and reports files/s and MB/s.
var benchCorpus = corpus.Bench{Extract: Extract}.Run
