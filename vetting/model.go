package vetting

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/docvet/docvet/search"
)

// Errors callers branch on. Validation failures are *ValidationError.
var (
	// ErrNotWorkbook: the upload is not a readable .xlsx file.
	ErrNotWorkbook = errors.New("not a valid xlsx workbook")
	// ErrNoManifest: the workbook was not written by docvet (or its manifest
	// sheet was removed).
	ErrNoManifest = errors.New("workbook has no docvet manifest")
	// ErrBadSignature: the manifest was changed or signed with another key.
	ErrBadSignature = errors.New("workbook manifest signature does not verify")
	// ErrOtherRequest: the workbook belongs to another request or scope.
	ErrOtherRequest = errors.New("workbook belongs to another access request or data type")
	// ErrTooLarge: the upload exceeds the configured size limits.
	ErrTooLarge = errors.New("workbook too large")
	// ErrRejected: the workbook breaks a rule of the round trip (see the
	// listed problems).
	ErrRejected = errors.New("workbook rejected")
	// ErrKey: the HMAC key is missing or too short.
	ErrKey = errors.New("vetting key must be at least 16 bytes")
)

// DataTypeInfo describes a data type on the Instructions sheet.
type DataTypeInfo struct {
	Title       string
	Description string
}

// ExportInput is everything a workbook is made from.
type ExportInput struct {
	RequestID string
	// Lang is the request's language: "no", "nb", "nn" give Norwegian, all
	// else English.
	Lang  string
	Title string
	// Result is the request's point-in-time hit snapshot.
	Result search.Result
	// DataType, when set, limits the workbook to that data type (the
	// workbook for that type's contact); the scope is signed.
	DataType     string
	DataTypeInfo map[string]DataTypeInfo
	GeneratedAt  time.Time
}

// ImportInput says which workbook the caller expects.
type ImportInput struct {
	RequestID string
	// DataType is the expected scope: "" for the whole-request workbook.
	DataType string
	// Result, when given, is the request's snapshot: each decision gets the
	// hit's IndexID, and a manifest row that matches no hit is rejected.
	Result *search.Result
	// Limits; zero values take the defaults below.
	MaxBytes          int64 // upload size (default 256 MiB)
	UnzipSizeLimit    int64 // total unpacked size (default 1 GiB)
	UnzipXMLSizeLimit int64 // per-part size kept in memory (default 16 MiB)
	MaxProblems       int   // problems listed in a ValidationError (default 100)
}

const (
	defaultMaxBytes          = 256 << 20
	defaultUnzipSizeLimit    = 1 << 30
	defaultUnzipXMLSizeLimit = 16 << 20
	defaultMaxProblems       = 100
)

// Decisions are the reviewer's decisions for one workbook, one entry per
// row the workbook was exported with, in export order. Re-importing a
// workbook for the same request yields a complete new set that replaces the
// previous one.
type Decisions struct {
	RequestID   string
	DataType    string // scope of the workbook ("" = whole request)
	GeneratedAt time.Time
	Rows        []RowDecision
}

// RowDecision is what the reviewer decided for one exported row.
type RowDecision struct {
	RowID    string // opaque id written in the workbook (see RowID)
	IndexID  string // the hit's index id, when ImportInput.Result was given
	DataType string
	Sheet    string
	// Row is the 1-based row the document was found on in the upload
	// (0 when withheld).
	Row int
	// Withheld: the row was deleted; nothing of the document is delivered.
	Withheld bool
	// FileWithheld: extract-content was cleared; the file is not delivered
	// (metadata and Text still are).
	FileWithheld bool
	// HasText and Text: the reviewer typed text to deliver instead of the
	// file's text. Never log Text.
	HasText bool
	Text    string
	// Metadata lists metadata keys (flattened with dots) the reviewer
	// edited or cleared.
	Metadata []MetadataEdit
}

// MetadataEdit is one changed metadata cell. Never log Value.
type MetadataEdit struct {
	// Key is the flattened key, e.g. "owner" or "author.name"; a dot or
	// backslash inside an original key is escaped with a backslash
	// (`dc\.title`). SplitMetadataKey returns the original key path.
	Key     string
	Cleared bool
	Value   string // the new value when not cleared
}

// Changed reports whether the reviewer changed anything on the row.
func (d RowDecision) Changed() bool {
	return d.Withheld || d.FileWithheld || d.HasText || len(d.Metadata) > 0
}

// Changes describes what changed on the row for the audit log: the kind of
// change and metadata key names, never values or text.
func (d RowDecision) Changes() []string {
	var out []string
	if d.Withheld {
		return []string{"withheld"}
	}
	if d.FileWithheld {
		out = append(out, "file-withheld")
	}
	if d.HasText {
		out = append(out, "text-replaced")
	}
	for _, m := range d.Metadata {
		if m.Cleared {
			out = append(out, "metadata-cleared:"+m.Key)
		} else {
			out = append(out, "metadata-edited:"+m.Key)
		}
	}
	return out
}

// Counts summarises the decisions (for logs and the audit trail).
func (d Decisions) Counts() (kept, withheld, fileWithheld, text, metadataEdited int) {
	for _, r := range d.Rows {
		switch {
		case r.Withheld:
			withheld++
			continue
		default:
			kept++
		}
		if r.FileWithheld {
			fileWithheld++
		}
		if r.HasText {
			text++
		}
		if len(r.Metadata) > 0 {
			metadataEdited++
		}
	}
	return
}

// Problem is one reason an upload was rejected. Messages never quote cell
// contents, so they are safe to show and to log.
type Problem struct {
	Sheet  string
	Row    int    // 1-based; 0 when the problem is about the whole sheet
	Column string // header name or column letter; "" when not about a cell
	Msg    string
}

func (p Problem) String() string {
	var b strings.Builder
	if p.Sheet != "" {
		fmt.Fprintf(&b, "sheet %q", p.Sheet)
	}
	if p.Row > 0 {
		fmt.Fprintf(&b, " row %d", p.Row)
	}
	if p.Column != "" {
		fmt.Fprintf(&b, " column %q", p.Column)
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return strings.TrimSpace(b.String())
}

// ValidationError lists every problem found in an upload (up to the cap).
// It unwraps to ErrNotWorkbook, ErrTooLarge, ErrNoManifest,
// ErrBadSignature or ErrOtherRequest when the whole file is refused, else
// to ErrRejected.
type ValidationError struct {
	Problems  []Problem
	Truncated bool // more problems than listed
	sentinel  error
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "workbook rejected (%d problem", len(e.Problems))
	if len(e.Problems) != 1 {
		b.WriteString("s")
	}
	if e.Truncated {
		b.WriteString(", more not listed")
	}
	b.WriteString(")")
	for i, p := range e.Problems {
		if i == 5 {
			fmt.Fprintf(&b, "; ... %d more", len(e.Problems)-i)
			break
		}
		b.WriteString("; ")
		b.WriteString(p.String())
	}
	return b.String()
}

func (e *ValidationError) Unwrap() error {
	if e.sentinel != nil {
		return e.sentinel
	}
	return ErrRejected
}
