package mail

import (
	"regexp"
	"strings"
	"testing"

	"github.com/docvet/docvet/extractor/internal/corpus"
)

// corpusDir is the shared corpus ("" when absent: globs over it then find
// nothing and the tests that use it skip).
var corpusDir, _ = corpus.Dir()

// anchorMarkers are separators the Python anchor printed, not document text.
var anchorMarkers = regexp.MustCompile(`(?m)^(=== message ===|--- embedded message ---)$`)

func mimeFor(rel string) string {
	if strings.HasSuffix(rel, ".mbox") {
		return "application/mbox"
	}
	return "message/rfc822"
}

// TestCorpusRecall measures token recall against the Python email anchor
// for eml/ and the readable broken/*.eml, and checks every e-mail address
// and phone number of the reference is in our text. Floors: 0.98 per file
// (with the exceptions below) and 0.99 token-weighted.
func TestCorpusRecall(t *testing.T) {
	corpus.PrimaryRecall{
		Format:  "mail",
		Keep:    corpus.Select("", "python-email"),
		Extract: Extract,
		MIME:    mimeFor,
		Clean:   func(ref string) string { return anchorMarkers.ReplaceAllString(ref, "") },
		// Per-file floors below the default, with the reason.
		FileFloors: map[string]float64{
			// Python's walk() descends into message/rfc822 and then prints the
			// embedded message again: its text is in the reference twice.
			"eml/rubymail_attachment_message_rfc822.eml": 0.70,
			"eml/rubymail_multi_address_bounce1.eml":     0.94,
			"eml/enmime_simple_dsn.eml":                  0.93,
			// The anchor did not decode the base64 message/rfc822 part; its
			// reference holds the base64 text, we hold the decoded message.
			"eml/tika_testGroupWiseEml.eml": 0.35,
		},
		MinFileRecall: 0.98,
		MinRecall:     0.99,
	}.Run(t)
}

// benchCorpus extracts every corpus file in dir with one of the suffixes
// per iteration and reports files/s and MB/s (mbox files as mbox, the rest
// sniffed).
var benchCorpus = corpus.Bench{Extract: Extract, MIME: func(name string) string {
	if strings.HasSuffix(name, ".mbox") {
		return "application/mbox"
	}
	return ""
}}.Run
