package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/mail"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/docvet/docvet/store"
)

// Data type properties (SPEC §3, seed 001 "GDPR data type").
const (
	dtPrefix      = "gdpr-data-type:"
	dtID          = "data-type-id"
	dtLevel       = "level"
	dtDescription = "description"
	dtContact     = "contact"
	dtPurposeID   = "purpose-id"
	dtSystemID    = "system-id"
)

// dataTypeLevels returns the valid data type levels, stored lower-case.
func dataTypeLevels() []string { return []string{"sensitive", "personal", "related"} }

// langDescRE matches the language-qualified descriptions: description-en,
// description-en-GB, and the seed's en-description form.
var langDescRE = regexp.MustCompile(`^(description-[a-z]{2}(-[a-z]{2})?|[a-z]{2}(-[a-z]{2})?-description)$`)

// dataTypeFields are the properties the setup spreadsheet may carry.
func isDataTypeField(name string) bool {
	switch name {
	case dtID, dtLevel, dtDescription, dtContact, dtPurposeID, dtSystemID:
		return true
	}
	return langDescRE.MatchString(name)
}

// normalizeDataType validates a data type given as unprefixed property names
// (values as decoded from JSON or read from a cell) and returns its stored
// body (prefixed names, lower-case level, purpose-id as a list) and id.
// Only the known properties are read (see isDataTypeField); the caller keeps
// others. Problems name properties, never values.
func normalizeDataType(props map[string]any) (id string, body map[string]any, problems []string) {
	body = map[string]any{}
	str := func(name string) (string, bool) {
		v, ok := props[name]
		if !ok || v == nil {
			return "", true
		}
		s, isStr := v.(string)
		if !isStr {
			problems = append(problems, dtPrefix+name+" must be a string")
			return "", false
		}
		return strings.TrimSpace(s), true
	}
	if s, ok := str(dtID); ok && s == "" {
		problems = append(problems, "missing "+dtPrefix+dtID)
	} else if ok {
		id = s
		body[dtPrefix+dtID] = id
	}
	if lv, ok := str(dtLevel); ok {
		lv = strings.ToLower(lv)
		switch {
		case lv == "":
			problems = append(problems, "missing "+dtPrefix+dtLevel)
		case !containsStr(dataTypeLevels(), lv):
			problems = append(problems, dtPrefix+dtLevel+" must be one of "+strings.Join(dataTypeLevels(), ", "))
		default:
			body[dtPrefix+dtLevel] = lv
		}
	}
	for name := range props {
		if name == dtDescription || langDescRE.MatchString(name) {
			if s, ok := str(name); ok && s != "" {
				body[dtPrefix+name] = s
			}
		}
	}
	if s, ok := str(dtSystemID); ok && s != "" {
		body[dtPrefix+dtSystemID] = s
	}
	if v, ok := props[dtContact]; ok && v != nil {
		var list []string
		switch c := v.(type) {
		case string:
			list = splitList(c)
		case []any:
			for _, e := range c {
				s, isStr := e.(string)
				if !isStr {
					problems = append(problems, dtPrefix+dtContact+" must be a string of comma-separated e-mail addresses")
					list = nil
					break
				}
				list = append(list, splitList(s)...)
			}
		default:
			problems = append(problems, dtPrefix+dtContact+" must be a string of comma-separated e-mail addresses")
		}
		bad := 0
		for _, a := range list {
			if !validEmail(a) {
				bad++
			}
		}
		if bad > 0 {
			problems = append(problems, fmt.Sprintf("%s%s: %d of %d addresses are not valid e-mail addresses", dtPrefix, dtContact, bad, len(list)))
		} else if len(list) > 0 {
			body[dtPrefix+dtContact] = strings.Join(list, ",")
		}
	}
	if v, ok := props[dtPurposeID]; ok && v != nil {
		var list []string
		switch p := v.(type) {
		case string:
			list = splitList(p)
		case []any:
			for _, e := range p {
				s, isStr := e.(string)
				if !isStr {
					problems = append(problems, dtPrefix+dtPurposeID+" must be a list of strings")
					list = nil
					break
				}
				if s = strings.TrimSpace(s); s != "" {
					list = append(list, s)
				}
			}
		default:
			problems = append(problems, dtPrefix+dtPurposeID+" must be a list of strings or a comma-separated string")
		}
		if list != nil {
			body[dtPrefix+dtPurposeID] = list
		}
	}
	sort.Strings(problems)
	return id, body, problems
}

// validEmail accepts a bare address (no display name, no angle brackets).
func validEmail(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Name == "" && a.Address == s && strings.Contains(s[strings.LastIndexByte(s, '@')+1:], ".")
}

func containsStr(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// dataTypes caches the registered data-type ids (the live entities of the
// gdpr-data-type dataset) for document validation.
type dataTypes struct {
	// loadMu makes a reload's read and swap one step: otherwise two
	// concurrent reloads could install the older snapshot last and the
	// cache would go backwards.
	loadMu sync.Mutex
	mu     sync.RWMutex
	ids    map[string]bool
	// gen counts reloads that added ids. A check that saw generation g and
	// rejected a document for an unknown type may be stale once gen != g.
	gen atomic.Uint64
}

func (d *dataTypes) known(id string) bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.ids[id]
}

// generation returns the current generation (see gen).
func (d *dataTypes) generation() uint64 { return d.gen.Load() }

// reload rereads the registered ids and returns those that are new. When
// there are some, the generation is advanced before reload returns.
func (d *dataTypes) reload(ctx context.Context, st *store.Store) ([]string, error) {
	d.loadMu.Lock()
	defer d.loadMu.Unlock()
	ids := map[string]bool{}
	err := st.Since(ctx, datasetDataTypes, 0, 0, func(e store.Entity) error {
		if !e.Deleted {
			ids[e.ID] = true
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	var added []string
	for id := range ids {
		if !d.ids[id] {
			added = append(added, id)
		}
	}
	d.ids = ids
	if len(added) > 0 {
		d.gen.Add(1)
	}
	return added, nil
}

// dataTypeProps splits a pushed entity's properties into the known data
// type fields (unprefixed names, for normalizeDataType; a prefixed name wins
// over an unprefixed one) and the rest, kept verbatim. System properties are
// dropped.
func dataTypeProps(m map[string]any) (known, extra map[string]any) {
	known, extra = map[string]any{}, map[string]any{}
	for k, v := range m {
		if strings.HasPrefix(k, "_") {
			continue
		}
		name, prefixed := strings.CutPrefix(k, dtPrefix)
		switch {
		case !isDataTypeField(name):
			extra[k] = v
		case prefixed:
			known[name] = v
		default:
			if _, dup := m[dtPrefix+k]; !dup {
				known[name] = v
			}
		}
	}
	return known, extra
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only maps of JSON-decoded values reach here
	}
	return b
}

func (d *dataTypes) count() int {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return len(d.ids)
}
