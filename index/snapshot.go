package index

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/blevesearch/bleve/v2/document"
	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"
	bindex "github.com/blevesearch/bleve_index_api"
)

// Snapshot is a point-in-time view of the index: batches applied after it
// was taken are invisible to it, so every query run on one Snapshot sees the
// same documents. The search layer takes one per access request, runs all of
// the subject's queries on it, and closes it. A Snapshot pins index
// segments on disk: close it promptly.
//
// For queries beyond Each and Get, use Reader and Mapping with Bleve's own
// machinery: q.Searcher(ctx, s.Reader(), s.Mapping(), opts).
type Snapshot struct {
	r  bindex.IndexReader
	m  mapping.IndexMapping
	fp string
}

// Snapshot opens a point-in-time view (Bleve's index reader).
func (ix *Index) Snapshot() (*Snapshot, error) {
	if ix.closed.Load() {
		return nil, ErrClosed
	}
	adv, err := ix.b.Advanced()
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	r, err := adv.Reader()
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	fp, err := r.GetInternal([]byte(identifiersKey))
	if err != nil {
		_ = r.Close()
		return nil, fmt.Errorf("snapshot: identifier fingerprint: %w", err)
	}
	return &Snapshot{r: r, m: ix.b.Mapping(), fp: string(fp)}, nil
}

// IdentifiersFingerprint returns the identifiers.Options.Fingerprint the
// index records for the options its identifiers field was built with. A
// search must normalise the subject's identifiers with options of the same
// fingerprint, or its terms cannot match (or match other things).
func (s *Snapshot) IdentifiersFingerprint() string { return s.fp }

// Reader returns the underlying Bleve index reader (valid until Close).
func (s *Snapshot) Reader() bindex.IndexReader { return s.r }

// Mapping returns the index mapping, needed to build Bleve searchers.
func (s *Snapshot) Mapping() mapping.IndexMapping { return s.m }

// Close releases the snapshot.
func (s *Snapshot) Close() error { return s.r.Close() }

// Count returns the number of documents in the snapshot.
func (s *Snapshot) Count() (uint64, error) { return s.r.DocCount() }

// Match is one document matched by a query in Each.
type Match struct {
	ID    string
	Score float64
	// Locations maps field -> term -> locations of the matched terms
	// (positions and byte offsets into the stored text; text_folded offsets
	// are offsets into the text field too, because folding is a token
	// filter). Empty for fields without term vectors (identifiers).
	Locations search.FieldTermLocationMap
}

// Each calls fn for EVERY document matching q in the snapshot (not a top N),
// in index order, with term locations. Build q in code (term, match,
// phrase, disjunction queries); never parse user data as a query string.
func (s *Snapshot) Each(ctx context.Context, q query.Query, fn func(Match) error) error {
	sr, err := q.Searcher(ctx, s.r, s.m, search.SearcherOptions{IncludeTermVectors: true})
	if err != nil {
		return fmt.Errorf("searcher: %w", err)
	}
	defer sr.Close()
	sctx := &search.SearchContext{
		DocumentMatchPool: search.NewDocumentMatchPool(sr.DocumentMatchPoolSize(), 0),
		IndexReader:       s.r,
	}
	for n := 0; ; n++ {
		if n%256 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		dm, err := sr.Next(sctx)
		if err != nil {
			return fmt.Errorf("search: %w", err)
		}
		if dm == nil {
			return nil
		}
		id, err := s.r.ExternalID(dm.IndexInternalID)
		if err != nil {
			return fmt.Errorf("search: %w", err)
		}
		dm.Complete(nil)
		m := Match{ID: id, Score: dm.Score, Locations: dm.Locations}
		sctx.DocumentMatchPool.Put(dm)
		if err := fn(m); err != nil {
			return err
		}
	}
}

// ErrNotFound is returned by Get for an id that is not in the snapshot.
var ErrNotFound = errors.New("document not in index")

// Get returns the stored fields of a document as a Doc (Text, Segments and
// the properties; the identifiers are not stored: run identifiers.Find on
// Text to locate them).
func (s *Snapshot) Get(id string) (Doc, error) {
	d, err := s.r.Document(id)
	if err != nil {
		return Doc{}, fmt.Errorf("get: %w", err)
	}
	if d == nil {
		return Doc{}, ErrNotFound
	}
	out := Doc{ID: id}
	var segs []byte
	var ferr error
	d.VisitFields(func(f bindex.Field) {
		if nf, ok := f.(*document.NumericField); ok {
			if f.Name() == FieldFileSize {
				v, err := nf.Number()
				if err != nil {
					ferr = err
				}
				out.FileSize = int64(v)
			}
			return
		}
		v := string(f.Value())
		switch f.Name() {
		case FieldText:
			out.Text = v
		case FieldSource:
			out.Source = v
		case FieldEntityID:
			out.EntityID = v
		case FieldDataType:
			out.DataType = v
		case FieldDocumentID:
			out.DocumentID = v
		case FieldMIME:
			out.MIMEType = v
		case FieldFilename:
			out.Filename = v
		case FieldOriginalURL:
			out.OriginalURL = v
		case FieldExtractContent:
			out.ExtractContent = v
		case FieldSHA256:
			out.SHA256 = v
		case FieldStatus:
			out.Status = v
		case FieldSegments:
			segs = append([]byte(nil), f.Value()...)
		}
	})
	if ferr != nil {
		return Doc{}, fmt.Errorf("get %s: %w", id, ferr)
	}
	if len(segs) > 0 {
		if err := json.Unmarshal(segs, &out.Segments); err != nil {
			return Doc{}, fmt.Errorf("get %s: segments: %w", id, err)
		}
	}
	return out, nil
}
