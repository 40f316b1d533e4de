package identifiers

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Limits of RFC 5321: a longer "address" is not one.
const (
	maxLocalLen  = 64
	maxDomainLen = 253
	maxLabelLen  = 63
	maxEmailLen  = 254
)

// isLocalRune reports the characters accepted in the local part of an address
// found in free text: letters and digits of any script, and . _ + - '.
// RFC 5322 allows more (! # $ % & * / = ? ^ ` { | } ~), but in documents
// those are almost always punctuation around an address ("to=kari@...",
// "{kari@...}"), and missing a glued prefix costs more than the rare
// address that uses them.
func isLocalRune(r rune) bool {
	if r < utf8.RuneSelf {
		return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' ||
			r == '.' || r == '_' || r == '+' || r == '-' || r == '\''
	}
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)
}

// isDomainRune reports the characters of a host name (IDN labels included).
func isDomainRune(r rune) bool {
	if r < utf8.RuneSelf {
		return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '.' || r == '-'
	}
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)
}

// findEmails appends every address in text to fs.
func findEmails(text string, fs []found) []found {
	i := 0
	for i < len(text) {
		k := strings.IndexByte(text[i:], '@')
		if k < 0 {
			break
		}
		at := i + k
		i = at + 1
		if s, e, ok := emailAround(text, at); ok {
			fs = append(fs, found{KindEmail, foldEmail(text[s:e]), s, e})
			i = e
		}
	}
	return fs
}

// emailAround returns the byte span of the address whose '@' is at text[at].
func emailAround(text string, at int) (start, end int, ok bool) {
	// Local part: walk left over local runes, then drop leading punctuation
	// ("'kari@..." in quotes, "--kari@..." after a rule).
	s := at
	for s > 0 {
		r, sz := utf8.DecodeLastRuneInString(text[:s])
		if !isLocalRune(r) {
			break
		}
		s -= sz
	}
	for s < at && strings.IndexByte(".'-+", text[s]) >= 0 {
		s++
	}
	if s > 0 && text[s-1] == '@' {
		return 0, 0, false // "a@b.no@c.no": not one address
	}
	// Domain: walk right, then drop trailing dots and dashes (sentence end).
	e := at + 1
	for e < len(text) {
		r, sz := utf8.DecodeRuneInString(text[e:])
		if !isDomainRune(r) {
			break
		}
		e += sz
	}
	if e < len(text) && text[e] == '@' {
		return 0, 0, false // "a@b.no@c.no": not one address
	}
	for e > at+1 && (text[e-1] == '.' || text[e-1] == '-') {
		e--
	}
	if !validLocal(text[s:at]) || !validDomain(text[at+1:e]) || e-s > maxEmailLen {
		return 0, 0, false
	}
	return s, e, true
}

func validLocal(l string) bool {
	if l == "" || len(l) > maxLocalLen || l[len(l)-1] == '.' || strings.Contains(l, "..") {
		return false
	}
	return true
}

// validDomain requires at least two labels, no empty label, no label
// starting or ending with '-', and a TLD of letters (at least two) or an
// A-label ("xn--..."). "kari@example" (no TLD) is therefore not an address:
// in documents it is a placeholder or a truncation, and matching it would
// make every "@example" a hit for "kari@example.no".
func validDomain(d string) bool {
	if len(d) > maxDomainLen {
		return false
	}
	labels := strings.Split(d, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > maxLabelLen || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
	}
	tld := labels[len(labels)-1]
	if len(tld) > 4 && strings.EqualFold(tld[:4], "xn--") {
		return true
	}
	n := 0
	for _, r := range tld {
		if !unicode.IsLetter(r) && !unicode.IsMark(r) {
			return false
		}
		n++
	}
	return n >= 2
}

// foldEmail is the normalised form of an address: lower-cased, then in
// Unicode NFC, so "kåre@..." typed with a combining ring (as macOS file
// names and some PDFs carry it) and the precomposed "kåre@..." are one
// address. The address is validated as written; only the value is folded.
func foldEmail(s string) string {
	return norm.NFC.String(strings.ToLower(s))
}

// normalizeEmail accepts one address, optionally written as "mailto:..." or
// "<...>" or with a trailing dot, and returns it folded (foldEmail).
func normalizeEmail(raw string) (string, bool) {
	s := strings.TrimSpace(raw)
	if len(s) >= 7 && strings.EqualFold(s[:7], "mailto:") {
		s = s[7:]
	}
	s = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(s, "<"), ">"))
	s = strings.TrimRight(s, ".")
	if strings.Count(s, "@") != 1 {
		return "", false
	}
	at := strings.IndexByte(s, '@')
	st, e, ok := emailAround(s, at)
	if !ok || st != 0 || e != len(s) {
		return "", false
	}
	return foldEmail(s), true
}
