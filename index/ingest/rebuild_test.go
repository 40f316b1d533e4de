package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/docvet/docvet/extractor"
	"github.com/docvet/docvet/index"
	"github.com/docvet/docvet/store"
)

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// ingested returns an env with n documents ingested and its index closed.
func ingested(t *testing.T, n int) *env {
	t.Helper()
	e := newEnv(t)
	for i := range n {
		e.putDoc(fmt.Sprintf("doc-%02d.txt", i), textDoc(i), nil)
	}
	e.putDoc("gone.txt", []byte("papa"), nil)
	e.once()
	e.deleteDoc("gone.txt")
	e.once()
	if err := e.idx.Close(); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) reopen(logs *syncBuffer) (*index.Index, error) {
	opt := testOptions(e.clock)
	opt.Logger = slog.New(slog.NewTextHandler(logs, nil))
	dir := filepath.Join(e.dir, "index")
	idx, err := OpenIndex(context.Background(), e.st, dir, testIndexOpt, e.ex, e.fetch, opt)
	if err == nil {
		e.t.Cleanup(func() { idx.Close() })
		e.idx = idx
		e.p, err = New(e.st, idx, e.ex, e.fetch, testOptions(e.clock))
	}
	return idx, err
}

func (e *env) checkRebuilt(n int) {
	e.t.Helper()
	if got := e.count(); got != uint64(n) {
		e.t.Fatalf("rebuilt index has %d documents, want %d", got, n)
	}
	if ids := e.search(index.FieldTextFolded, "word7"); !slices.Equal(ids, []string{"doc-07.txt"}) {
		e.t.Fatalf("search in rebuilt index: %v", ids)
	}
	if ids := e.search(index.FieldTextFolded, "papa"); len(ids) != 0 {
		e.t.Fatalf("deleted document came back: %v", ids)
	}
	dir := filepath.Join(e.dir, "index")
	for _, left := range []string{dir + rebuildSuffix, dir + oldSuffix, filepath.Join(dir, rebuiltMarker)} {
		if _, err := os.Stat(left); !errors.Is(err, os.ErrNotExist) {
			e.t.Fatalf("%s left behind (%v)", filepath.Base(left), err)
		}
	}
	// The pipeline continues from the rebuilt state: nothing to do.
	if st := e.once(); st != (Stats{}) {
		e.t.Fatalf("pass after rebuild: %+v", st)
	}
	if e.ledgerCount() != int64(n) {
		e.t.Fatalf("ledger %d", e.ledgerCount())
	}
}

func TestCorruptIndexRebuilt(t *testing.T) {
	for _, c := range []struct {
		name   string
		damage func(dir string) error
		reason string
	}{
		{"truncated root.bolt", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, "store", "root.bolt"), []byte("short"), 0o600)
		}, "reason=corrupt"},
		{"garbage meta", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, "index_meta.json"), []byte("{not json"), 0o600)
		}, "reason=corrupt"},
		{"directory lost", os.RemoveAll, "reason=empty-with-ledger"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := ingested(t, 12)
			if err := c.damage(filepath.Join(e.dir, "index")); err != nil {
				t.Fatal(err)
			}
			fetches := e.fetch.calls.Load()
			var logs syncBuffer
			if _, err := e.reopen(&logs); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(logs.String(), "rebuilding") || !strings.Contains(logs.String(), c.reason) ||
				!strings.Contains(logs.String(), "index rebuilt and swapped in") {
				t.Fatalf("log: %s", logs.String())
			}
			if got := e.fetch.calls.Load() - fetches; got != 12 {
				t.Fatalf("rebuild downloaded %d documents, want 12", got)
			}
			e.checkRebuilt(12)
		})
	}
}

func TestRebuildKeepsFailuresAndSwapRecovery(t *testing.T) {
	e := ingested(t, 12)
	dir := filepath.Join(e.dir, "index")
	// docvet reindex: rebuild a healthy index; one source is down now.
	e.fetch.set(contentURL("doc-03.txt"), nil, fmt.Errorf("boom"))
	opt := testOptions(e.clock)
	if err := Rebuild(context.Background(), e.st, dir, testIndexOpt, e.ex, e.fetch, opt); err != nil {
		t.Fatal(err)
	}
	if r, _ := e.ledger("doc-03.txt"); r.Status != StatusFetchFailed || !r.Retry {
		t.Fatalf("failure during rebuild: %+v", r)
	}
	e.fetch.set(contentURL("doc-03.txt"), textDoc(3), nil)

	// A crash between the two renames of the swap: dir is gone, the
	// complete rebuild waits in dir.rebuild. OpenIndex finishes the swap.
	if err := os.Rename(dir, dir+rebuildSuffix); err != nil {
		t.Fatal(err)
	}
	if err := writeMarker(dir + rebuildSuffix); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir+oldSuffix, 0o700); err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	if _, err := e.reopen(&logs); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), "rebuilding") {
		t.Fatalf("rebuilt again instead of finishing the swap: %s", logs.String())
	}
	if e.count() != 12 {
		t.Fatalf("count %d", e.count())
	}
	if _, err := os.Stat(dir + oldSuffix); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("old dir left behind")
	}
	// An incomplete rebuild (no marker) is discarded, not swapped in.
	if err := os.MkdirAll(filepath.Join(dir+rebuildSuffix, "store"), 0o700); err != nil {
		t.Fatal(err)
	}
	e.idx.Close()
	if _, err := e.reopen(&logs); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir + rebuildSuffix); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("incomplete rebuild dir left behind")
	}
	// The failure recorded during the rebuild is retried.
	e.clock.advance(2 * opt.RetryMin)
	if st := e.once(); st.Retried != 1 || st.Extracted != 1 {
		t.Fatalf("retry after rebuild: %+v", st)
	}
	e.checkRebuilt(12)
}

func TestOpenIndexInUse(t *testing.T) {
	e := newEnv(t)
	var logs syncBuffer
	opt := testOptions(e.clock)
	opt.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	_, err := OpenIndex(context.Background(), e.st, filepath.Join(e.dir, "index"), testIndexOpt, e.ex, e.fetch, opt)
	if !errors.Is(err, index.ErrInUse) {
		t.Fatalf("err = %v, want ErrInUse", err)
	}
	if strings.Contains(logs.String(), "rebuild") {
		t.Fatal("an index in use must not be rebuilt")
	}
}

// failingExtractor fails on the document named name: with an error (an
// extractor crash aborts the pass), or by cancelling the pass's context
// (`docvet reindex` stopped with Ctrl-C).
type failingExtractor struct {
	ex     Extractor
	name   string
	cancel context.CancelFunc
}

func (f *failingExtractor) Extract(ctx context.Context, r io.Reader, h extractor.Hint) (extractor.Result, error) {
	if h.Name == f.name {
		if f.cancel != nil {
			f.cancel()
			return extractor.Result{}, ctx.Err()
		}
		return extractor.Result{}, errors.New("extractor worker died")
	}
	return f.ex.Extract(ctx, r, h)
}

// TestInterruptedRebuildSkipsNothing is the review's scenario: a.txt
// changes, b.txt arrives, `docvet reindex` stops on b.txt after committing
// the batch with a.txt v2. The old index stays in use at its old position,
// so after a restart the live pipeline must still index a.txt v2 and b.txt
// although the rebuild rewrote a.txt's ledger row for v2.
func TestInterruptedRebuildSkipsNothing(t *testing.T) {
	for _, mode := range []string{"extractor error", "cancelled", "crash"} {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t)
			// Six fillers and a.txt fill the first rebuild batch (7);
			// b.txt, the newest, is alone in the second.
			for i := range 6 {
				e.putDoc(fmt.Sprintf("doc-%02d.txt", i), textDoc(i), nil)
			}
			e.putDoc("a.txt", []byte("alphaone\n"), nil)
			e.once()
			e.putDoc("a.txt", []byte("alphatwo, longer\n"), nil) // another size: another entity version
			e.putDoc("b.txt", []byte("bravonew\n"), nil)
			if err := e.idx.Close(); err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(e.dir, "index")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			fx := &failingExtractor{ex: e.ex, name: "b.txt"}
			if mode == "cancelled" {
				fx.cancel = cancel
			}
			opt := testOptions(e.clock)
			var err error
			if mode == "crash" {
				// The process dies after the failure: nothing cleans up.
				_, err = buildRebuild(ctx, e.st, dir, testIndexOpt, fx, e.fetch, opt.withDefaults())
			} else {
				err = Rebuild(ctx, e.st, dir, testIndexOpt, fx, e.fetch, opt)
			}
			if err == nil {
				t.Fatal("rebuild did not fail")
			}
			// The bug's precondition: the rebuild rewrote a.txt's row for v2.
			cur, err := e.st.Get(context.Background(), testDS, "a.txt")
			if err != nil {
				t.Fatal(err)
			}
			if r, _ := e.ledger("a.txt"); r.EntitySeq != cur.Seq {
				t.Fatalf("the rebuild did not get to a.txt v2 (row seq %d, entity seq %d): test set-up broken", r.EntitySeq, cur.Seq)
			}
			if mode != "crash" {
				if r, _ := e.ledger("a.txt"); !r.Retry {
					t.Fatalf("row rewritten by the failed rebuild not flagged for retry: %+v", r)
				}
			}

			// Restart: the old index is healthy and opened as it is.
			var logs syncBuffer
			if _, err := e.reopen(&logs); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(dir + rebuildSuffix); !errors.Is(err, os.ErrNotExist) {
				t.Fatal("unfinished rebuild directory left behind")
			}
			if strings.Contains(logs.String(), "rebuilding") {
				t.Fatalf("healthy index rebuilt: %s", logs.String())
			}
			e.once()
			if ids := e.search(index.FieldTextFolded, "alphatwo"); !slices.Equal(ids, []string{"a.txt"}) {
				t.Errorf("a.txt v2 not searchable: %v", ids)
			}
			if ids := e.search(index.FieldTextFolded, "alphaone"); len(ids) != 0 {
				t.Errorf("a.txt v1 still indexed: %v", ids)
			}
			if ids := e.search(index.FieldTextFolded, "bravonew"); !slices.Equal(ids, []string{"b.txt"}) {
				t.Errorf("b.txt not searchable: %v", ids)
			}
			for _, id := range []string{"a.txt", "b.txt"} {
				if r, ok := e.ledger(id); !ok || r.Retry || r.Status != "ok" {
					t.Errorf("%s ledger: %+v", id, r)
				}
			}

			// The unchanged documents the rebuild touched are re-checked
			// once their retry is due: downloaded, not re-extracted.
			extractions := e.ex.calls.Load()
			e.clock.advance(2 * opt.RetryMax)
			if st := e.once(); st.Retried != 6 || st.Reused != 6 {
				t.Fatalf("re-check of the rows the rebuild touched: %+v", st)
			}
			if n := e.ex.calls.Load() - extractions; n != 0 {
				t.Fatalf("%d documents re-extracted, want 0 (same bytes)", n)
			}
			err = e.st.LedgerRows(context.Background(), testDS, "", func(r store.LedgerRow) error {
				if r.Retry {
					t.Errorf("%s still flagged for retry", r.EntityID)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if e.count() != 8 || e.ledgerCount() != 8 {
				t.Fatalf("index %d, ledger %d documents, want 8", e.count(), e.ledgerCount())
			}
			if ids := e.search(index.FieldTextFolded, "word3"); !slices.Equal(ids, []string{"doc-03.txt"}) {
				t.Fatalf("unchanged document lost: %v", ids)
			}
			// A later rebuild succeeds and the pipeline has nothing to do.
			e.idx.Close()
			if err := Rebuild(context.Background(), e.st, dir, testIndexOpt, e.ex, e.fetch, opt); err != nil {
				t.Fatal(err)
			}
			if _, err := e.reopen(&logs); err != nil {
				t.Fatal(err)
			}
			if st := e.once(); st.Extracted+st.Reused+st.Retried != 0 {
				t.Fatalf("pass after a complete rebuild: %+v", st)
			}
			if ids := e.search(index.FieldTextFolded, "alphatwo"); !slices.Equal(ids, []string{"a.txt"}) {
				t.Errorf("a.txt v2 not in the rebuilt index: %v", ids)
			}
			// Nothing left to re-check: the retry scan is back to failures only.
			if ok, err := hasState(context.Background(), e.st, recheckStatePrefix+testDS); err != nil || ok {
				t.Fatalf("re-check flag left set (%v)", err)
			}
		})
	}
}

// TestCrashAfterCompleteRebuild: the rebuild is complete (marker written)
// but the process dies before its positions are moved and the swap done.
// OpenIndex swaps it in with its positions, and nothing is flagged.
func TestCrashAfterCompleteRebuild(t *testing.T) {
	e := ingested(t, 12)
	e.putDoc("doc-12.txt", textDoc(12), nil) // only the rebuild sees it
	dir := filepath.Join(e.dir, "index")
	if _, err := buildRebuild(context.Background(), e.st, dir, testIndexOpt, e.ex, e.fetch, testOptions(e.clock).withDefaults()); err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	if _, err := e.reopen(&logs); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), "rebuilding") || strings.Contains(logs.String(), "unfinished") {
		t.Fatalf("complete rebuild not finished as it is: %s", logs.String())
	}
	if ok, _ := hasState(context.Background(), e.st, recheckStatePrefix+testDS); ok {
		t.Fatal("complete rebuild flagged for re-check")
	}
	e.checkRebuilt(13)
}
