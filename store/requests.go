package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Access-request states (SPEC §9). A request moves received → searched →
// awaiting-review → reviewed → delivering → delivered, or to failed with a
// reason.
const (
	RequestReceived       = "received"
	RequestSearched       = "searched"
	RequestAwaitingReview = "awaiting-review"
	RequestReviewed       = "reviewed"
	RequestDelivering     = "delivering"
	RequestDelivered      = "delivered"
	RequestFailed         = "failed"
)

// Errors callers branch on.
var (
	// ErrInvalidState: a state that is not one of the Request* constants.
	ErrInvalidState = errors.New("invalid access request state")
	// ErrSnapshotExists: the request already has a search snapshot, and
	// snapshots are never re-run by themselves (SearchSnapshot.Replace).
	ErrSnapshotExists = errors.New("access request already has a search snapshot")
	// ErrRequestDelivered: the request is being or has been delivered; its
	// snapshot can no longer be replaced.
	ErrRequestDelivered = errors.New("access request is delivered")
)

// ValidRequestState reports whether s is a known access-request state.
func ValidRequestState(s string) bool {
	switch s {
	case RequestReceived, RequestSearched, RequestAwaitingReview, RequestReviewed,
		RequestDelivering, RequestDelivered, RequestFailed:
		return true
	}
	return false
}

// RequestStatus is the lifecycle row of one access request.
type RequestStatus struct {
	ID        string
	State     string
	Reason    string // why it failed (safe text, no subject data)
	CreatedAt time.Time
	UpdatedAt time.Time
	// SearchedAt is when the search snapshot was saved (zero before).
	SearchedAt time.Time
	// HasSnapshot reports whether a search snapshot is stored.
	HasSnapshot   bool
	Hits          int64 // hit rows in the snapshot
	NotSearchable int64 // not-searchable rows in the snapshot
}

// PutRequestState creates the request's lifecycle row or moves it to state,
// with reason (empty unless failed). Transitions are not checked here: the
// lifecycle owner decides them; the store only refuses unknown states.
func (t *Tx) PutRequestState(id, state, reason string) error {
	if id == "" {
		return errors.New("store: access request without id")
	}
	if !ValidRequestState(state) {
		return fmt.Errorf("store: %w: %q", ErrInvalidState, state)
	}
	now := t.now.UnixMicro()
	_, err := t.tx.ExecContext(t.ctx, `INSERT INTO requests (id, state, reason, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET state = excluded.state, reason = excluded.reason, updated_at = excluded.updated_at`,
		id, state, reason, now, now)
	if err != nil {
		return fmt.Errorf("store: write request state: %w", err)
	}
	return nil
}

const selectRequest = `SELECT id, state, reason, created_at, updated_at, searched_at, snapshot IS NOT NULL,
	hits, not_searchable FROM requests`

func scanRequest(r rowScanner) (RequestStatus, error) {
	var (
		rs                 RequestStatus
		created, updated   int64
		searched, snapshot int64
	)
	err := r.Scan(&rs.ID, &rs.State, &rs.Reason, &created, &updated, &searched, &snapshot, &rs.Hits, &rs.NotSearchable)
	if errors.Is(err, sql.ErrNoRows) {
		return RequestStatus{}, ErrNotFound
	}
	if err != nil {
		return RequestStatus{}, fmt.Errorf("store: read request: %w", err)
	}
	rs.CreatedAt, rs.UpdatedAt = time.UnixMicro(created), time.UnixMicro(updated)
	if searched != 0 {
		rs.SearchedAt = time.UnixMicro(searched)
	}
	rs.HasSnapshot = snapshot != 0
	return rs, nil
}

// RequestState reads the lifecycle row of one request; ErrNotFound if absent.
func (s *Store) RequestState(ctx context.Context, id string) (RequestStatus, error) {
	return scanRequest(s.r.QueryRowContext(ctx, selectRequest+` WHERE id = ?`, id))
}

// RequestState reads the lifecycle row of one request inside the
// transaction; ErrNotFound if absent.
func (t *Tx) RequestState(id string) (RequestStatus, error) {
	return scanRequest(t.tx.QueryRowContext(t.ctx, selectRequest+` WHERE id = ?`, id))
}

// RequestsInState lists the requests in state, by id: what a resumed
// lifecycle has to pick up after a restart.
func (s *Store) RequestsInState(ctx context.Context, state string) ([]RequestStatus, error) {
	if !ValidRequestState(state) {
		return nil, fmt.Errorf("store: %w: %q", ErrInvalidState, state)
	}
	rows, err := s.r.QueryContext(ctx, selectRequest+` WHERE state = ? ORDER BY id`, state)
	if err != nil {
		return nil, fmt.Errorf("store: list requests: %w", err)
	}
	defer rows.Close()
	var out []RequestStatus
	for rows.Next() {
		rs, err := scanRequest(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, rs)
	}
	return out, rows.Err()
}

// SearchSnapshot is an access request's search result as JSON pieces, so
// the store need not know the search model: a header (the result without
// its lists) and the rows, produced one at a time so a large result is
// never held twice.
type SearchSnapshot struct {
	Header []byte // JSON
	// Hits calls put once per hit, in order, with its JSON. put copies
	// nothing the caller may not reuse after it returns.
	Hits func(put func(hit []byte) error) error
	// NotSearchable calls put once per not-searchable document, in order.
	NotSearchable func(put func(doc []byte) error) error
	// Replace allows overwriting an existing snapshot (an operator's
	// explicit re-run); without it a second save is ErrSnapshotExists.
	Replace bool
}

// SaveSearchResult stores the search snapshot of a request and moves the
// request to "searched", in this transaction: either all of it is stored or
// none. The request row is created when absent. A request that already has
// a snapshot is refused with ErrSnapshotExists unless s.Replace, and one
// that is delivering or delivered with ErrRequestDelivered.
func (t *Tx) SaveSearchResult(requestID string, s SearchSnapshot) error {
	if requestID == "" {
		return errors.New("store: access request without id")
	}
	if len(s.Header) == 0 {
		return errors.New("store: search snapshot without header")
	}
	cur, err := t.RequestState(requestID)
	switch {
	case errors.Is(err, ErrNotFound):
	case err != nil:
		return err
	case cur.State == RequestDelivering || cur.State == RequestDelivered:
		return fmt.Errorf("store: save snapshot: %w", ErrRequestDelivered)
	case cur.HasSnapshot && !s.Replace:
		return fmt.Errorf("store: save snapshot: %w", ErrSnapshotExists)
	}
	for _, table := range []string{"request_hits", "request_not_searchable"} {
		if _, err := t.tx.ExecContext(t.ctx, `DELETE FROM `+table+` WHERE request_id = ?`, requestID); err != nil {
			return fmt.Errorf("store: clear snapshot: %w", err)
		}
	}
	nHits, err := t.putRows(`INSERT INTO request_hits (request_id, ordinal, hit) VALUES (?, ?, ?)`, requestID, s.Hits)
	if err != nil {
		return fmt.Errorf("store: save hits: %w", err)
	}
	nNS, err := t.putRows(`INSERT INTO request_not_searchable (request_id, ordinal, doc) VALUES (?, ?, ?)`, requestID, s.NotSearchable)
	if err != nil {
		return fmt.Errorf("store: save not-searchable: %w", err)
	}
	now := t.now.UnixMicro()
	_, err = t.tx.ExecContext(t.ctx, `INSERT INTO requests (id, state, reason, created_at, updated_at, searched_at, snapshot, hits, not_searchable)
		VALUES (?, ?, '', ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET state = excluded.state, reason = '', updated_at = excluded.updated_at,
			searched_at = excluded.searched_at, snapshot = excluded.snapshot, hits = excluded.hits,
			not_searchable = excluded.not_searchable`,
		requestID, RequestSearched, now, now, now, string(s.Header), nHits, nNS)
	if err != nil {
		return fmt.Errorf("store: save snapshot: %w", err)
	}
	return nil
}

// putRows inserts the rows produced by gen with ordinals 0, 1, ...
func (t *Tx) putRows(insert, requestID string, gen func(func([]byte) error) error) (int64, error) {
	if gen == nil {
		return 0, nil
	}
	stmt, err := t.tx.PrepareContext(t.ctx, insert)
	if err != nil {
		return 0, err
	}
	defer stmt.Close()
	var n int64
	err = gen(func(row []byte) error {
		if _, err := stmt.ExecContext(t.ctx, requestID, n, string(row)); err != nil {
			return err
		}
		n++
		return nil
	})
	return n, err
}

// SearchResult streams the stored snapshot of a request: header once, then
// each hit and each not-searchable row in the order they were saved. The
// byte slices passed are only valid during the call (copy what you keep).
// It returns ErrNotFound when the request has no snapshot. All three reads
// see one consistent database snapshot.
func (s *Store) SearchResult(ctx context.Context, requestID string, header, hit, notSearchable func([]byte) error) error {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("store: read snapshot: %w", err)
	}
	defer tx.Rollback()
	var h sql.NullString
	err = tx.QueryRowContext(ctx, `SELECT snapshot FROM requests WHERE id = ?`, requestID).Scan(&h)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && !h.Valid) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("store: read snapshot: %w", err)
	}
	if header != nil {
		if err := header([]byte(h.String)); err != nil {
			return err
		}
	}
	if err := streamRows(ctx, tx, `SELECT hit FROM request_hits WHERE request_id = ? ORDER BY ordinal`, requestID, hit); err != nil {
		return err
	}
	return streamRows(ctx, tx, `SELECT doc FROM request_not_searchable WHERE request_id = ? ORDER BY ordinal`, requestID, notSearchable)
}

func streamRows(ctx context.Context, tx *sql.Tx, q, requestID string, fn func([]byte) error) error {
	if fn == nil {
		return nil
	}
	rows, err := tx.QueryContext(ctx, q, requestID)
	if err != nil {
		return fmt.Errorf("store: read snapshot: %w", err)
	}
	defer rows.Close()
	var b sql.RawBytes
	for rows.Next() {
		if err := rows.Scan(&b); err != nil {
			return fmt.Errorf("store: read snapshot: %w", err)
		}
		if err := fn(b); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: read snapshot: %w", err)
	}
	return nil
}

// LedgerNotOK streams the ledger rows whose status is not "ok" (what an
// access request lists as not searchable), of the given data types (none =
// all), ordered by data type, source and entity id. It reads them through
// the status index, so it costs the number of such rows, not the size of
// the ledger.
func (s *Store) LedgerNotOK(ctx context.Context, dataTypes []string, fn func(LedgerRow) error) error {
	q := selectLedger + ` WHERE (status < 'ok' OR status > 'ok')`
	args := make([]any, 0, len(dataTypes))
	if len(dataTypes) > 0 {
		q += ` AND data_type IN (?` + strings.Repeat(", ?", len(dataTypes)-1) + `)`
		for _, dt := range dataTypes {
			args = append(args, dt)
		}
	}
	rows, err := s.r.QueryContext(ctx, q+` ORDER BY data_type, source, entity_id`, args...)
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

// SnapshotDataTypes counts the hits and the not-searchable documents of a
// request's snapshot per data type, in this transaction (without decoding
// every hit).
func (t *Tx) SnapshotDataTypes(requestID string) (hits, notSearchable map[string]int, err error) {
	count := func(q string) (map[string]int, error) {
		rows, err := t.tx.QueryContext(t.ctx, q, requestID)
		if err != nil {
			return nil, fmt.Errorf("store: snapshot data types: %w", err)
		}
		defer rows.Close()
		out := map[string]int{}
		for rows.Next() {
			var (
				dt sql.NullString
				n  int
			)
			if err := rows.Scan(&dt, &n); err != nil {
				return nil, fmt.Errorf("store: snapshot data types: %w", err)
			}
			out[dt.String] += n
		}
		return out, rows.Err()
	}
	if hits, err = count(`SELECT json_extract(hit, '$.data_type'), COUNT(*) FROM request_hits WHERE request_id = ? GROUP BY 1`); err != nil {
		return nil, nil, err
	}
	notSearchable, err = count(`SELECT json_extract(doc, '$.data_type'), COUNT(*) FROM request_not_searchable WHERE request_id = ? GROUP BY 1`)
	return hits, notSearchable, err
}
