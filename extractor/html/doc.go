// Package html owns HTML text extraction: the visible text of a page, read
// with the streaming golang.org/x/net/html tokenizer (never a tree, so deep
// nesting costs nothing). Script, style, noscript and template content is
// dropped, <title> is kept, entities are unescaped, block elements end a
// line, table cells are tab-separated and other whitespace is collapsed
// (except inside <pre>). The charset comes from a BOM, then the transport
// (MIME charset parameter), then <meta charset> / http-equiv, then the
// detection of package text; a page that declares UTF-8 but is not valid
// UTF-8 is detected instead. FromReader is the entry point the mail package
// uses for text/html bodies.
package html
