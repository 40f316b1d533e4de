// Package zipsafe owns safe access to the zip containers of OOXML documents
// (DOCX, XLSX) and to the XML parts inside them.
//
// Open checks the whole container BEFORE any part is decompressed: entry
// count, declared uncompressed size per entry and in total, and the
// uncompressed/compressed ratio of every XML part (entries smaller than
// MinRatioBytes are exempt: for them a ratio means nothing). Other entries
// (images, embedded files) get the ratio check when they are opened, so a
// blank bitmap that compresses 1000:1 does not fail a document whose text
// never touches it; CheckAllRatios checks every entry at once for a parser
// that reads them all (excelize). Declared sizes
// can lie, so every reader returned by Reader.Open also counts the bytes it
// really produces and fails with a *doctext.LimitError once an entry, the
// container total or the ratio is exceeded.
//
// An OLE2 compound file (magic D0 CF 11 E0) holding an EncryptedPackage
// stream is a password-protected OOXML document: ErrEncrypted. Any other
// OLE2 file is a legacy Office document: ErrUnsupported. Anything that is
// not a readable zip is ErrMalformed.
//
// NewDecoder wraps encoding/xml for streaming part parsing: it enforces
// Limits.MaxXMLDepth and refuses any <!DOCTYPE> (OOXML never has one, and a
// DTD is how billion-laughs and XXE attacks start; encoding/xml would not
// expand the entities anyway, but refusing is explicit and cheap).
// CheckProlog applies the same DOCTYPE rule to a part without parsing all of
// it, for parts a third-party parser (excelize) will read.
//
// Errors carry fixed text only ("xml line 3: syntax error", "zip part not
// found"): encoding/xml quotes the document ("invalid character entity
// &Name") and part names can be personal data.
package zipsafe
