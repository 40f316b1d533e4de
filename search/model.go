package search

import "time"

// IdentifierKind says how a subject identifier is matched.
type IdentifierKind string

const (
	KindEmail IdentifierKind = "email" // exact address, case-insensitive
	KindPhone IdentifierKind = "phone" // any written form of the same number (E.164)
	KindName  IdentifierKind = "name"  // phrase, case- and accent-insensitive; also "Surname, Given"
	KindID    IdentifierKind = "id"    // exact, separators ignored where the ID pattern says so
)

// Identifier is one thing a data subject is known by.
type Identifier struct {
	Kind IdentifierKind `json:"kind"`
	// Pattern names the configured ID pattern for KindID (e.g. "customer").
	Pattern string `json:"pattern,omitempty"`
	// Value is what the request or the subject dataset gave.
	Value string `json:"value"`
	// Normalized is the form that is matched (lower-cased e-mail, E.164,
	// ID without separators, name folded); filled by Normalize.
	Normalized string `json:"normalized,omitempty"`
}

// Matched counts how often one identifier matched in a document.
type Matched struct {
	Kind    IdentifierKind `json:"kind"`
	Pattern string         `json:"pattern,omitempty"`
	Value   string         `json:"value"` // the identifier as given (shown to the reviewer)
	Count   int            `json:"count"`
}

// Highlight is a matched range inside a snippet, in runes.
type Highlight struct {
	Start int `json:"start"`
	End   int `json:"end"`
}

// Snippet is a short excerpt around matches, with where it is in the
// document ("page 3", "Sheet1!B7:F7", "attachment 2") and the matched ranges
// to show in bold.
type Snippet struct {
	Location   string      `json:"location,omitempty"`
	Text       string      `json:"text"`
	Highlights []Highlight `json:"highlights,omitempty"`
}

// Hit is one matching document as it stood when the request was searched.
type Hit struct {
	IndexID        string         `json:"index_id"`
	Source         string         `json:"source"` // the dataset the entity came from
	EntityID       string         `json:"entity_id"`
	DataType       string         `json:"data_type"`
	DocumentID     string         `json:"document_id"`
	Filename       string         `json:"filename,omitempty"`
	MIMEType       string         `json:"mime_type"`
	FileSize       int64          `json:"filesize"`
	OriginalURL    string         `json:"original_url"`
	ExtractContent string         `json:"extract_content"`
	SHA256         string         `json:"sha256"` // the hash that was indexed and is reviewed
	Status         string         `json:"status"` // extraction status (a partial document can still match)
	Metadata       map[string]any `json:"metadata,omitempty"`
	Matched        []Matched      `json:"matched"`
	Count          int            `json:"count"` // total matches over all identifiers
	Snippets       []Snippet      `json:"snippets,omitempty"`
}

// NotSearchable is a document of the request's data types that could not be
// fully searched (ledger status other than ok): reviewers must know, since an
// unread document is an error of omission in the answer.
type NotSearchable struct {
	Source      string `json:"source"`
	EntityID    string `json:"entity_id"`
	DataType    string `json:"data_type"`
	Filename    string `json:"filename,omitempty"`
	OriginalURL string `json:"original_url,omitempty"`
	Status      string `json:"status"`
	Reason      string `json:"reason,omitempty"`
}

// Result is the point-in-time snapshot stored with an access request.
type Result struct {
	RequestID     string          `json:"request_id"`
	SearchedAt    time.Time       `json:"searched_at"`
	IndexedDocs   uint64          `json:"indexed_docs"` // documents in the index snapshot searched
	DataTypes     []string        `json:"data_types"`   // data types covered
	Hits          []Hit           `json:"hits"`
	NotSearchable []NotSearchable `json:"not_searchable"`
}
