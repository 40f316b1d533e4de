package delivery

import (
	"encoding/json"

	"github.com/docvet/docvet/vetting"
)

// Decision is the stored form of a reviewer's vetting.RowDecision (the
// JSON kept in store.Decision.Decision). Text and metadata values are
// personal data: never log them.
type Decision struct {
	IndexID      string                 `json:"index_id,omitempty"`
	Sheet        string                 `json:"sheet,omitempty"`
	Row          int                    `json:"row,omitempty"`
	Withheld     bool                   `json:"withheld,omitempty"`
	FileWithheld bool                   `json:"file_withheld,omitempty"`
	HasText      bool                   `json:"has_text,omitempty"`
	Text         string                 `json:"text,omitempty"`
	Metadata     []vetting.MetadataEdit `json:"metadata,omitempty"`
}

// FromRow converts an imported row decision to its stored form.
func FromRow(d vetting.RowDecision) Decision {
	return Decision{IndexID: d.IndexID, Sheet: d.Sheet, Row: d.Row, Withheld: d.Withheld,
		FileWithheld: d.FileWithheld, HasText: d.HasText, Text: d.Text, Metadata: d.Metadata}
}

// ApplyMetadata returns a copy of md with the reviewer's edits applied: a
// cleared key is removed, an edited one set to the typed text. Keys are
// the workbook's flattened keys (vetting.SplitMetadataKey undoes them);
// nested objects on the path are copied, never shared with md.
func ApplyMetadata(md map[string]any, edits []vetting.MetadataEdit) map[string]any {
	out := deepCopy(md)
	for _, e := range edits {
		path := vetting.SplitMetadataKey(e.Key)
		if len(path) == 0 {
			continue
		}
		cur := out
		ok := true
		for _, k := range path[:len(path)-1] {
			next, isMap := cur[k].(map[string]any)
			if !isMap {
				if e.Cleared {
					ok = false // nothing to clear below a scalar or a missing key
					break
				}
				next = map[string]any{}
				cur[k] = next
			}
			cur = next
		}
		if !ok {
			continue
		}
		last := path[len(path)-1]
		if e.Cleared {
			delete(cur, last)
		} else {
			cur[last] = e.Value
		}
	}
	return out
}

func deepCopy(md map[string]any) map[string]any {
	out := make(map[string]any, len(md))
	for k, v := range md {
		switch t := v.(type) {
		case map[string]any:
			out[k] = deepCopy(t)
		case []any:
			// Arrays are shown and edited as JSON text; an untouched one is
			// delivered as it was. Round-trip to copy it.
			b, err := json.Marshal(t)
			var c []any
			if err == nil && json.Unmarshal(b, &c) == nil {
				out[k] = c
			} else {
				out[k] = t
			}
		default:
			out[k] = v
		}
	}
	return out
}
