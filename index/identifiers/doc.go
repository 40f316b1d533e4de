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
//     a candidate in text must be a whole run of digit groups, pass the decoy
//     rules (dates, decimal amounts, thousands-grouped amounts, digits glued
//     to letters) and be a VALID number for its region, never a sub-span.
//   - IDs: configured patterns, upper-cased and (if configured) with spaces,
//     dashes, dots and slashes removed.
package identifiers
