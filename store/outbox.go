package store

import (
	"context"
	"fmt"
	"time"
)

// Notification kinds in the outbox.
const (
	NotifyReviewers = "reviewers" // a workbook is ready: the data types' contacts
	NotifySubject   = "subject"   // the data is delivered: the data subject
)

// OutboxEntry is one notification to send. It names who by reference
// (recipient: a data-type id for reviewers, "" for the subject), never by
// address: addresses are looked up when it is sent.
type OutboxEntry struct {
	ID        int64
	Kind      string
	RequestID string
	Recipient string
	CreatedAt time.Time
	DueAt     time.Time
	Attempts  int
	SentAt    time.Time // zero until sent
	Failed    bool      // given up (permanent error or too many attempts)
	LastError string    // safe text
}

// Enqueue adds a notification due at due, in this transaction (so it
// commits with the state change that causes it). The same kind, request and
// recipient is enqueued once: a repeat is ignored.
func (t *Tx) Enqueue(kind, requestID, recipient string, due time.Time) error {
	now := t.now.UnixMicro()
	_, err := t.tx.ExecContext(t.ctx, `INSERT INTO outbox (kind, request_id, recipient, created_at, due_at)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`, kind, requestID, recipient, now, due.UnixMicro())
	if err != nil {
		return fmt.Errorf("store: enqueue notification: %w", err)
	}
	return nil
}

// DueNotifications returns up to limit unsent, not given-up entries due at
// or before now, oldest first.
func (s *Store) DueNotifications(ctx context.Context, now time.Time, limit int) ([]OutboxEntry, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, kind, request_id, recipient, created_at, due_at, attempts, last_error
		FROM outbox WHERE sent_at = 0 AND failed = 0 AND due_at <= ? ORDER BY due_at, id LIMIT ?`, now.UnixMicro(), limit)
	if err != nil {
		return nil, fmt.Errorf("store: read outbox: %w", err)
	}
	defer rows.Close()
	var out []OutboxEntry
	for rows.Next() {
		var (
			e    OutboxEntry
			c, d int64
		)
		if err := rows.Scan(&e.ID, &e.Kind, &e.RequestID, &e.Recipient, &c, &d, &e.Attempts, &e.LastError); err != nil {
			return nil, fmt.Errorf("store: read outbox: %w", err)
		}
		e.CreatedAt, e.DueAt = time.UnixMicro(c), time.UnixMicro(d)
		out = append(out, e)
	}
	return out, rows.Err()
}

// NextDue returns when the next unsent notification is due (ok false when
// none is pending).
func (s *Store) NextDue(ctx context.Context) (time.Time, bool, error) {
	var d *int64
	if err := s.r.QueryRowContext(ctx, `SELECT MIN(due_at) FROM outbox WHERE sent_at = 0 AND failed = 0`).Scan(&d); err != nil {
		return time.Time{}, false, fmt.Errorf("store: read outbox: %w", err)
	}
	if d == nil {
		return time.Time{}, false, nil
	}
	return time.UnixMicro(*d), true, nil
}

// MarkSent records that entry id was sent.
func (t *Tx) MarkSent(id int64) error {
	_, err := t.tx.ExecContext(t.ctx, `UPDATE outbox SET sent_at = ?, attempts = attempts + 1, last_error = '' WHERE id = ?`,
		t.now.UnixMicro(), id)
	if err != nil {
		return fmt.Errorf("store: mark notification sent: %w", err)
	}
	return nil
}

// MarkAttempt records a failed attempt: retry at next, or give up when
// giveUp is set. reason must be safe text (no addresses, no content).
func (t *Tx) MarkAttempt(id int64, reason string, next time.Time, giveUp bool) error {
	failed := 0
	if giveUp {
		failed = 1
	}
	_, err := t.tx.ExecContext(t.ctx, `UPDATE outbox SET attempts = attempts + 1, last_error = ?, due_at = ?, failed = ? WHERE id = ?`,
		reason, next.UnixMicro(), failed, id)
	if err != nil {
		return fmt.Errorf("store: mark notification attempt: %w", err)
	}
	return nil
}

// Notifications calls fn for every outbox entry of a request.
func (s *Store) Notifications(ctx context.Context, requestID string, fn func(OutboxEntry) error) error {
	rows, err := s.r.QueryContext(ctx, `SELECT id, kind, request_id, recipient, created_at, due_at, attempts, sent_at, failed, last_error
		FROM outbox WHERE request_id = ? ORDER BY id`, requestID)
	if err != nil {
		return fmt.Errorf("store: read outbox: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			e          OutboxEntry
			c, d, sent int64
			failed     int
		)
		if err := rows.Scan(&e.ID, &e.Kind, &e.RequestID, &e.Recipient, &c, &d, &e.Attempts, &sent, &failed, &e.LastError); err != nil {
			return fmt.Errorf("store: read outbox: %w", err)
		}
		e.CreatedAt, e.DueAt, e.Failed = time.UnixMicro(c), time.UnixMicro(d), failed != 0
		if sent != 0 {
			e.SentAt = time.UnixMicro(sent)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Defer moves an entry's due time without counting an attempt (nothing was
// tried: e.g. no sender is configured yet).
func (t *Tx) Defer(id int64, reason string, next time.Time) error {
	_, err := t.tx.ExecContext(t.ctx, `UPDATE outbox SET last_error = ?, due_at = ? WHERE id = ?`, reason, next.UnixMicro(), id)
	if err != nil {
		return fmt.Errorf("store: defer notification: %w", err)
	}
	return nil
}

// Undefer makes every unsent entry deferred with reason due at now (a
// sender was configured since).
func (t *Tx) Undefer(reason string, now time.Time) error {
	_, err := t.tx.ExecContext(t.ctx, `UPDATE outbox SET due_at = ? WHERE sent_at = 0 AND failed = 0 AND last_error = ? AND due_at > ?`,
		now.UnixMicro(), reason, now.UnixMicro())
	if err != nil {
		return fmt.Errorf("store: resume notifications: %w", err)
	}
	return nil
}
