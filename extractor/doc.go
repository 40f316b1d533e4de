// Package extractor owns text extraction: it hashes a document's bytes,
// detects its type (extractor/sniff), dispatches to the format package
// (extractor/pdf, docx, xlsx, text, html, mail), and maps every outcome to a
// doctext.Status with a reason. Untrusted documents run in sandboxed worker
// processes (Pool, ServeWorker: "docvet extract-worker") so a parser crash,
// hang or memory blow-up costs one document. It also owns fetching bytes
// from a document's publishing source (Fetcher).
//
// It imports nothing of ours but its own subpackages.
package extractor
