package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Decision is a reviewer's decision on one row of an access request's
// vetting workbook. The store keeps the decision as JSON so it need not know
// the vetting model.
type Decision struct {
	RequestID string
	RowID     string // the workbook's opaque row id
	DataType  string // the hit's data type
	// Decision is the row's decision (JSON). It may hold text the reviewer
	// typed for delivery: personal data, never logged.
	Decision json.RawMessage
	// What describes the change for the audit log (JSON; kinds of change and
	// metadata key names, never values).
	What      json.RawMessage
	Reviewer  string // the token subject that uploaded the workbook
	DecidedAt time.Time
}

// AuditEntry is one recorded decision, in the append-only audit trail.
type AuditEntry struct {
	Seq       int64
	RequestID string
	RowID     string
	DataType  string
	Reviewer  string
	DecidedAt time.Time
	What      json.RawMessage
}

// ReplaceDecisions stores the decisions of one accepted workbook upload,
// replacing the previous ones of its scope: every decision of the request
// when dataType is "" (the whole-request workbook), else those of that data
// type. Each decision is also appended to the audit trail with reviewer and
// time. A request that is delivering or delivered is refused with
// ErrRequestDelivered; one without a lifecycle row with ErrNotFound.
func (t *Tx) ReplaceDecisions(requestID, dataType, reviewer string, rows []Decision) error {
	cur, err := t.RequestState(requestID)
	if err != nil {
		return err
	}
	if cur.State == RequestDelivering || cur.State == RequestDelivered {
		return fmt.Errorf("store: decisions: %w", ErrRequestDelivered)
	}
	if dataType == "" {
		_, err = t.tx.ExecContext(t.ctx, `DELETE FROM request_decisions WHERE request_id = ?`, requestID)
	} else {
		_, err = t.tx.ExecContext(t.ctx, `DELETE FROM request_decisions WHERE request_id = ? AND data_type = ?`, requestID, dataType)
	}
	if err != nil {
		return fmt.Errorf("store: clear decisions: %w", err)
	}
	now := t.now.UnixMicro()
	ins, err := t.tx.PrepareContext(t.ctx, `INSERT INTO request_decisions
		(request_id, row_id, data_type, decision, reviewer, decided_at) VALUES (?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("store: save decisions: %w", err)
	}
	defer ins.Close()
	audit, err := t.tx.PrepareContext(t.ctx, `INSERT INTO decision_audit
		(request_id, row_id, data_type, reviewer, decided_at, what) VALUES (?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("store: save decisions: %w", err)
	}
	defer audit.Close()
	for _, d := range rows {
		if d.RowID == "" {
			return errors.New("store: decision without row id")
		}
		if dataType != "" && d.DataType != dataType {
			return fmt.Errorf("store: decision of data type %q in a workbook of %q", d.DataType, dataType)
		}
		what := d.What
		if len(what) == 0 {
			what = json.RawMessage("null")
		}
		if _, err := ins.ExecContext(t.ctx, requestID, d.RowID, d.DataType, string(d.Decision), reviewer, now); err != nil {
			return fmt.Errorf("store: save decision: %w", err)
		}
		if _, err := audit.ExecContext(t.ctx, requestID, d.RowID, d.DataType, reviewer, now, string(what)); err != nil {
			return fmt.Errorf("store: audit decision: %w", err)
		}
	}
	return nil
}

// DecidedDataTypes returns the distinct data types that have decisions for
// the request, inside the transaction.
func (t *Tx) DecidedDataTypes(requestID string) (map[string]int64, error) {
	rows, err := t.tx.QueryContext(t.ctx, `SELECT data_type, COUNT(*) FROM request_decisions WHERE request_id = ? GROUP BY data_type`, requestID)
	if err != nil {
		return nil, fmt.Errorf("store: read decisions: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var dt string
		var n int64
		if err := rows.Scan(&dt, &n); err != nil {
			return nil, fmt.Errorf("store: read decisions: %w", err)
		}
		out[dt] = n
	}
	return out, rows.Err()
}

// Decisions streams the current decisions of a request, by data type and
// row id.
func (s *Store) Decisions(ctx context.Context, requestID string, fn func(Decision) error) error {
	rows, err := s.r.QueryContext(ctx, `SELECT row_id, data_type, decision, reviewer, decided_at
		FROM request_decisions WHERE request_id = ? ORDER BY data_type, row_id`, requestID)
	if err != nil {
		return fmt.Errorf("store: read decisions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		d := Decision{RequestID: requestID}
		var body string
		var at int64
		if err := rows.Scan(&d.RowID, &d.DataType, &body, &d.Reviewer, &at); err != nil {
			return fmt.Errorf("store: read decisions: %w", err)
		}
		d.Decision, d.DecidedAt = json.RawMessage(body), time.UnixMicro(at)
		if err := fn(d); err != nil {
			return err
		}
	}
	return rows.Err()
}

// DecisionAudit streams the audit trail of a request's decisions in the
// order they were recorded.
func (s *Store) DecisionAudit(ctx context.Context, requestID string, fn func(AuditEntry) error) error {
	rows, err := s.r.QueryContext(ctx, `SELECT seq, row_id, data_type, reviewer, decided_at, what
		FROM decision_audit WHERE request_id = ? ORDER BY seq`, requestID)
	if err != nil {
		return fmt.Errorf("store: read decision audit: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		e := AuditEntry{RequestID: requestID}
		var what string
		var at int64
		if err := rows.Scan(&e.Seq, &e.RowID, &e.DataType, &e.Reviewer, &at, &what); err != nil {
			return fmt.Errorf("store: read decision audit: %w", err)
		}
		e.What, e.DecidedAt = json.RawMessage(what), time.UnixMicro(at)
		if err := fn(e); err != nil {
			return err
		}
	}
	return rows.Err()
}
