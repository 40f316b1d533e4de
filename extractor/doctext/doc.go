// Package doctext owns the contract between the extraction dispatcher
// (package extractor) and the per-format packages (extractor/pdf, docx, ...):
// the text Builder that accumulates located segments under a character cap,
// the Limits every parser must honour, and the sentinel errors that map to a
// document status. It imports nothing of ours, so format packages can depend
// on it without a cycle.
//
// The Builder also bounds the metadata a crafted document can produce: at
// most MaxWarnings warnings (then "and N more warnings"), each capped, and
// at most MaxSegments segments (neighbours are merged pairwise beyond that;
// a merged segment is located "FIRST to LAST"), locations capped.
//
// Reasons and warnings must never carry document text or names. SafeDetail
// states the rule for error messages (our context before the sentinel,
// third-party detail after it and never shown) and Sanitize is the last
// filter for any text that goes into a reason.
package doctext
