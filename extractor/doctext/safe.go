package doctext

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"unicode"
)

// maxDetail caps the detail SafeDetail returns.
const maxDetail = 200

// quoted matches quoted substrings: strconv, encoding/xml, encoding/json and
// fmt's %q quote the data they choke on.
var quoted = regexp.MustCompile("\"[^\"]*\"|'[^']*'|`[^`]*`|«[^»]*»")

// SafeDetail returns the part of err's message that our own code wrote, for
// a status reason or a warning. Reasons and warnings are stored and shown to
// operators; they must never carry document text or names, and the text of
// third-party errors (XML, zip, PDF libraries) routinely quotes both.
//
// The rule relies on how this module wraps errors: our context comes first
// and the sentinel after it ("docx document: xml line 3: %w"), while
// third-party detail, if wrapped at all, follows the sentinel. So:
//   - a *LimitError: everything up to and including "limit X=N reached";
//   - an error wrapping ErrMalformed, ErrEncrypted, ErrUnsupported or a
//     context error: the text before the first sentinel's message;
//   - any other error: the text before the first ": " (by convention our
//     wrapping context; a bare third-party message yields "").
//
// Quoted substrings and control characters are removed from the result and
// it is capped at 200 bytes.
func SafeDetail(err error) string {
	if err == nil {
		return ""
	}
	msg := err.Error()
	cut := -1
	var le *LimitError
	if errors.As(err, &le) {
		if i := strings.Index(msg, le.Error()); i >= 0 {
			cut = i + len(le.Error())
		}
	} else {
		for _, s := range []error{ErrMalformed, ErrEncrypted, ErrUnsupported, context.Canceled, context.DeadlineExceeded} {
			if !errors.Is(err, s) {
				continue
			}
			if i := strings.Index(msg, s.Error()); i >= 0 && (cut < 0 || i < cut) {
				cut = i
			}
		}
	}
	if cut < 0 {
		cut = strings.Index(msg, ": ")
		if cut < 0 {
			cut = 0
		}
	}
	return Sanitize(strings.TrimRight(msg[:cut], ": "))
}

// Sanitize removes quoted substrings and control characters from s and caps
// it at 200 bytes: the last line of defence for text that goes into a
// reason or warning.
func Sanitize(s string) string {
	s = quoted.ReplaceAllString(s, "…")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) > maxDetail {
		s = strings.ToValidUTF8(s[:maxDetail], "") + "…"
	}
	return s
}
