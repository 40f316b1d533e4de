package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/docvet/docvet/index"
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
	if ids := e.search("text", "word7"); !slices.Equal(ids, []string{"doc-07.txt"}) {
		e.t.Fatalf("search in rebuilt index: %v", ids)
	}
	if ids := e.search("text", "papa"); len(ids) != 0 {
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
