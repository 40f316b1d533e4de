// Package identifiers owns the normalisation of subject identifiers
// (e-mail addresses, phone numbers, configured ID patterns) and finding them
// in free text. The index stores what Find returns as keyword terms and the
// search layer normalises an access request's identifiers with Normalize, so
// both sides of a match go through the same rules (SPEC §5, §6):
//
//   - E-mail: the whole address lower-cased (IDN domains kept as written,
//     lower-cased); the domain needs at least two labels and a TLD of letters
//     (or an xn-- label), so "kari@example" is not an address.
//   - Phone: E.164 via github.com/nyaruka/phonenumbers with a default region;
//     a candidate in text is a whole run of digit groups (or the parts of a
//     run split at spaces or slashes), must pass the decoy rules (dates,
//     decimals, amounts, ranges, digits glued to words) and be a VALID
//     number; see phone.go for the exact rules.
//   - IDs: configured patterns, upper-cased and (if configured) with spaces,
//     dashes, dots and slashes removed, optionally checked (for example
//     NorwegianNationalID's check digits).
//
// Offsets are in runes of the text, which must be valid UTF-8 (the
// extractor's Builder guarantees it; invalid bytes are read as U+FFFD).
package identifiers
