package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestAuditChain(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	for i, ev := range []string{"request.received", "workbook.download", "workbook.upload", "delivery.delivered"} {
		if err := s.AppendAudit(ctx, "system", ev, "abc123", map[string]int{"n": i}); err != nil {
			t.Fatal(err)
		}
	}
	sum, err := s.VerifyAudit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Entries != 4 || sum.Head == auditGenesis {
		t.Fatalf("summary %+v", sum)
	}
	var events []string
	if err := s.AuditLog(ctx, 0, "abc123", func(e AuditEvent) error { events = append(events, e.Event); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(events) != 4 || events[1] != "workbook.download" {
		t.Fatalf("events %v", events)
	}

	// The triggers refuse updates and deletes through SQL.
	if _, err := s.w.ExecContext(ctx, `UPDATE audit_log SET actor = 'mallory' WHERE seq = 2`); err == nil {
		t.Fatal("update of the audit log was allowed")
	}
	if _, err := s.w.ExecContext(ctx, `DELETE FROM audit_log WHERE seq = 2`); err == nil {
		t.Fatal("delete from the audit log was allowed")
	}
}

func TestAuditVerifyDetectsTampering(t *testing.T) {
	tests := []struct {
		name   string
		tamper string
	}{
		{"altered field", `UPDATE audit_log SET actor = 'mallory' WHERE seq = 2`},
		{"altered detail", `UPDATE audit_log SET detail = '{"n":9}' WHERE seq = 3`},
		{"removed entry", `DELETE FROM audit_log WHERE seq = 2`},
		{"rehashed entry", `UPDATE audit_log SET event = 'x', hash = 'ff' WHERE seq = 1`},
		{"reordered", `UPDATE audit_log SET seq = 10 WHERE seq = 1`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s := openTest(t)
			for i := range 3 {
				if err := s.AppendAudit(ctx, "system", "e", "r", map[string]int{"n": i}); err != nil {
					t.Fatal(err)
				}
			}
			// An attacker with write access to the file drops the triggers.
			if _, err := s.w.ExecContext(ctx, `DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;`); err != nil {
				t.Fatal(err)
			}
			if _, err := s.w.ExecContext(ctx, tc.tamper); err != nil {
				t.Fatal(err)
			}
			if _, err := s.VerifyAudit(ctx); !errors.Is(err, ErrAuditBroken) {
				t.Fatalf("VerifyAudit = %v, want ErrAuditBroken", err)
			}
		})
	}
}

func TestDeliveryRowsOnce(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	row := DeliveryRow{RequestID: "r1", RowID: "a", DataType: "hr", Outcome: OutcomeDelivered}
	items := []DeliveryItem{{ItemID: "i1", Kind: ItemRecord, Blob: "b1", Size: 10}, {ItemID: "i2", Kind: ItemFile, Blob: "b2", Size: 20}}
	if err := s.Update(ctx, func(tx *Tx) error { return tx.PutDeliveryRow(row, items) }); err != nil {
		t.Fatal(err)
	}
	err := s.Update(ctx, func(tx *Tx) error { return tx.PutDeliveryRow(row, items) })
	if !errors.Is(err, ErrExists) {
		t.Fatalf("second PutDeliveryRow = %v, want ErrExists", err)
	}
	var got []DeliveryItem
	if err := s.DeliveryItems(ctx, "r1", func(it DeliveryItem) error { got = append(got, it); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Kind != ItemFile || got[1].Blob != "b1" {
		t.Fatalf("items %+v", got)
	}
	if it, err := s.DeliveryItem(ctx, "r1", "i2"); err != nil || it.Size != 20 {
		t.Fatalf("DeliveryItem = %+v, %v", it, err)
	}
	if _, err := s.DeliveryItem(ctx, "r2", "i2"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("foreign item: %v", err)
	}
	for blob, want := range map[string]bool{"b1": true, "zz": false} {
		if ok, err := s.BlobReferenced(ctx, blob); err != nil || ok != want {
			t.Fatalf("BlobReferenced(%s) = %v, %v", blob, ok, err)
		}
	}
}

func TestPortalTokenReplaces(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	exp := time.Now().Add(time.Hour)
	for _, h := range []string{"h1", "h2"} {
		if err := s.Update(ctx, func(tx *Tx) error {
			return tx.PutPortalToken(PortalToken{TokenHash: h, RequestID: "r1", Nonce: []byte(h), ExpiresAt: exp})
		}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.PortalTokenByHash(ctx, "h1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("replaced token still found: %v", err)
	}
	p, err := s.PortalTokenOf(ctx, "r1")
	if err != nil || p.TokenHash != "h2" || string(p.Nonce) != "h2" || p.ExpiresAt.UnixMicro() != exp.UnixMicro() {
		t.Fatalf("PortalTokenOf = %+v, %v", p, err)
	}
}

func TestOutbox(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	now := time.Now()
	if err := s.Update(ctx, func(tx *Tx) error {
		if err := tx.Enqueue(NotifyReviewers, "r1", "hr", now); err != nil {
			return err
		}
		if err := tx.Enqueue(NotifyReviewers, "r1", "hr", now); err != nil { // repeat: ignored
			return err
		}
		return tx.Enqueue(NotifySubject, "r1", "", now.Add(time.Hour))
	}); err != nil {
		t.Fatal(err)
	}
	due, err := s.DueNotifications(ctx, now, 10)
	if err != nil || len(due) != 1 || due[0].Kind != NotifyReviewers {
		t.Fatalf("due = %+v, %v", due, err)
	}
	if err := s.Update(ctx, func(tx *Tx) error { return tx.MarkAttempt(due[0].ID, "smtp: 451", now.Add(time.Minute), false) }); err != nil {
		t.Fatal(err)
	}
	next, ok, err := s.NextDue(ctx)
	if err != nil || !ok || next.UnixMicro() != now.Add(time.Minute).UnixMicro() {
		t.Fatalf("NextDue = %v %v %v", next, ok, err)
	}
	if err := s.Update(ctx, func(tx *Tx) error { return tx.MarkSent(due[0].ID) }); err != nil {
		t.Fatal(err)
	}
	var all []OutboxEntry
	if err := s.Notifications(ctx, "r1", func(e OutboxEntry) error { all = append(all, e); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].SentAt.IsZero() || all[0].Attempts != 2 || !all[1].SentAt.IsZero() {
		t.Fatalf("entries %+v", all)
	}
}

// TestAuditKeyed: with a key, the chain verifies only with that key, so a
// rewrite by someone without it is detected.
func TestAuditKeyed(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	s.SetAuditKey([]byte("k1"))
	for range 3 {
		if err := s.AppendAudit(ctx, "system", "e", "r", nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.VerifyAudit(ctx); err != nil {
		t.Fatal(err)
	}
	s.SetAuditKey(nil)
	if _, err := s.VerifyAudit(ctx); !errors.Is(err, ErrAuditBroken) {
		t.Fatalf("verify without the key = %v", err)
	}
	s.SetAuditKey([]byte("k2"))
	if _, err := s.VerifyAudit(ctx); !errors.Is(err, ErrAuditBroken) {
		t.Fatalf("verify with another key = %v", err)
	}
}
