package notify

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Template keys docvet sends (the seed-001 `_id`s).
const (
	AccessRequestMail        = "access_request_mail"
	AccessRequestDeleteMail  = "access_request_delete_mail"
	SubjectDataAvailableMail = "subject_data_available_mail"
	SubjectDataAvailableSMS  = "subject_data_available_sms"
)

// Errors callers branch on.
var (
	// ErrUnknownTemplate: Render was asked for a key that is not a notification docvet sends.
	ErrUnknownTemplate = errors.New("notify: unknown template")
	// ErrMissingValue: a template references a macro or $ENV name with no (or an empty) value.
	ErrMissingValue = errors.New("notify: missing template value")
	// ErrInvalidTemplate: an override does not validate.
	ErrInvalidTemplate = errors.New("notify: invalid template")
)

//go:embed templates.json
var defaultTemplatesJSON []byte

// knownKeys maps every template key docvet sends to whether it is an SMS (plain
// text, no subject) rather than a mail (subject + HTML body).
var knownKeys = map[string]bool{
	AccessRequestMail:        false,
	AccessRequestDeleteMail:  false,
	SubjectDataAvailableMail: false,
	SubjectDataAvailableSMS:  true,
}

// seedPortalKeys are seed-001 entities that describe portal texts or features
// docvet does not send. Operators are told to start from a copy of the whole
// official list, so Override skips these instead of failing on them.
var seedPortalKeys = map[string]bool{
	"gdpr_welcome_text":                 true,
	"access_request_type_title":         true,
	"change_request_type_title":         true,
	"consent_change_request_type_title": true,
	"change_request_mail":               true,
}

// Macro names accepted inside {{ }}.
var macroNames = map[string]func(Values) string{
	"contactinfo": func(v Values) string { return v.ContactInfo },
	"contact":     func(v Values) string { return v.Contact },
	"requestId":   func(v Values) string { return v.RequestID },
}

// Translation field names of the seed shape.
const (
	fieldBody    = "body_template"
	fieldSubject = "subject_template"
	fieldText    = "text_body_template"
)

// maxTemplateLen bounds one template string; notification texts are short and
// a huge override is a mistake, not a feature.
const maxTemplateLen = 64 << 10

var (
	envNameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
	langRe    = regexp.MustCompile(`^[a-z]{2,3}(-[a-z0-9]{1,8})*$`)
)

// Values are the per-notification substitutions.
type Values struct {
	// ContactInfo fills {{ contactinfo }}: the data subject's contact info
	// (e-mail or phone) as given in the access request.
	ContactInfo string
	// Contact fills {{ contact }}: the e-mail address of the recipient
	// (the data-type contact the mail is sent to).
	Contact string
	// RequestID fills {{ requestId }}: the access-request id.
	RequestID string
	// Env fills $ENV(name): deployment configuration such as "portal-url".
	Env map[string]string
}

// Message is one rendered notification. For SMS templates only Text is set.
type Message struct {
	To      []string
	Subject string
	Text    string
	HTML    string
}

// Entity is one item of the seed-001 translation list:
// {"_id": key, "translations": {lang: {"body_template": ..., ...}}}.
type Entity struct {
	ID           string                       `json:"_id" yaml:"_id"`
	Translations map[string]map[string]string `json:"translations" yaml:"translations"`
}

type segKind uint8

const (
	segLit segKind = iota
	segMacro
	segEnv
)

type escCtx uint8

const (
	ctxPlain   escCtx = iota // subject, text body, SMS
	ctxHTML                  // HTML text content
	ctxAttr                  // quoted HTML attribute value
	ctxURLAttr               // quoted href/src/action attribute value
)

type segment struct {
	kind segKind
	text string // literal text, macro name or env name
	ctx  escCtx
}

type compiled []segment

type translation struct {
	subject, body, text compiled
	hasText             bool
}

type entry struct {
	sms   bool
	langs map[string]*translation
}

// Templates holds the effective notification templates: the embedded seed-001
// defaults with operator overrides applied. Safe for concurrent use.
type Templates struct {
	mu      sync.RWMutex
	entries map[string]*entry
}

// DefaultTemplates returns the embedded seed-001 templates (en and no).
func DefaultTemplates() *Templates {
	t := &Templates{entries: map[string]*entry{}}
	if err := t.Override(defaultTemplatesJSON); err != nil {
		panic("notify: embedded templates invalid: " + err.Error())
	}
	return t
}

// Override applies a JSON array of seed-shaped entities. Per key and language
// the given translation replaces the current one; a new language key adds a
// language. Seed entities docvet does not send (portal texts,
// change_request_mail) are skipped; any other unknown key, unknown field,
// unknown macro, malformed macro, or a mail without subject is an error and
// leaves t unchanged.
func (t *Templates) Override(entities []byte) error {
	dec := json.NewDecoder(bytes.NewReader(entities))
	dec.DisallowUnknownFields()
	var es []Entity
	if err := dec.Decode(&es); err != nil {
		return fmt.Errorf("%w: decode: %v", ErrInvalidTemplate, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: trailing data after the entity array", ErrInvalidTemplate)
	}
	return t.OverrideEntities(es)
}

// OverrideEntities is Override for already-decoded entities (e.g. from YAML
// configuration).
func (t *Templates) OverrideEntities(es []Entity) error {
	type change struct {
		key, lang string
		tr        *translation
	}
	var changes []change
	var errs []error
	for i, e := range es {
		if seedPortalKeys[e.ID] {
			continue
		}
		sms, ok := knownKeys[e.ID]
		if !ok {
			errs = append(errs, fmt.Errorf("entity %d: unknown _id %q", i, e.ID))
			continue
		}
		langs := make([]string, 0, len(e.Translations))
		for l := range e.Translations {
			langs = append(langs, l)
		}
		sort.Strings(langs)
		for _, rawLang := range langs {
			lang := normLang(rawLang)
			if !langRe.MatchString(lang) {
				errs = append(errs, fmt.Errorf("%s: invalid language key %q", e.ID, rawLang))
				continue
			}
			tr, err := compileTranslation(e.Translations[rawLang], sms)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s/%s: %w", e.ID, lang, err))
				continue
			}
			changes = append(changes, change{e.ID, lang, tr})
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalidTemplate, errors.Join(errs...))
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.entries == nil {
		t.entries = map[string]*entry{}
	}
	for _, c := range changes {
		en := t.entries[c.key]
		if en == nil {
			en = &entry{sms: knownKeys[c.key], langs: map[string]*translation{}}
			t.entries[c.key] = en
		}
		en.langs[c.lang] = c.tr
	}
	return nil
}

func compileTranslation(fields map[string]string, sms bool) (*translation, error) {
	for k, v := range fields {
		switch k {
		case fieldBody, fieldSubject, fieldText:
		default:
			return nil, fmt.Errorf("unknown field %q", k)
		}
		if len(v) > maxTemplateLen {
			return nil, fmt.Errorf("%s longer than %d bytes", k, maxTemplateLen)
		}
		if !utf8.ValidString(v) {
			return nil, fmt.Errorf("%s is not valid UTF-8", k)
		}
	}
	body, subject, text := fields[fieldBody], fields[fieldSubject], fields[fieldText]
	if strings.TrimSpace(body) == "" {
		return nil, fmt.Errorf("missing %s", fieldBody)
	}
	tr := &translation{}
	var err error
	if sms {
		if subject != "" || text != "" {
			return nil, fmt.Errorf("SMS templates take only %s", fieldBody)
		}
		if tr.body, err = parseTemplate(body, false); err != nil {
			return nil, fmt.Errorf("%s: %w", fieldBody, err)
		}
		return tr, nil
	}
	if strings.TrimSpace(subject) == "" {
		return nil, fmt.Errorf("missing %s", fieldSubject)
	}
	if strings.IndexFunc(subject, isBreak) >= 0 {
		return nil, fmt.Errorf("%s contains a line break or control character", fieldSubject)
	}
	if tr.subject, err = parseTemplate(subject, false); err != nil {
		return nil, fmt.Errorf("%s: %w", fieldSubject, err)
	}
	if tr.body, err = parseTemplate(body, true); err != nil {
		return nil, fmt.Errorf("%s: %w", fieldBody, err)
	}
	if strings.TrimSpace(text) != "" {
		tr.hasText = true
		if tr.text, err = parseTemplate(text, false); err != nil {
			return nil, fmt.Errorf("%s: %w", fieldText, err)
		}
	}
	return tr, nil
}

// Render renders template key in the best language for lang. Fallback:
// lang, then its shorter prefixes (nb-NO → nb), then "no" for nb/nn (and "nb"
// for no), then "en". Every referenced macro and $ENV name must have a
// non-empty value. Substitutions are HTML-escaped in the HTML body
// (and query-escaped inside href/src attributes); line breaks and control
// characters in substituted values become spaces, so a subject never holds
// CR or LF.
func (t *Templates) Render(key, lang string, v Values) (Message, error) {
	t.mu.RLock()
	en := t.entries[key]
	var tr *translation
	if en != nil {
		for _, l := range langChain(lang) {
			if tr = en.langs[l]; tr != nil {
				break
			}
		}
	}
	t.mu.RUnlock()
	if en == nil {
		return Message{}, fmt.Errorf("%w: %q", ErrUnknownTemplate, key)
	}
	if tr == nil {
		return Message{}, fmt.Errorf("%w: %q has no language for %q and no en", ErrUnknownTemplate, key, lang)
	}
	var m Message
	var err error
	if en.sms {
		if m.Text, err = tr.body.render(v); err != nil {
			return Message{}, err
		}
		return m, nil
	}
	if m.Subject, err = tr.subject.render(v); err != nil {
		return Message{}, err
	}
	m.Subject = strings.TrimSpace(foldBreaks(m.Subject))
	if m.HTML, err = tr.body.render(v); err != nil {
		return Message{}, err
	}
	if tr.hasText {
		if m.Text, err = tr.text.render(v); err != nil {
			return Message{}, err
		}
	} else {
		m.Text = HTMLToText(m.HTML)
	}
	return m, nil
}

// CheckEnv renders every template in every language with placeholder macro
// values and env, and reports each $ENV name the templates need but env lacks.
// Call it at startup so a misconfigured deployment fails once, loudly.
func (t *Templates) CheckEnv(env map[string]string) error {
	t.mu.RLock()
	defer t.mu.RUnlock()
	missing := map[string]bool{}
	for _, en := range t.entries {
		for _, tr := range en.langs {
			for _, c := range []compiled{tr.subject, tr.body, tr.text} {
				for _, s := range c {
					if s.kind == segEnv && env[s.text] == "" {
						missing[s.text] = true
					}
				}
			}
		}
	}
	if len(missing) == 0 {
		return nil
	}
	names := make([]string, 0, len(missing))
	for n := range missing {
		names = append(names, n)
	}
	sort.Strings(names)
	return fmt.Errorf("%w: $ENV(%s) not configured", ErrMissingValue, strings.Join(names, "), $ENV("))
}

// Languages returns the language keys available for key, sorted.
func (t *Templates) Languages(key string) []string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	en := t.entries[key]
	if en == nil {
		return nil
	}
	out := make([]string, 0, len(en.langs))
	for l := range en.langs {
		out = append(out, l)
	}
	sort.Strings(out)
	return out
}

func (c compiled) render(v Values) (string, error) {
	var b strings.Builder
	for _, s := range c {
		switch s.kind {
		case segLit:
			b.WriteString(s.text)
		case segMacro:
			val := macroNames[s.text](v)
			if val == "" {
				return "", fmt.Errorf("%w: {{ %s }}", ErrMissingValue, s.text)
			}
			b.WriteString(escape(val, s.ctx, true))
		case segEnv:
			val := v.Env[s.text]
			if val == "" {
				return "", fmt.Errorf("%w: $ENV(%s)", ErrMissingValue, s.text)
			}
			b.WriteString(escape(val, s.ctx, false))
		}
	}
	return b.String(), nil
}

func escape(val string, ctx escCtx, isMacro bool) string {
	val = foldBreaks(val)
	switch ctx {
	case ctxHTML, ctxAttr:
		return html.EscapeString(val)
	case ctxURLAttr:
		if isMacro {
			// Request values go into query strings ("?email={{ contact }}"):
			// "+" and "&" in an address must not change the link's meaning.
			return html.EscapeString(url.QueryEscape(val))
		}
		// $ENV values are operator-configured URL prefixes: keep as is.
		return html.EscapeString(val)
	}
	return val
}

// isBreak reports runes that must never reach a header or a single-line value.
func isBreak(r rune) bool {
	return r == '\u2028' || r == '\u2029' || r == '\u0085' || unicode.IsControl(r)
}

// foldBreaks replaces CR, LF, other control characters and Unicode line
// separators with spaces, and invalid UTF-8 with U+FFFD.
func foldBreaks(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if strings.IndexFunc(s, isBreak) < 0 {
		return s
	}
	return strings.Map(func(r rune) rune {
		if isBreak(r) {
			return ' '
		}
		return r
	}, s)
}

func normLang(l string) string {
	return strings.ToLower(strings.ReplaceAll(strings.TrimSpace(l), "_", "-"))
}

// langChain lists the languages to try for a requested one, best first.
func langChain(lang string) []string {
	var out []string
	add := func(l string) {
		if l != "" && !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	l := normLang(lang)
	for l != "" {
		add(l)
		i := strings.LastIndexByte(l, '-')
		if i < 0 {
			break
		}
		l = l[:i]
	}
	switch l {
	case "nb", "nn":
		add("no")
	case "no":
		add("nb")
	}
	add("en")
	return out
}

// HTML tokenizer states used to find the context of each macro.
const (
	stText = iota
	stTagName
	stTagAttrs
	stAttrName
	stAfterAttrName
	stBeforeValue
	stAttrValueQuoted
	stAttrValueUnquoted
	stComment
)

var urlAttrs = map[string]bool{"href": true, "src": true, "action": true, "formaction": true, "cite": true, "background": true}

// parseTemplate splits s into literals and macros. For HTML bodies it also
// tracks where each macro sits (text, quoted attribute, URL attribute) so the
// value is escaped for that context; macros anywhere else in a tag, and
// script/style elements, are rejected.
func parseTemplate(s string, isHTML bool) (compiled, error) {
	var out compiled
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			out = append(out, segment{kind: segLit, text: lit.String()})
			lit.Reset()
		}
	}
	state := stText
	var quote byte
	var tagStart, nameStart int
	var attrName string
	for i := 0; i < len(s); {
		// Macros are recognised in every state and do not change it.
		if strings.HasPrefix(s[i:], "{{") || strings.HasPrefix(s[i:], "$ENV(") {
			var seg segment
			var n int
			if s[i] == '{' {
				end := strings.Index(s[i+2:], "}}")
				if end < 0 {
					return nil, fmt.Errorf("unterminated {{ at byte %d", i)
				}
				name := strings.TrimSpace(s[i+2 : i+2+end])
				if _, ok := macroNames[name]; !ok {
					return nil, fmt.Errorf("unknown macro {{ %s }} (known: contactinfo, contact, requestId)", clip(name))
				}
				seg, n = segment{kind: segMacro, text: name}, end+4
			} else {
				end := strings.IndexByte(s[i+5:], ')')
				if end < 0 {
					return nil, fmt.Errorf("unterminated $ENV( at byte %d", i)
				}
				name := s[i+5 : i+5+end]
				if !envNameRe.MatchString(name) {
					return nil, fmt.Errorf("invalid $ENV name %q", clip(name))
				}
				seg, n = segment{kind: segEnv, text: name}, end+6
			}
			if isHTML {
				switch state {
				case stText:
					seg.ctx = ctxHTML
				case stAttrValueQuoted:
					seg.ctx = ctxAttr
					if urlAttrs[attrName] {
						seg.ctx = ctxURLAttr
					}
				case stComment:
					return nil, fmt.Errorf("macro inside an HTML comment at byte %d", i)
				default:
					return nil, fmt.Errorf("macro at byte %d is neither in text nor in a quoted attribute value", i)
				}
			}
			flush()
			out = append(out, seg)
			i += n
			continue
		}
		c := s[i]
		lit.WriteByte(c)
		i++
		if !isHTML {
			continue
		}
		switch state {
		case stText:
			if c == '<' && i < len(s) {
				switch {
				case strings.HasPrefix(s[i:], "!--"):
					state = stComment
				case isASCIILetter(s[i]) || s[i] == '/':
					state, tagStart = stTagName, i
				}
			}
		case stTagName:
			if isSpace(c) || c == '>' || c == '/' && i-1 > tagStart {
				name := strings.ToLower(strings.TrimPrefix(s[tagStart:i-1], "/"))
				if name == "script" || name == "style" {
					return nil, fmt.Errorf("<%s> is not allowed in notification templates", name)
				}
				state = stTagAttrs
				if c == '>' {
					state = stText
				}
			}
		case stTagAttrs, stAfterAttrName:
			switch {
			case c == '>':
				state = stText
			case c == '=' && state == stAfterAttrName:
				state = stBeforeValue
			case isSpace(c) || c == '/':
			default:
				state, nameStart = stAttrName, i-1
			}
		case stAttrName:
			switch {
			case c == '=':
				attrName, state = strings.ToLower(s[nameStart:i-1]), stBeforeValue
			case isSpace(c) || c == '/':
				attrName, state = strings.ToLower(s[nameStart:i-1]), stAfterAttrName
			case c == '>':
				state = stText
			}
		case stBeforeValue:
			switch {
			case c == '"' || c == '\'':
				quote, state = c, stAttrValueQuoted
			case c == '>':
				state = stText
			case isSpace(c):
			default:
				state = stAttrValueUnquoted
			}
		case stAttrValueQuoted:
			if c == quote {
				state = stTagAttrs
			}
		case stAttrValueUnquoted:
			if isSpace(c) {
				state = stTagAttrs
			} else if c == '>' {
				state = stText
			}
		case stComment:
			if c == '>' && strings.HasSuffix(s[:i], "-->") {
				state = stText
			}
		}
	}
	flush()
	return out, nil
}

func isASCIILetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }
func isSpace(c byte) bool       { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' }

// clip bounds user-provided template fragments quoted in error messages.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
