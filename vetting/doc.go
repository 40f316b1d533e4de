// Package vetting owns the reviewer's vetting workbook: Export writes one
// .xlsx per access request (or per data type for that type's contact) from
// the point-in-time hit snapshot, and Import validates an uploaded workbook
// against the signed manifest inside it and returns the reviewer's decisions.
//
// Workbook layout (see Export): an "Instructions" sheet in the request's
// language, one sheet per data type (split into "<type> (2)", ... past
// MaxRowsPerSheet rows so every link stays clickable under Excel's hyperlink
// cap), a "Not searchable" sheet, and a very hidden, protected "docvet"
// sheet holding the manifest. The manifest is a sheet, not custom document
// properties or defined names, because those are capped at 255 characters
// per value by Excel; a hidden sheet survives Excel and LibreOffice round
// trips (LibreOffice turns "very hidden" into "hidden", which is fine: the
// manifest is signed with HMAC-SHA256, so any edit to it is detected).
//
// Decisions by the reviewer (SPEC §7): a deleted row withholds the document,
// a cleared extract-content cell withholds the file, text typed into "text"
// is delivered instead of the file's text, and metadata cells may be edited
// or cleared. Anything else that changes the meaning of the workbook —
// added rows, unknown or duplicate row ids, a changed extract-content, a
// changed read-only column, formulas, a removed or renamed data sheet, an
// added sheet or column, a workbook of another request or scope — is
// rejected with a *ValidationError naming sheet, row and column. Removing a
// whole data sheet is rejected rather than read as "withhold all": a sheet
// can vanish by accident (rename, copy into another file), a deleted row
// cannot.
package vetting
