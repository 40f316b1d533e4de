package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

func openTest(t *testing.T) *Store {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "docvet.db"), Options{Synchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func put(t *testing.T, s *Store, ds string, ws ...Write) []Result {
	t.Helper()
	var out []Result
	err := s.Update(context.Background(), func(tx *Tx) error {
		for _, w := range ws {
			r, err := tx.Put(ds, w)
			if err != nil {
				return err
			}
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func collect(t *testing.T, s *Store, ds string, since int64, limit int) []Entity {
	t.Helper()
	var out []Entity
	if err := s.Since(context.Background(), ds, since, limit, func(e Entity) error { out = append(out, e); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestPutIsIdempotentAndNormalises(t *testing.T) {
	s := openTest(t)
	r := put(t, s, "d", Write{ID: "a", Body: json.RawMessage(`{"x":1,"y":"two","_updated":99,"_id":"ignored"}`)})
	if !r[0].Changed || r[0].Seq != 1 {
		t.Fatalf("first put: %+v", r[0])
	}
	// Same content, other key order and other system props: no new version.
	r = put(t, s, "d", Write{ID: "a", Body: json.RawMessage(`{ "y":"two", "x":1, "_updated": 7}`)})
	if r[0].Changed || r[0].Seq != 1 {
		t.Fatalf("identical put changed: %+v", r[0])
	}
	r = put(t, s, "d", Write{ID: "a", Body: json.RawMessage(`{"x":2,"y":"two"}`)})
	if !r[0].Changed || r[0].Seq != 2 {
		t.Fatalf("changed put: %+v", r[0])
	}
	e, err := s.Get(context.Background(), "d", "a")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(e.AppendJSON(nil), &m); err != nil {
		t.Fatalf("published JSON invalid: %v: %s", err, e.AppendJSON(nil))
	}
	if m["_id"] != "a" || m["_updated"] != float64(2) || m["_deleted"] != false || m["x"] != float64(2) {
		t.Fatalf("published entity: %v", m)
	}
	if _, err := s.Get(context.Background(), "d", "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing entity: %v", err)
	}
}

func TestPutRejectsNonObject(t *testing.T) {
	s := openTest(t)
	for _, body := range []string{`[1]`, `"x"`, `{`, `null`} {
		err := s.Update(context.Background(), func(tx *Tx) error {
			_, err := tx.Put("d", Write{ID: "a", Body: json.RawMessage(body)})
			return err
		})
		if err == nil {
			t.Errorf("body %s accepted", body)
		}
	}
}

func TestDeleteKeepsLastBody(t *testing.T) {
	s := openTest(t)
	put(t, s, "d", Write{ID: "a", Body: json.RawMessage(`{"k":"v"}`)})
	r := put(t, s, "d", Write{ID: "a", Deleted: true})
	if !r[0].Changed {
		t.Fatal("delete did not publish")
	}
	e, _ := s.Get(context.Background(), "d", "a")
	if !e.Deleted || string(e.Body) != `{"k":"v"}` {
		t.Fatalf("tombstone: %+v %s", e, e.Body)
	}
	if r := put(t, s, "d", Write{ID: "a", Deleted: true}); r[0].Changed {
		t.Fatal("second delete published again")
	}
	// Resurrection is a change.
	if r := put(t, s, "d", Write{ID: "a", Body: json.RawMessage(`{"k":"v"}`)}); !r[0].Changed {
		t.Fatal("resurrect not published")
	}
}

func TestSincePagingNeverSkipsOrRepeats(t *testing.T) {
	s := openTest(t)
	var ws []Write
	for i := range 250 {
		ws = append(ws, Write{ID: fmt.Sprintf("e%03d", i), Body: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))})
	}
	put(t, s, "d", ws...)
	put(t, s, "other", Write{ID: "x", Body: json.RawMessage(`{}`)})
	for _, limit := range []int{1, 7, 100, 250, 1000} {
		seen := map[string]bool{}
		var since int64
		for {
			page := collect(t, s, "d", since, limit)
			if len(page) == 0 {
				break
			}
			for _, e := range page {
				if e.Seq <= since {
					t.Fatalf("limit %d: seq %d not after since %d", limit, e.Seq, since)
				}
				if seen[e.ID] {
					t.Fatalf("limit %d: %s repeated", limit, e.ID)
				}
				seen[e.ID] = true
				since = e.Seq
			}
		}
		if len(seen) != 250 {
			t.Fatalf("limit %d: saw %d of 250", limit, len(seen))
		}
	}
}

// A reader paging while a writer keeps writing must see every version it
// pages over exactly once and end with the final state of every entity.
func TestSinceConcurrentWriter(t *testing.T) {
	s := openTest(t)
	const n, rounds = 50, 20
	writerDone := make(chan error, 1)
	go func() {
		for r := range rounds {
			err := s.Update(context.Background(), func(tx *Tx) error {
				for i := range n {
					if _, err := tx.Put("d", Write{ID: fmt.Sprintf("e%d", i), Body: json.RawMessage(fmt.Sprintf(`{"r":%d}`, r))}); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				writerDone <- err
				return
			}
		}
		writerDone <- nil
	}()
	last := map[string]string{}
	var since int64
	pages := 0
	for finished := false; !finished; {
		select {
		case err := <-writerDone:
			if err != nil {
				t.Fatal(err)
			}
			finished = true // drain once more after the last write
		default:
		}
		for {
			page := collect(t, s, "d", since, 13)
			if len(page) == 0 {
				break
			}
			pages++
			for _, e := range page {
				if e.Seq <= since {
					t.Fatalf("out of order: %d after %d", e.Seq, since)
				}
				since = e.Seq
				last[e.ID] = string(e.Body)
			}
		}
	}
	if len(last) != n {
		t.Fatalf("saw %d entities", len(last))
	}
	for id, b := range last {
		if b != fmt.Sprintf(`{"r":%d}`, rounds-1) {
			t.Fatalf("%s ended at %s", id, b)
		}
	}
	t.Logf("%d pages read while writing", pages)
}

func TestMarkAndSweep(t *testing.T) {
	s := openTest(t)
	put(t, s, "d",
		Write{ID: "a", Body: json.RawMessage(`{}`), Mark: 1},
		Write{ID: "b", Body: json.RawMessage(`{}`), Mark: 1},
		Write{ID: "c", Body: json.RawMessage(`{}`), Mark: 1})
	put(t, s, "keep", Write{ID: "z", Body: json.RawMessage(`{}`)})
	var swept []string
	err := s.Update(context.Background(), func(tx *Tx) error {
		// a unchanged (mark only), b rewritten with mark, c not seen.
		if ok, err := tx.Mark("d", "a", 2); err != nil || !ok {
			return fmt.Errorf("mark a: %v %v", ok, err)
		}
		if ok, _ := tx.Mark("d", "nope", 2); ok {
			return errors.New("marked a missing entity")
		}
		if _, err := tx.Put("d", Write{ID: "b", Body: json.RawMessage(`{}`), Mark: 2}); err != nil {
			return err
		}
		var err error
		swept, err = tx.Sweep("d", 2)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(swept) != 1 || swept[0] != "c" {
		t.Fatalf("swept %v", swept)
	}
	c, _ := s.Count(context.Background(), "d")
	if c.Live != 2 || c.Deleted != 1 {
		t.Fatalf("counts %+v", c)
	}
	if z, _ := s.Get(context.Background(), "keep", "z"); z.Deleted {
		t.Fatal("sweep touched another dataset")
	}
}

func TestRollbackLeavesNothing(t *testing.T) {
	s := openTest(t)
	boom := errors.New("boom")
	err := s.Update(context.Background(), func(tx *Tx) error {
		if _, err := tx.Put("d", Write{ID: "a", Body: json.RawMessage(`{}`)}); err != nil {
			return err
		}
		if err := tx.SetState("since:x", "5"); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if _, err := s.Get(context.Background(), "d", "a"); !errors.Is(err, ErrNotFound) {
		t.Fatal("entity survived rollback")
	}
	if _, err := s.State(context.Background(), "since:x"); !errors.Is(err, ErrNotFound) {
		t.Fatal("state survived rollback")
	}
	// The sequence did not advance either.
	r := put(t, s, "d", Write{ID: "b", Body: json.RawMessage(`{}`)})
	if r[0].Seq != 1 {
		t.Fatalf("seq after rollback = %d", r[0].Seq)
	}
}

func TestReopenKeepsStateAndMigrationsAreIdempotent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	ctx := context.Background()
	s, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	put(t, s, "d", Write{ID: "a", Body: json.RawMessage(`{"v":1}`)})
	if err := s.Update(ctx, func(tx *Tx) error {
		return errors.Join(tx.SetState("k", "v1"), tx.Reject(Rejection{Dataset: "d", EntityID: "bad", Origin: "push", Reason: "unknown data type"}))
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	v, _ := s.SchemaVersion(ctx)
	if v != len(migrations) {
		t.Fatalf("schema version %d", v)
	}
	if st, err := s.State(ctx, "k"); err != nil || st != "v1" {
		t.Fatalf("state %q %v", st, err)
	}
	rj, _ := s.Rejections(ctx, "d", 0)
	if len(rj) != 1 || rj[0].Reason != "unknown data type" {
		t.Fatalf("rejections %+v", rj)
	}
	r := put(t, s, "d", Write{ID: "b", Body: json.RawMessage(`{}`)})
	if r[0].Seq != 2 {
		t.Fatalf("sequence restarted: %d", r[0].Seq)
	}
}

func BenchmarkPut(b *testing.B) {
	s, err := Open(context.Background(), filepath.Join(b.TempDir(), "b.db"), Options{Synchronous: "NORMAL"})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	body := json.RawMessage(`{"gdpr-document:filename":"contract.pdf","gdpr-document:filesize":12345,"gdpr-document:mime-type":"application/pdf"}`)
	i := 0
	for b.Loop() {
		err := s.Update(context.Background(), func(tx *Tx) error {
			for range 1000 {
				i++
				if _, err := tx.Put("d", Write{ID: fmt.Sprintf("doc-%d", i), Body: body}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "entities/s")
}

func TestLedgerRoundTrip(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	rows := []LedgerRow{
		{Source: "source:hr", EntityID: "a", EntitySeq: 3, DataType: "hr", SHA256: "ab", Status: "ok", ExtractorVersion: "1", Size: 10, Chars: 5},
		{Source: "source:hr", EntityID: "b", EntitySeq: 4, DataType: "hr", Status: "failed", Reason: "timeout after 60s", Retry: true, Attempts: 2},
		{Source: "custom-documents", EntityID: "c", EntitySeq: 9, DataType: "mail", Status: "empty", Reason: "no text"},
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
	got, err := s.Ledger(ctx, "source:hr", "b")
	if err != nil || got.Status != "failed" || !got.Retry || got.Attempts != 2 || got.Reason != "timeout after 60s" {
		t.Fatalf("ledger b: %+v %v", got, err)
	}
	var notOK []string
	if err := s.LedgerRows(ctx, "", "ok", func(l LedgerRow) error { notOK = append(notOK, l.EntityID); return nil }); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(notOK) != "[c b]" {
		t.Fatalf("not ok rows: %v", notOK)
	}
	counts, _ := s.LedgerCounts(ctx)
	if counts["source:hr"]["ok"] != 1 || counts["source:hr"]["failed"] != 1 || counts["custom-documents"]["empty"] != 1 {
		t.Fatalf("counts %v", counts)
	}
	if err := s.Update(ctx, func(tx *Tx) error { return tx.DeleteLedger("source:hr", "a") }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Ledger(ctx, "source:hr", "a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted row: %v", err)
	}
}

func TestSecondOpenIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	ctx := context.Background()
	s, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, path, Options{}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second open: %v, want ErrLocked", err)
	}
	s.Close()
	s2, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatalf("open after close: %v", err)
	}
	s2.Close()
}

// The status counts come from the covering index, never from entity rows
// (which carry the bodies), and stay right as entities change.
func TestCountsUseCoveringIndex(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	for _, tc := range []struct {
		query string
		args  []any
	}{{countSQL, []any{"d"}}, {datasetsSQL, nil}} {
		rows, err := s.r.QueryContext(ctx, "EXPLAIN QUERY PLAN "+tc.query, tc.args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		if len(plan) == 0 || !strings.Contains(strings.Join(plan, "; "), "USING COVERING INDEX entities_counts") {
			t.Errorf("plan of %q: %q", tc.query, plan)
		}
	}
	put(t, s, "a", Write{ID: "1", Body: json.RawMessage(`{}`)}, Write{ID: "2", Body: json.RawMessage(`{}`)}, Write{ID: "3", Body: json.RawMessage(`{}`)})
	put(t, s, "b", Write{ID: "1", Body: json.RawMessage(`{}`)})
	put(t, s, "a", Write{ID: "2", Deleted: true})
	c, err := s.Count(ctx, "a")
	if err != nil || c != (Counts{Live: 2, Deleted: 1, LastSeq: 5}) {
		t.Fatalf("count a: %+v %v", c, err)
	}
	if c, err := s.Count(ctx, "none"); err != nil || c != (Counts{}) {
		t.Fatalf("count of an empty dataset: %+v %v", c, err)
	}
	ds, err := s.Datasets(ctx)
	if err != nil || len(ds) != 2 || ds["a"] != c || ds["b"] != (Counts{Live: 1, LastSeq: 4}) {
		t.Fatalf("datasets %+v %v", ds, err)
	}
}

// BenchmarkDatasets measures the /api/status counts over 20000 entities
// with 2 KB bodies, from the covering index and (for comparison, index
// dropped) from the entity rows.
func BenchmarkDatasets(b *testing.B) {
	s, err := Open(context.Background(), filepath.Join(b.TempDir(), "b.db"), Options{Synchronous: "NORMAL"})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	body := json.RawMessage(`{"p":"` + strings.Repeat("x", 2000) + `"}`)
	err = s.Update(context.Background(), func(tx *Tx) error {
		for i := range 20000 {
			if _, err := tx.Put(fmt.Sprintf("d%d", i%4), Write{ID: fmt.Sprint(i), Body: body, Deleted: i%10 == 0}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	run := func(b *testing.B) {
		for b.Loop() {
			if ds, err := s.Datasets(context.Background()); err != nil || len(ds) != 4 {
				b.Fatal(ds, err)
			}
		}
	}
	b.Run("covering-index", run)
	if _, err := s.w.Exec(`DROP INDEX entities_counts`); err != nil {
		b.Fatal(err)
	}
	b.Run("entity-rows", run)
}
