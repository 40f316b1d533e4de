package store

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
)

func TestReplaceDecisions(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	put := func(dataType, reviewer string, rows ...Decision) error {
		return s.Update(ctx, func(tx *Tx) error { return tx.ReplaceDecisions("r1", dataType, reviewer, rows) })
	}
	d := func(row, dt, what string) Decision {
		return Decision{RowID: row, DataType: dt, Decision: json.RawMessage(`{"row":"` + row + `"}`), What: json.RawMessage(what)}
	}
	if err := put("", "alice", d("a", "hr", `[]`)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("decisions of an unknown request: %v", err)
	}
	if err := s.Update(ctx, func(tx *Tx) error { return tx.PutRequestState("r1", RequestAwaitingReview, "") }); err != nil {
		t.Fatal(err)
	}
	if err := put("", "alice", d("a", "hr", `[]`), d("b", "hr", `["withheld"]`), d("c", "crm", `[]`)); err != nil {
		t.Fatal(err)
	}
	// A per-type upload replaces only that type's decisions.
	if err := put("crm", "bob", d("c2", "crm", `["file-withheld"]`)); err != nil {
		t.Fatal(err)
	}
	if err := put("crm", "bob", d("x", "hr", `[]`)); err == nil {
		t.Fatal("a decision of another data type was accepted in a scoped upload")
	}
	var got []string
	if err := s.Decisions(ctx, "r1", func(d Decision) error {
		got = append(got, d.DataType+"/"+d.RowID+"/"+d.Reviewer)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := []string{"crm/c2/bob", "hr/a/alice", "hr/b/alice"}
	if len(got) != len(want) {
		t.Fatalf("decisions %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("decisions %v, want %v", got, want)
		}
	}
	var types map[string]int64
	if err := s.Update(ctx, func(tx *Tx) (err error) { types, err = tx.DecidedDataTypes("r1"); return err }); err != nil {
		t.Fatal(err)
	}
	if types["hr"] != 2 || types["crm"] != 1 || len(types) != 2 {
		t.Fatalf("decided types %v", types)
	}
	// The audit trail keeps every decision ever recorded, in order.
	var audit []string
	if err := s.DecisionAudit(ctx, "r1", func(e AuditEntry) error {
		audit = append(audit, e.RowID+":"+e.Reviewer+":"+string(e.What))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	wantAudit := []string{`a:alice:[]`, `b:alice:["withheld"]`, `c:alice:[]`, `c2:bob:["file-withheld"]`}
	if len(audit) != len(wantAudit) {
		t.Fatalf("audit %v, want %v", audit, wantAudit)
	}
	for i := range wantAudit {
		if audit[i] != wantAudit[i] {
			t.Fatalf("audit %v, want %v", audit, wantAudit)
		}
	}
	// Delivered requests keep their decisions.
	if err := s.Update(ctx, func(tx *Tx) error { return tx.PutRequestState("r1", RequestDelivered, "") }); err != nil {
		t.Fatal(err)
	}
	if err := put("", "alice"); !errors.Is(err, ErrRequestDelivered) {
		t.Fatalf("replace after delivery: %v", err)
	}
}
