package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Hot write-path statements, prepared once at Open (see stmtCache).
const (
	qNextSeq   = `UPDATE sequence SET value = value + 1 WHERE id = 1 RETURNING value`
	qGetForPut = `SELECT hash, seq, body FROM entities WHERE dataset = ? AND id = ?`
	qTouch     = `UPDATE entities SET aux = ?, mark = CASE WHEN ? = 0 THEN mark ELSE ? END
			WHERE dataset = ? AND id = ?`
	qUpsert = `INSERT INTO entities (dataset, id, seq, deleted, hash, body, aux, mark, ts)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (dataset, id) DO UPDATE SET seq = excluded.seq, deleted = excluded.deleted,
			hash = excluded.hash, body = excluded.body, aux = excluded.aux,
			mark = CASE WHEN excluded.mark = 0 THEN entities.mark ELSE excluded.mark END, ts = excluded.ts`
	qMark     = `UPDATE entities SET mark = ? WHERE dataset = ? AND id = ?`
	qGetState = `SELECT value FROM state WHERE key = ?`
	qSetState = `INSERT INTO state (key, value, ts) VALUES (?, ?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value, ts = excluded.ts`
)

// Tx is a write transaction. Everything done through one Tx commits or rolls
// back together, so a batch and the since-token that covers it are saved
// atomically.
type Tx struct {
	ctx context.Context
	s   *Store
	tx  *sql.Tx
	now time.Time
}

// Update runs fn in a write transaction and commits when fn returns nil.
func (s *Store) Update(ctx context.Context, fn func(*Tx) error) error {
	sqlTx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	t := &Tx{ctx: ctx, s: s, tx: sqlTx, now: time.Now()}
	if err := fn(t); err != nil {
		if rbErr := sqlTx.Rollback(); rbErr != nil && !errors.Is(rbErr, sql.ErrTxDone) {
			return errors.Join(err, fmt.Errorf("store: rollback: %w", rbErr))
		}
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// NextSeq allocates the next value of the global sequence. Sequence values
// are unique across datasets and serve as _updated values and sync marks.
func (t *Tx) NextSeq() (int64, error) {
	var v int64
	if err := t.queryRow(qNextSeq).Scan(&v); err != nil {
		return 0, fmt.Errorf("store: next sequence: %w", err)
	}
	return v, nil
}

// Put upserts one entity. A new sequence number is assigned only when the
// body or the deleted flag changed, so re-sending identical entities (a
// rescan, a retried push) publishes nothing new. Aux and Mark are updated
// either way.
func (t *Tx) Put(dataset string, w Write) (Result, error) {
	if w.ID == "" {
		return Result{}, errors.New("store: entity without _id")
	}
	var (
		oldHash, oldBody string
		oldSeq           int64
		exists           = true
	)
	err := t.queryRow(qGetForPut, dataset, w.ID).
		Scan(&oldHash, &oldSeq, &oldBody)
	if errors.Is(err, sql.ErrNoRows) {
		exists = false
	} else if err != nil {
		return Result{}, fmt.Errorf("store: read %s: %w", dataset, err)
	}
	var body []byte
	if w.Deleted && w.Body == nil && exists {
		body = []byte(oldBody)
	} else if body, err = normalizeBody(w.Body); err != nil {
		return Result{}, err
	}
	// Deleting what we never had still publishes a tombstone: a downstream
	// that saw the entity from elsewhere must learn of the delete.
	h := hashOf(body, w.Deleted)
	if exists && h == oldHash {
		_, err := t.exec(qTouch, w.Aux, w.Mark, w.Mark, dataset, w.ID)
		if err != nil {
			return Result{}, fmt.Errorf("store: touch %s: %w", dataset, err)
		}
		return Result{Changed: false, Seq: oldSeq}, nil
	}
	seq, err := t.NextSeq()
	if err != nil {
		return Result{}, err
	}
	_, err = t.exec(qUpsert,
		dataset, w.ID, seq, boolInt(w.Deleted), h, string(body), w.Aux, w.Mark, t.now.UnixMicro())
	if err != nil {
		return Result{}, fmt.Errorf("store: write %s: %w", dataset, err)
	}
	return Result{Changed: true, Seq: seq}, nil
}

// Mark records mark on an existing entity without changing it, for a full
// sync whose writer knows the entity is unchanged (e.g. same file
// fingerprint). It reports whether the entity exists.
func (t *Tx) Mark(dataset, id string, mark int64) (bool, error) {
	res, err := t.exec(qMark, mark, dataset, id)
	if err != nil {
		return false, fmt.Errorf("store: mark %s: %w", dataset, err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// Sweep deletes (as tombstones with new sequence numbers) every live entity
// of dataset whose mark differs from mark: the end of a full sync. It returns
// the ids it deleted.
func (t *Tx) Sweep(dataset string, mark int64) ([]string, error) {
	rows, err := t.tx.QueryContext(t.ctx, `SELECT id FROM entities WHERE dataset = ? AND deleted = 0 AND mark <> ?`, dataset, mark)
	if err != nil {
		return nil, fmt.Errorf("store: sweep %s: %w", dataset, err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: sweep %s: %w", dataset, err)
	}
	for _, id := range ids {
		if _, err := t.Put(dataset, Write{ID: id, Deleted: true}); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// Get reads one entity inside the transaction.
func (t *Tx) Get(dataset, id string) (Entity, error) {
	return scanEntity(t.tx.QueryRowContext(t.ctx, selectEntity+` WHERE dataset = ? AND id = ?`, dataset, id))
}

// State reads a key/value state entry.
func (t *Tx) State(key string) (string, error) {
	var v string
	err := t.queryRow(qGetState, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	return v, err
}

// SetState writes a key/value state entry.
func (t *Tx) SetState(key, value string) error {
	_, err := t.exec(qSetState, key, value, t.now.UnixMicro())
	if err != nil {
		return fmt.Errorf("store: set state: %w", err)
	}
	return nil
}

// DeleteState removes a key/value state entry.
func (t *Tx) DeleteState(key string) error {
	_, err := t.tx.ExecContext(t.ctx, `DELETE FROM state WHERE key = ?`, key)
	return err
}

// Rejection is an entity that was refused, with the reason the operator sees.
type Rejection struct {
	Dataset  string    `json:"dataset"`
	EntityID string    `json:"entity_id"`
	Origin   string    `json:"origin"` // "push" or the pulled source's name
	Reason   string    `json:"reason"`
	At       time.Time `json:"at"`
}

// Reject records (or refreshes) a rejection.
func (t *Tx) Reject(r Rejection) error {
	_, err := t.tx.ExecContext(t.ctx, `INSERT INTO rejections (dataset, entity_id, origin, reason, ts) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (dataset, entity_id) DO UPDATE SET origin = excluded.origin, reason = excluded.reason, ts = excluded.ts`,
		r.Dataset, r.EntityID, r.Origin, r.Reason, t.now.UnixMicro())
	if err != nil {
		return fmt.Errorf("store: record rejection: %w", err)
	}
	return nil
}

// ClearRejection forgets a rejection once a valid version arrived.
func (t *Tx) ClearRejection(dataset, id string) error {
	_, err := t.tx.ExecContext(t.ctx, `DELETE FROM rejections WHERE dataset = ? AND entity_id = ?`, dataset, id)
	return err
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
