// Package delivery owns what happens after review (SPEC §8, §9): every
// approved row of an access request is encrypted to the data subject's key
// (its metadata and delivered text as JSON and, where extract-content was
// kept, the file downloaded again and checked against the reviewed
// SHA-256), stored in a content-addressed delivery store (Blobs), recorded
// row by row so a delivery stopped at any point resumes and publishes each
// item once, and offered as a bundle: a zip with an index.html per data
// type, in the request's language.
//
// Plaintext never touches disk: files stream from the source through the
// hash and the encryptor into a temporary blob that is renamed into place
// only when the hash matched. The bundle's pages name data types, counts
// and random item ids, never file names or document text.
package delivery
