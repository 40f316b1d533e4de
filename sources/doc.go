// Package sources owns the document-source side of docvet: the gdpr-document
// entity of SPEC §1 and its validation, the "~r" transit encoding of URIs, the
// Source interface every document source implements, and the HTTP handlers
// that publish a Source with the JSON pull protocol and serve its bytes.
package sources
