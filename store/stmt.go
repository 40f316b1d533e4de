package store

import (
	"context"
	"database/sql"
	"errors"
	"sync"
)

// stmtCache keeps one prepared statement per SQL text and database handle.
// Preparing every statement anew cost 6.6% of the ingestion pipeline's CPU
// (profile in BENCHMARKS.md); database/sql re-prepares a cached statement on
// another pooled connection by itself.
//
// The writer has a single connection, which a transaction holds: preparing
// on it from inside a transaction would wait for itself. Writer statements
// are therefore prepared once in Open (prepareWriter) and looked up only;
// reader statements are prepared on first use.
type stmtCache struct {
	mu     sync.Mutex
	m      map[string]*sql.Stmt
	frozen bool // no preparing on lookup (the writer cache)
}

// writerQueries are the hot write-path statements prepared at Open.
var writerQueries = []string{qNextSeq, qGetForPut, qTouch, qUpsert, qMark, qGetState, qSetState, qPutLedger, qDeleteLedger}

func (s *Store) prepareWriter(ctx context.Context) error {
	for _, q := range writerQueries {
		if _, err := s.wStmts.get(ctx, s.w, q); err != nil {
			return err
		}
	}
	s.wStmts.mu.Lock()
	s.wStmts.frozen = true
	s.wStmts.mu.Unlock()
	return nil
}

func (c *stmtCache) get(ctx context.Context, db *sql.DB, q string) (*sql.Stmt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.m[q]; ok {
		return st, nil
	}
	if c.frozen {
		return nil, errNotPrepared
	}
	st, err := db.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	if c.m == nil {
		c.m = map[string]*sql.Stmt{}
	}
	c.m[q] = st
	return st, nil
}

func (c *stmtCache) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for _, st := range c.m {
		errs = append(errs, st.Close())
	}
	c.m = nil
	return errors.Join(errs...)
}

var errNotPrepared = errors.New("statement not prepared")

// exec runs a statement inside the transaction, prepared if it is a hot one.
func (t *Tx) exec(q string, args ...any) (sql.Result, error) {
	st, err := t.s.wStmts.get(t.ctx, t.s.w, q)
	if err != nil {
		return t.tx.ExecContext(t.ctx, q, args...)
	}
	return t.tx.StmtContext(t.ctx, st).ExecContext(t.ctx, args...)
}

// queryRow runs a single-row query inside the transaction, prepared if it
// is a hot one.
func (t *Tx) queryRow(q string, args ...any) *sql.Row {
	st, err := t.s.wStmts.get(t.ctx, t.s.w, q)
	if err != nil {
		return t.tx.QueryRowContext(t.ctx, q, args...)
	}
	return t.tx.StmtContext(t.ctx, st).QueryRowContext(t.ctx, args...)
}

// readRow runs a cached single-row query on the reader pool.
func (s *Store) readRow(ctx context.Context, q string, args ...any) *sql.Row {
	st, err := s.rStmts.get(ctx, s.r, q)
	if err != nil {
		return s.r.QueryRowContext(ctx, q, args...)
	}
	return st.QueryRowContext(ctx, args...)
}
