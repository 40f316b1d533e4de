package sources

import (
	"context"
	"errors"
	"io"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// Source is a document source: it lists its documents as gdpr-document
// entities ordered by a persisted monotonic sequence, serves their bytes by
// content key, and can re-read its underlying store on demand. The publisher
// handler (NewHandler) consumes it; sources/sourcetest is its shared suite.
type Source interface {
	// Changes calls fn for every entity with Seq > since, in Seq order, at
	// most limit of them (limit <= 0: all). It streams: implementations must
	// not collect the result in memory. An error from fn stops the scan and
	// is returned.
	Changes(ctx context.Context, since int64, limit int, fn func(Document) error) error
	// Open returns the bytes of a live document by its content key (the
	// unescaped path after "/content/" in its extract-content URL). A key
	// that names no live document, or that is not a valid key, yields an
	// error wrapping ErrNotFound. The caller closes the Content.
	Open(ctx context.Context, key string) (*Content, error)
	// Rescan re-reads the underlying store now and publishes what changed.
	// At most one rescan runs at a time; a concurrent call gets
	// ErrRescanRunning. An incomplete rescan (error) never publishes
	// deletions for documents it could not see.
	Rescan(ctx context.Context) (ScanStats, error)
}

// RawSource is optionally implemented by a Source that keeps its entities in
// published JSON form already: the handler then copies them to the response
// without decoding and re-encoding each one. RawChanges has the semantics of
// Changes; entity is only valid during the call.
type RawSource interface {
	Source
	RawChanges(ctx context.Context, since int64, limit int, fn func(seq int64, entity []byte) error) error
}

// ErrNotFound is wrapped by Open when there is no such live document.
var ErrNotFound = errors.New("document not found")

// ErrRescanRunning is returned by Rescan while another rescan is running.
var ErrRescanRunning = errors.New("a rescan is already running")

// Content is an open document. The embedded ReadSeekCloser reads its bytes.
type Content struct {
	io.ReadSeekCloser
	Size     int64     // bytes
	ModTime  time.Time // last modification, for HTTP caching headers
	Name     string    // file name for Content-Disposition (may be empty)
	MIMEType string    // detected from the content
}

// ScanStats reports one rescan. Counts only, never names: operators see
// them in logs and in the POST /rescan response.
type ScanStats struct {
	Started    time.Time     `json:"started"`
	Duration   time.Duration `json:"duration_ns"`
	Complete   bool          `json:"complete"`  // the whole store was seen; deletions were published
	Documents  int64         `json:"documents"` // live documents seen
	Unchanged  int64         `json:"unchanged"` // recognised without reading (same fingerprint)
	Read       int64         `json:"read"`      // documents read in full (new or changed fingerprint)
	BytesRead  int64         `json:"bytes_read"`
	Changed    int64         `json:"changed"` // published with a new _updated (new or changed)
	Deleted    int64         `json:"deleted"` // published as deleted (gone or moved away)
	Symlinks   int64         `json:"skipped_symlinks"`
	Hidden     int64         `json:"skipped_hidden"`
	Special    int64         `json:"skipped_special"`     // devices, pipes, sockets
	BadNames   int64         `json:"skipped_bad_names"`   // names that cannot be a content key
	Unreadable int64         `json:"skipped_unreadable"`  // files or directories that could not be read
	Kept       int64         `json:"kept_without_access"` // known documents kept because they could not be checked
}

// ValidKey reports whether key is acceptable as a content key: a non-empty,
// relative, slash-separated UTF-8 path whose every element is a plain name
// (not empty, ".", ".." or dot-prefixed) without backslashes, NUL or other
// control characters. Sources must still confine the lookup themselves (e.g.
// with os.Root); this only refuses what can never be a key.
func ValidKey(key string) bool {
	if key == "" || len(key) > 4096 || !utf8.ValidString(key) || strings.HasPrefix(key, "/") {
		return false
	}
	for elem := range strings.SplitSeq(key, "/") {
		if !ValidName(elem) {
			return false
		}
	}
	return true
}

// ValidName reports whether one path element may appear in a content key
// (see ValidKey). Dot-prefixed (hidden) names are refused.
func ValidName(name string) bool {
	if name == "" || name[0] == '.' || len(name) > 1024 || !utf8.ValidString(name) {
		return false
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || r == '\\' || r == '/' {
			return false
		}
	}
	return true
}

// EscapeKey percent-encodes a content key for use in a URL path, element by
// element, so "/" stays a separator and nothing else is special.
func EscapeKey(key string) string {
	var b strings.Builder
	for i, elem := range strings.Split(key, "/") {
		if i > 0 {
			b.WriteByte('/')
		}
		b.WriteString(url.PathEscape(elem))
	}
	return b.String()
}

// ContentURL is the extract-content URL of key under a source's public base
// URL (e.g. "http://127.0.0.1:8081" or "https://host/prefix/").
func ContentURL(publicBase, key string) string {
	return strings.TrimRight(publicBase, "/") + "/content/" + EscapeKey(key)
}

// CheckPublicURL validates a source's public base URL: absolute http(s),
// with a host, without query or fragment.
func CheckPublicURL(s string) error {
	if err := checkHTTPURL(s); err != nil {
		return errors.New("public URL " + err.Error())
	}
	u, _ := url.Parse(s)
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return errors.New("public URL must not have a query, fragment or user info")
	}
	return nil
}
