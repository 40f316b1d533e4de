package ingest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/docvet/docvet/extractor"
	"github.com/docvet/docvet/index"
)

func TestPartLen(t *testing.T) {
	docs := func(sizes ...int) []index.Doc {
		var ds []index.Doc
		for _, n := range sizes {
			ds = append(ds, index.Doc{Text: strings.Repeat("x", n)})
		}
		return ds
	}
	for _, tc := range []struct {
		docs []index.Doc
		max  int64
		want int
	}{
		{nil, 10, 0},
		{docs(5, 5, 5), 10, 2},
		{docs(5, 5, 5), 15, 3},
		{docs(5, 5, 5), 14, 2},
		{docs(50, 1, 1), 10, 1}, // a larger document goes alone
		{docs(1, 50, 1), 10, 1},
		{docs(0, 0, 0), 0, 3}, // no text: nothing to bound
	} {
		if got := partLen(tc.docs, tc.max); got != tc.want {
			t.Errorf("partLen(%d docs, %d) = %d, want %d", len(tc.docs), tc.max, got, tc.want)
		}
	}
}

// TestBatchBytes: batches end once the listed sizes reach BatchBytes, and
// everything is still indexed and recorded exactly once.
func TestBatchBytes(t *testing.T) {
	e := newEnv(t)
	opt := testOptions(e.clock)
	opt.BatchBytes = 1000 // BatchSize is 7
	p, err := New(e.st, e.idx, e.ex, e.fetch, opt)
	if err != nil {
		t.Fatal(err)
	}
	e.p = p
	for i := range 10 {
		e.putDoc(fmt.Sprintf("d%d.txt", i), []byte(fmt.Sprintf("word%d %s", i, strings.Repeat("filler ", 56))), nil)
	}
	st := e.once()
	// 400-byte files: a batch is full after 3 (1,200 >= 1,000 bytes).
	if st.Batches != 4 || st.Extracted != 10 {
		t.Fatalf("stats %+v, want 4 batches and 10 extracted", st)
	}
	if e.count() != 10 || e.ledgerCount() != 10 {
		t.Fatalf("index %d, ledger %d", e.count(), e.ledgerCount())
	}
	for i := range 10 {
		if ids := e.search(index.FieldTextFolded, fmt.Sprintf("word%d", i)); len(ids) != 1 {
			t.Fatalf("word%d: %v", i, ids)
		}
	}
	if pos, err := e.p.Position(context.Background(), testDS); err != nil || pos != 10 {
		t.Fatalf("position %d %v", pos, err)
	}
	if st := e.once(); st.Extracted != 0 || st.Skipped != 0 || st.Batches != 0 {
		t.Fatalf("second pass %+v", st)
	}
	// Retries are bounded the same way (by the sizes in the ledger).
	for i := range 7 {
		id := fmt.Sprintf("r%d.txt", i)
		e.putDoc(id, []byte(strings.Repeat("retry ", 67)), nil)
		e.fetch.set(contentURL(id), nil, fmt.Errorf("fetch: %w", &extractor.HTTPStatusError{Code: 503}))
	}
	if st := e.once(); st.FetchFailed != 7 {
		t.Fatalf("failing pass %+v", st)
	}
	for i := range 7 {
		e.fetch.set(contentURL(fmt.Sprintf("r%d.txt", i)), []byte(strings.Repeat("retry ", 67)), nil)
	}
	e.clock.advance(2 * time.Minute)
	if st := e.once(); st.Retried != 7 || st.Extracted != 7 || st.Batches != 3 {
		t.Fatalf("retry pass %+v, want 7 retried in 3 batches", st)
	}
	// A single document larger than BatchBytes forms a batch alone.
	e.putDoc("big.txt", []byte(strings.Repeat("big ", 600)), nil)
	e.putDoc("small.txt", []byte("small"), nil)
	if st := e.once(); st.Batches != 2 || st.Extracted != 2 {
		t.Fatalf("big then small: %+v", st)
	}
}
