package doctext

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Status is the outcome of extracting one document. Every value other than
// StatusOK must come with a human-readable reason: an unread document is an
// error of omission in the answer to a data subject.
type Status string

const (
	StatusOK          Status = "ok"
	StatusPartial     Status = "partial"     // a limit was reached; the reason names it
	StatusEmpty       Status = "empty"       // no text at all (e.g. a scan)
	StatusEncrypted   Status = "encrypted"   // password protected
	StatusUnsupported Status = "unsupported" // format we do not read
	StatusFailed      Status = "failed"      // malformed input, crash, timeout
)

// Sentinel errors a format package returns (wrapped with detail) so the
// dispatcher can map them to a status without string matching.
var (
	ErrEncrypted   = errors.New("document is encrypted")
	ErrUnsupported = errors.New("unsupported format")
	ErrMalformed   = errors.New("malformed document")
)

// LimitError reports that a configured limit was hit. Whether that makes the
// document partial (text so far is kept) or failed is decided by the
// dispatcher: a limit hit after some text was produced is partial.
type LimitError struct {
	Limit string // e.g. "max_chars", "zip_entry_size", "xml_depth"
	Value int64  // the configured limit
}

func (e *LimitError) Error() string { return fmt.Sprintf("limit %s=%d reached", e.Limit, e.Value) }

// ErrLimit matches any *LimitError with errors.Is.
var ErrLimit = errors.New("limit reached")

func (e *LimitError) Is(target error) bool { return target == ErrLimit }

// Limits bound the work a parser may do on untrusted input. Zero values are
// replaced by defaults in WithDefaults.
type Limits struct {
	MaxInputBytes     int64 // largest input accepted at all
	MaxChars          int64 // largest extracted text (runes); hitting it means partial
	MaxZipEntries     int   // entries in a zip container
	MaxZipEntryBytes  int64 // uncompressed size of one zip entry
	MaxZipTotalBytes  int64 // uncompressed size of all entries read
	MaxZipRatio       int64 // uncompressed/compressed ratio of one entry
	MaxXMLDepth       int   // element nesting depth
	MaxAttachDepth    int   // e-mail attachment / nested message depth
	MaxPDFPages       int   // pages read from one PDF
	MaxPDFStreamBytes int64 // decoded size of one PDF content stream
}

// Default limits: generous for real documents, tight enough that a bomb
// cannot take the worker down before the limit fires.
func DefaultLimits() Limits {
	return Limits{
		MaxInputBytes:     512 << 20,
		MaxChars:          64 << 20, // 67M runes: well above the 50M floor
		MaxZipEntries:     10000,
		MaxZipEntryBytes:  512 << 20,
		MaxZipTotalBytes:  1 << 30,
		MaxZipRatio:       200,
		MaxXMLDepth:       256,
		MaxAttachDepth:    8,
		MaxPDFPages:       100000,
		MaxPDFStreamBytes: 256 << 20,
	}
}

// WithDefaults returns l with every zero field set to its default.
func (l Limits) WithDefaults() Limits {
	d := DefaultLimits()
	if l.MaxInputBytes == 0 {
		l.MaxInputBytes = d.MaxInputBytes
	}
	if l.MaxChars == 0 {
		l.MaxChars = d.MaxChars
	}
	if l.MaxZipEntries == 0 {
		l.MaxZipEntries = d.MaxZipEntries
	}
	if l.MaxZipEntryBytes == 0 {
		l.MaxZipEntryBytes = d.MaxZipEntryBytes
	}
	if l.MaxZipTotalBytes == 0 {
		l.MaxZipTotalBytes = d.MaxZipTotalBytes
	}
	if l.MaxZipRatio == 0 {
		l.MaxZipRatio = d.MaxZipRatio
	}
	if l.MaxXMLDepth == 0 {
		l.MaxXMLDepth = d.MaxXMLDepth
	}
	if l.MaxAttachDepth == 0 {
		l.MaxAttachDepth = d.MaxAttachDepth
	}
	if l.MaxPDFPages == 0 {
		l.MaxPDFPages = d.MaxPDFPages
	}
	if l.MaxPDFStreamBytes == 0 {
		l.MaxPDFStreamBytes = d.MaxPDFStreamBytes
	}
	return l
}

// Segment is a run of text with the place it came from, so a search hit can
// tell the reviewer where it is: "page 3", "Sheet1!B7", "attachment 2: a.pdf".
type Segment struct {
	Location string `json:"location,omitempty"`
	Offset   int64  `json:"offset"` // rune offset of the segment in the full text
	Length   int64  `json:"length"` // runes
}

// Builder accumulates text and its segments under the MaxChars cap. It is not
// safe for concurrent use. Format packages call Start for each location and
// Write/WriteString for text; the first write beyond the cap returns a
// *LimitError and the Builder keeps the text up to the cap.
type Builder struct {
	max      int64
	n        int64 // runes written
	sb       strings.Builder
	segs     []seg
	stride   int // original segments per stored segment (see Segments)
	pending  int // original segments merged into the last stored one
	cur      string
	curStart int64
	full     bool
	warnings []string
	dropped  int // warnings beyond MaxWarnings
	maxSegs  int
}

// seg is a stored segment: a run of one or more original segments, from
// the location of the first to the location of the last.
type seg struct {
	first, last string
	off, n      int64
}

// Caps on what a Builder keeps besides text, so a crafted document (100,000
// tiny attachments, a million one-cell rows) cannot make the result's
// metadata larger than its input. The worker protocol's header limit is
// sized from them.
const (
	// MaxWarnings is how many warnings are kept; further ones are counted
	// and reported as one final "and N more warnings".
	MaxWarnings = 100
	// MaxWarningBytes caps one warning.
	MaxWarningBytes = 300
	// MaxSegments caps the stored segments. When a document produces more,
	// neighbouring segments are merged pairwise (and every later run of
	// segments is merged at the same, doubled stride), so the segments
	// still cover the text in order and a merged segment is located
	// "FIRST to LAST" by the locations of the first and last segment it
	// covers: a hit inside it lies between those two places.
	MaxSegments = 65536
	// MaxLocationBytes caps one location string (a crafted attachment or
	// sheet name can be long).
	MaxLocationBytes = 160
)

// NewBuilder returns a Builder that keeps at most maxChars runes.
func NewBuilder(maxChars int64) *Builder {
	if maxChars <= 0 {
		maxChars = DefaultLimits().MaxChars
	}
	return &Builder{max: maxChars, stride: 1, maxSegs: MaxSegments}
}

// Start begins a new located segment (closing the previous one). Text written
// before the first Start has no location.
func (b *Builder) Start(location string) {
	b.closeSeg()
	b.cur = capLocation(location)
	b.curStart = b.n
}

func capLocation(s string) string {
	if len(s) <= MaxLocationBytes {
		return s
	}
	return strings.ToValidUTF8(s[:MaxLocationBytes], "") + "…"
}

func (b *Builder) closeSeg() {
	if b.n <= b.curStart {
		return
	}
	s := seg{first: b.cur, last: b.cur, off: b.curStart, n: b.n - b.curStart}
	b.curStart = b.n
	if b.pending > 0 && b.pending < b.stride {
		// The last stored segment still has room at the current stride.
		l := &b.segs[len(b.segs)-1]
		l.last, l.n = s.last, s.off+s.n-l.off
		b.pending++
		return
	}
	if len(b.segs) >= b.maxSegs {
		// Merge neighbours pairwise and double the stride.
		k := 0
		for i := 0; i < len(b.segs); i += 2 {
			m := b.segs[i]
			if i+1 < len(b.segs) {
				o := b.segs[i+1]
				m.last, m.n = o.last, o.off+o.n-m.off
			}
			b.segs[k] = m
			k++
		}
		b.segs = b.segs[:k]
		b.stride *= 2
	}
	b.segs = append(b.segs, s)
	b.pending = 1
}

// WriteString appends s, converting invalid UTF-8 to U+FFFD. It returns a
// *LimitError once the cap is reached; callers should stop parsing then.
func (b *Builder) WriteString(s string) error {
	if b.full {
		return &LimitError{Limit: "max_chars", Value: b.max}
	}
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	rc := int64(utf8.RuneCountInString(s))
	if b.n+rc > b.max {
		// Keep whole runes up to the cap.
		room := b.max - b.n
		i := 0
		for k := int64(0); k < room && i < len(s); k++ {
			_, sz := utf8.DecodeRuneInString(s[i:])
			i += sz
		}
		b.sb.WriteString(s[:i])
		b.n += room
		b.full = true
		return &LimitError{Limit: "max_chars", Value: b.max}
	}
	b.sb.WriteString(s)
	b.n += rc
	return nil
}

// Write implements io.Writer over WriteString.
func (b *Builder) Write(p []byte) (int, error) {
	if err := b.WriteString(string(p)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// EnsureSep writes sep unless the text is empty or already ends with a
// whitespace character, so words from adjacent runs/cells/pages never glue.
func (b *Builder) EnsureSep(sep string) error {
	if b.sb.Len() == 0 {
		return nil
	}
	s := b.sb.String()
	r, _ := utf8.DecodeLastRuneInString(s)
	if r == ' ' || r == '\n' || r == '\t' || r == '\r' {
		return nil
	}
	return b.WriteString(sep)
}

// Warn records a non-fatal problem (e.g. "attachment 3: encrypted") that the
// dispatcher adds to the reason; a warning makes an otherwise ok document
// partial.
// Only the first MaxWarnings are kept (each capped at MaxWarningBytes);
// the rest are counted. A warning must not quote document content: use
// fixed text, counts, limits and SafeDetail for errors.
func (b *Builder) Warn(msg string) {
	if len(b.warnings) >= MaxWarnings {
		b.dropped++
		return
	}
	if len(msg) > MaxWarningBytes {
		msg = strings.ToValidUTF8(msg[:MaxWarningBytes], "") + "…"
	}
	b.warnings = append(b.warnings, msg)
}

// Warnings returns the recorded warnings, followed by "and N more
// warnings" when more than MaxWarnings were recorded.
func (b *Builder) Warnings() []string {
	if b.dropped == 0 {
		return b.warnings
	}
	return append(b.warnings[:len(b.warnings):len(b.warnings)], fmt.Sprintf("and %d more warnings", b.dropped))
}

// Full reports whether the cap was reached.
func (b *Builder) Full() bool { return b.full }

// Len returns the number of runes written.
func (b *Builder) Len() int64 { return b.n }

// Text returns the accumulated text.
func (b *Builder) Text() string { return b.sb.String() }

// Segments returns the located segments (closing the current one), at
// most MaxSegments; see MaxSegments for how more are merged.
func (b *Builder) Segments() []Segment {
	b.closeSeg()
	if len(b.segs) == 0 {
		return nil
	}
	out := make([]Segment, len(b.segs))
	for i, s := range b.segs {
		loc := s.first
		if s.last != s.first {
			loc = s.first + " to " + s.last
		}
		out[i] = Segment{Location: loc, Offset: s.off, Length: s.n}
	}
	return out
}

// Input is what a format package reads: random access plus the size, because
// zip and PDF need a ReaderAt. Name and MIME are hints (a nested attachment's
// filename, the declared type).
type Input struct {
	R    io.ReaderAt
	Size int64
	Name string
	MIME string
}

// Recurser lets a container format (e-mail, later zip) extract an embedded
// file with the same engine. depth is the nesting depth of the embedded file.
type Recurser func(ctx context.Context, in Input, depth int, b *Builder) error

// Options is passed to every format's Extract.
type Options struct {
	Limits  Limits
	Recurse Recurser // nil means: embedded files are listed, not read
	Depth   int      // nesting depth of this document (0 = top level)
}

// ExtractFunc is the signature every format package exports as Extract.
// It writes text into b and returns nil, a *LimitError, or an error wrapping
// ErrEncrypted / ErrUnsupported / ErrMalformed (or any other error: failed).
type ExtractFunc func(ctx context.Context, in Input, b *Builder, opt Options) error
