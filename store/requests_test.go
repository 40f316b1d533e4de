package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func rowsOf(vals ...string) func(func([]byte) error) error {
	return func(put func([]byte) error) error {
		for _, v := range vals {
			if err := put([]byte(v)); err != nil {
				return err
			}
		}
		return nil
	}
}

type loaded struct {
	header string
	hits   []string
	ns     []string
}

func loadSnapshot(t *testing.T, s *Store, id string) (loaded, error) {
	t.Helper()
	var l loaded
	err := s.SearchResult(context.Background(), id,
		func(b []byte) error { l.header = string(b); return nil },
		func(b []byte) error { l.hits = append(l.hits, string(b)); return nil },
		func(b []byte) error { l.ns = append(l.ns, string(b)); return nil })
	return l, err
}

func TestRequestStateLifecycle(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	if _, err := s.RequestState(ctx, "r1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("absent request: got %v, want ErrNotFound", err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.Update(ctx, func(tx *Tx) error { return tx.PutRequestState("r1", RequestReceived, "") }))
	must(s.Update(ctx, func(tx *Tx) error { return tx.PutRequestState("r2", RequestReceived, "") }))
	r1, err := s.RequestState(ctx, "r1")
	must(err)
	if r1.State != RequestReceived || r1.HasSnapshot || !r1.SearchedAt.IsZero() || r1.CreatedAt.IsZero() {
		t.Fatalf("r1 = %+v", r1)
	}
	must(s.Update(ctx, func(tx *Tx) error { return tx.PutRequestState("r2", RequestFailed, "key expired") }))
	r2, err := s.RequestState(ctx, "r2")
	must(err)
	if r2.State != RequestFailed || r2.Reason != "key expired" || r2.UpdatedAt.Before(r2.CreatedAt) {
		t.Fatalf("r2 = %+v", r2)
	}
	err = s.Update(ctx, func(tx *Tx) error { return tx.PutRequestState("r1", "done", "") })
	if !errors.Is(err, ErrInvalidState) {
		t.Fatalf("unknown state: got %v", err)
	}
	got, err := s.RequestsInState(ctx, RequestReceived)
	must(err)
	if len(got) != 1 || got[0].ID != "r1" {
		t.Fatalf("received = %+v", got)
	}
	got, err = s.RequestsInState(ctx, RequestFailed)
	must(err)
	if len(got) != 1 || got[0].ID != "r2" {
		t.Fatalf("failed = %+v", got)
	}
	if _, err := s.RequestsInState(ctx, "nope"); !errors.Is(err, ErrInvalidState) {
		t.Fatalf("RequestsInState(nope) = %v", err)
	}
}

func TestSaveSearchResultOnceUnlessReplaced(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	if err := s.Update(ctx, func(tx *Tx) error { return tx.PutRequestState("r1", RequestReceived, "") }); err != nil {
		t.Fatal(err)
	}
	if _, err := loadSnapshot(t, s, "r1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("no snapshot yet: %v", err)
	}
	first := SearchSnapshot{Header: []byte(`{"v":1}`), Hits: rowsOf(`{"h":1}`, `{"h":2}`, `{"h":3}`), NotSearchable: rowsOf(`{"n":1}`)}
	if err := s.Update(ctx, func(tx *Tx) error { return tx.SaveSearchResult("r1", first) }); err != nil {
		t.Fatal(err)
	}
	st, err := s.RequestState(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	if st.State != RequestSearched || !st.HasSnapshot || st.Hits != 3 || st.NotSearchable != 1 || st.SearchedAt.IsZero() {
		t.Fatalf("after save: %+v", st)
	}
	l, err := loadSnapshot(t, s, "r1")
	if err != nil {
		t.Fatal(err)
	}
	if l.header != `{"v":1}` || strings.Join(l.hits, ",") != `{"h":1},{"h":2},{"h":3}` || strings.Join(l.ns, ",") != `{"n":1}` {
		t.Fatalf("loaded %+v", l)
	}

	// A second save without Replace is refused and changes nothing.
	second := SearchSnapshot{Header: []byte(`{"v":2}`), Hits: rowsOf(`{"h":9}`)}
	err = s.Update(ctx, func(tx *Tx) error { return tx.SaveSearchResult("r1", second) })
	if !errors.Is(err, ErrSnapshotExists) {
		t.Fatalf("second save: got %v, want ErrSnapshotExists", err)
	}
	if l2, _ := loadSnapshot(t, s, "r1"); l2.header != `{"v":1}` || len(l2.hits) != 3 {
		t.Fatalf("refused save changed the snapshot: %+v", l2)
	}
	// Also after the request moved on (awaiting review).
	if err := s.Update(ctx, func(tx *Tx) error { return tx.PutRequestState("r1", RequestAwaitingReview, "") }); err != nil {
		t.Fatal(err)
	}
	err = s.Update(ctx, func(tx *Tx) error { return tx.SaveSearchResult("r1", second) })
	if !errors.Is(err, ErrSnapshotExists) {
		t.Fatalf("save after review started: got %v", err)
	}

	// Explicit replacement swaps every row.
	second.Replace = true
	if err := s.Update(ctx, func(tx *Tx) error { return tx.SaveSearchResult("r1", second) }); err != nil {
		t.Fatal(err)
	}
	l, err = loadSnapshot(t, s, "r1")
	if err != nil {
		t.Fatal(err)
	}
	if l.header != `{"v":2}` || strings.Join(l.hits, ",") != `{"h":9}` || len(l.ns) != 0 {
		t.Fatalf("replaced snapshot: %+v", l)
	}
	st, _ = s.RequestState(ctx, "r1")
	if st.State != RequestSearched || st.Hits != 1 || st.NotSearchable != 0 {
		t.Fatalf("after replace: %+v", st)
	}

	// Delivered requests keep their snapshot even with Replace.
	if err := s.Update(ctx, func(tx *Tx) error { return tx.PutRequestState("r1", RequestDelivered, "") }); err != nil {
		t.Fatal(err)
	}
	err = s.Update(ctx, func(tx *Tx) error { return tx.SaveSearchResult("r1", first) })
	if !errors.Is(err, ErrRequestDelivered) {
		t.Fatalf("replace delivered: got %v", err)
	}
}

func TestSaveSearchResultIsAtomic(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	boom := errors.New("encoding failed")
	bad := SearchSnapshot{Header: []byte(`{}`), Hits: func(put func([]byte) error) error {
		if err := put([]byte(`{"h":1}`)); err != nil {
			return err
		}
		return boom
	}}
	err := s.Update(ctx, func(tx *Tx) error { return tx.SaveSearchResult("r1", bad) })
	if !errors.Is(err, boom) {
		t.Fatalf("got %v", err)
	}
	if _, err := s.RequestState(ctx, "r1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("failed save left a request row: %v", err)
	}
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM request_hits`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("failed save left %d hit rows (%v)", n, err)
	}
	// A second request's rows are not touched by saving the first.
	for _, id := range []string{"a", "b"} {
		snap := SearchSnapshot{Header: []byte(`{}`), Hits: rowsOf(`{"id":"` + id + `"}`)}
		if err := s.Update(ctx, func(tx *Tx) error { return tx.SaveSearchResult(id, snap) }); err != nil {
			t.Fatal(err)
		}
	}
	la, _ := loadSnapshot(t, s, "a")
	lb, _ := loadSnapshot(t, s, "b")
	if len(la.hits) != 1 || la.hits[0] != `{"id":"a"}` || len(lb.hits) != 1 || lb.hits[0] != `{"id":"b"}` {
		t.Fatalf("a=%+v b=%+v", la, lb)
	}
}

func TestSearchResultStopsOnCallbackError(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	var hits []string
	for i := range 100 {
		hits = append(hits, fmt.Sprintf(`{"i":%d}`, i))
	}
	if err := s.Update(ctx, func(tx *Tx) error {
		return tx.SaveSearchResult("r", SearchSnapshot{Header: []byte(`{}`), Hits: rowsOf(hits...)})
	}); err != nil {
		t.Fatal(err)
	}
	stop := errors.New("stop")
	n := 0
	err := s.SearchResult(ctx, "r", nil, func([]byte) error {
		n++
		if n == 10 {
			return stop
		}
		return nil
	}, nil)
	if !errors.Is(err, stop) || n != 10 {
		t.Fatalf("err=%v n=%d", err, n)
	}
}

func TestLedgerNotOK(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	rows := []LedgerRow{
		{Source: "b", EntityID: "1", DataType: "hr", Status: "partial"},
		{Source: "a", EntityID: "2", DataType: "hr", Status: "failed", Reason: "malformed"},
		{Source: "a", EntityID: "3", DataType: "hr", Status: "ok"},
		{Source: "a", EntityID: "4", DataType: "crm", Status: "fetch-failed"},
		{Source: "a", EntityID: "5", DataType: "crm", Status: "ok"},
		{Source: "a", EntityID: "6", DataType: "sales", Status: "empty"},
	}
	if err := s.Update(ctx, func(tx *Tx) error {
		for _, r := range rows {
			if err := tx.PutLedger(r); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	list := func(dts ...string) string {
		var out []string
		if err := s.LedgerNotOK(ctx, dts, func(r LedgerRow) error {
			out = append(out, r.DataType+"/"+r.Source+"/"+r.EntityID+"/"+r.Status)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return strings.Join(out, ",")
	}
	if got := list(); got != "crm/a/4/fetch-failed,hr/a/2/failed,hr/b/1/partial,sales/a/6/empty" {
		t.Errorf("all: %s", got)
	}
	if got := list("hr", "sales"); got != "hr/a/2/failed,hr/b/1/partial,sales/a/6/empty" {
		t.Errorf("hr+sales: %s", got)
	}
	if got := list("none"); got != "" {
		t.Errorf("none: %s", got)
	}
	// Through the status index, not a scan of the whole ledger.
	r, err := s.r.QueryContext(ctx, "EXPLAIN QUERY PLAN "+selectLedger+` WHERE (status < 'ok' OR status > 'ok') ORDER BY data_type, source, entity_id`)
	if err != nil {
		t.Fatal(err)
	}
	var plan []string
	for r.Next() {
		var id, parent, unused int
		var detail string
		if err := r.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	r.Close()
	if p := strings.Join(plan, "; "); !strings.Contains(p, "ledger_by_status") || strings.Contains(p, "SCAN ledger") {
		t.Errorf("plan: %s", p)
	}
}
