package store

import (
	"context"
	"fmt"
	"time"
)

// migrations are applied in order, each once, each in its own transaction.
// Append only: never edit a migration that has shipped.
var migrations = []string{
	// 1: datasets, sequence, key/value state, rejected entities.
	`CREATE TABLE sequence (id INTEGER PRIMARY KEY CHECK (id = 1), value INTEGER NOT NULL);
	 INSERT INTO sequence (id, value) VALUES (1, 0);
	 CREATE TABLE entities (
		dataset TEXT NOT NULL,
		id      TEXT NOT NULL,
		seq     INTEGER NOT NULL,
		deleted INTEGER NOT NULL DEFAULT 0,
		hash    TEXT NOT NULL,
		body    TEXT NOT NULL,
		aux     TEXT NOT NULL DEFAULT '',
		mark    INTEGER NOT NULL DEFAULT 0,
		ts      INTEGER NOT NULL,
		PRIMARY KEY (dataset, id)
	 );
	 CREATE UNIQUE INDEX entities_by_seq ON entities (dataset, seq);
	 CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT NOT NULL, ts INTEGER NOT NULL);
	 CREATE TABLE rejections (
		dataset   TEXT NOT NULL,
		entity_id TEXT NOT NULL,
		origin    TEXT NOT NULL,
		reason    TEXT NOT NULL,
		ts        INTEGER NOT NULL,
		PRIMARY KEY (dataset, entity_id)
	 );`,
	// 2: the ledger of what was indexed (issue 4): the truth the index can be
	// rebuilt from. One row per (source dataset, entity _id).
	`CREATE TABLE ledger (
		source            TEXT NOT NULL,
		entity_id         TEXT NOT NULL,
		entity_seq        INTEGER NOT NULL,
		data_type         TEXT NOT NULL,
		sha256            TEXT NOT NULL DEFAULT '',
		status            TEXT NOT NULL,
		reason            TEXT NOT NULL DEFAULT '',
		extractor_version TEXT NOT NULL DEFAULT '',
		size              INTEGER NOT NULL DEFAULT 0,
		chars             INTEGER NOT NULL DEFAULT 0,
		attempts          INTEGER NOT NULL DEFAULT 0,
		retry             INTEGER NOT NULL DEFAULT 0,
		indexed_at        INTEGER NOT NULL,
		PRIMARY KEY (source, entity_id)
	 );
	 CREATE INDEX ledger_by_status ON ledger (status);
	 CREATE INDEX ledger_retry ON ledger (retry) WHERE retry = 1;`,
	// 3: a covering index for the dataset counts of /api/status (Count,
	// Datasets), which otherwise read every entity row, bodies included.
	`CREATE INDEX entities_counts ON entities (dataset, deleted, seq);`,
	// 4: access requests' lifecycle and their point-in-time search snapshot
	// (issue 5): one row per request, one row per hit and per document that
	// could not be searched, written with the change to "searched".
	`CREATE TABLE requests (
		id             TEXT PRIMARY KEY,
		state          TEXT NOT NULL,
		reason         TEXT NOT NULL DEFAULT '',
		created_at     INTEGER NOT NULL,
		updated_at     INTEGER NOT NULL,
		searched_at    INTEGER NOT NULL DEFAULT 0,
		snapshot       TEXT,
		hits           INTEGER NOT NULL DEFAULT 0,
		not_searchable INTEGER NOT NULL DEFAULT 0
	 );
	 CREATE INDEX requests_by_state ON requests (state, id);
	 CREATE TABLE request_hits (
		request_id TEXT NOT NULL,
		ordinal    INTEGER NOT NULL,
		hit        TEXT NOT NULL,
		PRIMARY KEY (request_id, ordinal)
	 );
	 CREATE TABLE request_not_searchable (
		request_id TEXT NOT NULL,
		ordinal    INTEGER NOT NULL,
		doc        TEXT NOT NULL,
		PRIMARY KEY (request_id, ordinal)
	 );`,
	// 5: reviewers' vetting decisions per workbook row (issue 5), replaced by
	// each accepted upload, and an append-only record of every decision
	// (who, when, what kind of change) for the audit log.
	`CREATE TABLE request_decisions (
		request_id TEXT NOT NULL,
		row_id     TEXT NOT NULL,
		data_type  TEXT NOT NULL,
		decision   TEXT NOT NULL,
		reviewer   TEXT NOT NULL,
		decided_at INTEGER NOT NULL,
		PRIMARY KEY (request_id, row_id)
	 );
	 CREATE INDEX request_decisions_by_type ON request_decisions (request_id, data_type);
	 CREATE TABLE decision_audit (
		seq        INTEGER PRIMARY KEY, -- append-only: never deleted, so never reused
		request_id TEXT NOT NULL,
		row_id     TEXT NOT NULL,
		data_type  TEXT NOT NULL,
		reviewer   TEXT NOT NULL,
		decided_at INTEGER NOT NULL,
		what       TEXT NOT NULL
	 );
	 CREATE INDEX decision_audit_by_request ON decision_audit (request_id, seq);`,
	// 6: delivery (issue 6). delivery_rows: the outcome of each reviewed
	// row (delivered, withheld, changed since review, ...), written once per
	// row so a resumed delivery skips what is done. delivery_items: the
	// encrypted items of a delivered row (content-addressed blobs on disk).
	// delivery_bundles: the bundle zip per request. portal_tokens: the
	// subject's portal access (hash of the token, never the token).
	// outbox: notifications to send, written with the state change that
	// causes them. audit_log: the hash-chained record of who did what.
	`CREATE TABLE delivery_rows (
		request_id TEXT NOT NULL,
		row_id     TEXT NOT NULL,
		data_type  TEXT NOT NULL,
		outcome    TEXT NOT NULL,
		reason     TEXT NOT NULL DEFAULT '',
		at         INTEGER NOT NULL,
		PRIMARY KEY (request_id, row_id)
	 );
	 CREATE TABLE delivery_items (
		request_id TEXT NOT NULL,
		item_id    TEXT NOT NULL,
		row_id     TEXT NOT NULL,
		data_type  TEXT NOT NULL,
		kind       TEXT NOT NULL,
		blob       TEXT NOT NULL,
		size       INTEGER NOT NULL,
		at         INTEGER NOT NULL,
		PRIMARY KEY (request_id, item_id)
	 );
	 CREATE INDEX delivery_items_by_blob ON delivery_items (blob);
	 CREATE TABLE delivery_bundles (
		request_id TEXT PRIMARY KEY,
		blob       TEXT NOT NULL,
		size       INTEGER NOT NULL,
		at         INTEGER NOT NULL
	 );
	 CREATE TABLE portal_tokens (
		token_hash TEXT PRIMARY KEY,
		request_id TEXT NOT NULL,
		nonce      BLOB NOT NULL,
		created_at INTEGER NOT NULL,
		expires_at INTEGER NOT NULL
	 );
	 CREATE INDEX portal_tokens_by_request ON portal_tokens (request_id);
	 CREATE TABLE outbox (
		id         INTEGER PRIMARY KEY,
		kind       TEXT NOT NULL,
		request_id TEXT NOT NULL,
		recipient  TEXT NOT NULL,
		created_at INTEGER NOT NULL,
		due_at     INTEGER NOT NULL,
		attempts   INTEGER NOT NULL DEFAULT 0,
		sent_at    INTEGER NOT NULL DEFAULT 0,
		failed     INTEGER NOT NULL DEFAULT 0,
		last_error TEXT NOT NULL DEFAULT '',
		UNIQUE (kind, request_id, recipient)
	 );
	 CREATE INDEX outbox_due ON outbox (sent_at, failed, due_at);
	 CREATE TABLE audit_log (
		seq     INTEGER PRIMARY KEY,
		at      INTEGER NOT NULL,
		actor   TEXT NOT NULL,
		event   TEXT NOT NULL,
		request TEXT NOT NULL,
		detail  TEXT NOT NULL,
		prev    TEXT NOT NULL,
		hash    TEXT NOT NULL
	 );
	 CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
		BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
	 CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
		BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;`,
	// 7: the delivery store's sweep asks whether a bundle names a blob.
	`CREATE INDEX delivery_bundles_by_blob ON delivery_bundles (blob);`,
}

func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("store: create migrations table: %w", err)
	}
	var have int
	if err := s.w.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&have); err != nil {
		return fmt.Errorf("store: read schema version: %w", err)
	}
	if have > len(migrations) {
		return fmt.Errorf("store: database schema version %d is newer than this docvet (%d): upgrade docvet", have, len(migrations))
	}
	for v := have + 1; v <= len(migrations); v++ {
		tx, err := s.w.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("store: migrate to %d: %w", v, err)
		}
		if _, err := tx.ExecContext(ctx, migrations[v-1]); err != nil {
			tx.Rollback()
			return fmt.Errorf("store: migrate to %d: %w", v, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, v, time.Now().Unix()); err != nil {
			tx.Rollback()
			return fmt.Errorf("store: record migration %d: %w", v, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("store: commit migration %d: %w", v, err)
		}
	}
	return nil
}

// SchemaVersion returns the applied schema version.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := s.r.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v)
	return v, err
}
