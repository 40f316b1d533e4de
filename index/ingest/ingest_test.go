package ingest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docvet/docvet/extractor"
	"github.com/docvet/docvet/index"
	"github.com/docvet/docvet/index/identifiers"
	"github.com/docvet/docvet/store"
)

func TestIdempotentReingest(t *testing.T) {
	e := newEnv(t)
	const n = 30
	for i := range n {
		e.putDoc(fmt.Sprintf("doc-%02d.txt", i), textDoc(i), nil)
	}
	st := e.once()
	if st.Extracted != n || st.Entities != n || st.Batches != 5 {
		t.Fatalf("first pass: %+v", st)
	}
	if got := e.count(); got != n {
		t.Fatalf("index count %d, want %d", got, n)
	}
	fetches, extracts := e.fetch.calls.Load(), e.ex.calls.Load()

	// A second pass has nothing to do.
	st = e.once()
	if st != (Stats{}) {
		t.Fatalf("second pass did something: %+v", st)
	}
	// Replaying from the start (a crash before the position was saved,
	// a reset position) skips every entity without downloading it.
	if err := e.st.Update(context.Background(), func(tx *store.Tx) error {
		return tx.DeleteState(DefaultStatePrefix + testDS)
	}); err != nil {
		t.Fatal(err)
	}
	st = e.once()
	if st.Skipped != n || st.Extracted != 0 || st.Reused != 0 {
		t.Fatalf("replay: %+v", st)
	}
	if e.fetch.calls.Load() != fetches || e.ex.calls.Load() != extracts {
		t.Fatalf("replay downloaded or extracted: fetches %d->%d, extracts %d->%d",
			fetches, e.fetch.calls.Load(), extracts, e.ex.calls.Load())
	}
	if got := e.count(); got != n || e.ledgerCount() != n {
		t.Fatalf("index %d, ledger %d, want %d", got, e.ledgerCount(), n)
	}
	r, ok := e.ledger("doc-03.txt")
	if !ok || r.Status != "ok" || r.SHA256 == "" || r.ExtractorVersion != extractor.Version || r.Retry || r.Size != int64(len(textDoc(3))) {
		t.Fatalf("ledger row: %+v", r)
	}
	if ids := e.search(index.FieldIdentifiers, identifiers.Term(identifiers.KindEmail, "person3@example.org")); !slices.Equal(ids, []string{"doc-03.txt"}) {
		t.Fatalf("identifier search: %v", ids)
	}
}

func TestChangeReindexes(t *testing.T) {
	e := newEnv(t)
	e.putDoc("a.txt", []byte("the old wording of alpha"), nil)
	e.putDoc("b.txt", []byte("bravo stays the same"), map[string]any{"gdpr-document:metadata": map[string]any{"v": 1}})
	e.once()
	extracts := e.ex.calls.Load()

	// New bytes: re-extracted, the old text is gone from search.
	e.putDoc("a.txt", []byte("a fresh wording of alpha, longer"), nil)
	// Only metadata changed: same bytes, so the text is reused.
	e.putDoc("b.txt", []byte("bravo stays the same"), map[string]any{
		"gdpr-document:metadata": map[string]any{"v": 2}, "gdpr-document:filename": "renamed.txt"})
	st := e.once()
	if st.Extracted != 1 || st.Reused != 1 || st.Entities != 2 {
		t.Fatalf("pass: %+v", st)
	}
	if got := e.ex.calls.Load() - extracts; got != 1 {
		t.Fatalf("%d extractions, want 1 (b.txt's text must be reused)", got)
	}
	if ids := e.search(index.FieldTextFolded, "old"); len(ids) != 0 {
		t.Fatalf("old text still found: %v", ids)
	}
	if ids := e.search(index.FieldTextFolded, "fresh"); !slices.Equal(ids, []string{"a.txt"}) {
		t.Fatalf("new text not found: %v", ids)
	}
	if ids := e.search(index.FieldTextFolded, "bravo"); !slices.Equal(ids, []string{"b.txt"}) {
		t.Fatalf("reused text not found: %v", ids)
	}
	if ids := e.search(index.FieldFilename, "renamed.txt"); !slices.Equal(ids, []string{"b.txt"}) {
		t.Fatalf("changed property not indexed: %v", ids)
	}
	ra, _ := e.ledger("a.txt")
	rb, _ := e.ledger("b.txt")
	if ra.Size != int64(len("a fresh wording of alpha, longer")) || rb.Status != "ok" || rb.Chars == 0 {
		t.Fatalf("ledger: %+v %+v", ra, rb)
	}
	ea, _ := e.st.Get(context.Background(), testDS, "a.txt")
	if ra.EntitySeq != ea.Seq {
		t.Fatalf("ledger seq %d, entity seq %d", ra.EntitySeq, ea.Seq)
	}
	if e.count() != 2 || e.ledgerCount() != 2 {
		t.Fatalf("count %d ledger %d", e.count(), e.ledgerCount())
	}
}

func TestExtractorVersionChangeReextracts(t *testing.T) {
	e := newEnv(t)
	e.putDoc("a.txt", []byte("alpha"), nil)
	e.once()
	if err := e.st.Update(context.Background(), func(tx *store.Tx) error {
		return tx.DeleteState(DefaultStatePrefix + testDS)
	}); err != nil {
		t.Fatal(err)
	}
	opt := testOptions(e.clock)
	opt.ExtractorVersion = "next"
	p, err := New(e.st, e.idx, e.ex, e.fetch, opt)
	if err != nil {
		t.Fatal(err)
	}
	st, err := p.Once(context.Background())
	if err != nil || st.Extracted != 1 || st.Reused != 0 {
		t.Fatalf("%+v %v", st, err)
	}
	if r, _ := e.ledger("a.txt"); r.ExtractorVersion != "next" {
		t.Fatalf("ledger: %+v", r)
	}
}

func TestDeleteGoneFromSearch(t *testing.T) {
	e := newEnv(t)
	e.putDoc("keep.txt", []byte("write to Kari.Nordmann@Example.NO today"), nil)
	e.putDoc("gone.txt", []byte("ola.nordmann@example.no called 912 34 567"), nil)
	e.once()
	email := identifiers.Term(identifiers.KindEmail, "ola.nordmann@example.no")
	phone := identifiers.Term(identifiers.KindPhone, "+4791234567")
	if ids := e.search(index.FieldIdentifiers, email); !slices.Equal(ids, []string{"gone.txt"}) {
		t.Fatalf("before delete: %v", ids)
	}
	if ids := e.search(index.FieldIdentifiers, phone); !slices.Equal(ids, []string{"gone.txt"}) {
		t.Fatalf("before delete (phone): %v", ids)
	}
	e.deleteDoc("gone.txt")
	st := e.once()
	if st.Deleted != 1 {
		t.Fatalf("pass: %+v", st)
	}
	if ids := e.search(index.FieldIdentifiers, email); len(ids) != 0 {
		t.Fatalf("deleted document still found: %v", ids)
	}
	if ids := e.search(index.FieldIdentifiers, phone); len(ids) != 0 {
		t.Fatalf("deleted document still found by phone: %v", ids)
	}
	if _, ok := e.ledger("gone.txt"); ok {
		t.Fatal("ledger row of deleted document remains")
	}
	if ids := e.search(index.FieldIdentifiers, identifiers.Term(identifiers.KindEmail, "kari.nordmann@example.no")); !slices.Equal(ids, []string{"keep.txt"}) {
		t.Fatalf("other document: %v", ids)
	}
	if e.count() != 1 || e.ledgerCount() != 1 {
		t.Fatalf("count %d ledger %d", e.count(), e.ledgerCount())
	}
}

func TestFetchFailureRecordedAndRetried(t *testing.T) {
	e := newEnv(t)
	e.putDoc("ok.txt", []byte("fine"), nil)
	e.putDoc("down.txt", []byte("the source was down for charlie"), nil)
	e.fetch.set(contentURL("down.txt"), []byte("the source was down for charlie"),
		fmt.Errorf("fetch: %w", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}))
	e.putDoc("missing.txt", []byte("delta"), nil)
	e.fetch.set(contentURL("missing.txt"), nil, nil)
	delete(e.fetch.files, contentURL("missing.txt")) // 404
	e.putDoc("changed.txt", []byte("echo echo"), nil)
	e.fetch.set(contentURL("changed.txt"), []byte("echo echo and more appended since listing"), nil)
	e.putDoc("slow.txt", []byte("foxtrot"), nil)
	e.fetch.set(contentURL("slow.txt"), []byte("foxtrot"), fmt.Errorf("fetch: %w", extractor.ErrTimeout))

	st := e.once()
	if st.FetchFailed != 4 || st.Extracted != 1 {
		t.Fatalf("pass: %+v", st)
	}
	want := map[string]string{
		"down.txt":    "source unreachable",
		"missing.txt": "http status 404",
		"changed.txt": "changed during download",
		"slow.txt":    "timed out",
	}
	for id, reason := range want {
		r, ok := e.ledger(id)
		if !ok || r.Status != StatusFetchFailed || !r.Retry || r.Attempts != 1 || !strings.Contains(r.Reason, reason) {
			t.Fatalf("%s: ledger %+v, want reason containing %q", id, r, reason)
		}
		if strings.Contains(r.Reason, id) || strings.Contains(r.Reason, "http://") {
			t.Fatalf("%s: reason leaks the URL: %q", id, r.Reason)
		}
	}
	// Recorded documents are in the index too (listed, not silently absent).
	if e.count() != 5 || e.ledgerCount() != 5 {
		t.Fatalf("count %d ledger %d", e.count(), e.ledgerCount())
	}
	// The size mismatch still indexed what was downloaded.
	if ids := e.search(index.FieldTextFolded, "appended"); !slices.Equal(ids, []string{"changed.txt"}) {
		t.Fatalf("changed.txt text: %v", ids)
	}
	if ids := e.search(index.FieldStatus, StatusFetchFailed); len(ids) != 4 {
		t.Fatalf("fetch-failed in index: %v", ids)
	}

	// Within the backoff nothing is retried.
	calls := e.fetch.calls.Load()
	if st := e.once(); st != (Stats{}) || e.fetch.calls.Load() != calls {
		t.Fatalf("retried before the backoff: %+v", st)
	}
	// After it, all four are retried; still failing, attempts grow.
	e.clock.advance(61 * time.Second)
	st = e.once()
	if st.Retried != 4 || st.FetchFailed != 4 {
		t.Fatalf("retry pass: %+v", st)
	}
	if r, _ := e.ledger("down.txt"); r.Attempts != 2 || !r.Retry {
		t.Fatalf("after second failure: %+v", r)
	}
	// The second backoff is twice as long (the ledger's indexed-at is the
	// store's clock, which the fake clock started from).
	e.clock.advance(50 * time.Second)
	if st := e.once(); st.Retried != 0 {
		t.Fatalf("retried within the doubled backoff: %+v", st)
	}
	// The source recovers: the next retry indexes everything.
	e.fetch.set(contentURL("down.txt"), []byte("the source was down for charlie"), nil)
	e.fetch.set(contentURL("missing.txt"), []byte("delta"), nil)
	e.fetch.set(contentURL("changed.txt"), []byte("echo echo"), nil)
	e.fetch.set(contentURL("slow.txt"), []byte("foxtrot"), nil)
	e.clock.advance(15 * time.Second)
	st = e.once()
	if st.Retried != 4 || st.Extracted != 4 || st.FetchFailed != 0 {
		t.Fatalf("recovery pass: %+v", st)
	}
	for id := range want {
		if r, _ := e.ledger(id); r.Status != "ok" || r.Retry || r.Attempts != 0 || r.SHA256 == "" {
			t.Fatalf("%s after recovery: %+v", id, r)
		}
	}
	if ids := e.search(index.FieldTextFolded, "charlie"); !slices.Equal(ids, []string{"down.txt"}) {
		t.Fatalf("recovered text: %v", ids)
	}
	if ids := e.search(index.FieldTextFolded, "appended"); len(ids) != 0 {
		t.Fatalf("text of the unlisted version remains: %v", ids)
	}
	e.clock.advance(time.Hour)
	if st := e.once(); st != (Stats{}) {
		t.Fatalf("nothing left to retry, but: %+v", st)
	}
}

// A document that was indexed keeps its text findable while a later
// version cannot be downloaded.
func TestFetchFailureKeepsIndexedText(t *testing.T) {
	e := newEnv(t)
	e.putDoc("a.txt", []byte("golf hotel"), nil)
	e.once()
	e.putDoc("a.txt", []byte("golf hotel india"), nil)
	e.fetch.set(contentURL("a.txt"), nil, fmt.Errorf("fetch: %w", &extractor.HTTPStatusError{Code: 503}))
	if st := e.once(); st.FetchFailed != 1 {
		t.Fatalf("%+v", st)
	}
	if ids := e.search(index.FieldTextFolded, "hotel"); !slices.Equal(ids, []string{"a.txt"}) {
		t.Fatalf("indexed text lost: %v", ids)
	}
	if ids := e.search(index.FieldStatus, StatusFetchFailed); !slices.Equal(ids, []string{"a.txt"}) {
		t.Fatalf("status not updated: %v", ids)
	}
}

// The real Fetcher against an HTTP source: only the allowed base is
// fetched, a 404 is recorded.
func TestRealFetcher(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /content/here.txt", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "juliett kilo")
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	e := newEnv(t)
	opt := testOptions(e.clock)
	opt.AllowedBases = func(string) []string { return []string{srv.URL + "/content/"} }
	p, err := New(e.st, e.idx, e.ex, extractor.NewFetcher(extractor.FetchOptions{}), opt)
	if err != nil {
		t.Fatal(err)
	}
	put := func(id, url string, size int) {
		e.putBody(id, map[string]any{
			"gdpr-data-type:data-type-id": "hr", "gdpr-document:document_id": id,
			"gdpr-document:extract-content": "~r" + url, "gdpr-document:original-url": "~rhttp://x/" + id,
			"gdpr-document:filesize": size, "gdpr-document:mime-type": "text/plain",
		}, false)
	}
	put("here", srv.URL+"/content/here.txt", 12)
	put("absent", srv.URL+"/content/absent.txt", 3)
	put("elsewhere", srv.URL+"/private/secret.txt", 3)
	st, err := p.Once(context.Background())
	if err != nil || st.Extracted != 1 || st.FetchFailed != 2 {
		t.Fatalf("%+v %v", st, err)
	}
	if r, _ := e.ledger("absent"); !strings.Contains(r.Reason, "404") {
		t.Fatalf("absent: %+v", r)
	}
	if r, _ := e.ledger("elsewhere"); !strings.Contains(r.Reason, "outside") || !r.Retry {
		t.Fatalf("elsewhere: %+v", r)
	}
	if ids := e.search(index.FieldTextFolded, "kilo"); !slices.Equal(ids, []string{"here"}) {
		t.Fatalf("%v", ids)
	}
}

func TestNotOKStatusRecordedAndIndexed(t *testing.T) {
	e := newEnv(t)
	// A broken PDF: the extractor reports a non-ok status.
	e.putDoc("broken.pdf", []byte("%PDF-1.4\n1 0 obj << /Type /Catalog >> garbage lima"), map[string]any{
		"gdpr-document:mime-type": "application/pdf"})
	// An entity that is not a valid document.
	e.putBody("bad", map[string]any{"gdpr-data-type:data-type-id": "hr"}, false)
	st := e.once()
	if st.Invalid != 1 || st.Extracted != 1 {
		t.Fatalf("%+v", st)
	}
	r, ok := e.ledger("broken.pdf")
	if !ok || r.Status == "ok" || r.Reason == "" || r.SHA256 == "" {
		t.Fatalf("broken.pdf: %+v", r)
	}
	if ids := e.search(index.FieldStatus, r.Status); !slices.Equal(ids, []string{"broken.pdf"}) {
		t.Fatalf("broken.pdf not indexed with its status: %v", ids)
	}
	r, ok = e.ledger("bad")
	if !ok || r.Status != StatusInvalid || !strings.Contains(r.Reason, "missing gdpr-document:mime-type") {
		t.Fatalf("bad: %+v", r)
	}
	if e.count() != 2 {
		t.Fatalf("count %d", e.count())
	}
}

func TestStatusCounts(t *testing.T) {
	e := newEnv(t)
	for i := range 10 {
		e.putDoc(fmt.Sprintf("d%d.txt", i), textDoc(i), nil)
	}
	e.fetch.set(contentURL("d9.txt"), nil, fmt.Errorf("fetch: %w", &extractor.HTTPStatusError{Code: 500}))
	s, err := ReadStatus(context.Background(), e.st, []string{testDS})
	if err != nil {
		t.Fatal(err)
	}
	if s.Pending != 10 || s.Documents != 0 || s.Sources[testDS].Pending != 10 {
		t.Fatalf("before: %+v", s)
	}
	e.once()
	e.putDoc("late.txt", []byte("late"), nil)
	e.deleteDoc("d0.txt")
	s, err = e.p.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if s.Documents != 10 || s.Statuses["ok"] != 9 || s.Statuses[StatusFetchFailed] != 1 || s.RetryPending != 1 ||
		s.Pending != 2 || s.Sources[testDS].Documents != 10 || s.Sources[testDS].Statuses["ok"] != 9 || s.DocsPerSec <= 0 {
		t.Fatalf("after: %+v", s)
	}
	e.once()
	s, err = ReadStatus(context.Background(), e.st, []string{testDS})
	if err != nil {
		t.Fatal(err)
	}
	ent, _ := e.st.Count(context.Background(), testDS)
	if s.Pending != 0 || s.Documents != 10 || s.Sources[testDS].Position != ent.LastSeq {
		t.Fatalf("caught up: %+v (last seq %d)", s, ent.LastSeq)
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	e := newEnv(t)
	e.putDoc("a.txt", []byte("mike"), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.p.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for e.ledgerCount() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	e.putDoc("b.txt", []byte("november"), nil)
	e.p.Kick()
	for e.ledgerCount() < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop")
	}
	if e.ledgerCount() != 2 {
		t.Fatalf("ledger %d", e.ledgerCount())
	}
}

// An extractor whose pool is gone aborts the pass: nothing is recorded as
// a document failure and the position stays.
func TestInfrastructureErrorAborts(t *testing.T) {
	e := newEnv(t)
	e.putDoc("a.txt", []byte("oscar"), nil)
	pool, err := extractor.NewPool(extractor.PoolOptions{Size: 1, Command: []string{"/nonexistent/docvet", "extract-worker"}})
	if err != nil {
		t.Fatal(err)
	}
	pool.Close()
	p, err := New(e.st, e.idx, pool, e.fetch, testOptions(e.clock))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Once(context.Background()); !errors.Is(err, errAbort) {
		t.Fatalf("err = %v", err)
	}
	if e.ledgerCount() != 0 || e.count() != 0 {
		t.Fatal("a document was recorded")
	}
	if pos, _ := p.Position(context.Background(), testDS); pos != 0 {
		t.Fatalf("position moved to %d", pos)
	}
	// A working extractor then picks it up.
	if st := e.once(); st.Extracted != 1 {
		t.Fatalf("%+v", st)
	}
}
