package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"

	"github.com/docvet/docvet/sources"
	"github.com/docvet/docvet/store"
)

// Stored datasets.
const (
	datasetDocuments      = "custom-documents"
	datasetDataTypes      = "gdpr-data-type"
	datasetAccessRequests = "gdpr-access-request"
	sourceDatasetPrefix   = "source:"
)

// checked is the outcome of validating one incoming entity: a write to
// apply, or a reason to reject it. id is set whenever the entity named one.
type checked struct {
	index  int
	id     string
	write  store.Write
	reason string // non-empty: rejected
	// then, when set, runs in the push's transaction after write is stored
	// (e.g. an access request's lifecycle row).
	then func(*store.Tx) error
}

func (c checked) ok() bool { return c.reason == "" }

// decodeObject decodes an entity into a map (numbers kept as written) and
// reads its _id and _deleted.
func decodeObject(raw json.RawMessage) (m map[string]any, id string, deleted bool, problems []string) {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || t[0] != '{' {
		return nil, "", false, []string{"entity is not a JSON object"}
	}
	d := json.NewDecoder(bytes.NewReader(t))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		return nil, "", false, []string{"entity is not a JSON object"}
	}
	switch v := m["_id"].(type) {
	case nil:
	case string:
		id = v
	default:
		problems = append(problems, "_id must be a string")
	}
	switch v := m["_deleted"].(type) {
	case nil:
	case bool:
		deleted = v
	default:
		problems = append(problems, "_deleted must be a boolean")
	}
	return m, id, deleted, problems
}

func reject(index int, id string, problems []string) checked {
	return checked{index: index, id: id, reason: strings.Join(problems, "; ")}
}

// checkDocument validates a gdpr-document (SPEC §1) for a dataset whose
// extract-content URLs must lie under one of bases.
func (s *Server) checkDocument(index int, raw json.RawMessage, bases []contentBase, what string) checked {
	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '{' {
		return reject(index, "", []string{"entity is not a JSON object"})
	}
	var problems []string
	doc, err := sources.ParseDocument(raw, s.types.known)
	id, deleted := doc.ID, doc.Deleted
	var ve *sources.ValidationError
	if errors.As(err, &ve) {
		problems = append(problems, ve.Problems...)
		if id == "" {
			id = ve.ID
		}
	} else if err != nil {
		problems = append(problems, "malformed entity")
	}
	if !deleted && doc.ExtractContent != "" && !strings.Contains(strings.Join(problems, ";"), sources.PropExtractContent) {
		allowed := false
		for _, b := range bases {
			if b.allows(string(doc.ExtractContent)) {
				allowed = true
				break
			}
		}
		if !allowed {
			msg := sources.PropExtractContent + " is not under an allowed content base"
			if len(bases) == 0 {
				msg += " (none configured for " + what + ")"
			} else {
				msg += " (see the " + what + " content base)"
			}
			problems = append(problems, msg)
		}
	}
	if len(problems) > 0 {
		return reject(index, id, problems)
	}
	return checked{index: index, id: id, write: store.Write{ID: id, Deleted: deleted, Body: raw}}
}

// checkDataType validates a gdpr-data-type entity; its _id becomes the
// data-type-id.
func (s *Server) checkDataType(index int, raw json.RawMessage) checked {
	m, id, deleted, problems := decodeObject(raw)
	if len(problems) > 0 {
		return reject(index, id, problems)
	}
	known, extra := dataTypeProps(m)
	if deleted {
		if v, ok := known[dtID].(string); ok && strings.TrimSpace(v) != "" {
			id = strings.TrimSpace(v)
		}
		if id == "" {
			return reject(index, "", []string{"missing " + dtPrefix + dtID})
		}
		return checked{index: index, id: id, write: store.Write{ID: id, Deleted: true}}
	}
	dtid, body, problems := normalizeDataType(known)
	if dtid != "" {
		id = dtid
	}
	if len(problems) > 0 {
		return reject(index, id, problems)
	}
	for k, v := range extra {
		body[k] = v
	}
	return checked{index: index, id: id, write: store.Write{ID: id, Body: mustJSON(body)}}
}
