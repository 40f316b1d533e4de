package sources

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// validDoc returns a valid gdpr-document with extra properties merged in.
func validDoc(t *testing.T, extra map[string]any) []byte {
	t.Helper()
	m := map[string]any{
		"_id":                    "share:a.pdf",
		PropDataTypeID:           "hr",
		PropDocumentID:           "share:a.pdf",
		PropExtractContent:       "~rhttp://files.example/content/a.pdf",
		PropOriginalURL:          "~rsmb://fs/a.pdf",
		PropFilesize:             12,
		PropMIMEType:             "application/pdf",
		"gdpr-document:filename": "a.pdf",
	}
	for k, v := range extra {
		m[k] = v
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// _updated is an opaque since-token (SPEC §2): a publisher may write a
// string, a float (Sesam's reference file-share-service writes mtimes) or a
// number beyond int64. None of them makes the entity invalid, and neither do
// the other system properties.
func TestParseDocumentOpaqueSystemProperties(t *testing.T) {
	for _, tc := range []struct {
		name    string
		extra   map[string]any
		raw     string // replaces validDoc when set
		wantSeq int64
	}{
		{name: "integer", extra: map[string]any{"_updated": 42}, wantSeq: 42},
		{name: "string", extra: map[string]any{"_updated": "2024-01-01T00:00:00Z#17"}},
		{name: "float", extra: map[string]any{"_updated": 1712345678.25}},
		{name: "object", extra: map[string]any{"_updated": map[string]any{"a": 1}}},
		{name: "null", extra: map[string]any{"_updated": nil}},
		{name: "system props", extra: map[string]any{"_ts": 1.5, "_hash": 7, "_previous": []any{1}, "_updated": true}},
		{name: "beyond int64", raw: `{"_id":"x","_updated":123456789012345678901234567890,"gdpr-data-type:data-type-id":"hr",` +
			`"gdpr-document:document_id":"x","gdpr-document:extract-content":"~rhttp://h/c/x","gdpr-document:original-url":"~rsmb://fs/x",` +
			`"gdpr-document:filesize":1,"gdpr-document:mime-type":"text/plain"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := []byte(tc.raw)
			if tc.raw == "" {
				raw = validDoc(t, tc.extra)
			}
			d, err := ParseDocument(raw, func(string) bool { return true })
			if err != nil {
				t.Fatalf("rejected: %v", err)
			}
			if d.Seq != tc.wantSeq {
				t.Fatalf("Seq %d, want %d", d.Seq, tc.wantSeq)
			}
		})
	}
}

// Type errors name the property and the expected JSON type, never the value.
func TestParseDocumentErrorsDoNotEchoValues(t *testing.T) {
	for _, tc := range []struct {
		prop   string
		value  any
		secret string
		want   string
	}{
		{PropFilesize, 1.5, "1.5", `"gdpr-document:filesize" must be an integer`},
		{PropFilesize, 98765432109876543210.0, "98765432109876543210", `"gdpr-document:filesize" must be an integer`},
		{PropFilesize, "Kari Nordmann", "Kari", `"gdpr-document:filesize" must be an integer`},
		{PropFilename, 12345678901, "12345678901", `"gdpr-document:filename" must be a string`},
		{PropExtractContent, 5550123, "5550123", `"gdpr-document:extract-content" must be a string`},
		{PropMetadata, []any{"Kari Nordmann"}, "Kari", `"gdpr-document:metadata" must be an object`},
		{"_deleted", "Kari Nordmann", "Kari", `"_deleted" must be a boolean`},
	} {
		_, err := ParseDocument(validDoc(t, map[string]any{tc.prop: tc.value}), nil)
		var ve *ValidationError
		if !errors.As(err, &ve) {
			t.Fatalf("%s=%v: err %v, want a ValidationError", tc.prop, tc.value, err)
		}
		msg := err.Error()
		if strings.Contains(msg, tc.secret) {
			t.Errorf("%s: error echoes the value: %s", tc.prop, msg)
		}
		if !strings.Contains(msg, tc.want) {
			t.Errorf("%s: error %q does not say %q", tc.prop, msg, tc.want)
		}
	}
}
