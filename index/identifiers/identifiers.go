package identifiers

import (
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"
)

// Kind names what an identifier is: KindEmail, KindPhone or IDKind(name).
type Kind string

const (
	KindEmail Kind = "email"
	KindPhone Kind = "phone"
)

const idKindPrefix = "id:"

// IDKind returns the Kind of identifiers found by the IDPattern called name.
func IDKind(name string) Kind { return Kind(idKindPrefix + name) }

// DefaultRegion is used when Options.DefaultRegion is empty.
const DefaultRegion = "NO"

// Identifier is one normalised identifier found in a text.
type Identifier struct {
	Kind   Kind
	Value  string // normalised: see the package comment
	Offset int    // rune offset of the written form in the text
	Length int    // runes of the written form
}

// Term returns the keyword the index stores for this identifier.
func (id Identifier) Term() string { return Term(id.Kind, id.Value) }

// Term returns the keyword term for a normalised value of kind k. The kind is
// part of the term so a customer number can never match a phone number that
// happens to have the same digits.
func Term(k Kind, value string) string { return string(k) + ":" + value }

// IDPattern configures one kind of organisation-specific identifier, e.g.
// customer numbers or national identity numbers.
type IDPattern struct {
	Name   string         // kind is "id:"+Name
	Regexp *regexp.Regexp // what the identifier looks like in text
	// StripSeparators removes spaces, dashes, dots and slashes when
	// normalising, so "CUST-001-1234" and "CUST 0011234" are the same ID.
	StripSeparators bool
	// Valid, when set, must accept the normalised value (e.g. a check digit
	// test); rejected matches are not identifiers.
	Valid func(normalised string) bool
}

// Options configures Find and Normalize. The zero value finds e-mails and
// Norwegian-region phone numbers.
type Options struct {
	// DefaultRegion is the ISO 3166-1 alpha-2 region for phone numbers
	// written without a country code ("NO" when empty).
	DefaultRegion string
	// IDs are the configured identifier patterns.
	IDs []IDPattern
}

func (o Options) region() string {
	if o.DefaultRegion == "" {
		return DefaultRegion
	}
	return strings.ToUpper(o.DefaultRegion)
}

// found is an identifier with byte offsets, before conversion to runes.
type found struct {
	kind       Kind
	value      string
	start, end int
}

// Find returns the identifiers in text, ordered by offset. E-mail addresses
// take precedence over phone numbers and IDs inside them; configured IDs take
// precedence over phone numbers overlapping them.
func Find(text string, opt Options) []Identifier {
	if !utf8.ValidString(text) {
		text = strings.ToValidUTF8(text, "\uFFFD")
	}
	var fs []found
	fs = findEmails(text, fs)
	nEmail := len(fs)
	for _, p := range opt.IDs {
		if p.Regexp == nil || p.Name == "" {
			continue
		}
		for _, m := range p.Regexp.FindAllStringIndex(text, -1) {
			if m[0] == m[1] || overlaps(fs[:nEmail], m[0], m[1]) {
				continue
			}
			if v, ok := normID(p, text[m[0]:m[1]]); ok {
				fs = append(fs, found{IDKind(p.Name), v, m[0], m[1]})
			}
		}
	}
	blocked := append([]found(nil), fs...)
	sort.Slice(blocked, func(i, j int) bool { return blocked[i].start < blocked[j].start })
	fs = findPhones(text, opt.region(), blocked, fs)
	if len(fs) == 0 {
		return nil
	}
	sort.SliceStable(fs, func(i, j int) bool {
		if fs[i].start != fs[j].start {
			return fs[i].start < fs[j].start
		}
		return fs[i].kind < fs[j].kind
	})
	// Byte to rune offsets in one pass over the text.
	out := make([]Identifier, len(fs))
	pos, runes := 0, 0
	for i, f := range fs {
		runes += utf8.RuneCountInString(text[pos:f.start])
		pos = f.start
		out[i] = Identifier{
			Kind:   f.kind,
			Value:  f.value,
			Offset: runes,
			Length: utf8.RuneCountInString(text[f.start:f.end]),
		}
	}
	return out
}

// overlaps reports whether [s,e) overlaps any of fs (fs sorted or not).
func overlaps(fs []found, s, e int) bool {
	for _, f := range fs {
		if s < f.end && f.start < e {
			return true
		}
	}
	return false
}

// Normalize normalises one identifier given on its own (e.g. from an access
// request). kind is "email", "phone" or "id:<name>" of a configured pattern.
// It reports false when raw is not a well-formed identifier of that kind; the
// rules are exactly those Find applies, so a normalised value matches the
// terms Find produced at index time.
func Normalize(kind Kind, raw string, opt Options) (string, bool) {
	raw = strings.TrimSpace(raw)
	switch {
	case kind == KindEmail:
		return normalizeEmail(raw)
	case kind == KindPhone:
		return normalizePhone(raw, opt.region())
	case strings.HasPrefix(string(kind), idKindPrefix):
		name := strings.TrimPrefix(string(kind), idKindPrefix)
		for _, p := range opt.IDs {
			if p.Name != name || p.Regexp == nil {
				continue
			}
			if fullMatch(p.Regexp, raw) || fullMatch(p.Regexp, strings.ToUpper(raw)) {
				return normID(p, raw)
			}
			return "", false
		}
	}
	return "", false
}

func fullMatch(re *regexp.Regexp, s string) bool {
	m := re.FindStringIndex(s)
	return m != nil && m[0] == 0 && m[1] == len(s)
}

// normID upper-cases an ID and removes separators when configured.
func normID(p IDPattern, raw string) (string, bool) {
	v := strings.ToUpper(strings.TrimSpace(raw))
	if p.StripSeparators {
		v = strings.Map(func(r rune) rune {
			if isSpace(r) || r == '-' || r == '.' || r == '/' || r == '\u2010' || r == '\u2011' || r == '\u2013' {
				return -1
			}
			return r
		}, v)
	}
	if v == "" {
		return "", false
	}
	if p.Valid != nil && !p.Valid(v) {
		return "", false
	}
	return v, true
}

// isSpace reports the horizontal spaces that may separate parts of one
// identifier (never a line break or tab: those separate cells and lines).
func isSpace(r rune) bool {
	switch r {
	case ' ', '\u00a0', '\u2007', '\u2009', '\u202f':
		return true
	}
	return false
}
