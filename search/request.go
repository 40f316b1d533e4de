package search

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/docvet/docvet/index"
	"github.com/docvet/docvet/index/identifiers"
)

// Datasets and properties of access requests and data subjects (seed 001,
// "GDPR access request" and "GDPR subject").
const (
	DatasetAccessRequest = "gdpr-access-request"
	DatasetSubject       = "gdpr-subject"

	PropAccessRequestID = "gdpr-access-request:access-request-id"
	PropTitle           = "gdpr-access-request:title"
	PropUserID          = "gdpr-access-request:user-id"
	PropContactInfo     = "gdpr-access-request:contactinfo"
	PropContactInfoType = "gdpr-access-request:contactinfo-type"
	PropDeleteRequest   = "gdpr-access-request:delete-request"
	PropLang            = "gdpr-access-request:lang"
	PropPublicKey       = "gdpr-access-request:public-key"
	PropTimestamp       = "gdpr-access-request:timestamp"
	// PropIdentifiers is docvet's extension: extra identifiers of the
	// subject, each {"kind","pattern","value"} or a plain string.
	PropIdentifiers = "gdpr-access-request:identifiers"

	PropSubjectID         = "gdpr-subject:subject-id"
	PropSubjectIdentifier = "gdpr-subject:identifier"
)

// Limits that keep one request from becoming an expensive search or an
// oversized record. The public key's size is encrypt.Policy's business.
const (
	MaxIDBytes            = 512  // access-request-id, user-id, subject-id
	MaxTitleBytes         = 4096 // title
	MaxContactBytes       = 320  // contactinfo
	MaxIdentifierBytes    = 256  // one identifier value
	MaxRequestIdentifiers = 100  // entries of gdpr-access-request:identifiers
	MaxSubjectIdentifiers = 256  // entries of gdpr-subject:identifier
)

// ContactInfoType says how the subject is contacted.
type ContactInfoType string

const (
	ContactEmail ContactInfoType = "email"
	ContactPhone ContactInfoType = "phone_number"
)

// ErrInvalid is what every *ValidationError matches with errors.Is.
var ErrInvalid = errors.New("invalid entity")

// Problem is one thing wrong with an entity: the property (with an index
// for list items, e.g. "gdpr-access-request:identifiers[2].kind") and why.
// Neither ever holds a value from the entity.
type Problem struct {
	Property string `json:"property"`
	Reason   string `json:"reason"`
}

// ValidationError lists everything wrong with an entity. Its message names
// properties only, never values, so it is safe to log and to return to the
// sender.
type ValidationError struct {
	Dataset  string    `json:"dataset"`
	Problems []Problem `json:"problems"`
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("invalid ")
	b.WriteString(e.Dataset)
	b.WriteString(" entity: ")
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteString("; ")
		}
		if p.Property != "" {
			b.WriteString(p.Property)
			b.WriteString(": ")
		}
		b.WriteString(p.Reason)
	}
	return b.String()
}

func (e *ValidationError) Unwrap() error { return ErrInvalid }

// GivenIdentifier is one entry of gdpr-access-request:identifiers as the
// request gave it. Kind is empty for a plain string (classified by
// Classify); Pattern optionally names a configured ID pattern for KindID.
type GivenIdentifier struct {
	Kind    IdentifierKind `json:"kind,omitempty"`
	Pattern string         `json:"pattern,omitempty"`
	Value   string         `json:"value"`
}

// MarshalJSON writes a plain string when the identifier was given as one.
func (g GivenIdentifier) MarshalJSON() ([]byte, error) {
	if g.Kind == "" && g.Pattern == "" {
		return json.Marshal(g.Value)
	}
	type plain GivenIdentifier
	return json.Marshal(plain(g))
}

// AccessRequest is a gdpr-access-request entity (seed 001). Key validation
// is not done here (search does not import encrypt): the receiver calls
// encrypt.CheckPublicKey on PublicKey.
type AccessRequest struct {
	ID              string          // access-request-id (required)
	Title           string          // optional
	UserID          string          // user-id (required): links to gdpr-subject entities
	ContactInfo     string          // e-mail address or phone number, optional
	ContactInfoType ContactInfoType // ContactEmail unless given
	DeleteRequest   bool
	// Lang is the request's language, canonical "en" or "en-GB"; empty when
	// not given (use Language with the configured default).
	Lang      string
	PublicKey string // armored; required, checked by encrypt
	// Timestamp is when docvet registered the request. ParseAccessRequest
	// drops any timestamp in the input (the seed says it is overwritten):
	// the receiver sets it. UnmarshalJSON (stored form) keeps it.
	Timestamp time.Time
	// GivenIdentifiers is the docvet extension gdpr-access-request:identifiers.
	GivenIdentifiers []GivenIdentifier
	// Extra holds every other property, passed through unchanged to the
	// outgoing API (including "_id" and other underscore properties).
	Extra map[string]json.RawMessage
}

// Language returns r.Lang, or def when the request gave none.
func (r AccessRequest) Language(def string) string {
	if r.Lang != "" {
		return r.Lang
	}
	return def
}

// ParseAccessRequest decodes and validates an incoming gdpr-access-request
// entity: access-request-id, user-id and public-key are required non-empty
// strings; contactinfo-type is "email" (default) or "phone_number" (any
// case), and contactinfo, when given, must look like one; delete-request is
// "true"/"false" (any case) or a JSON boolean, default false; lang is a
// two-letter ISO 639 code with an optional two-letter ISO 3166 region
// ("en", "no", "en-GB"; "_" is accepted for "-"); identifiers is a list of
// strings or {"kind","pattern","value"} objects. Strings are trimmed. Null
// counts as absent. Every problem is reported in one *ValidationError.
func ParseAccessRequest(raw []byte) (AccessRequest, error) {
	return parseAccessRequest(raw, false)
}

// UnmarshalJSON reads the stored (outgoing) form: like ParseAccessRequest,
// but the timestamp is kept.
func (r *AccessRequest) UnmarshalJSON(b []byte) error {
	req, err := parseAccessRequest(b, true)
	if err != nil {
		return err
	}
	*r = req
	return nil
}

// MarshalJSON writes the entity as the outgoing API shows it: the seed's
// properties (delete-request as "true"/"false", timestamp as RFC 3339 UTC
// when set), the identifiers when any, and Extra.
func (r AccessRequest) MarshalJSON() ([]byte, error) {
	m := make(map[string]any, len(r.Extra)+10)
	for k, v := range r.Extra {
		m[k] = v
	}
	m[PropAccessRequestID] = r.ID
	m[PropUserID] = r.UserID
	m[PropPublicKey] = r.PublicKey
	ct := r.ContactInfoType
	if ct == "" {
		ct = ContactEmail
	}
	m[PropContactInfoType] = ct
	m[PropDeleteRequest] = strconv.FormatBool(r.DeleteRequest)
	if r.Title != "" {
		m[PropTitle] = r.Title
	}
	if r.ContactInfo != "" {
		m[PropContactInfo] = r.ContactInfo
	}
	if r.Lang != "" {
		m[PropLang] = r.Lang
	}
	if !r.Timestamp.IsZero() {
		m[PropTimestamp] = r.Timestamp.UTC().Format(time.RFC3339Nano)
	}
	if len(r.GivenIdentifiers) > 0 {
		m[PropIdentifiers] = r.GivenIdentifiers
	}
	return json.Marshal(m)
}

// props reads the properties of one entity, collecting problems.
type props struct {
	m        map[string]json.RawMessage
	problems []Problem
}

func (p *props) bad(prop, reason string) { p.problems = append(p.problems, Problem{prop, reason}) }

// decodeObject reads raw as a JSON object. Syntax errors are reported
// without the decoder's message (it quotes input characters).
func decodeObject(raw []byte) (map[string]json.RawMessage, *Problem) {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || t[0] != '{' {
		return nil, &Problem{"", "not a JSON object"}
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(t, &m); err != nil {
		return nil, &Problem{"", "not valid JSON"}
	}
	return m, nil
}

// isNull reports an absent or null value.
func isNull(v json.RawMessage) bool {
	return v == nil || string(bytes.TrimSpace(v)) == "null"
}

// str reads an optional string property, trimmed; present is false when
// absent or null.
func (p *props) str(prop string, maxBytes int) (s string, present bool) {
	v, ok := p.m[prop]
	delete(p.m, prop)
	if !ok || isNull(v) {
		return "", false
	}
	if err := json.Unmarshal(v, &s); err != nil {
		p.bad(prop, "must be a string")
		return "", false
	}
	s = strings.TrimSpace(s)
	if len(s) > maxBytes {
		p.bad(prop, fmt.Sprintf("longer than %d bytes", maxBytes))
		return "", false
	}
	return s, true
}

// id reads a required identifier-like string: non-empty, bounded, no
// control characters (it ends up in URLs, file names and logs' hashes).
func (p *props) id(prop string) string {
	s, present := p.str(prop, MaxIDBytes)
	if !present || s == "" {
		if len(p.problems) == 0 || p.problems[len(p.problems)-1].Property != prop {
			p.bad(prop, "is required")
		}
		return ""
	}
	if hasControl(s) {
		p.bad(prop, "contains control characters")
		return ""
	}
	return s
}

func hasControl(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return true
		}
	}
	return false
}

func parseAccessRequest(raw []byte, keepTimestamp bool) (AccessRequest, error) {
	m, prob := decodeObject(raw)
	if prob != nil {
		return AccessRequest{}, &ValidationError{Dataset: DatasetAccessRequest, Problems: []Problem{*prob}}
	}
	p := &props{m: m}
	var r AccessRequest
	r.ID = p.id(PropAccessRequestID)
	r.UserID = p.id(PropUserID)
	if s, present := p.str(PropPublicKey, 1<<30); !present || s == "" {
		if len(p.problems) == 0 || p.problems[len(p.problems)-1].Property != PropPublicKey {
			p.bad(PropPublicKey, "is required")
		}
	} else {
		r.PublicKey = s
	}
	r.Title, _ = p.str(PropTitle, MaxTitleBytes)

	r.ContactInfoType = ContactEmail
	if s, present := p.str(PropContactInfoType, 64); present && s != "" {
		switch ContactInfoType(strings.ToLower(s)) {
		case ContactEmail:
		case ContactPhone:
			r.ContactInfoType = ContactPhone
		default:
			p.bad(PropContactInfoType, `must be "email" or "phone_number"`)
		}
	}
	if s, present := p.str(PropContactInfo, MaxContactBytes); present && s != "" {
		switch r.ContactInfoType {
		case ContactEmail:
			if _, ok := identifiers.Normalize(identifiers.KindEmail, s, identifiers.Options{}); !ok {
				p.bad(PropContactInfo, "not an e-mail address (contactinfo-type is email)")
			}
		case ContactPhone:
			if !phoneShaped(s) {
				p.bad(PropContactInfo, "not a phone number (contactinfo-type is phone_number)")
			}
		}
		r.ContactInfo = s
	}

	if v, ok := m[PropDeleteRequest]; ok {
		delete(m, PropDeleteRequest)
		if !isNull(v) {
			var b bool
			var s string
			switch {
			case json.Unmarshal(v, &b) == nil:
				r.DeleteRequest = b
			case json.Unmarshal(v, &s) == nil && strings.EqualFold(strings.TrimSpace(s), "true"):
				r.DeleteRequest = true
			case json.Unmarshal(v, &s) == nil && (strings.EqualFold(strings.TrimSpace(s), "false") || strings.TrimSpace(s) == ""):
			default:
				p.bad(PropDeleteRequest, `must be "true" or "false"`)
			}
		}
	}

	if s, present := p.str(PropLang, 16); present && s != "" {
		if l, ok := canonicalLang(s); ok {
			r.Lang = l
		} else {
			p.bad(PropLang, `must be an ISO 639 two-letter code, optionally with an ISO 3166 region ("en", "en-GB")`)
		}
	}

	if v, ok := m[PropTimestamp]; ok {
		delete(m, PropTimestamp)
		if keepTimestamp && !isNull(v) {
			var s string
			if json.Unmarshal(v, &s) != nil {
				p.bad(PropTimestamp, "must be a string")
			} else if t, err := time.Parse(time.RFC3339Nano, s); err != nil {
				p.bad(PropTimestamp, "must be an RFC 3339 time")
			} else {
				r.Timestamp = t.UTC()
			}
		}
	}

	if v, ok := m[PropIdentifiers]; ok {
		delete(m, PropIdentifiers)
		if !isNull(v) {
			r.GivenIdentifiers = p.givenIdentifiers(v)
		}
	}

	if len(p.problems) > 0 {
		return AccessRequest{}, &ValidationError{Dataset: DatasetAccessRequest, Problems: p.problems}
	}
	if len(m) > 0 {
		r.Extra = m
	}
	return r, nil
}

// canonicalLang accepts "en", "EN", "en-gb", "en_GB" and returns "en" or
// "en-GB".
func canonicalLang(s string) (string, bool) {
	isAlpha := func(s string) bool {
		for i := 0; i < len(s); i++ {
			c := s[i] | 0x20
			if c < 'a' || c > 'z' {
				return false
			}
		}
		return true
	}
	lang, region, hasRegion := strings.Cut(strings.ReplaceAll(s, "_", "-"), "-")
	if len(lang) != 2 || !isAlpha(lang) {
		return "", false
	}
	if !hasRegion {
		return strings.ToLower(lang), true
	}
	if len(region) != 2 || !isAlpha(region) {
		return "", false
	}
	return strings.ToLower(lang) + "-" + strings.ToUpper(region), true
}

// phoneShaped is the region-independent check of a phone number given on
// its own: only digits and the usual separators, 6 to 17 digits. Whether it
// is a valid number depends on the configured default region and is
// decided when identifiers are assembled.
func phoneShaped(s string) bool {
	if len(s) >= 4 && strings.EqualFold(s[:4], "tel:") {
		s = s[4:]
	}
	nd := 0
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			nd++
		case strings.ContainsRune("+()-./ \u00a0\u2010\u2011\u2013", r):
		default:
			return false
		}
	}
	return nd >= 6 && nd <= 17
}

// givenIdentifiers reads gdpr-access-request:identifiers.
func (p *props) givenIdentifiers(v json.RawMessage) []GivenIdentifier {
	var items []json.RawMessage
	if err := json.Unmarshal(v, &items); err != nil {
		p.bad(PropIdentifiers, "must be a list")
		return nil
	}
	if len(items) > MaxRequestIdentifiers {
		p.bad(PropIdentifiers, fmt.Sprintf("more than %d entries", MaxRequestIdentifiers))
		return nil
	}
	out := make([]GivenIdentifier, 0, len(items))
	for i, item := range items {
		at := fmt.Sprintf("%s[%d]", PropIdentifiers, i)
		var s string
		if json.Unmarshal(item, &s) == nil {
			s = strings.TrimSpace(s)
			if p.identifierValue(at, s) {
				out = append(out, GivenIdentifier{Value: s})
			}
			continue
		}
		var obj map[string]json.RawMessage
		if json.Unmarshal(item, &obj) != nil || obj == nil {
			p.bad(at, "must be a string or an object with kind and value")
			continue
		}
		ip := &props{m: obj}
		kind, _ := ip.str("kind", 32)
		pattern, _ := ip.str("pattern", 128)
		value, _ := ip.str("value", MaxIdentifierBytes)
		for _, pr := range ip.problems {
			p.bad(at+"."+pr.Property, pr.Reason)
		}
		for k := range ip.m {
			p.bad(at+"."+k, "unknown field (kind, pattern and value are allowed)")
		}
		if len(ip.problems) > 0 || len(ip.m) > 0 {
			continue
		}
		g := GivenIdentifier{Pattern: pattern, Value: value}
		switch strings.ToLower(kind) {
		case "":
		case "email":
			g.Kind = KindEmail
		case "phone", "phone_number":
			g.Kind = KindPhone
		case "name":
			g.Kind = KindName
		case "id":
			g.Kind = KindID
		default:
			p.bad(at+".kind", `must be "email", "phone", "name" or "id"`)
			continue
		}
		if pattern != "" && g.Kind != KindID && g.Kind != "" {
			p.bad(at+".pattern", `only allowed with kind "id"`)
			continue
		}
		if pattern != "" {
			g.Kind = KindID
		}
		if !p.identifierValue(at+".value", value) {
			continue
		}
		switch g.Kind {
		case KindEmail:
			if _, ok := identifiers.Normalize(identifiers.KindEmail, value, identifiers.Options{}); !ok {
				p.bad(at+".value", "not an e-mail address")
				continue
			}
		case KindPhone:
			if !phoneShaped(value) {
				p.bad(at+".value", "not a phone number")
				continue
			}
		case KindName:
			if !hasLetter(value) {
				p.bad(at+".value", "a name needs letters")
				continue
			}
		}
		out = append(out, g)
	}
	return out
}

// identifierValue checks one identifier value.
func (p *props) identifierValue(at, s string) bool {
	switch {
	case s == "":
		p.bad(at, "is empty")
	case len(s) > MaxIdentifierBytes:
		p.bad(at, fmt.Sprintf("longer than %d bytes", MaxIdentifierBytes))
	case hasControl(s):
		p.bad(at, "contains control characters")
	default:
		return true
	}
	return false
}

func hasLetter(s string) bool {
	for _, r := range s {
		if unicode.IsLetter(r) {
			return true
		}
	}
	return false
}

// Subject is a gdpr-subject entity: the identifiers a data subject is known
// by in the organisation's systems.
type Subject struct {
	ID          string   // gdpr-subject:subject-id, matched against AccessRequest.UserID
	Identifiers []string // gdpr-subject:identifier, at least one
	Extra       map[string]json.RawMessage
}

// ParseSubject decodes and validates a gdpr-subject entity: subject-id is a
// required non-empty string; identifier is a list of at least one
// non-empty string (a single string is read as a list of one). Values are
// trimmed.
func ParseSubject(raw []byte) (Subject, error) {
	m, prob := decodeObject(raw)
	if prob != nil {
		return Subject{}, &ValidationError{Dataset: DatasetSubject, Problems: []Problem{*prob}}
	}
	p := &props{m: m}
	var s Subject
	s.ID = p.id(PropSubjectID)
	v, ok := m[PropSubjectIdentifier]
	delete(m, PropSubjectIdentifier)
	switch {
	case !ok || isNull(v):
		p.bad(PropSubjectIdentifier, "is required")
	default:
		var list []string
		var one string
		if json.Unmarshal(v, &one) == nil {
			list = []string{one}
		} else if json.Unmarshal(v, &list) != nil {
			p.bad(PropSubjectIdentifier, "must be a list of strings")
			break
		}
		if len(list) == 0 {
			p.bad(PropSubjectIdentifier, "needs at least one identifier")
		}
		if len(list) > MaxSubjectIdentifiers {
			p.bad(PropSubjectIdentifier, fmt.Sprintf("more than %d entries", MaxSubjectIdentifiers))
			break
		}
		for i, id := range list {
			id = strings.TrimSpace(id)
			if p.identifierValue(fmt.Sprintf("%s[%d]", PropSubjectIdentifier, i), id) {
				s.Identifiers = append(s.Identifiers, id)
			}
		}
	}
	if len(p.problems) > 0 {
		return Subject{}, &ValidationError{Dataset: DatasetSubject, Problems: p.problems}
	}
	if len(m) > 0 {
		s.Extra = m
	}
	return s, nil
}

// MarshalJSON writes the entity in the seed's shape plus Extra.
func (s Subject) MarshalJSON() ([]byte, error) {
	m := make(map[string]any, len(s.Extra)+2)
	for k, v := range s.Extra {
		m[k] = v
	}
	m[PropSubjectID] = s.ID
	ids := s.Identifiers
	if ids == nil {
		ids = []string{}
	}
	m[PropSubjectIdentifier] = ids
	return json.Marshal(m)
}

// Skipped tells that one given identifier is not searched, and why. It
// names where the identifier came from, never its value, so it can be
// shown to reviewers and logged.
type Skipped struct {
	From   string         `json:"from"` // e.g. "gdpr-access-request:identifiers[2]", "gdpr-subject:identifier[0] (subject 1)"
	Kind   IdentifierKind `json:"kind,omitempty"`
	Reason string         `json:"reason"`
}

// Identifiers assembles the subject's identifiers to search for, normalised
// and deduplicated (see CollectIdentifiers).
func (r AccessRequest) Identifiers(subjects []Subject, opt identifiers.Options) []Identifier {
	ids, _ := r.CollectIdentifiers(subjects, opt)
	return ids
}

// CollectIdentifiers assembles the subject's identifiers, in this order:
//  1. contactinfo, as its contactinfo-type says (e-mail or phone);
//  2. the request's identifiers list: entries with a kind are normalised as
//     that kind, plain strings are classified (Classify);
//  3. the identifiers of every subject whose subject-id equals the request's
//     user-id, classified;
//  4. the user-id itself, but only when it is an e-mail address or matches
//     a configured ID pattern. Portal user ids are usually opaque (UUIDs,
//     database keys); an 8-digit key would even pass as a Norwegian phone
//     number. Searching them finds noise, so they are not searched unless
//     the organisation configured a pattern that says what they look like.
//
// Each is normalised with the index's rules (index/identifiers.Normalize
// for e-mail, phone and patterned IDs; the folded analyzer of the index for
// names), and duplicates (same kind, pattern and normalised form) are
// dropped, the first kept. Identifiers that cannot be used (an e-mail or
// phone that does not normalise, a value with nothing searchable) are
// returned as Skipped, without their values.
func (r AccessRequest) CollectIdentifiers(subjects []Subject, opt identifiers.Options) ([]Identifier, []Skipped) {
	c := collector{opt: opt, seen: map[string]bool{}}
	if r.ContactInfo != "" {
		kind := KindEmail
		if r.ContactInfoType == ContactPhone {
			kind = KindPhone
		}
		c.add(PropContactInfo, Identifier{Kind: kind, Value: r.ContactInfo})
	}
	for i, g := range r.GivenIdentifiers {
		from := fmt.Sprintf("%s[%d]", PropIdentifiers, i)
		if g.Kind == "" {
			c.classify(from, g.Value)
			continue
		}
		c.add(from, Identifier{Kind: g.Kind, Pattern: g.Pattern, Value: g.Value})
	}
	n := 0
	for _, s := range subjects {
		if s.ID != r.UserID || r.UserID == "" {
			continue
		}
		n++
		for j, v := range s.Identifiers {
			c.classify(fmt.Sprintf("%s[%d] (subject %d)", PropSubjectIdentifier, j, n), v)
		}
	}
	if id, ok := Classify(r.UserID, opt); ok && (id.Kind == KindEmail || (id.Kind == KindID && id.Pattern != "")) {
		c.keep(id)
	}
	return c.ids, c.skipped
}

type collector struct {
	opt     identifiers.Options
	seen    map[string]bool
	ids     []Identifier
	skipped []Skipped
}

func (c *collector) classify(from, value string) {
	id, ok := Classify(value, c.opt)
	if !ok {
		c.skipped = append(c.skipped, Skipped{From: from, Reason: "nothing searchable (no letters or digits)"})
		return
	}
	c.keep(id)
}

func (c *collector) add(from string, id Identifier) {
	n, ok := NormalizeIdentifier(id, c.opt)
	if !ok {
		c.skipped = append(c.skipped, Skipped{From: from, Kind: id.Kind, Reason: "not a valid " + kindNoun(id.Kind)})
		return
	}
	c.keep(n)
}

func (c *collector) keep(id Identifier) {
	k := string(id.Kind) + "\x00" + id.Pattern + "\x00" + id.Normalized
	if c.seen[k] {
		return
	}
	c.seen[k] = true
	c.ids = append(c.ids, id)
}

func kindNoun(k IdentifierKind) string {
	switch k {
	case KindEmail:
		return "e-mail address"
	case KindPhone:
		return "phone number (for the configured default region)"
	case KindName:
		return "name"
	}
	return "identifier"
}

// Classify decides what a plain identifier value is and normalises it. The
// rule, first match wins:
//  1. an e-mail address (identifiers.Normalize accepts it) -> KindEmail;
//  2. the whole value matches a configured ID pattern (in opt.IDs order,
//     including its check) -> KindID with that Pattern, so a customer
//     number that happens to be a valid phone number stays an ID, as
//     identifiers.Find decides in text;
//  3. a valid phone number for opt's default region -> KindPhone (E.164);
//  4. letters and no digits (letters, marks, spaces, . , - ' ’) -> KindName;
//  5. anything else with a letter or digit -> KindID without a pattern:
//     Normalized is the value upper-cased with runs of spaces collapsed; no
//     configured pattern says how it is written, so the index has no
//     identifier term for it and it can only be found in the text.
//
// It reports false when the value has nothing searchable.
func Classify(value string, opt identifiers.Options) (Identifier, bool) {
	v := strings.TrimSpace(value)
	if v == "" {
		return Identifier{}, false
	}
	if strings.Contains(v, "@") {
		if n, ok := identifiers.Normalize(identifiers.KindEmail, v, opt); ok {
			return Identifier{Kind: KindEmail, Value: v, Normalized: n}, true
		}
	}
	for _, p := range opt.IDs {
		if p.Name == "" || p.Regexp == nil {
			continue
		}
		if n, ok := identifiers.Normalize(identifiers.IDKind(p.Name), v, opt); ok {
			return Identifier{Kind: KindID, Pattern: p.Name, Value: v, Normalized: n}, true
		}
	}
	if phoneShaped(v) {
		if n, ok := identifiers.Normalize(identifiers.KindPhone, v, opt); ok {
			return Identifier{Kind: KindPhone, Value: v, Normalized: n}, true
		}
	}
	if looksLikeName(v) {
		if n, ok := normalizeName(v); ok {
			return Identifier{Kind: KindName, Value: v, Normalized: n}, true
		}
	}
	return NormalizeIdentifier(Identifier{Kind: KindID, Value: v}, opt)
}

func looksLikeName(s string) bool {
	letters := false
	for _, r := range s {
		switch {
		case unicode.IsLetter(r):
			letters = true
		case unicode.IsMark(r), unicode.IsSpace(r), strings.ContainsRune(".,-'’\u2010", r):
		default:
			return false
		}
	}
	return letters
}

// NormalizeIdentifier fills id.Normalized for an identifier of a known
// kind, with the index's rules; it reports false when the value is not a
// valid identifier of that kind. A KindID with a Pattern that is not
// configured or does not match, or without a Pattern, is tried against the
// configured patterns and otherwise kept without a pattern (see Classify).
func NormalizeIdentifier(id Identifier, opt identifiers.Options) (Identifier, bool) {
	v := strings.TrimSpace(id.Value)
	if v == "" {
		return Identifier{}, false
	}
	id.Value = v
	switch id.Kind {
	case KindEmail:
		n, ok := identifiers.Normalize(identifiers.KindEmail, v, opt)
		id.Normalized = n
		return id, ok
	case KindPhone:
		n, ok := identifiers.Normalize(identifiers.KindPhone, v, opt)
		id.Normalized = n
		return id, ok
	case KindName:
		n, ok := normalizeName(v)
		id.Normalized = n
		return id, ok
	case KindID:
		if id.Pattern != "" {
			if n, ok := identifiers.Normalize(identifiers.IDKind(id.Pattern), v, opt); ok {
				id.Normalized = n
				return id, true
			}
		}
		for _, p := range opt.IDs {
			if p.Name == "" || p.Regexp == nil || p.Name == id.Pattern {
				continue
			}
			if n, ok := identifiers.Normalize(identifiers.IDKind(p.Name), v, opt); ok {
				id.Pattern, id.Normalized = p.Name, n
				return id, true
			}
		}
		id.Pattern = ""
		if !hasLetterOrDigit(v) {
			return Identifier{}, false
		}
		id.Normalized = strings.Join(strings.Fields(strings.ToUpper(v)), " ")
		return id, true
	}
	return Identifier{}, false
}

func hasLetterOrDigit(s string) bool {
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return true
		}
	}
	return false
}

// foldedAnalyzer is the index's accent-folding analyzer, built once, so a
// name is split and folded exactly as text_folded was at index time.
var foldedAnalyzer = sync.OnceValues(func() (func([]byte) []string, error) {
	m, err := index.NewMapping()
	if err != nil {
		return nil, err
	}
	a := m.AnalyzerNamed(index.AnalyzerFolded)
	if a == nil {
		return nil, errors.New("search: folded analyzer missing from the index mapping")
	}
	return func(b []byte) []string {
		ts := a.Analyze(b)
		out := make([]string, len(ts))
		for i, t := range ts {
			out[i] = string(t.Term)
		}
		return out
	}, nil
})

// normalizeName returns the folded terms of a name joined by single spaces
// ("Bjørn Ødegård" -> "bjorn odegard"). A name written "Surname, Given"
// (one comma, words on both sides) is turned round ("Ødegård, Bjørn" ->
// "bjorn odegard") so both writings deduplicate; the search matches either
// order in documents anyway.
func normalizeName(s string) (string, bool) {
	analyze, err := foldedAnalyzer()
	if err != nil {
		return "", false
	}
	if before, after, ok := strings.Cut(s, ","); ok && !strings.Contains(after, ",") {
		b, a := analyze([]byte(before)), analyze([]byte(after))
		if len(b) > 0 && len(a) > 0 {
			return strings.Join(append(a, b...), " "), true
		}
	}
	terms := analyze([]byte(s))
	if len(terms) == 0 {
		return "", false
	}
	return strings.Join(terms, " "), true
}
