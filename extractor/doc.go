// Package extractor owns text extraction: it hashes a document's bytes,
// detects its type (extractor/sniff), dispatches to the format package
// (extractor/pdf, docx, xlsx, text, html, mail), and maps every outcome to a
// doctext.Status with a reason. Untrusted documents run in sandboxed worker
// processes (Pool, ServeWorker: "docvet extract-worker") so a parser crash,
// hang or memory blow-up costs one document. It also owns fetching bytes
// from a document's publishing source (Fetcher).
//
// Pool hardening: a worker runs in its own process group (a kill takes its
// pdftotext along; a terminal's Ctrl-C reaches only the parent) and ignores
// SIGINT/SIGTERM itself; it gets a private 0700 TMPDIR removed after it
// ends; a document waits for a worker slot before its bytes are read; a
// cancelled caller always gets ctx's error; the parent classifies a crash
// by the stderr of that document only. Reasons carry only text of our own
// (doctext.SafeDetail): never document content, names or third-party error
// text. Options.Pdftotext (PoolOptions.Pdftotext) selects the PDF fallback.
//
// It imports nothing of ours but its own subpackages.
package extractor
