// Package ingest owns the ingestion pipeline of SPEC §5: it follows the
// stored document datasets (store.Since, in sequence order, from a position
// kept in store state), validates each entity (sources.ParseDocument),
// downloads its bytes from the publishing source only (Fetcher, with the
// dataset's allowed content base), extracts the text in the sandboxed worker
// pool (Extractor), writes the batch to the index (index.Apply, persisted;
// a batch with more text than Options.BatchBytes in several calls) and
// then, in ONE store transaction, the ledger rows of that batch and the new
// position. Batches are bounded by count and by bytes (the listed file
// sizes), so memory does not grow with the share's largest files; the
// ledger rows of a batch are read in one query.
//
// # Guarantees
//
//   - Crash safety: the whole batch is persisted in the index before the
//     ledger rows and the position that cover it are committed. A crash in between replays
//     the batch on restart; document ids are deterministic (index.DocID), so
//     the replay replaces, never duplicates. Nothing is skipped because the
//     position only advances together with the ledger rows.
//   - Idempotence: an entity version already in the ledger with the current
//     extractor version is skipped without a download. A new version whose
//     downloaded bytes hash the same as the indexed ones is not re-extracted:
//     its stored text and segments are read back from the index (a Snapshot
//     Get, far cheaper than a round trip through a worker) and re-indexed
//     with the new properties.
//   - Nothing is dropped: a document whose extraction status is not ok is
//     recorded in the ledger and its (partial) text indexed; a download that
//     fails (source down, 404, timeout, refused URL, size differing from the
//     listing) is recorded with status "fetch-failed", a reason and
//     Retry=true, indexed with its properties (and the text of the version
//     indexed before, if any, so it stays findable), and retried on later
//     passes with exponential backoff until it succeeds or the entity
//     changes. The position may pass it: the ledger remembers it.
//   - An index that cannot be opened (index.ErrCorrupt, ErrIncompatible),
//     one built with other identifier options (index.ErrIdentifiersChanged:
//     the phone region or ID patterns changed, so its identifier terms are
//     stale), or an empty index next to a non-empty ledger, is rebuilt from
//     the sources into a new directory and swapped in by rename (OpenIndex,
//     Rebuild). A rebuild rewrites the ledger as it goes; one that fails,
//     is stopped or crashes before the swap flags every ledger row it may
//     have rewritten Retry, so the live pipeline (still on the old index
//     and position) re-processes those documents instead of skipping them.
//     A document whose source is down during a rebuild is indexed without
//     text, as fetch-failed with Retry, until a retry fetches it.
//
// Logs carry dataset names and counts only: never document text, subject
// identifiers, file names, URLs or entity ids.
package ingest
