// Package index owns the Bleve (scorch) index of extracted documents: its
// explicit mapping (analysed and accent-folded text, normalised identifier
// keywords, the entity properties of SPEC §1 except metadata, the extraction
// status and content hash, and the stored segment locations), opening it
// safely (ErrInUse instead of a hang when another process holds it,
// ErrCorrupt when it cannot be read), applying upserts and deletes as one
// persisted batch, and point-in-time snapshots for the search layer.
//
// Both text analyzers tokenize with docvet_unicode (tokenizer.go): Bleve's
// unicode tokenizer plus a memo, so a document's text is segmented once for
// text and text_folded. Tokens are identical to Bleve's unicode tokenizer.
// An index created before it names "unicode" in its stored mapping and keeps
// working unchanged (same terms); a binary without docvet_unicode cannot
// open a newer index (ErrCorrupt: rebuilt by the pipeline).
//
// The ledger of what was indexed and the ingestion pipeline live elsewhere;
// the index can always be rebuilt from them.
package index
