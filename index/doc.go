// Package index owns the Bleve (scorch) index of extracted documents: its
// explicit mapping (the extracted text stored once and indexed once,
// lower-cased and accent-folded with term vectors, normalised identifier
// keywords, the entity properties of SPEC §1 except metadata, the extraction
// status and content hash, and the stored segment locations), opening it
// safely (ErrInUse instead of a hang when another process holds it,
// ErrCorrupt when it cannot be read), applying upserts and deletes as one
// persisted batch, and point-in-time snapshots for the search layer.
//
// Both text analyzers use Bleve's unicode tokenizer; an index of another
// mapping version is rebuilt by the pipeline (ErrIncompatible).
//
// The ledger of what was indexed and the ingestion pipeline live elsewhere;
// the index can always be rebuilt from them.
package index
