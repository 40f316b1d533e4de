package store

import (
	"context"
	"encoding/json"
	"fmt"
)

// qLedgerBatch reads the ledger rows of a list of entities of one source.
// The ids travel as one JSON array parameter, so there is one statement
// text (prepared once) whatever the number of ids; each id is a primary-key
// lookup.
const qLedgerBatch = selectLedger + ` WHERE source = ? AND entity_id IN (SELECT value FROM json_each(?))`

// ledgerBatchMax bounds the ids of one query (the JSON parameter's size).
const ledgerBatchMax = 1000

// LedgerBatch returns the ledger rows of the given entities of source,
// keyed by entity id; entities without a row are absent. It replaces one
// Ledger call per entity (one query per batch instead of one per document:
// the per-entity lookup cost 4.4% of the ingestion pipeline's CPU).
func (s *Store) LedgerBatch(ctx context.Context, source string, entityIDs []string) (map[string]LedgerRow, error) {
	out := make(map[string]LedgerRow, len(entityIDs))
	for len(entityIDs) > 0 {
		n := min(len(entityIDs), ledgerBatchMax)
		if err := s.ledgerBatch(ctx, source, entityIDs[:n], out); err != nil {
			return nil, err
		}
		entityIDs = entityIDs[n:]
	}
	return out, nil
}

func (s *Store) ledgerBatch(ctx context.Context, source string, ids []string, out map[string]LedgerRow) error {
	arg, err := json.Marshal(ids)
	if err != nil {
		return fmt.Errorf("store: read ledger: %w", err)
	}
	st, err := s.rStmts.get(ctx, s.r, qLedgerBatch)
	if err != nil {
		return fmt.Errorf("store: read ledger: %w", err)
	}
	rows, err := st.QueryContext(ctx, source, string(arg))
	if err != nil {
		return fmt.Errorf("store: read ledger: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		l, err := scanLedger(rows)
		if err != nil {
			return err
		}
		out[l.EntityID] = l
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: read ledger: %w", err)
	}
	return nil
}
