// Package docx owns text extraction from WordprocessingML (.docx, .docm,
// .dotx; transitional and strict OOXML).
//
// The container is opened with extractor/zipsafe (size, entry and ratio
// checks before anything is decompressed; counted limits while reading) and
// every part is streamed through zipsafe.Decoder (encoding/xml with a depth
// limit, DTDs refused). github.com/nguyenthenguyen/docx is not used: it reads
// parts whole into memory and returns raw XML, which fits nowhere here.
//
// Parts are read in this order, each as its own segment location:
// the main document ("body"), headers ("header1", ...), footers ("footer1",
// ...), "footnotes", "endnotes", "comments" (each comment prefixed with its
// author), embedded files, then "properties" (title, subject, creator, last modified by,
// keywords, description from docProps/core.xml: the names of people who
// wrote a document are data about them). Parts are found through the
// package relationships; when those are missing, by their usual names.
//
// Text rules: runs are joined with nothing between them, so an e-mail
// address or phone number split over several w:r/w:t pieces (or around
// proofErr/bookmark markers) stays whole; paragraph -> newline, w:tab ->
// tab, w:br/w:cr -> newline; table cells are separated by a tab and rows by
// a newline; content controls (w:sdt), text boxes (w:txbxContent), fields'
// displayed results and math (m:t) are included; field codes (w:instrText)
// are not. List labels ("1.", "a)", "2.1.3", from numbering.xml, with start
// overrides and legal numbering; not bullets, not numbering inherited from
// paragraph styles) precede their paragraph, as the reader saw them. Of
// mc:AlternateContent only the first mc:Choice is read (the
// mc:Fallback repeats the same text as VML). Ruby (phonetic guide) text
// follows its base text in parentheses. altChunk parts (imported HTML, RTF,
// ...) are handed to Options.Recurse in place, and so are embedded files
// (word/embeddings/*: workbooks, documents, OLE objects) after the comments,
// each as segment "embedded <part name>"; without a Recurser, or when the
// Recurser fails, they are reported with Builder.Warn (the document is then
// partial, not silently short).
//
// Tracked changes: insertions (w:ins, w:moveTo) are part of the current
// document and are read in place. Deletions (w:delText, and the text of
// w:del / w:moveFrom) are not in the current document, so they are kept out
// of the running text, where they would corrupt phrases and numbers; but a
// deleted-yet-retained passage is still data the organisation holds about a
// person, so it is emitted after the part in its own segment
// "<part> tracked deletions" (for example "body tracked deletions") and stays
// searchable. Deleted pieces that were adjacent are joined without a
// separator, so a deleted e-mail address split over runs stays whole.
package docx
