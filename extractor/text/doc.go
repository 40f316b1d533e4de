// Package text owns plain-text and CSV extraction and the charset detection
// that the html and mail packages reuse (Decode, DecodeBytes, Lookup, Copy).
//
// Text is streamed: Decode peeks at most SampleSize bytes to choose a
// charset, then a transform.Reader decodes the rest into the Builder in
// 64 KB chunks. CSV is kept as raw text, not parsed.
//
// Detection rule (first match wins):
//  1. A BOM: UTF-8, UTF-16LE, UTF-16BE (the BOM is dropped).
//  2. A declared charset (MIME charset parameter, HTML <meta>) that Lookup
//     knows, except that
//     - declared UTF-8 that is not valid UTF-8 is detected instead (pages
//     and mails that lie, e.g. Windows-1256 labelled UTF-8);
//     - declared US-ASCII with 8-bit bytes is detected instead;
//     - valid UTF-8 with non-ASCII bytes beats any other declared legacy
//     charset (UTF-8 labelled "macintosh" or "iso-8859-1" is common,
//     the reverse accident practically impossible);
//     - declared UTF-16 without BOM takes its byte order from the NULs.
//  3. UTF-16LE/BE without BOM: more than 20% NUL bytes at odd (LE) or even
//     (BE) offsets of the first 4 KB and under 2% at the others.
//  4. ISO-2022-JP: 7-bit data containing JIS escape sequences.
//  5. UTF-8 when the sample is valid UTF-8 (so pure ASCII is UTF-8).
//  6. EBCDIC (IBM code page 500): over 8% 0x40 bytes (EBCDIC space) and over
//     90% of bytes at EBCDIC letter/digit/space/line-end positions.
//  7. Otherwise every legacy candidate (Windows-1252, Shift_JIS, EUC-JP,
//     GB18030, Big5, EUC-KR, Windows-1251, IBM866, Windows-1256) decodes the
//     first 16 KB and is scored per non-ASCII byte: CJK candidates by kana,
//     frequent Hangul syllables or frequent Hanzi versus replacement
//     characters, controls and characters foreign to the language;
//     single-byte candidates word by word (non-ASCII letters must be in the
//     expected script, frequent in it, not mixed with ASCII letters inside a
//     word for Cyrillic/Arabic, not flip case inside a word, and for Latin
//     not outnumber the ASCII letters of the word). The best positive score
//     wins; ties go to the earlier candidate; no positive score means
//     Windows-1252 (a superset of Latin-1's printable range).
//
// On the corpus (../shared/corpus/misc, decode(ENC) anchors) the rule names
// the anchor's encoding for all 18 text files: UTF-8 (6, incl. CSV),
// UTF-16LE without BOM, Windows-1252 (2) and Latin-1, Shift_JIS (2), EUC-JP,
// ISO-2022-JP, Big5 (cp950), EUC-KR, GB18030, IBM866 and EBCDIC CP500; and
// for the 9 HTML files (meta or detection): UTF-8 (4, one mislabelled
// "macintosh"), Windows-1251, ISO-8859-6, UTF-16LE with BOM and Windows-1256
// mislabelled UTF-8. Windows-1250/1253/1255, KOI8-R and ISO-2022-KR are
// decoded when declared but not detected.
package text
