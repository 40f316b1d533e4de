package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/blevesearch/bleve/v2/search/query"
	"github.com/docvet/docvet/extractor"
	"github.com/docvet/docvet/index"
	"github.com/docvet/docvet/index/identifiers"
	"github.com/docvet/docvet/sources"
	"github.com/docvet/docvet/store"
)

const (
	testDS   = "source:share"
	testBase = "http://127.0.0.1:9/content/"
)

// fakeFetcher serves bytes by URL, or an injected error.
type fakeFetcher struct {
	mu    sync.Mutex
	files map[string][]byte
	errs  map[string]error
	calls atomic.Int64
}

func newFakeFetcher() *fakeFetcher {
	return &fakeFetcher{files: map[string][]byte{}, errs: map[string]error{}}
}

func (f *fakeFetcher) Fetch(ctx context.Context, rawURL, base string) (io.ReadCloser, error) {
	f.calls.Add(1)
	if _, err := extractor.AllowedURL(rawURL, base); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.errs[rawURL]; err != nil {
		return nil, err
	}
	b, ok := f.files[rawURL]
	if !ok {
		return nil, fmt.Errorf("fetch: %w", &extractor.HTTPStatusError{Code: 404})
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func (f *fakeFetcher) set(url string, b []byte, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.files[url] = b
	if err != nil {
		f.errs[url] = err
	} else {
		delete(f.errs, url)
	}
}

// countingExtractor counts extractions.
type countingExtractor struct {
	ex    Extractor
	calls atomic.Int64
}

func (c *countingExtractor) Extract(ctx context.Context, r io.Reader, h extractor.Hint) (extractor.Result, error) {
	c.calls.Add(1)
	return c.ex.Extract(ctx, r, h)
}

func newInProcessExtractor() *countingExtractor {
	return &countingExtractor{ex: extractor.New(extractor.Options{Pdftotext: "-"})}
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var testIndexOpt = index.Options{
	Identifiers: identifiers.Options{DefaultRegion: "NO"},
	BoltTimeout: 200 * time.Millisecond,
}

type env struct {
	t     *testing.T
	dir   string
	st    *store.Store
	idx   *index.Index
	fetch *fakeFetcher
	ex    *countingExtractor
	clock *fakeClock
	p     *Pipeline
}

func testOptions(clock *fakeClock) Options {
	return Options{
		Datasets:     []string{testDS},
		AllowedBases: func(string) []string { return []string{testBase} },
		BatchSize:    7,
		Concurrency:  4,
		RetryMin:     time.Minute,
		RetryMax:     10 * time.Minute,
		now:          clock.now,
	}
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(context.Background(), filepath.Join(dir, "docvet.db"), store.Options{Synchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &env{t: t, dir: dir, st: st, fetch: newFakeFetcher(), ex: newInProcessExtractor(),
		clock: &fakeClock{t: time.Now()}}
	e.openIndex()
	return e
}

func (e *env) openIndex() {
	e.t.Helper()
	idx, err := index.Open(filepath.Join(e.dir, "index"), testIndexOpt)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { idx.Close() })
	e.idx = idx
	p, err := New(e.st, idx, e.ex, e.fetch, testOptions(e.clock))
	if err != nil {
		e.t.Fatal(err)
	}
	e.p = p
}

func contentURL(id string) string { return testBase + id }

// putDoc stores a document entity whose bytes the fetcher serves.
func (e *env) putDoc(id string, content []byte, extra map[string]any) {
	e.t.Helper()
	e.fetch.set(contentURL(id), content, nil)
	body := map[string]any{
		sources.PropDataTypeID:     "hr",
		sources.PropDocumentID:     "fileshare:" + id,
		sources.PropExtractContent: "~r" + contentURL(id),
		sources.PropOriginalURL:    "~rhttp://files.example/" + id,
		sources.PropFilesize:       len(content),
		sources.PropFilename:       id,
		sources.PropMIMEType:       "text/plain",
	}
	for k, v := range extra {
		body[k] = v
	}
	e.putBody(id, body, false)
}

func (e *env) putBody(id string, body map[string]any, deleted bool) {
	e.t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		e.t.Fatal(err)
	}
	err = e.st.Update(context.Background(), func(tx *store.Tx) error {
		w := store.Write{ID: id, Body: raw, Deleted: deleted}
		if deleted {
			w.Body = nil
		}
		_, err := tx.Put(testDS, w)
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) deleteDoc(id string) { e.putBody(id, nil, true) }

func (e *env) once() Stats {
	e.t.Helper()
	st, err := e.p.Once(context.Background())
	if err != nil {
		e.t.Fatalf("Once: %v", err)
	}
	return st
}

func (e *env) ledger(id string) (store.LedgerRow, bool) {
	e.t.Helper()
	r, err := e.st.Ledger(context.Background(), testDS, id)
	if errors.Is(err, store.ErrNotFound) {
		return r, false
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return r, true
}

// search returns the entity ids matching a term in field.
func (e *env) search(field, term string) []string {
	e.t.Helper()
	s, err := e.idx.Snapshot()
	if err != nil {
		e.t.Fatal(err)
	}
	defer s.Close()
	q := query.NewTermQuery(term)
	q.SetField(field)
	var ids []string
	err = s.Each(context.Background(), q, func(m index.Match) error {
		d, err := s.Get(m.ID)
		if err != nil {
			return err
		}
		ids = append(ids, d.EntityID)
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return ids
}

func (e *env) count() uint64 {
	e.t.Helper()
	n, err := e.idx.Count()
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

func (e *env) ledgerCount() int64 {
	e.t.Helper()
	n, err := ledgerRows(context.Background(), e.st, []string{testDS})
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

func textDoc(i int) []byte {
	return fmt.Appendf(nil, "Document number %d about word%d. Contact person%d@example.org or call +47 912 34 %03d.\n", i, i, i, i%1000)
}
