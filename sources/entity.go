package sources

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"strconv"
	"strings"
)

// Property names of the gdpr-document entity (SPEC §1). They are fixed by the
// Sesam GDPR platform; note the underscore in document_id.
const (
	PropDataTypeID     = "gdpr-data-type:data-type-id"
	PropDocumentID     = "gdpr-document:document_id"
	PropExtractContent = "gdpr-document:extract-content"
	PropOriginalURL    = "gdpr-document:original-url"
	PropFilesize       = "gdpr-document:filesize"
	PropFilename       = "gdpr-document:filename"
	PropMIMEType       = "gdpr-document:mime-type"
	PropMetadata       = "gdpr-document:metadata"
)

// URIPrefix marks a URI value in Sesam's transit encoding.
const URIPrefix = "~r"

// URI is a URL string that decodes with or without the "~r" transit prefix
// and encodes with it, as Sesam does.
type URI string

// UnmarshalJSON accepts "~rhttp://..." and "http://...".
func (u *URI) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		// Returned unwrapped, so the decoder adds the property name.
		return err
	}
	*u = URI(strings.TrimPrefix(s, URIPrefix))
	return nil
}

// MarshalJSON writes the value with the "~r" prefix (empty stays empty).
func (u URI) MarshalJSON() ([]byte, error) {
	if u == "" {
		return []byte(`""`), nil
	}
	return json.Marshal(URIPrefix + string(u))
}

// String returns the plain URL.
func (u URI) String() string { return string(u) }

// Document is the gdpr-document entity a source publishes (SPEC §1).
// Seq is the entity's "_updated" value as our own publishers write it (an
// integer sequence). Other publishers' _updated values are opaque (SPEC §2:
// strings, floats, anything): ParseDocument never fails on them and leaves
// Seq 0 unless the value is an integer that fits.
type Document struct {
	ID             string         `json:"_id"`
	Seq            int64          `json:"_updated"`
	Deleted        bool           `json:"_deleted"`
	DataTypeID     string         `json:"gdpr-data-type:data-type-id,omitempty"`
	DocumentID     string         `json:"gdpr-document:document_id,omitempty"`
	ExtractContent URI            `json:"gdpr-document:extract-content,omitempty"`
	OriginalURL    URI            `json:"gdpr-document:original-url,omitempty"`
	FileSize       int64          `json:"gdpr-document:filesize"`
	Filename       string         `json:"gdpr-document:filename,omitempty"`
	MIMEType       string         `json:"gdpr-document:mime-type,omitempty"`
	Metadata       map[string]any `json:"gdpr-document:metadata,omitempty"`
}

// ErrInvalid is wrapped by every validation error, so callers can tell a bad
// entity (4xx, keep the rest of the batch) from an infrastructure failure.
var ErrInvalid = errors.New("invalid entity")

// ValidationError lists what is wrong with one entity. It never includes
// property values, which may be personal data; only names.
type ValidationError struct {
	ID       string   // the entity _id, when there is one
	Problems []string // e.g. "missing gdpr-document:mime-type"
}

func (e *ValidationError) Error() string {
	id := e.ID
	if id == "" {
		id = "(no _id)"
	}
	return fmt.Sprintf("entity %s: %s", id, strings.Join(e.Problems, "; "))
}

func (e *ValidationError) Unwrap() error { return ErrInvalid }

// ParseDocument decodes one incoming entity and validates it (see
// Validate), also checking that the required filesize is present, which a
// decoded int64 cannot tell. Unknown properties are allowed (the caller keeps
// the raw JSON). System properties other than _id and _deleted (_updated,
// _ts, _hash, _previous, ...) are not decoded: they belong to the sender, and
// _updated in particular is an opaque since-token of any JSON type: Seq is
// set only when it is an integer that fits an int64 (our own publishers),
// and is 0 otherwise. Bad input yields a *ValidationError.
func ParseDocument(raw []byte, knownDataType func(string) bool) (Document, error) {
	var probe struct {
		ID   any              `json:"_id"`
		Size *json.RawMessage `json:"gdpr-document:filesize"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return Document{}, &ValidationError{Problems: []string{"malformed entity: " + jsonProblem(err)}}
	}
	id, _ := probe.ID.(string)
	// The shallower _updated field shadows Document.Seq, so any JSON value
	// is accepted there and dropped.
	var in struct {
		Document
		Updated json.RawMessage `json:"_updated"`
	}
	if err := json.NewDecoder(bytes.NewReader(raw)).Decode(&in); err != nil {
		return Document{}, &ValidationError{ID: id, Problems: []string{"malformed entity: " + jsonProblem(err)}}
	}
	d := in.Document
	d.Seq = 0
	if n, err := strconv.ParseInt(string(in.Updated), 10, 64); err == nil {
		d.Seq = n
	}
	err := d.Validate(knownDataType)
	if !d.Deleted && probe.Size == nil {
		var ve *ValidationError
		if !errors.As(err, &ve) {
			ve = &ValidationError{ID: d.ID}
			err = ve
		}
		ve.Problems = append(ve.Problems, "missing "+PropFilesize)
	}
	return d, err
}

// jsonProblem turns a json error into a message that names the property and
// the expected JSON type, never the input value (which may be personal data).
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		want := "of another type"
		if te.Type != nil {
			want = jsonTypeName(te.Type.Kind())
		}
		// ParseDocument decodes through an embedded Document: drop its name.
		field := strings.TrimPrefix(te.Field, "Document.")
		if field == "" {
			return "a property must be " + want
		}
		return fmt.Sprintf("property %q must be %s", field, want)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("JSON syntax error at byte %d", se.Offset)
	}
	return "not a JSON object"
}

// jsonTypeName names the JSON type a Go kind decodes from.
func jsonTypeName(k reflect.Kind) string {
	switch k {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	}
	return "of another type"
}

// Validate checks the required properties of SPEC §1. A deleted entity only
// needs an _id. knownDataType, when non-nil, reports whether a data-type-id is
// registered; an unknown one is a validation problem.
func (d *Document) Validate(knownDataType func(string) bool) error {
	var p []string
	if strings.TrimSpace(d.ID) == "" {
		p = append(p, "missing _id")
	}
	if d.Deleted {
		if len(p) > 0 {
			return &ValidationError{ID: d.ID, Problems: p}
		}
		return nil
	}
	if d.DataTypeID == "" {
		p = append(p, "missing "+PropDataTypeID)
	} else if knownDataType != nil && !knownDataType(d.DataTypeID) {
		p = append(p, fmt.Sprintf("unknown data type %q (register it first)", d.DataTypeID))
	}
	if d.DocumentID == "" {
		p = append(p, "missing "+PropDocumentID)
	}
	if d.ExtractContent == "" {
		p = append(p, "missing "+PropExtractContent)
	} else if err := checkHTTPURL(string(d.ExtractContent)); err != nil {
		p = append(p, PropExtractContent+" "+err.Error())
	}
	if d.OriginalURL == "" {
		p = append(p, "missing "+PropOriginalURL)
	} else if err := checkURL(string(d.OriginalURL)); err != nil {
		p = append(p, PropOriginalURL+" "+err.Error())
	}
	if d.MIMEType == "" {
		p = append(p, "missing "+PropMIMEType)
	}
	if d.FileSize < 0 {
		p = append(p, PropFilesize+" must not be negative")
	}
	if len(p) > 0 {
		return &ValidationError{ID: d.ID, Problems: p}
	}
	return nil
}

// checkHTTPURL requires an absolute http(s) URL: the extractor downloads it.
func checkHTTPURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("is not a valid URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return errors.New("must be an http or https URL")
	}
	if u.Host == "" {
		return errors.New("must be an absolute URL")
	}
	return nil
}

// checkURL requires an absolute URL of any scheme (reviewers may open
// file:// or smb:// links).
func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" {
		return errors.New("is not an absolute URL")
	}
	return nil
}
