package mail

import (
	"bytes"
	"io"
	"mime"
	"strings"
	"unicode/utf8"

	"github.com/docvet/docvet/extractor/text"
)

type field struct {
	name  string // as written
	value []byte // raw, continuation lines joined with their line break removed
}

type header []field

// get returns the raw value of the first field called name, or nil.
func (h header) get(name string) []byte {
	for _, f := range h {
		if strings.EqualFold(f.name, name) {
			return f.value
		}
	}
	return nil
}

// parseEntity splits an RFC 5322 / MIME entity into header fields and body.
// It is deliberately lenient, like mail readers are: a leading mbox "From "
// line is skipped, bare LF line ends are accepted, and a line that is neither
// a field nor a continuation ends the header (that line starts the body) and
// is reported as a defect.
func parseEntity(data []byte) (h header, body []byte, defect bool) {
	rest := data
	if bytes.HasPrefix(rest, []byte("From ")) {
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			rest = rest[i+1:]
		} else {
			return nil, nil, true
		}
	}
	for len(rest) > 0 {
		line, next := cutLine(rest)
		trimmed := bytes.TrimRight(line, "\r\n")
		if len(trimmed) == 0 {
			return h, next, defect
		}
		if trimmed[0] == ' ' || trimmed[0] == '\t' {
			if len(h) > 0 {
				last := &h[len(h)-1]
				last.value = append(last.value, trimmed...)
				rest = next
				continue
			}
			// Continuation with nothing to continue: tolerate and drop.
			defect = true
			rest = next
			continue
		}
		i := bytes.IndexByte(trimmed, ':')
		if i <= 0 || !validFieldName(trimmed[:i]) {
			return h, rest, true
		}
		v := bytes.TrimLeft(trimmed[i+1:], " \t")
		h = append(h, field{name: string(trimmed[:i]), value: append([]byte(nil), v...)})
		rest = next
	}
	return h, nil, defect
}

func validFieldName(b []byte) bool {
	for _, c := range b {
		if c <= ' ' || c >= 0x7F {
			return false
		}
	}
	return true
}

// cutLine returns the first line of p including its '\n', and the rest.
func cutLine(p []byte) (line, rest []byte) {
	if i := bytes.IndexByte(p, '\n'); i >= 0 {
		return p[:i+1], p[i+1:]
	}
	return p, nil
}

// wordDecoder decodes RFC 2047 encoded words in any charset package text
// knows; an unknown charset falls back to detection instead of failing.
var wordDecoder = &mime.WordDecoder{CharsetReader: func(charset string, in io.Reader) (io.Reader, error) {
	r, _, err := text.Decode(in, charset)
	return r, err
}}

// decodeHeader turns a raw header value into display text: raw 8-bit bytes
// decoded (UTF-8 or detected), RFC 2047 words decoded, whitespace collapsed.
func decodeHeader(raw []byte) string {
	s := string(raw)
	if !utf8.Valid(raw) {
		s, _ = text.DecodeBytes(raw, "")
	}
	if strings.Contains(s, "=?") {
		if d, err := wordDecoder.DecodeHeader(s); err == nil {
			s = d
		}
	}
	return strings.Join(strings.Fields(s), " ")
}

// mediaType parses a Content-Type or Content-Disposition value leniently:
// the type lower-cased, parameters (RFC 2231 and raw 8-bit values accepted)
// with lower-case keys. ok is false when the value had to be repaired.
func mediaType(raw []byte) (typ string, params map[string]string, ok bool) {
	if len(raw) == 0 {
		return "", map[string]string{}, true
	}
	s := string(raw)
	if t, p, err := mime.ParseMediaType(s); err == nil {
		return t, p, true
	} else if t != "" {
		typ = t
	}
	// Lenient path: split on ';' outside quotes.
	parts := splitParams(s)
	if typ == "" {
		typ = strings.ToLower(strings.TrimSpace(parts[0]))
	}
	params = map[string]string{}
	for _, p := range parts[1:] {
		k, v, found := strings.Cut(p, "=")
		if !found {
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		v = strings.TrimSpace(v)
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = strings.ReplaceAll(v[1:len(v)-1], `\"`, `"`)
		}
		k = strings.TrimSuffix(k, "*")
		if _, dup := params[k]; !dup && k != "" {
			params[k] = v
		}
	}
	return typ, params, false
}

func splitParams(s string) []string {
	var parts []string
	inQ := false
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			inQ = !inQ
		case '\\':
			if inQ {
				i++
			}
		case ';':
			if !inQ {
				parts = append(parts, s[start:i])
				start = i + 1
			}
		}
	}
	return append(parts, s[start:])
}
