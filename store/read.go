package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

const selectEntity = `SELECT dataset, id, seq, deleted, body, aux, ts FROM entities`

type rowScanner interface{ Scan(...any) error }

func scanEntity(r rowScanner) (Entity, error) {
	var (
		e       Entity
		deleted int
		body    string
		ts      int64
	)
	if err := r.Scan(&e.Dataset, &e.ID, &e.Seq, &deleted, &body, &e.Aux, &ts); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return Entity{}, ErrNotFound
		}
		return Entity{}, fmt.Errorf("store: read entity: %w", err)
	}
	e.Deleted = deleted != 0
	e.Body = []byte(body)
	e.Updated = time.UnixMicro(ts)
	return e, nil
}

// Get reads the current version of one entity; ErrNotFound if absent.
func (s *Store) Get(ctx context.Context, dataset, id string) (Entity, error) {
	return scanEntity(s.readRow(ctx, selectEntity+` WHERE dataset = ? AND id = ?`, dataset, id))
}

// Since streams the entities of dataset with sequence strictly greater than
// since, in sequence order, at most limit of them (limit <= 0: all), to fn.
// The read is one snapshot: concurrent writes are not seen half-way, and a
// later call with since = the last Seq seen continues without skipping or
// repeating. Returning an error from fn stops the scan with that error.
func (s *Store) Since(ctx context.Context, dataset string, since int64, limit int, fn func(Entity) error) error {
	q := selectEntity + ` WHERE dataset = ? AND seq > ? ORDER BY seq`
	args := []any{dataset, since}
	if limit > 0 {
		q += ` LIMIT ?`
		args = append(args, limit)
	}
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("store: scan %s: %w", dataset, err)
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanEntity(rows)
		if err != nil {
			return err
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: scan %s: %w", dataset, err)
	}
	return nil
}

// Counts reports the live and deleted entities of a dataset and its highest
// sequence number.
type Counts struct {
	Live    int64 `json:"live"`
	Deleted int64 `json:"deleted"`
	LastSeq int64 `json:"last_seq"`
}

// The count queries read only (dataset, deleted, seq), so SQLite answers
// them from the covering index entities_counts (migration 3) without
// touching entity rows and their bodies; store_test checks the plan.
const (
	countSQL = `SELECT COALESCE(SUM(1 - deleted), 0), COALESCE(SUM(deleted), 0), COALESCE(MAX(seq), 0)
		FROM entities WHERE dataset = ?`
	datasetsSQL = `SELECT dataset, SUM(1 - deleted), SUM(deleted), MAX(seq) FROM entities GROUP BY dataset`
)

// Count returns the counts of one dataset.
func (s *Store) Count(ctx context.Context, dataset string) (Counts, error) {
	var c Counts
	err := s.r.QueryRowContext(ctx, countSQL, dataset).Scan(&c.Live, &c.Deleted, &c.LastSeq)
	if err != nil {
		return c, fmt.Errorf("store: count %s: %w", dataset, err)
	}
	return c, nil
}

// Datasets lists the datasets that have entities, with their counts.
func (s *Store) Datasets(ctx context.Context) (map[string]Counts, error) {
	rows, err := s.r.QueryContext(ctx, datasetsSQL)
	if err != nil {
		return nil, fmt.Errorf("store: list datasets: %w", err)
	}
	defer rows.Close()
	out := map[string]Counts{}
	for rows.Next() {
		var name string
		var c Counts
		if err := rows.Scan(&name, &c.Live, &c.Deleted, &c.LastSeq); err != nil {
			return nil, err
		}
		out[name] = c
	}
	return out, rows.Err()
}

// State reads a key/value state entry outside a transaction.
func (s *Store) State(ctx context.Context, key string) (string, error) {
	var v string
	err := s.r.QueryRowContext(ctx, `SELECT value FROM state WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	return v, err
}

// Rejections lists recorded rejections, newest first (dataset "" = all).
func (s *Store) Rejections(ctx context.Context, dataset string, limit int) ([]Rejection, error) {
	if limit <= 0 {
		limit = 1000
	}
	rows, err := s.r.QueryContext(ctx, `SELECT dataset, entity_id, origin, reason, ts FROM rejections
		WHERE (? = '' OR dataset = ?) ORDER BY ts DESC LIMIT ?`, dataset, dataset, limit)
	if err != nil {
		return nil, fmt.Errorf("store: list rejections: %w", err)
	}
	defer rows.Close()
	var out []Rejection
	for rows.Next() {
		var r Rejection
		var ts int64
		if err := rows.Scan(&r.Dataset, &r.EntityID, &r.Origin, &r.Reason, &ts); err != nil {
			return nil, err
		}
		r.At = time.UnixMicro(ts)
		out = append(out, r)
	}
	return out, rows.Err()
}
