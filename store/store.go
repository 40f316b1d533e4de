package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// ErrNotFound is returned by getters when a key does not exist.
var ErrNotFound = errors.New("not found")

// ErrLocked is returned by Open when another process has the database open.
// SQLite alone would let two docvet processes share it, and then two
// rescans or two pullers would each treat the other's work as their own.
var ErrLocked = errors.New("database is in use by another docvet process")

// Options tunes the store. Zero values mean defaults.
type Options struct {
	// BusyTimeout is how long a connection waits for a lock (default 10s).
	BusyTimeout time.Duration
	// Readers is the size of the read connection pool (default 4).
	Readers int
	// Synchronous is the SQLite synchronous pragma: "FULL" (default; a
	// commit survives power loss) or "NORMAL" (survives a process crash).
	Synchronous string
	// Shared skips the exclusive lock file (<path>.lock) that keeps a
	// second process from opening the same database. Tests only.
	Shared bool
}

func (o Options) withDefaults() Options {
	if o.BusyTimeout <= 0 {
		o.BusyTimeout = 10 * time.Second
	}
	if o.Readers <= 0 {
		o.Readers = 4
	}
	if o.Synchronous == "" {
		o.Synchronous = "FULL"
	}
	return o
}

// Store is the embedded database. Writes go through one connection (SQLite
// has one writer anyway, and this keeps sequence numbers commit-ordered);
// reads use a pool and see consistent snapshots (WAL).
type Store struct {
	w    *sql.DB
	r    *sql.DB
	path string
	lock *os.File
	// Prepared statements of the hot paths, per database handle.
	wStmts, rStmts stmtCache
	// auditKey keys the audit log's hash chain (SetAuditKey).
	auditKey []byte
}

// Open opens (creating if needed) the database at path and migrates it.
func Open(ctx context.Context, path string, opt Options) (*Store, error) {
	opt = opt.withDefaults()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create store dir: %w", err)
	}
	switch opt.Synchronous {
	case "FULL", "NORMAL":
	default:
		return nil, fmt.Errorf("store: synchronous must be FULL or NORMAL, not %q", opt.Synchronous)
	}
	var lock *os.File
	if !opt.Shared {
		var err error
		if lock, err = lockFile(path + ".lock"); err != nil {
			return nil, fmt.Errorf("open %s: %w", path, err)
		}
	}
	unlock := func() {
		if lock != nil {
			lock.Close()
		}
	}
	dsn := func(extra string) string {
		q := url.Values{}
		q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", opt.BusyTimeout.Milliseconds()))
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous("+opt.Synchronous+")")
		q.Add("_pragma", "foreign_keys(1)")
		if extra != "" {
			q.Add("_txlock", extra)
		}
		return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
	}
	w, err := sql.Open("sqlite", dsn("immediate"))
	if err != nil {
		unlock()
		return nil, fmt.Errorf("open store: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	s := &Store{w: w, path: path, lock: lock}
	if err := s.migrate(ctx); err != nil {
		w.Close()
		unlock()
		return nil, err
	}
	if err := s.prepareWriter(ctx); err != nil {
		w.Close()
		unlock()
		return nil, fmt.Errorf("store: prepare: %w", err)
	}
	r, err := sql.Open("sqlite", dsn(""))
	if err != nil {
		w.Close()
		unlock()
		return nil, fmt.Errorf("open store readers: %w", err)
	}
	r.SetMaxOpenConns(opt.Readers)
	r.SetMaxIdleConns(opt.Readers)
	s.r = r
	// The file holds personal data (entity bodies): owner only.
	for _, p := range []string{path, path + "-wal", path + "-shm", path + ".lock"} {
		_ = os.Chmod(p, 0o600)
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error {
	err := errors.Join(s.wStmts.close(), s.rStmts.close(), s.r.Close(), s.w.Close())
	if s.lock != nil {
		err = errors.Join(err, s.lock.Close())
	}
	return err
}

// Path returns the database file path.
func (s *Store) Path() string { return s.path }

// Entity is one stored version of an entity of a dataset.
type Entity struct {
	Dataset string
	ID      string
	Seq     int64 // the _updated sequence, assigned by the store
	Deleted bool
	Body    json.RawMessage // JSON object without system properties
	Aux     string          // writer's private value (e.g. a file fingerprint); never published
	Updated time.Time       // when this version was written (_ts)
}

// systemProps are the entity properties the store manages itself. Incoming
// values are dropped: our _updated is our sequence, not the sender's.
var systemProps = []string{"_id", "_updated", "_deleted", "_ts", "_hash", "_previous"}

// MarshalJSON renders the entity as a JSON pull protocol entity.
func (e Entity) MarshalJSON() ([]byte, error) {
	return e.AppendJSON(nil), nil
}

// AppendJSON appends the published form of e to dst without re-encoding the
// body: the system properties are written first, then the body's own.
func (e Entity) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"_id":`...)
	idJSON, _ := json.Marshal(e.ID)
	dst = append(dst, idJSON...)
	dst = append(dst, `,"_updated":`...)
	dst = strconv.AppendInt(dst, e.Seq, 10)
	dst = append(dst, `,"_deleted":`...)
	dst = strconv.AppendBool(dst, e.Deleted)
	dst = append(dst, `,"_ts":`...)
	dst = strconv.AppendInt(dst, e.Updated.UnixMicro(), 10)
	body := e.Body
	if len(body) > 2 { // "{...}" with content
		dst = append(dst, ',')
		dst = append(dst, body[1:]...)
	} else {
		dst = append(dst, '}')
	}
	return dst
}

// Write is one change to apply to a dataset.
type Write struct {
	ID      string
	Deleted bool
	// Body is a JSON object; system properties in it are ignored. A nil body
	// on a delete keeps the previous body (Sesam publishes the last known
	// properties of a deleted entity).
	Body json.RawMessage
	Aux  string
	// Mark, when non-zero, is recorded on the entity for a full sync: Sweep
	// deletes every entity not carrying the sweep's mark.
	Mark int64
}

// Result says what a Put did.
type Result struct {
	Changed bool  // a new version was written (new sequence number)
	Seq     int64 // the entity's sequence after the write
}

// normalizeBody parses a JSON object, drops system properties and re-encodes
// it canonically (sorted keys, numbers as written) so equal content hashes
// equally whatever the sender's key order.
func normalizeBody(raw json.RawMessage) ([]byte, error) {
	if len(raw) == 0 {
		return []byte("{}"), nil
	}
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&m); err != nil || m == nil {
		return nil, errors.New("entity body is not a JSON object")
	}
	for _, k := range systemProps {
		delete(m, k)
	}
	return json.Marshal(m) // encoding/json sorts map keys
}

func hashOf(body []byte, deleted bool) string {
	h := sha256.New()
	h.Write(body)
	if deleted {
		h.Write([]byte{1})
	} else {
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}
