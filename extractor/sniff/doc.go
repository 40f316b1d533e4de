// Package sniff owns MIME-type detection for docvet: it decides what a file
// really is from its bytes (magic numbers, zip and OLE2 container contents,
// mail headers, text heuristics) and falls back to the file-name extension
// only when the content is generic (plain text, unknown binary, a zip without
// Office markers). Extensions lie on real file shares; content does not.
//
// Detection is bounded: it looks at the first 4 KiB (Head) and, for
// containers, at most a few directory sectors or a zip central directory via
// an io.ReaderAt. It never panics on hostile input (see FuzzDetect).
package sniff
