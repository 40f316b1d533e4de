// Package store owns docvet's embedded state: a SQLite database (pure Go,
// modernc.org/sqlite) with versioned schema migrations. Its core is the
// dataset: entities keyed by (dataset, _id) with a monotonic sequence
// (_updated) assigned inside the write transaction, so any dataset can be
// published with the JSON pull protocol and read in pages that never skip or
// repeat a version. Full-sync support (marks and sweeps), small key/value
// state (since-tokens, push sequences) and rejected entities live here too.
//
// All SQL is kept in this package and written to stay portable to
// PostgreSQL (no SQLite-only syntax beyond pragmas and the upsert form both
// support). One caveat for such a port: the sequence relies on writes being
// serialised (SQLite has one writer), so readers always see a gap-free prefix
// of sequence numbers; PostgreSQL would need a table lock or a commit-ordered
// sequence to keep the pull protocol's "never skip" guarantee.
package store
