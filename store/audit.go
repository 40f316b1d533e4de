package store

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// ErrAuditBroken: the audit log's hash chain does not verify (an entry was
// changed, removed or inserted out of band).
var ErrAuditBroken = errors.New("audit log chain is broken")

// auditGenesis is the "previous hash" of the first entry.
const auditGenesis = "0000000000000000000000000000000000000000000000000000000000000000"

// AuditEvent is one entry of the append-only, hash-chained audit log.
// Request and every identifier inside Detail are what the caller gave: the
// server passes hashes, never subject identifiers or request ids in clear.
type AuditEvent struct {
	Seq     int64
	At      time.Time
	Actor   string          // who: a token subject, "system" or "portal"
	Event   string          // what: e.g. "request.received", "workbook.upload"
	Request string          // the request it concerns (hashed by the caller)
	Detail  json.RawMessage // counts and kinds, never personal data
	Prev    string          // hex SHA-256 of the previous entry ("0"*64 first)
	Hash    string          // hex SHA-256 over Prev and this entry's fields
}

// SetAuditKey sets the key of the audit log's hash chain: each entry's hash
// is then an HMAC-SHA256, so whoever can write the database file but does
// not hold the key (kept outside it, derived from the server secret) cannot
// rewrite the chain consistently. Set it once, before the first append or
// verify; without it entries are chained with plain SHA-256.
func (s *Store) SetAuditKey(key []byte) { s.auditKey = append([]byte(nil), key...) }

// auditHash chains an entry to prev. Fields are length-prefixed so no two
// different entries can encode alike.
func auditHash(key []byte, prev string, seq, at int64, actor, event, request string, detail []byte) string {
	h := sha256.New()
	if key != nil {
		h = hmac.New(sha256.New, key)
	}
	var n [8]byte
	put := func(b []byte) {
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	put([]byte("docvet-audit-v1"))
	put([]byte(prev))
	binary.BigEndian.PutUint64(n[:], uint64(seq))
	h.Write(n[:])
	binary.BigEndian.PutUint64(n[:], uint64(at))
	h.Write(n[:])
	put([]byte(actor))
	put([]byte(event))
	put([]byte(request))
	put(detail)
	return hex.EncodeToString(h.Sum(nil))
}

// AppendAudit appends one entry in this transaction, chained to the last
// one; the store's single writer serialises appends. detail is marshalled
// to JSON (nil → {}).
func (t *Tx) AppendAudit(actor, event, request string, detail any) error {
	if event == "" {
		return errors.New("store: audit entry without event")
	}
	d := []byte("{}")
	if detail != nil {
		b, err := json.Marshal(detail)
		if err != nil {
			return fmt.Errorf("store: audit detail: %w", err)
		}
		d = b
	}
	var (
		seq  int64
		prev string
	)
	err := t.tx.QueryRowContext(t.ctx, `SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1`).Scan(&seq, &prev)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		prev = auditGenesis
	case err != nil:
		return fmt.Errorf("store: audit head: %w", err)
	}
	seq++
	at := t.now.UnixMicro()
	hash := auditHash(t.s.auditKey, prev, seq, at, actor, event, request, d)
	if _, err := t.tx.ExecContext(t.ctx, `INSERT INTO audit_log (seq, at, actor, event, request, detail, prev, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, seq, at, actor, event, request, string(d), prev, hash); err != nil {
		return fmt.Errorf("store: append audit: %w", err)
	}
	return nil
}

// AppendAudit appends one entry in its own transaction.
func (s *Store) AppendAudit(ctx context.Context, actor, event, request string, detail any) error {
	return s.Update(ctx, func(tx *Tx) error { return tx.AppendAudit(actor, event, request, detail) })
}

// AuditLog calls fn for every entry with Seq > after, in order. request,
// when not empty, keeps only that request's entries.
func (s *Store) AuditLog(ctx context.Context, after int64, request string, fn func(AuditEvent) error) error {
	q := `SELECT seq, at, actor, event, request, detail, prev, hash FROM audit_log WHERE seq > ? ORDER BY seq`
	args := []any{after}
	if request != "" {
		q = `SELECT seq, at, actor, event, request, detail, prev, hash FROM audit_log WHERE seq > ? AND request = ? ORDER BY seq`
		args = append(args, request)
	}
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("store: read audit log: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			e      AuditEvent
			at     int64
			detail string
		)
		if err := rows.Scan(&e.Seq, &at, &e.Actor, &e.Event, &e.Request, &detail, &e.Prev, &e.Hash); err != nil {
			return fmt.Errorf("store: read audit log: %w", err)
		}
		e.At = time.UnixMicro(at)
		e.Detail = json.RawMessage(detail)
		if err := fn(e); err != nil {
			return err
		}
	}
	return rows.Err()
}

// AuditSummary is the result of a successful VerifyAudit.
type AuditSummary struct {
	Entries int64
	Head    string // hash of the last entry (genesis when empty)
}

// VerifyAudit walks the whole audit log and checks that sequence numbers
// are contiguous from 1, each entry names its predecessor's hash, and each
// hash matches the entry. The first failure is returned wrapping
// ErrAuditBroken with its sequence number. Truncation of the newest entries
// cannot be seen from the chain alone: compare Head with a copy kept
// elsewhere (docvet audit verify prints it for that).
func (s *Store) VerifyAudit(ctx context.Context) (AuditSummary, error) {
	sum := AuditSummary{Head: auditGenesis}
	err := s.AuditLog(ctx, 0, "", func(e AuditEvent) error {
		want := sum.Entries + 1
		switch {
		case e.Seq != want:
			return fmt.Errorf("%w: entry %d missing (found %d next)", ErrAuditBroken, want, e.Seq)
		case e.Prev != sum.Head:
			return fmt.Errorf("%w: entry %d does not follow entry %d", ErrAuditBroken, e.Seq, e.Seq-1)
		case auditHash(s.auditKey, e.Prev, e.Seq, e.At.UnixMicro(), e.Actor, e.Event, e.Request, e.Detail) != e.Hash:
			return fmt.Errorf("%w: entry %d was altered", ErrAuditBroken, e.Seq)
		}
		sum.Entries = e.Seq
		sum.Head = e.Hash
		return nil
	})
	if err != nil {
		return AuditSummary{}, err
	}
	return sum, nil
}
