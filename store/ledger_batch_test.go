package store

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

func TestLedgerBatch(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	// More rows than one query takes, in two sources, ids that need JSON
	// escaping.
	n := ledgerBatchMax + 7
	var ids []string
	if err := s.Update(ctx, func(tx *Tx) error {
		for i := range n {
			id := fmt.Sprintf("fileshare:d/\"q\"\\ æ %d", i)
			ids = append(ids, id)
			if i%3 == 0 {
				continue // no row
			}
			for _, src := range []string{"source:a", "source:b"} {
				if err := tx.PutLedger(LedgerRow{Source: src, EntityID: id, EntitySeq: int64(i), DataType: "t", Status: "ok", Size: int64(len(src))}); err != nil {
					return err
				}
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	got, err := s.LedgerBatch(ctx, "source:a", append(ids, "absent", ids[1]))
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for i, id := range ids {
		r, ok := got[id]
		if i%3 == 0 {
			if ok {
				t.Fatalf("%d: row %+v for an entity without one", i, r)
			}
			continue
		}
		want++
		if !ok || r.Source != "source:a" || r.EntitySeq != int64(i) || r.Size != int64(len("source:a")) {
			t.Fatalf("%d: %+v %v", i, r, ok)
		}
		one, err := s.Ledger(ctx, "source:a", id)
		if err != nil || one != r {
			t.Fatalf("%d: Ledger %+v %v, LedgerBatch %+v", i, one, err, r)
		}
	}
	if len(got) != want {
		t.Fatalf("%d rows, want %d", len(got), want)
	}
	if got, err := s.LedgerBatch(ctx, "source:c", ids); err != nil || len(got) != 0 {
		t.Fatalf("other source: %v %v", got, err)
	}
	if got, err := s.LedgerBatch(ctx, "source:a", nil); err != nil || len(got) != 0 {
		t.Fatalf("no ids: %v %v", got, err)
	}
}

// TestLedgerBatchUsesPrimaryKey: each id is a primary-key lookup, not a
// scan of the source's rows.
func TestLedgerBatchUsesPrimaryKey(t *testing.T) {
	s := openTest(t)
	rows, err := s.r.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+qLedgerBatch, "s", `["a"]`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	p := strings.Join(plan, "; ")
	t.Log(p)
	if !strings.Contains(p, "USING PRIMARY KEY") && !strings.Contains(p, "sqlite_autoindex_ledger_1") {
		t.Fatalf("plan does not use the primary key: %s", p)
	}
	if strings.Contains(p, "SCAN ledger") {
		t.Fatalf("plan scans the ledger: %s", p)
	}
}
