package index

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/docvet/docvet/extractor/doctext"
	"github.com/docvet/docvet/index/identifiers"
	bolterrors "go.etcd.io/bbolt/errors"
	"golang.org/x/sync/errgroup"
)

// Sentinel errors callers branch on.
var (
	// ErrInUse: another process (or another Open in this one) holds the index.
	ErrInUse = errors.New("index is in use by another process")
	// ErrCorrupt: the index exists but cannot be read; rebuild it from the ledger.
	ErrCorrupt = errors.New("index is corrupt or unreadable")
	// ErrIncompatible: the index was built with another mapping version; rebuild it.
	ErrIncompatible = errors.New("index was built with an incompatible mapping")
	// ErrIdentifiersChanged: the index was built with other identifier
	// options (phone region, ID patterns; identifiers.Options.Fingerprint),
	// so its identifiers field does not match what Find returns now;
	// rebuild it (docvet reindex; the pipeline's OpenIndex does it itself).
	ErrIdentifiersChanged = errors.New("index was built with other identifier options")
	// ErrClosed: the Index was closed.
	ErrClosed = errors.New("index is closed")
	// ErrInvalidDoc: a Doc without an identity.
	ErrInvalidDoc = errors.New("invalid index document")
)

// Options tunes an Index. The zero value is usable.
type Options struct {
	// Identifiers configures which identifiers are extracted from the text
	// at index time (default region for phones, ID patterns).
	Identifiers identifiers.Options
	// BoltTimeout is how long Open waits for another holder of the index to
	// let go before returning ErrInUse (default 1s).
	BoltTimeout time.Duration
	// Workers bounds the goroutines that prepare documents in Apply
	// (identifier extraction); default GOMAXPROCS.
	Workers int
	// Scorch is extra Bleve scorch run-time configuration (e.g.
	// "scorchPersisterOptions", "scorchMergePlanOptions"; used by the
	// benchmarks to measure them). "bolt_timeout" and "unsafe_batch" are
	// reserved: batches always wait for persistence.
	Scorch map[string]any
}

func (o Options) withDefaults() Options {
	if o.BoltTimeout <= 0 {
		o.BoltTimeout = time.Second
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	return o
}

// Doc is one document to index: the entity properties of SPEC §1 (except
// metadata), the extraction outcome and the extracted text.
type Doc struct {
	// ID is the index document id. When empty, DocID(Source, EntityID) is
	// used; set it only to that value (it is what Apply's deletes name).
	ID       string
	Source   string // the source / dataset the entity came from
	EntityID string // the entity "_id"

	DataType       string
	DocumentID     string
	MIMEType       string
	Filename       string
	OriginalURL    string
	ExtractContent string
	FileSize       int64

	SHA256   string // hex SHA-256 of the bytes that were extracted
	Status   string // extraction status (doctext.Status values)
	Text     string
	Segments []doctext.Segment
}

// DocID returns the deterministic index id of an entity of a source: a hex
// SHA-256 prefix (128 bits) of source NUL entity-id, so re-indexing the same
// entity replaces it and ids reveal no paths.
func DocID(source, entityID string) string {
	h := sha256.New()
	h.Write([]byte(source))
	h.Write([]byte{0})
	h.Write([]byte(entityID))
	return hex.EncodeToString(h.Sum(nil)[:16])
}

func (d *Doc) id() (string, error) {
	if d.ID != "" {
		return d.ID, nil
	}
	if d.EntityID == "" {
		return "", fmt.Errorf("%w: no ID and no EntityID", ErrInvalidDoc)
	}
	return DocID(d.Source, d.EntityID), nil
}

// bleveDoc is what Bleve sees; the json names are the field names of the
// mapping.
type bleveDoc struct {
	Text           string   `json:"text"`
	Identifiers    []string `json:"identifiers"`
	Source         string   `json:"source"`
	EntityID       string   `json:"entity_id"`
	DataType       string   `json:"data_type"`
	DocumentID     string   `json:"document_id"`
	MIME           string   `json:"mime"`
	Filename       string   `json:"filename"`
	OriginalURL    string   `json:"original_url"`
	ExtractContent string   `json:"extract_content"`
	FileSize       float64  `json:"filesize"`
	SHA256         string   `json:"sha256"`
	Status         string   `json:"status"`
	Segments       string   `json:"segments"`
}

// Index is an open Bleve index. It is safe for concurrent use; Apply calls
// are serialised by Bleve.
type Index struct {
	b         bleve.Index
	opt       Options
	closeOnce sync.Once
	closeErr  error
	closed    atomic.Bool
}

// Open opens the index at path, creating it when the directory holds no
// index. It returns ErrInUse when another holder keeps it locked for longer
// than Options.BoltTimeout, ErrIncompatible for another mapping version,
// ErrIdentifiersChanged when a non-empty index was built with identifier
// options of another Fingerprint, and ErrCorrupt when it exists but cannot be opened for any other reason.
func Open(path string, opt Options) (ix *Index, err error) {
	opt = opt.withDefaults()
	m, err := NewMapping()
	if err != nil {
		return nil, fmt.Errorf("index mapping: %w", err)
	}
	cfg := map[string]interface{}{}
	for k, v := range opt.Scorch {
		cfg[k] = v
	}
	cfg["bolt_timeout"] = opt.BoltTimeout.String()
	delete(cfg, "unsafe_batch")

	_, statErr := os.Stat(filepath.Join(path, "index_meta.json"))
	exists := statErr == nil
	if statErr != nil && !errors.Is(statErr, fs.ErrNotExist) {
		return nil, fmt.Errorf("open index: %w", statErr)
	}
	// Bleve may panic on damaged files; that is a corrupt index, not a crash.
	defer func() {
		if r := recover(); r != nil {
			ix, err = nil, fmt.Errorf("open index: %w: panic: %v", ErrCorrupt, r)
		}
	}()
	var b bleve.Index
	if exists {
		b, err = bleve.OpenUsing(path, cfg)
	} else {
		b, err = bleve.NewUsing(path, m, scorch.Name, scorch.Name, cfg)
	}
	if err != nil {
		switch {
		case errors.Is(err, bolterrors.ErrTimeout):
			return nil, fmt.Errorf("open index: %w", ErrInUse)
		case errors.Is(err, fs.ErrPermission):
			return nil, fmt.Errorf("open index: %w", err)
		case !exists:
			if _, serr := os.Stat(filepath.Join(path, "store")); serr == nil {
				// Index files without index_meta.json: a creation that died.
				return nil, fmt.Errorf("open index: %w: %v", ErrCorrupt, err)
			}
			return nil, fmt.Errorf("create index: %w", err)
		}
		return nil, fmt.Errorf("open index: %w: %v", ErrCorrupt, err)
	}
	ix = &Index{b: b, opt: opt}
	fp := opt.Identifiers.Fingerprint()
	if !exists {
		if err := setMeta(b, fp); err != nil {
			_ = b.Close()
			return nil, fmt.Errorf("create index: %w", err)
		}
		return ix, nil
	}
	v, err := b.GetInternal([]byte(mappingVersionKy))
	if err != nil {
		_ = b.Close()
		return nil, fmt.Errorf("open index: %w: %v", ErrCorrupt, err)
	}
	if len(v) == 0 {
		// Created, then stopped before the version was written: fine while empty.
		if n, cerr := b.DocCount(); cerr == nil && n == 0 {
			if err := setMeta(b, fp); err == nil {
				return ix, nil
			}
		}
	}
	if string(v) != mappingVersion {
		_ = b.Close()
		return nil, fmt.Errorf("open index: %w (found %q, want %q)", ErrIncompatible, v, mappingVersion)
	}
	got, err := b.GetInternal([]byte(identifiersKey))
	if err != nil {
		_ = b.Close()
		return nil, fmt.Errorf("open index: %w: %v", ErrCorrupt, err)
	}
	if string(got) != fp {
		// An empty index takes the current options; a filled one (or one
		// from before the fingerprint was stored) holds terms of others.
		if n, cerr := b.DocCount(); cerr == nil && n == 0 {
			if err := b.SetInternal([]byte(identifiersKey), []byte(fp)); err == nil {
				return ix, nil
			}
		}
		_ = b.Close()
		return nil, fmt.Errorf("open index: %w", ErrIdentifiersChanged)
	}
	return ix, nil
}

// setMeta records the mapping version and the identifier fingerprint in
// a new index.
func setMeta(b bleve.Index, fingerprint string) error {
	if err := b.SetInternal([]byte(identifiersKey), []byte(fingerprint)); err != nil {
		return err
	}
	return b.SetInternal([]byte(mappingVersionKy), []byte(mappingVersion))
}

// Close releases the index. Closing twice is harmless (Bleve panics on it).
// Apply, Count and Snapshot fail after Close.
func (ix *Index) Close() error {
	ix.closeOnce.Do(func() {
		ix.closed.Store(true)
		ix.closeErr = ix.b.Close()
	})
	return ix.closeErr
}

// Count returns the number of documents in the index.
func (ix *Index) Count() (uint64, error) {
	if ix.closed.Load() {
		return 0, ErrClosed
	}
	return ix.b.DocCount()
}

// Apply upserts and deletes documents as ONE Bleve batch, returning after it
// is persisted (scorch waits for persistence unless unsafe_batch is set,
// which we never do). Upserting an id that exists replaces it; an id in both
// lists ends up upserted. Identifiers are extracted from each Doc's text
// here, in parallel.
func (ix *Index) Apply(ctx context.Context, upserts []Doc, deletes []string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if ix.closed.Load() {
		return ErrClosed
	}
	prepared := make([]bleveDoc, len(upserts))
	ids := make([]string, len(upserts))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(ix.opt.Workers)
	for i := range upserts {
		g.Go(func() error {
			if err := gctx.Err(); err != nil {
				return err
			}
			d := &upserts[i]
			id, err := d.id()
			if err != nil {
				return fmt.Errorf("upsert %d: %w", i, err)
			}
			ids[i] = id
			return ix.prepare(d, &prepared[i])
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	b := ix.b.NewBatch()
	for _, id := range deletes {
		if id != "" {
			b.Delete(id)
		}
	}
	for i := range prepared {
		if err := b.Index(ids[i], &prepared[i]); err != nil {
			return fmt.Errorf("batch %s: %w", ids[i], err)
		}
	}
	if b.Size() == 0 {
		return nil
	}
	if err := ix.b.Batch(b); err != nil {
		return fmt.Errorf("index batch: %w", err)
	}
	return nil
}

// prepare fills bd from d: identifier terms (one per occurrence, so the
// term frequency says how often it occurs) and the segments as JSON.
func (ix *Index) prepare(d *Doc, bd *bleveDoc) error {
	found := identifiers.Find(d.Text, ix.opt.Identifiers)
	terms := make([]string, len(found))
	for i, f := range found {
		terms[i] = f.Term()
	}
	segs := ""
	if len(d.Segments) > 0 {
		j, err := json.Marshal(d.Segments)
		if err != nil {
			return fmt.Errorf("segments: %w", err)
		}
		segs = string(j)
	}
	*bd = bleveDoc{
		Text:           d.Text,
		Identifiers:    terms,
		Source:         d.Source,
		EntityID:       d.EntityID,
		DataType:       d.DataType,
		DocumentID:     d.DocumentID,
		MIME:           d.MIMEType,
		Filename:       d.Filename,
		OriginalURL:    d.OriginalURL,
		ExtractContent: d.ExtractContent,
		FileSize:       float64(d.FileSize),
		SHA256:         d.SHA256,
		Status:         d.Status,
		Segments:       segs,
	}
	return nil
}
