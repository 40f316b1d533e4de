package index

import (
	"sync"
	"unicode/utf8"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/custom"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/keyword"
	"github.com/blevesearch/bleve/v2/analysis/char/asciifolding"
	"github.com/blevesearch/bleve/v2/analysis/token/lowercase"
	"github.com/blevesearch/bleve/v2/analysis/token/truncate"
	"github.com/blevesearch/bleve/v2/analysis/tokenizer/unicode"
	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/registry"
	zapx "github.com/blevesearch/zapx/v17"
	"golang.org/x/text/unicode/norm"
)

// Field names of the index. The search layer queries these by name.
const (
	FieldText           = "text"        // the extracted text, stored only (snippets, delivery); searched via text_folded
	FieldTextFolded     = "text_folded" // the text analysed: unicode words, lower-cased, accents folded (Ødegård -> odegard); term vectors
	FieldIdentifiers    = "identifiers" // keyword, one term per occurrence: identifiers.Term(kind, value)
	FieldSource         = "source"
	FieldEntityID       = "entity_id"
	FieldDataType       = "data_type"
	FieldDocumentID     = "document_id"
	FieldMIME           = "mime"
	FieldFilename       = "filename"
	FieldOriginalURL    = "original_url"
	FieldExtractContent = "extract_content"
	FieldFileSize       = "filesize" // numeric
	FieldSHA256         = "sha256"
	FieldStatus         = "status"
	FieldSegments       = "segments" // stored only: JSON []doctext.Segment
)

// Analyzer names; queries on the text fields must use the field's analyzer
// (match and phrase queries do that by default via the mapping).
const (
	AnalyzerText   = "docvet_text"
	AnalyzerFolded = "docvet_folded"

	foldFilterType = "docvet_fold"
	truncateFilter = "docvet_truncate"
	maxTokenRunes  = 256 // longer "words" are blobs; truncating keeps terms bounded
	// mappingVersion 2: text is stored only, text_folded is the one
	// analysed field (version 1 indexed the text twice).
	mappingVersion   = "docvet-mapping-2"
	mappingVersionKy = "docvet:mapping-version"
	// identifiersKey holds identifiers.Options.Fingerprint of the options
	// the index was built with.
	identifiersKey = "docvet:identifiers"
)

var registerOnce sync.Once

// registerAnalysis adds the fold token filter to Bleve's registry, and
// turns off zap's segment buffer estimate (below). Bleve
// resolves analysis components by name from a process-wide registry (also
// when it re-opens an index and reads the stored mapping), so this cannot be
// per index; it runs once, on first Open, rather than in init.
func registerAnalysis() {
	registerOnce.Do(func() {
		err := registry.RegisterTokenFilter(foldFilterType,
			func(map[string]interface{}, *registry.Cache) (analysis.TokenFilter, error) {
				return foldFilter{}, nil
			})
		if err != nil {
			panic("index: " + err.Error()) // only if another package took our name
		}
		// zap sizes a new segment's buffer up front as the previous
		// segment's bytes per document times (documents + 100). After a
		// batch holding one large document (a spreadsheet with a megabyte
		// of text), the next batch of a few hundred small ones reserved
		// hundreds of megabytes: the real corpus peaked at 0.9-1.5 GB RSS
		// with small batches. Without the estimate the buffer grows as
		// written (at most twice its final size). Process-wide, like the
		// registry; set here, before any index of ours exists.
		zapx.NewSegmentBufferAvgBytesPerDocFactor = 0
	})
}

// foldFilter folds accents per token. Being a token filter (not Bleve's
// asciifolding char filter, which rewrites the text before tokenising), it
// keeps each token's byte offsets into the original text, so a name found in
// text_folded can be located and highlighted in the stored text field, and
// positions are the same as in text.
type foldFilter struct{}

var asciiFold = asciifolding.New()

func (foldFilter) Filter(ts analysis.TokenStream) analysis.TokenStream {
	for _, t := range ts {
		t.Term = foldTerms.fold(t.Term)
	}
	return ts
}

// foldMemo remembers the folded form of short non-ASCII terms: Unicode
// normalisation (NFKD, then NFC) cost ~2% of the ingestion pipeline's CPU,
// almost all of it on the same few thousand words of a language.
type foldMemo struct {
	mu sync.RWMutex
	m  map[string]string
}

// Bounds of the fold memo: terms up to foldMemoTerm bytes, at most
// foldMemoMax of them (forgotten all at once when full; ~2 MB at most).
const (
	foldMemoTerm = 48
	foldMemoMax  = 16 << 10
)

var foldTerms = &foldMemo{m: make(map[string]string)}

// fold returns Fold(term) as a slice the caller owns.
func (c *foldMemo) fold(term []byte) []byte {
	ascii := true
	for _, b := range term {
		if b >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii || len(term) > foldMemoTerm {
		return Fold(term)
	}
	c.mu.RLock()
	f, ok := c.m[string(term)]
	c.mu.RUnlock()
	if ok {
		return []byte(f)
	}
	out := Fold(term)
	c.mu.Lock()
	if len(c.m) >= foldMemoMax {
		clear(c.m)
	}
	c.m[string(term)] = string(out)
	c.mu.Unlock()
	return out
}

// Fold returns the accent-folded form of a lower-cased term: decomposed
// diacritics are removed (é -> e, å -> a, ä -> a) and letters that do not
// decompose are mapped by Lucene's ASCII folding table (ø -> o, æ -> ae,
// ß -> ss, đ -> d, ł -> l). ASCII input is returned unchanged.
func Fold(term []byte) []byte {
	i := 0
	for i < len(term) && term[i] < utf8.RuneSelf {
		i++
	}
	if i == len(term) {
		return term
	}
	d := norm.NFKD.Bytes(term) // may alias term: write to a new slice
	out := make([]byte, 0, len(d))
	for j := 0; j < len(d); {
		r, sz := utf8.DecodeRune(d[j:])
		if r < 0x0300 || r > 0x036F { // combining diacritical marks
			out = append(out, d[j:j+sz]...)
		}
		j += sz
	}
	return asciiFold.Filter(norm.NFC.Bytes(out))
}

// NewMapping returns the explicit index mapping. Nothing is indexed
// dynamically: a property not listed here is neither indexed nor stored.
func NewMapping() (*mapping.IndexMappingImpl, error) {
	registerAnalysis()
	im := bleve.NewIndexMapping()
	if err := im.AddCustomTokenFilter(truncateFilter, map[string]interface{}{
		"type":   truncate.Name,
		"length": float64(maxTokenRunes),
	}); err != nil {
		return nil, err
	}
	if err := im.AddCustomAnalyzer(AnalyzerText, map[string]interface{}{
		"type":          custom.Name,
		"tokenizer":     unicode.Name,
		"token_filters": []string{lowercase.Name, truncateFilter},
	}); err != nil {
		return nil, err
	}
	if err := im.AddCustomAnalyzer(AnalyzerFolded, map[string]interface{}{
		"type":          custom.Name,
		"tokenizer":     unicode.Name,
		"token_filters": []string{lowercase.Name, foldFilterType, truncateFilter},
	}); err != nil {
		return nil, err
	}
	im.DefaultAnalyzer = keyword.Name
	im.IndexDynamic = false
	im.StoreDynamic = false
	im.DocValuesDynamic = false

	dm := bleve.NewDocumentStaticMapping()
	dm.Dynamic = false

	// The text is indexed once, lower-cased and accent-folded, with term
	// vectors (positions for phrases, byte offsets into the stored text for
	// highlighting), and stored once as extracted. Every query of the search
	// layer is case-insensitive and names are accent-insensitive, so a
	// second, unfolded index of the same words (mapping version 1) matched
	// nothing the folded one misses; dropping it cut Bleve's indexing time
	// by a third (BENCHMARKS.md).
	text := mapping.NewTextFieldMapping()
	text.Analyzer = AnalyzerText
	text.Index = false
	text.Store = true
	text.IncludeTermVectors = false
	text.IncludeInAll = false
	text.DocValues = false

	folded := mapping.NewTextFieldMapping()
	folded.Name = FieldTextFolded
	folded.Analyzer = AnalyzerFolded
	folded.Store = false
	folded.IncludeTermVectors = true // phrase queries need positions
	folded.IncludeInAll = false
	folded.DocValues = false
	dm.AddFieldMappingsAt(FieldText, text, folded)

	kw := func(store, docValues bool) *mapping.FieldMapping {
		f := mapping.NewKeywordFieldMapping()
		f.Store = store
		f.IncludeTermVectors = false
		f.IncludeInAll = false
		f.DocValues = docValues
		return f
	}
	dm.AddFieldMappingsAt(FieldIdentifiers, kw(false, false))
	// Small properties are stored so a hit can be reported without the
	// ledger; the ones a reviewer groups by get doc values (facets, sorting).
	dm.AddFieldMappingsAt(FieldSource, kw(true, true))
	dm.AddFieldMappingsAt(FieldEntityID, kw(true, false))
	dm.AddFieldMappingsAt(FieldDataType, kw(true, true))
	dm.AddFieldMappingsAt(FieldDocumentID, kw(true, false))
	dm.AddFieldMappingsAt(FieldMIME, kw(true, true))
	dm.AddFieldMappingsAt(FieldFilename, kw(true, false))
	dm.AddFieldMappingsAt(FieldOriginalURL, kw(true, false))
	dm.AddFieldMappingsAt(FieldExtractContent, kw(true, false))
	dm.AddFieldMappingsAt(FieldSHA256, kw(true, false))
	dm.AddFieldMappingsAt(FieldStatus, kw(true, true))

	size := mapping.NewNumericFieldMapping()
	size.IncludeInAll = false
	dm.AddFieldMappingsAt(FieldFileSize, size)

	segs := mapping.NewTextFieldMapping()
	segs.Analyzer = keyword.Name
	segs.Index = false
	segs.Store = true
	segs.IncludeTermVectors = false
	segs.IncludeInAll = false
	segs.DocValues = false
	dm.AddFieldMappingsAt(FieldSegments, segs)

	im.DefaultMapping = dm
	if err := im.Validate(); err != nil {
		return nil, err
	}
	return im, nil
}
