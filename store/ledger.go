package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// LedgerRow records what was indexed for one document: the truth about the
// index, kept outside it so the index can be rebuilt (SPEC §5).
type LedgerRow struct {
	Source           string    `json:"source"` // the dataset the entity came from
	EntityID         string    `json:"entity_id"`
	EntitySeq        int64     `json:"entity_seq"` // the entity version that was processed
	DataType         string    `json:"data_type"`
	SHA256           string    `json:"sha256"`
	Status           string    `json:"status"` // extraction status, or "fetch-failed"
	Reason           string    `json:"reason,omitempty"`
	ExtractorVersion string    `json:"extractor_version"`
	Size             int64     `json:"size"`
	Chars            int64     `json:"chars"`
	Attempts         int       `json:"attempts"`
	Retry            bool      `json:"retry"` // failed for a reason worth retrying (source down, 404)
	IndexedAt        time.Time `json:"indexed_at"`
}

const (
	qPutLedger = `INSERT INTO ledger (source, entity_id, entity_seq, data_type, sha256, status, reason,
			extractor_version, size, chars, attempts, retry, indexed_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (source, entity_id) DO UPDATE SET entity_seq = excluded.entity_seq, data_type = excluded.data_type,
			sha256 = excluded.sha256, status = excluded.status, reason = excluded.reason,
			extractor_version = excluded.extractor_version, size = excluded.size, chars = excluded.chars,
			attempts = excluded.attempts, retry = excluded.retry, indexed_at = excluded.indexed_at`
	qDeleteLedger = `DELETE FROM ledger WHERE source = ? AND entity_id = ?`
)

// PutLedger inserts or replaces the ledger row of a document.
func (t *Tx) PutLedger(r LedgerRow) error {
	_, err := t.exec(qPutLedger,
		r.Source, r.EntityID, r.EntitySeq, r.DataType, r.SHA256, r.Status, r.Reason, r.ExtractorVersion,
		r.Size, r.Chars, r.Attempts, boolInt(r.Retry), t.now.UnixMicro())
	if err != nil {
		return fmt.Errorf("store: write ledger: %w", err)
	}
	return nil
}

// DeleteLedger removes a document's ledger row (the entity was deleted).
func (t *Tx) DeleteLedger(source, entityID string) error {
	_, err := t.exec(qDeleteLedger, source, entityID)
	if err != nil {
		return fmt.Errorf("store: delete ledger row: %w", err)
	}
	return nil
}

const selectLedger = `SELECT source, entity_id, entity_seq, data_type, sha256, status, reason, extractor_version,
	size, chars, attempts, retry, indexed_at FROM ledger`

func scanLedger(r rowScanner) (LedgerRow, error) {
	var (
		l     LedgerRow
		retry int
		ts    int64
	)
	err := r.Scan(&l.Source, &l.EntityID, &l.EntitySeq, &l.DataType, &l.SHA256, &l.Status, &l.Reason,
		&l.ExtractorVersion, &l.Size, &l.Chars, &l.Attempts, &retry, &ts)
	if errors.Is(err, sql.ErrNoRows) {
		return LedgerRow{}, ErrNotFound
	}
	if err != nil {
		return LedgerRow{}, fmt.Errorf("store: read ledger: %w", err)
	}
	l.Retry = retry != 0
	l.IndexedAt = time.UnixMicro(ts)
	return l, nil
}

// Ledger reads the ledger row of one document; ErrNotFound if absent.
func (s *Store) Ledger(ctx context.Context, source, entityID string) (LedgerRow, error) {
	return scanLedger(s.readRow(ctx, selectLedger+` WHERE source = ? AND entity_id = ?`, source, entityID))
}

// LedgerRows streams ledger rows, optionally only those of one source and/or
// not having status notStatus (notStatus "" = all rows).
func (s *Store) LedgerRows(ctx context.Context, source, notStatus string, fn func(LedgerRow) error) error {
	rows, err := s.r.QueryContext(ctx, selectLedger+` WHERE (? = '' OR source = ?) AND (? = '' OR status <> ?)
		ORDER BY source, entity_id`, source, source, notStatus, notStatus)
	if err != nil {
		return fmt.Errorf("store: scan ledger: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		l, err := scanLedger(rows)
		if err != nil {
			return err
		}
		if err := fn(l); err != nil {
			return err
		}
	}
	return rows.Err()
}

// LedgerCounts returns the number of ledger rows per source and status.
func (s *Store) LedgerCounts(ctx context.Context) (map[string]map[string]int64, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT source, status, COUNT(*) FROM ledger GROUP BY source, status`)
	if err != nil {
		return nil, fmt.Errorf("store: count ledger: %w", err)
	}
	defer rows.Close()
	out := map[string]map[string]int64{}
	for rows.Next() {
		var src, st string
		var n int64
		if err := rows.Scan(&src, &st, &n); err != nil {
			return nil, err
		}
		if out[src] == nil {
			out[src] = map[string]int64{}
		}
		out[src][st] = n
	}
	return out, rows.Err()
}
