package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// ErrExists: the row already has a recorded outcome.
var ErrExists = errors.New("already recorded")

// Delivery row outcomes: what became of one reviewed workbook row.
const (
	OutcomeDelivered   = "delivered"   // metadata/text and, if kept, the file were delivered
	OutcomeWithheld    = "withheld"    // the reviewer deleted the row
	OutcomeChanged     = "changed"     // the document changed since review: not delivered
	OutcomeUnavailable = "unavailable" // the document could not be fetched again: not delivered
)

// Delivery item kinds.
const (
	ItemRecord = "record" // the row's metadata and delivered text (JSON)
	ItemFile   = "file"   // the original file
)

// DeliveryRow is the outcome of one row of a request's delivery.
type DeliveryRow struct {
	RequestID string
	RowID     string
	DataType  string
	Outcome   string
	Reason    string // safe text, never document data
	At        time.Time
}

// DeliveryItem is one encrypted item of a delivered row. Blob is the
// content address (hex SHA-256 of the ciphertext) in the delivery store.
type DeliveryItem struct {
	RequestID string
	ItemID    string
	RowID     string
	DataType  string
	Kind      string
	Blob      string
	Size      int64
	At        time.Time
}

// Bundle is the zip of a request's delivery, stored as a blob.
type Bundle struct {
	RequestID string
	Blob      string
	Size      int64
	At        time.Time
}

// PutDeliveryRow records a row's outcome with its items (none unless
// delivered), in this transaction. A row is recorded once: a second
// outcome for the same row returns ErrExists, so a resumed delivery that
// raced itself never publishes twice.
func (t *Tx) PutDeliveryRow(r DeliveryRow, items []DeliveryItem) error {
	now := t.now.UnixMicro()
	res, err := t.tx.ExecContext(t.ctx, `INSERT INTO delivery_rows (request_id, row_id, data_type, outcome, reason, at)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`, r.RequestID, r.RowID, r.DataType, r.Outcome, r.Reason, now)
	if err != nil {
		return fmt.Errorf("store: delivery row: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("store: delivery row: %w", ErrExists)
	}
	for _, it := range items {
		if _, err := t.tx.ExecContext(t.ctx, `INSERT INTO delivery_items (request_id, item_id, row_id, data_type, kind, blob, size, at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, r.RequestID, it.ItemID, r.RowID, r.DataType, it.Kind, it.Blob, it.Size, now); err != nil {
			return fmt.Errorf("store: delivery item: %w", err)
		}
	}
	return nil
}

// DeliveryRows calls fn for every recorded row outcome of a request.
func (s *Store) DeliveryRows(ctx context.Context, requestID string, fn func(DeliveryRow) error) error {
	rows, err := s.r.QueryContext(ctx, `SELECT row_id, data_type, outcome, reason, at FROM delivery_rows
		WHERE request_id = ? ORDER BY data_type, row_id`, requestID)
	if err != nil {
		return fmt.Errorf("store: read delivery rows: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		r := DeliveryRow{RequestID: requestID}
		var at int64
		if err := rows.Scan(&r.RowID, &r.DataType, &r.Outcome, &r.Reason, &at); err != nil {
			return fmt.Errorf("store: read delivery rows: %w", err)
		}
		r.At = time.UnixMicro(at)
		if err := fn(r); err != nil {
			return err
		}
	}
	return rows.Err()
}

// DeliveryItems calls fn for every encrypted item of a request, ordered by
// data type, row and kind.
func (s *Store) DeliveryItems(ctx context.Context, requestID string, fn func(DeliveryItem) error) error {
	rows, err := s.r.QueryContext(ctx, `SELECT item_id, row_id, data_type, kind, blob, size, at FROM delivery_items
		WHERE request_id = ? ORDER BY data_type, row_id, kind`, requestID)
	if err != nil {
		return fmt.Errorf("store: read delivery items: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		it := DeliveryItem{RequestID: requestID}
		var at int64
		if err := rows.Scan(&it.ItemID, &it.RowID, &it.DataType, &it.Kind, &it.Blob, &it.Size, &at); err != nil {
			return fmt.Errorf("store: read delivery items: %w", err)
		}
		it.At = time.UnixMicro(at)
		if err := fn(it); err != nil {
			return err
		}
	}
	return rows.Err()
}

// DeliveryItem returns one item of a request, or ErrNotFound.
func (s *Store) DeliveryItem(ctx context.Context, requestID, itemID string) (DeliveryItem, error) {
	it := DeliveryItem{RequestID: requestID, ItemID: itemID}
	var at int64
	err := s.r.QueryRowContext(ctx, `SELECT row_id, data_type, kind, blob, size, at FROM delivery_items
		WHERE request_id = ? AND item_id = ?`, requestID, itemID).Scan(&it.RowID, &it.DataType, &it.Kind, &it.Blob, &it.Size, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return DeliveryItem{}, ErrNotFound
	}
	if err != nil {
		return DeliveryItem{}, fmt.Errorf("store: read delivery item: %w", err)
	}
	it.At = time.UnixMicro(at)
	return it, nil
}

// BlobReferenced reports whether any item or bundle names blob (the
// delivery store's sweep keeps those).
func (s *Store) BlobReferenced(ctx context.Context, blob string) (bool, error) {
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM delivery_items WHERE blob = ?)
		+ (SELECT COUNT(*) FROM delivery_bundles WHERE blob = ?)`, blob, blob).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("store: blob references: %w", err)
	}
	return n > 0, nil
}

// PutBundle records the request's bundle (replacing an earlier one).
func (t *Tx) PutBundle(b Bundle) error {
	_, err := t.tx.ExecContext(t.ctx, `INSERT INTO delivery_bundles (request_id, blob, size, at) VALUES (?, ?, ?, ?)
		ON CONFLICT (request_id) DO UPDATE SET blob = excluded.blob, size = excluded.size, at = excluded.at`,
		b.RequestID, b.Blob, b.Size, t.now.UnixMicro())
	if err != nil {
		return fmt.Errorf("store: bundle: %w", err)
	}
	return nil
}

// Bundle returns the request's bundle, or ErrNotFound.
func (s *Store) Bundle(ctx context.Context, requestID string) (Bundle, error) {
	b := Bundle{RequestID: requestID}
	var at int64
	err := s.r.QueryRowContext(ctx, `SELECT blob, size, at FROM delivery_bundles WHERE request_id = ?`, requestID).Scan(&b.Blob, &b.Size, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return Bundle{}, ErrNotFound
	}
	if err != nil {
		return Bundle{}, fmt.Errorf("store: read bundle: %w", err)
	}
	b.At = time.UnixMicro(at)
	return b, nil
}

// PortalToken ties a portal token (stored as its hash) to one request.
// Nonce is the random input the token is derived from, so the token can be
// derived again (for a notification retried after a crash) by whoever holds
// the server secret, and by no one who holds only the database.
type PortalToken struct {
	TokenHash string
	RequestID string
	Nonce     []byte
	CreatedAt time.Time
	ExpiresAt time.Time
}

// PutPortalToken stores the request's portal token, replacing (revoking)
// any earlier token of the request.
func (t *Tx) PutPortalToken(p PortalToken) error {
	if _, err := t.tx.ExecContext(t.ctx, `DELETE FROM portal_tokens WHERE request_id = ?`, p.RequestID); err != nil {
		return fmt.Errorf("store: portal token: %w", err)
	}
	if _, err := t.tx.ExecContext(t.ctx, `INSERT INTO portal_tokens (token_hash, request_id, nonce, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?)`, p.TokenHash, p.RequestID, p.Nonce, t.now.UnixMicro(), p.ExpiresAt.UnixMicro()); err != nil {
		return fmt.Errorf("store: portal token: %w", err)
	}
	return nil
}

func scanToken(row *sql.Row) (PortalToken, error) {
	var (
		p     PortalToken
		c, e  int64
		nonce []byte
	)
	err := row.Scan(&p.TokenHash, &p.RequestID, &nonce, &c, &e)
	if errors.Is(err, sql.ErrNoRows) {
		return PortalToken{}, ErrNotFound
	}
	if err != nil {
		return PortalToken{}, fmt.Errorf("store: read portal token: %w", err)
	}
	p.Nonce, p.CreatedAt, p.ExpiresAt = nonce, time.UnixMicro(c), time.UnixMicro(e)
	return p, nil
}

// PortalTokenByHash looks a token up by its hash (ErrNotFound when none).
// Expiry is the caller's to check.
func (s *Store) PortalTokenByHash(ctx context.Context, tokenHash string) (PortalToken, error) {
	return scanToken(s.r.QueryRowContext(ctx, `SELECT token_hash, request_id, nonce, created_at, expires_at
		FROM portal_tokens WHERE token_hash = ?`, tokenHash))
}

// PortalTokenOf returns the request's current portal token.
func (s *Store) PortalTokenOf(ctx context.Context, requestID string) (PortalToken, error) {
	return scanToken(s.r.QueryRowContext(ctx, `SELECT token_hash, request_id, nonce, created_at, expires_at
		FROM portal_tokens WHERE request_id = ?`, requestID))
}

// ClearPortalNonce forgets the nonce of a portal token once its link has
// been sent: the token can no longer be derived again, even with the server
// secret, and keeps working (its hash stays). A token replaced meanwhile
// (reissued) is left alone.
func (t *Tx) ClearPortalNonce(requestID, tokenHash string) error {
	if _, err := t.tx.ExecContext(t.ctx, `UPDATE portal_tokens SET nonce = x'' WHERE request_id = ? AND token_hash = ?`, requestID, tokenHash); err != nil {
		return fmt.Errorf("store: clear portal nonce: %w", err)
	}
	return nil
}
