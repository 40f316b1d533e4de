// Package mail owns e-mail extraction: RFC 5322 / MIME messages (.eml) and
// mbox files (split on "From " lines after an empty line, ">From "
// unescaped, one "message N" location prefix per message).
//
// Output per message: the address, subject and date headers (RFC 2047
// words decoded in any charset package text knows, raw 8-bit headers
// detected, addresses kept whole; envelope headers such as Delivered-To
// too, because a Bcc recipient may appear only there), then every inline
// text/* part (text/html through package html; charsets through package
// text), then one "[attachment: NAME TYPE]" line per other part, which is
// extracted with Options.Recurse when set. message/rfc822 parts are read as
// nested messages, and uuencoded blocks in text bodies become attachments.
// Segment locations: "headers", "body", "part 1.2", "part 2 headers" (an
// embedded message), "attachment N".
//
// The MIME parser is our own, over the message bytes in memory (bounded by
// Limits.MaxInputBytes; an mbox is read one message at a time), because
// net/mail and mime/multipart stop at the first malformed header, missing
// boundary or bad base64, while mail readers keep going. Damage is repaired
// where possible and reported with Builder.Warn ("part 2: missing final
// MIME boundary", "attachment 1 (application/pdf): encrypted"); warnings
// name parts by index and type only, never by file name (and a type only if
// it is a common registered one, else "application/other"). Base64 padding
// ends a quantum, not the body: decoding resumes after it, because some
// mailers encode each line on its own. Nesting is bounded
// by Limits.MaxAttachDepth (messages and attachments) and 64 multipart levels.
//
// An attachment we cannot read (encrypted, damaged, unsupported type) makes
// the message partial through a warning, with one exception: image/*
// attachments are listed in the text but not warned about. No image is
// searchable until OCR exists, and flagging every mail that carries a logo
// would bury the real gaps in the reviewers' "Not searchable" list.
package mail
