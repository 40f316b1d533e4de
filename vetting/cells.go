package vetting

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Fixed column headers of a data sheet. Headers are machine names in every
// language (Import finds columns by header); the Instructions sheet explains
// them in the request's language.
const (
	colRowID       = "row-id"
	colDocumentID  = "document-id"
	colFilename    = "filename"
	colMIMEType    = "mime-type"
	colSize        = "size"
	colStatus      = "extract-status"
	colOriginalURL = "original-url"
	colExtract     = "extract-content"
	colText        = "text"
	colMatched     = "matched"
	colCount       = "hit-count"
	colSnippets    = "snippets"
	metaPrefix     = "metadata."
)

var fixedColumns = []string{colRowID, colDocumentID, colFilename, colMIMEType, colSize, colStatus,
	colOriginalURL, colExtract, colText, colMatched, colCount, colSnippets}

// readOnlyColumns identify the document: the manifest keeps a hash of each
// so an edit there is rejected instead of being silently ignored.
var readOnlyColumns = []string{colDocumentID, colFilename, colMIMEType, colSize, colStatus, colOriginalURL}

// informational columns may be edited or cleared freely; Import ignores them.
var informationalColumns = map[string]bool{colMatched: true, colCount: true, colSnippets: true}

// maxCellChars is Excel's cell limit in UTF-16 code units; excelize cuts
// longer values silently, so we cut first, visibly.
const maxCellChars = 32767

const truncMarker = " … [truncated]"

// cleanXML makes s valid UTF-8 without characters XML 1.0 cannot carry, so
// the value read back equals the value written (and hashed).
func cleanXML(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	ok := true
	for _, r := range s {
		if !xmlChar(r) {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	return strings.Map(func(r rune) rune {
		if xmlChar(r) {
			return r
		}
		return '\uFFFD'
	}, s)
}

func xmlChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		(r >= 0x20 && r <= 0xD7FF) || (r >= 0xE000 && r <= 0xFFFD) || (r >= 0x10000 && r <= 0x10FFFF)
}

func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
	}
	return n
}

// fitCell cleans s and cuts it to the cell limit with a visible marker.
// It reports whether it cut.
func fitCell(s string) (string, bool) {
	s = cleanXML(s)
	if len(s) <= maxCellChars || utf16Len(s) <= maxCellChars {
		return s, false
	}
	limit := maxCellChars - utf16Len(truncMarker)
	n := 0
	for i, r := range s {
		w := 1
		if r >= 0x10000 {
			w = 2
		}
		if n+w > limit {
			return s[:i] + truncMarker, true
		}
		n += w
	}
	return s, false
}

// exactCell cleans s for a cell that Import compares (ids, links). It must
// never be cut, so an oversized value is an export error.
func exactCell(s, what string) (string, error) {
	s = cleanXML(s)
	if len(s) > maxCellChars && utf16Len(s) > maxCellChars {
		return "", fmt.Errorf("%s longer than an Excel cell allows (%d UTF-16 units)", what, utf16Len(s))
	}
	return s, nil
}

// cellHash is a short hash of a written cell value, kept in the signed
// manifest to detect edits without storing the value twice. The empty value
// is stored as "" so "originally empty" stays readable.
func cellHash(v string) string {
	if v == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(sum[:12])
}

// RowID is the opaque id of a hit in a request's workbook: a keyed hash of
// request id and index id, so it carries no personal data (index ids are
// paths and may contain names) and cannot be guessed across requests.
func RowID(key []byte, requestID, indexID string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("docvet-vetting-rowid\x00"))
	m.Write([]byte(requestID))
	m.Write([]byte{0})
	m.Write([]byte(indexID))
	return "r" + base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:15])
}

// flattenMetadata turns nested metadata into dotted keys with string
// values: objects are flattened, arrays written as JSON, null as "". Each
// key segment is escaped (escapeMetaKey) before joining, so a literal key
// "a.b" (`a\.b`) and the nested {"a":{"b":..}} (`a.b`) never collide and
// the result does not depend on map order. SplitMetadataKey reverses it.
func flattenMetadata(md map[string]any) map[string]string {
	out := make(map[string]string, len(md))
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch t := v.(type) {
		case map[string]any:
			if len(t) == 0 {
				out[prefix] = "{}"
				return
			}
			for k, vv := range t {
				walk(prefix+"."+escapeMetaKey(k), vv)
			}
		default:
			out[prefix] = scalarString(t)
		}
	}
	for k, v := range md {
		walk(escapeMetaKey(k), v)
	}
	return out
}

// escapeMetaKey escapes one metadata key segment: `\` becomes `\\` and
// `.` becomes `\.`. Keys without either (the usual case) are unchanged.
func escapeMetaKey(k string) string {
	if !strings.ContainsAny(k, ".\\") {
		return k
	}
	var b strings.Builder
	for i := 0; i < len(k); i++ {
		if k[i] == '.' || k[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(k[i])
	}
	return b.String()
}

// SplitMetadataKey splits a flattened metadata key (MetadataEdit.Key) into
// the path of original keys, undoing the escaping: `author.name` is
// ["author" "name"], `dc\.title` is ["dc.title"], `a\\b` is ["a\b"].
func SplitMetadataKey(key string) []string {
	var (
		out []string
		b   strings.Builder
	)
	for i := 0; i < len(key); i++ {
		switch c := key[i]; {
		case c == '\\' && i+1 < len(key):
			i++
			b.WriteByte(key[i])
		case c == '.':
			out = append(out, b.String())
			b.Reset()
		default:
			b.WriteByte(c)
		}
	}
	return append(out, b.String())
}

func scalarString(v any) string {
	switch t := v.(type) {
	case nil:
		return ""
	case string:
		return t
	case bool:
		return strconv.FormatBool(t)
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64)
	case float32:
		return strconv.FormatFloat(float64(t), 'f', -1, 32)
	case int:
		return strconv.Itoa(t)
	case int64:
		return strconv.FormatInt(t, 10)
	case json.Number:
		return t.String()
	default:
		b, err := json.Marshal(t)
		if err != nil {
			return fmt.Sprint(t)
		}
		return string(b)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
