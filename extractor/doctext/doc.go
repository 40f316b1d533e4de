// Package doctext owns the contract between the extraction dispatcher
// (package extractor) and the per-format packages (extractor/pdf, docx, ...):
// the text Builder that accumulates located segments under a character cap,
// the Limits every parser must honour, and the sentinel errors that map to a
// document status. It imports nothing of ours, so format packages can depend
// on it without a cycle.
package doctext
