package search

import (
	"encoding/json"
	"errors"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/docvet/docvet/index/identifiers"
)

// testOpt is a configuration with a customer-number pattern and Norwegian
// national ids, default region NO.
var testOpt = identifiers.Options{
	DefaultRegion: "NO",
	IDs: []identifiers.IDPattern{
		{Name: "customer", Regexp: regexp.MustCompile(`(?i)\bCUST[- ]?\d{3}[- ]?\d{4}\b`), StripSeparators: true},
		{Name: "fnr", Regexp: regexp.MustCompile(`\b\d{6} ?\d{5}\b`), StripSeparators: true, Valid: identifiers.NorwegianNationalID},
	},
}

const testKey = "-----BEGIN PGP PUBLIC KEY BLOCK-----\r\n\r\nxjMEZ...\r\n-----END PGP PUBLIC KEY BLOCK-----\r\n\r\n"

// req builds a request JSON from the required properties plus extra ones
// (nil values delete a property).
func req(t *testing.T, extra map[string]any) []byte {
	t.Helper()
	m := map[string]any{
		PropAccessRequestID: "ar-1",
		PropUserID:          "b3c1e0a4-5f0e-4a57-9a0f-3f1c2d4e5f60",
		PropPublicKey:       testKey,
	}
	for k, v := range extra {
		if v == nil {
			delete(m, k)
			continue
		}
		m[k] = v
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseAccessRequest(t *testing.T) {
	t.Parallel()
	r, err := ParseAccessRequest([]byte(`{
		"_id": "ar-77",
		"gdpr-access-request:access-request-id": " ar-77 ",
		"gdpr-access-request:title": "Innsyn",
		"gdpr-access-request:user-id": "u-1",
		"gdpr-access-request:contactinfo": "Kari.Nordmann@Example.NO",
		"gdpr-access-request:contactinfo-type": "EMAIL",
		"gdpr-access-request:delete-request": "TRUE",
		"gdpr-access-request:lang": "nb_no",
		"gdpr-access-request:public-key": "-----BEGIN PGP PUBLIC KEY BLOCK-----\r\n\r\nx\r\n-----END PGP PUBLIC KEY BLOCK-----\r\n\r\n",
		"gdpr-access-request:timestamp": "1999-01-01T00:00:00Z",
		"gdpr-access-request:identifiers": ["+47 912 34 567", {"kind": "id", "pattern": "customer", "value": "CUST-001-1234"}, {"kind":"name","value":"Bjørn Ødegård"}],
		"gdpr-access-request:custom": {"a": 1},
		"portal:channel": "web"
	}`))
	if err != nil {
		t.Fatal(err)
	}
	want := AccessRequest{
		ID: "ar-77", Title: "Innsyn", UserID: "u-1",
		ContactInfo: "Kari.Nordmann@Example.NO", ContactInfoType: ContactEmail,
		DeleteRequest: true, Lang: "nb-NO",
		PublicKey: "-----BEGIN PGP PUBLIC KEY BLOCK-----\r\n\r\nx\r\n-----END PGP PUBLIC KEY BLOCK-----",
		GivenIdentifiers: []GivenIdentifier{
			{Value: "+47 912 34 567"},
			{Kind: KindID, Pattern: "customer", Value: "CUST-001-1234"},
			{Kind: KindName, Value: "Bjørn Ødegård"},
		},
		Extra: map[string]json.RawMessage{
			"_id":                        json.RawMessage(`"ar-77"`),
			"gdpr-access-request:custom": json.RawMessage(`{"a": 1}`),
			"portal:channel":             json.RawMessage(`"web"`),
		},
	}
	if !reflect.DeepEqual(r, want) {
		t.Fatalf("got  %#v\nwant %#v", r, want)
	}
	if r.Language("en") != "nb-NO" {
		t.Errorf("Language = %q", r.Language("en"))
	}
}

func TestParseAccessRequestDefaults(t *testing.T) {
	t.Parallel()
	r, err := ParseAccessRequest(req(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	if r.ContactInfoType != ContactEmail || r.DeleteRequest || r.Lang != "" || r.Language("no") != "no" ||
		r.Extra != nil || r.GivenIdentifiers != nil || !r.Timestamp.IsZero() {
		t.Fatalf("defaults: %+v", r)
	}
}

func TestParseAccessRequestValues(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		extra map[string]any
		check func(AccessRequest) bool
	}{
		{"delete-request JSON true", map[string]any{PropDeleteRequest: true}, func(r AccessRequest) bool { return r.DeleteRequest }},
		{"delete-request JSON false", map[string]any{PropDeleteRequest: false}, func(r AccessRequest) bool { return !r.DeleteRequest }},
		{"delete-request \"false\"", map[string]any{PropDeleteRequest: "false"}, func(r AccessRequest) bool { return !r.DeleteRequest }},
		{"delete-request \" True \"", map[string]any{PropDeleteRequest: " True "}, func(r AccessRequest) bool { return r.DeleteRequest }},
		{"delete-request null", map[string]any{PropDeleteRequest: json.RawMessage("null")}, func(r AccessRequest) bool { return !r.DeleteRequest }},
		{"phone contact", map[string]any{PropContactInfoType: "phone_number", PropContactInfo: "+47 912 34 567"},
			func(r AccessRequest) bool {
				return r.ContactInfoType == ContactPhone && r.ContactInfo == "+47 912 34 567"
			}},
		{"lang en", map[string]any{PropLang: "EN"}, func(r AccessRequest) bool { return r.Lang == "en" }},
		{"lang en-gb", map[string]any{PropLang: "en-gb"}, func(r AccessRequest) bool { return r.Lang == "en-GB" }},
		{"lang null", map[string]any{PropLang: json.RawMessage("null")}, func(r AccessRequest) bool { return r.Lang == "" }},
		{"title null", map[string]any{PropTitle: json.RawMessage("null")}, func(r AccessRequest) bool { return r.Title == "" }},
		{"input timestamp dropped", map[string]any{PropTimestamp: "2020-01-01T00:00:00Z"},
			func(r AccessRequest) bool { _, kept := r.Extra[PropTimestamp]; return r.Timestamp.IsZero() && !kept }},
		{"identifiers null", map[string]any{PropIdentifiers: json.RawMessage("null")}, func(r AccessRequest) bool { return r.GivenIdentifiers == nil }},
		{"kind phone_number alias", map[string]any{PropIdentifiers: []any{map[string]any{"kind": "phone_number", "value": "91234567"}}},
			func(r AccessRequest) bool { return r.GivenIdentifiers[0].Kind == KindPhone }},
		{"pattern implies id", map[string]any{PropIdentifiers: []any{map[string]any{"pattern": "customer", "value": "CUST0011234"}}},
			func(r AccessRequest) bool { return r.GivenIdentifiers[0].Kind == KindID }},
	}
	for _, tt := range tests {
		r, err := ParseAccessRequest(req(t, tt.extra))
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if !tt.check(r) {
			t.Errorf("%s: %+v", tt.name, r)
		}
	}
}

// secret is a value that must never appear in an error message.
const secret = "kari.secret@example.no"

func TestParseAccessRequestInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		raw  []byte
		want []Problem
	}{
		{"not json", []byte(`{"a": ` + secret), []Problem{{"", "not valid JSON"}}},
		{"array", []byte(`["` + secret + `"]`), []Problem{{"", "not a JSON object"}}},
		{"null", []byte(`null`), []Problem{{"", "not a JSON object"}}},
		{"empty", nil, []Problem{{"", "not a JSON object"}}},
		{"nothing", []byte(`{}`), []Problem{{PropAccessRequestID, "is required"}, {PropUserID, "is required"}, {PropPublicKey, "is required"}}},
		{"blank id", req(t, map[string]any{PropAccessRequestID: "  "}), []Problem{{PropAccessRequestID, "is required"}}},
		{"null user", req(t, map[string]any{PropUserID: json.RawMessage("null")}), []Problem{{PropUserID, "is required"}}},
		{"numeric id", req(t, map[string]any{PropAccessRequestID: 42}), []Problem{{PropAccessRequestID, "must be a string"}}},
		{"key not a string", req(t, map[string]any{PropPublicKey: map[string]any{"k": secret}}), []Problem{{PropPublicKey, "must be a string"}}},
		{"control chars in id", req(t, map[string]any{PropUserID: "u\n1"}), []Problem{{PropUserID, "contains control characters"}}},
		{"long id", req(t, map[string]any{PropAccessRequestID: strings.Repeat("x", MaxIDBytes+1)}), []Problem{{PropAccessRequestID, "longer than 512 bytes"}}},
		{"bad contact type", req(t, map[string]any{PropContactInfoType: "sms"}), []Problem{{PropContactInfoType, `must be "email" or "phone_number"`}}},
		{"email contact not an address", req(t, map[string]any{PropContactInfo: "kari.secret"}),
			[]Problem{{PropContactInfo, "not an e-mail address (contactinfo-type is email)"}}},
		{"phone contact not a number", req(t, map[string]any{PropContactInfoType: "phone_number", PropContactInfo: secret}),
			[]Problem{{PropContactInfo, "not a phone number (contactinfo-type is phone_number)"}}},
		{"bad delete-request", req(t, map[string]any{PropDeleteRequest: "yes"}), []Problem{{PropDeleteRequest, `must be "true" or "false"`}}},
		{"numeric delete-request", req(t, map[string]any{PropDeleteRequest: 1}), []Problem{{PropDeleteRequest, `must be "true" or "false"`}}},
		{"bad lang", req(t, map[string]any{PropLang: "english"}), []Problem{{PropLang, `must be an ISO 639 two-letter code, optionally with an ISO 3166 region ("en", "en-GB")`}}},
		{"bad lang region", req(t, map[string]any{PropLang: "en-G1"}), []Problem{{PropLang, `must be an ISO 639 two-letter code, optionally with an ISO 3166 region ("en", "en-GB")`}}},
		{"identifiers not a list", req(t, map[string]any{PropIdentifiers: secret}), []Problem{{PropIdentifiers, "must be a list"}}},
		{"identifier kinds and values", req(t, map[string]any{PropIdentifiers: []any{
			"",
			42,
			map[string]any{"kind": "ssn", "value": secret},
			map[string]any{"kind": "email", "value": "kari.secret"},
			map[string]any{"kind": "phone", "value": secret},
			map[string]any{"kind": "name", "value": "12345"},
			map[string]any{"kind": "email", "pattern": "customer", "value": secret},
			map[string]any{"kind": "id"},
			map[string]any{"kind": "id", "value": secret, "note": secret},
			"a\tb",
		}}), []Problem{
			{PropIdentifiers + "[0]", "is empty"},
			{PropIdentifiers + "[1]", "must be a string or an object with kind and value"},
			{PropIdentifiers + "[2].kind", `must be "email", "phone", "name" or "id"`},
			{PropIdentifiers + "[3].value", "not an e-mail address"},
			{PropIdentifiers + "[4].value", "not a phone number"},
			{PropIdentifiers + "[5].value", "a name needs letters"},
			{PropIdentifiers + "[6].pattern", `only allowed with kind "id"`},
			{PropIdentifiers + "[7].value", "is empty"},
			{PropIdentifiers + "[8].note", "unknown field (kind, pattern and value are allowed)"},
			{PropIdentifiers + "[9]", "contains control characters"},
		}},
		{"too many identifiers", req(t, map[string]any{PropIdentifiers: make([]string, MaxRequestIdentifiers+1)}),
			[]Problem{{PropIdentifiers, "more than 100 entries"}}},
		{"several problems at once", req(t, map[string]any{PropUserID: nil, PropLang: "x", PropContactInfoType: "fax"}),
			[]Problem{{PropUserID, "is required"}, {PropContactInfoType, `must be "email" or "phone_number"`}, {PropLang, `must be an ISO 639 two-letter code, optionally with an ISO 3166 region ("en", "en-GB")`}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseAccessRequest(tt.raw)
			var ve *ValidationError
			if !errors.As(err, &ve) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v (%T)", err, err)
			}
			if !reflect.DeepEqual(ve.Problems, tt.want) {
				t.Errorf("problems\n got %q\nwant %q", ve.Problems, tt.want)
			}
			if !reflect.DeepEqual(r, AccessRequest{}) {
				t.Errorf("invalid request returned: %+v", r)
			}
			if msg := err.Error(); strings.Contains(msg, "kari") || strings.Contains(msg, "secret") || strings.Contains(msg, "xjMEZ") {
				t.Errorf("error echoes a value: %s", msg)
			}
			if ve.Dataset != DatasetAccessRequest {
				t.Errorf("dataset %q", ve.Dataset)
			}
		})
	}
}

func TestAccessRequestJSONRoundTrip(t *testing.T) {
	t.Parallel()
	in, err := ParseAccessRequest(req(t, map[string]any{
		"_id":              "x",
		PropTitle:          "T",
		PropLang:           "en",
		PropContactInfo:    "kari@example.no",
		PropDeleteRequest:  true,
		PropIdentifiers:    []any{"plain", map[string]any{"kind": "id", "pattern": "customer", "value": "CUST-001-1234"}},
		"portal:something": []int{1, 2},
	}))
	if err != nil {
		t.Fatal(err)
	}
	in.Timestamp = time.Date(2026, 3, 1, 12, 0, 0, 5, time.FixedZone("x", 3600))
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m[PropDeleteRequest] != "true" || m[PropContactInfoType] != "email" || m[PropTimestamp] != "2026-03-01T11:00:00.000000005Z" {
		t.Errorf("wire form: %s", b)
	}
	ids := m[PropIdentifiers].([]any)
	if ids[0] != "plain" || ids[1].(map[string]any)["pattern"] != "customer" {
		t.Errorf("identifiers written as %v", ids)
	}
	var out AccessRequest
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if !out.Timestamp.Equal(in.Timestamp) {
		t.Errorf("timestamp %v != %v", out.Timestamp, in.Timestamp)
	}
	in.Timestamp, out.Timestamp = time.Time{}, time.Time{}
	if !reflect.DeepEqual(normExtra(in), normExtra(out)) {
		t.Errorf("round trip\n in %+v\nout %+v", in, out)
	}
	// The stored form's timestamp must be valid.
	bad := strings.Replace(string(b), "2026-03-01T11:00:00.000000005Z", "yesterday", 1)
	if err := json.Unmarshal([]byte(bad), &out); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad stored timestamp: %v", err)
	}
}

// normExtra compacts Extra values so equal JSON compares equal.
func normExtra(r AccessRequest) AccessRequest {
	m := map[string]json.RawMessage{}
	for k, v := range r.Extra {
		var x any
		json.Unmarshal(v, &x)
		b, _ := json.Marshal(x)
		m[k] = b
	}
	r.Extra = m
	return r
}

func TestParseSubject(t *testing.T) {
	t.Parallel()
	s, err := ParseSubject([]byte(`{"_id":"s1","gdpr-subject:subject-id":"u-1","gdpr-subject:identifier":[" kari@example.no ","CUST-001-1234"],"x":1}`))
	if err != nil {
		t.Fatal(err)
	}
	if s.ID != "u-1" || !reflect.DeepEqual(s.Identifiers, []string{"kari@example.no", "CUST-001-1234"}) || len(s.Extra) != 2 {
		t.Fatalf("%+v", s)
	}
	one, err := ParseSubject([]byte(`{"gdpr-subject:subject-id":"u-1","gdpr-subject:identifier":"kari@example.no"}`))
	if err != nil || !reflect.DeepEqual(one.Identifiers, []string{"kari@example.no"}) {
		t.Fatalf("single string: %+v %v", one, err)
	}
	b, _ := json.Marshal(s)
	var back map[string]any
	json.Unmarshal(b, &back)
	if back[PropSubjectID] != "u-1" || len(back[PropSubjectIdentifier].([]any)) != 2 || back["_id"] != "s1" {
		t.Errorf("marshal: %s", b)
	}

	bad := []struct {
		raw  string
		want []Problem
	}{
		{`{}`, []Problem{{PropSubjectID, "is required"}, {PropSubjectIdentifier, "is required"}}},
		{`{"gdpr-subject:subject-id":"u","gdpr-subject:identifier":[]}`, []Problem{{PropSubjectIdentifier, "needs at least one identifier"}}},
		{`{"gdpr-subject:subject-id":"u","gdpr-subject:identifier":["kari.secret", 3]}`, []Problem{{PropSubjectIdentifier, "must be a list of strings"}}},
		{`{"gdpr-subject:subject-id":"u","gdpr-subject:identifier":["kari.secret", " "]}`, []Problem{{PropSubjectIdentifier + "[1]", "is empty"}}},
		{`{"gdpr-subject:subject-id":7,"gdpr-subject:identifier":["a"]}`, []Problem{{PropSubjectID, "must be a string"}}},
		{`[]`, []Problem{{"", "not a JSON object"}}},
	}
	for _, tt := range bad {
		_, err := ParseSubject([]byte(tt.raw))
		var ve *ValidationError
		if !errors.As(err, &ve) {
			t.Errorf("%s: err = %v", tt.raw, err)
			continue
		}
		if !reflect.DeepEqual(ve.Problems, tt.want) || ve.Dataset != DatasetSubject {
			t.Errorf("%s: problems %q", tt.raw, ve.Problems)
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("error echoes a value: %v", err)
		}
	}
}

func TestClassify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		kind    IdentifierKind
		pattern string
		norm    string
		ok      bool
	}{
		{"Kari.Nordmann@Example.NO", KindEmail, "", "kari.nordmann@example.no", true},
		{" <KARI@example.no> ", KindEmail, "", "kari@example.no", true},
		{"mailto:kari@example.no", KindEmail, "", "kari@example.no", true},
		{"+47 912 34 567", KindPhone, "", "+4791234567", true},
		{"0047 91234567", KindPhone, "", "+4791234567", true},
		{"912 34 567", KindPhone, "", "+4791234567", true},
		{"(+47) 912-34-567", KindPhone, "", "+4791234567", true},
		{"tel:+4791234567", KindPhone, "", "+4791234567", true},
		{"+44 20 7946 0958", KindPhone, "", "+442079460958", true},
		{"cust-001-1234", KindID, "customer", "CUST0011234", true},
		{"CUST 0011234", KindID, "customer", "CUST0011234", true},
		{"150765 00565", KindID, "fnr", "15076500565", true},
		{"15076500566", KindID, "", "15076500566", true}, // bad check digits: not an fnr, not a phone
		{"Bjørn Ødegård", KindName, "", "bjorn odegard", true},
		{"ØDEGÅRD, Bjørn", KindName, "", "bjorn odegard", true},
		{"José María Núñez-García", KindName, "", "jose maria nunez garcia", true},
		{"O'Brien", KindName, "", "o'brien", true},
		{"Straße", KindName, "", "strasse", true},
		{"kari@example", KindID, "", "KARI@EXAMPLE", true}, // no TLD: not an address
		{"b3c1e0a4-5f0e-4a57-9a0f-3f1c2d4e5f60", KindID, "", "B3C1E0A4-5F0E-4A57-9A0F-3F1C2D4E5F60", true},
		{"Kari  Nordmann 2", KindID, "", "KARI NORDMANN 2", true},
		{"12345", KindID, "", "12345", true}, // too short for a phone
		{"---", "", "", "", false},
		{"  ", "", "", "", false},
	}
	for _, tt := range tests {
		id, ok := Classify(tt.in, testOpt)
		if ok != tt.ok || id.Kind != tt.kind || id.Pattern != tt.pattern || id.Normalized != tt.norm {
			t.Errorf("Classify(%q) = %+v, %v; want %s/%s %q %v", tt.in, id, ok, tt.kind, tt.pattern, tt.norm, tt.ok)
		}
		if ok && id.Value != strings.TrimSpace(tt.in) {
			t.Errorf("Classify(%q) value %q", tt.in, id.Value)
		}
	}
	// Another default region reads national numbers differently.
	se := identifiers.Options{DefaultRegion: "SE"}
	if id, _ := Classify("070-123 45 67", se); id.Kind != KindPhone || id.Normalized != "+46701234567" {
		t.Errorf("SE phone: %+v", id)
	}
}

func TestIdentifiers(t *testing.T) {
	t.Parallel()
	subjects := []Subject{
		{ID: "u-1", Identifiers: []string{"KARI@example.no", "+47 912 34 567", "CUST-001-1234", "Kari Nordmann", "—"}},
		{ID: "u-2", Identifiers: []string{"other@example.no"}},
		{ID: "u-1", Identifiers: []string{"kari.nordmann@work.example.com", "Nordmann, Kari"}},
	}
	r, err := ParseAccessRequest(req(t, map[string]any{
		PropUserID:      "u-1",
		PropContactInfo: "Kari@Example.no",
		PropIdentifiers: []any{
			"0047 91234567",
			map[string]any{"kind": "name", "value": "Bjørn Ødegård"},
			map[string]any{"kind": "name", "value": "bjorn odegard"},
			map[string]any{"kind": "phone", "value": "123456"},
			map[string]any{"kind": "id", "pattern": "customer", "value": "cust 0011234"},
			map[string]any{"kind": "id", "pattern": "unknown", "value": "AB-12"},
			map[string]any{"kind": "id", "value": "150765 00565"},
		},
	}))
	if err != nil {
		t.Fatal(err)
	}
	ids, skipped := r.CollectIdentifiers(subjects, testOpt)
	want := []Identifier{
		{Kind: KindEmail, Value: "Kari@Example.no", Normalized: "kari@example.no"},
		{Kind: KindPhone, Value: "0047 91234567", Normalized: "+4791234567"},
		{Kind: KindName, Value: "Bjørn Ødegård", Normalized: "bjorn odegard"},
		{Kind: KindID, Pattern: "customer", Value: "cust 0011234", Normalized: "CUST0011234"},
		{Kind: KindID, Value: "AB-12", Normalized: "AB-12"},
		{Kind: KindID, Pattern: "fnr", Value: "150765 00565", Normalized: "15076500565"},
		{Kind: KindName, Value: "Kari Nordmann", Normalized: "kari nordmann"},
		{Kind: KindEmail, Value: "kari.nordmann@work.example.com", Normalized: "kari.nordmann@work.example.com"},
	}
	if !reflect.DeepEqual(ids, want) {
		t.Errorf("identifiers:\n got %+v\nwant %+v", ids, want)
	}
	wantSkipped := []Skipped{
		{From: PropIdentifiers + "[3]", Kind: KindPhone, Reason: "not a valid phone number (for the configured default region)"},
		{From: PropSubjectIdentifier + "[4] (subject 1)", Reason: "nothing searchable (no letters or digits)"},
	}
	if !reflect.DeepEqual(skipped, wantSkipped) {
		t.Errorf("skipped:\n got %+v\nwant %+v", skipped, wantSkipped)
	}
	if got := r.Identifiers(subjects, testOpt); !reflect.DeepEqual(got, ids) {
		t.Errorf("Identifiers differs from CollectIdentifiers")
	}
	for _, s := range skipped {
		if strings.Contains(s.From+s.Reason, "123456") {
			t.Errorf("skipped names a value: %+v", s)
		}
	}
}

func TestIdentifiersUserID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		userID string
		want   []Identifier
	}{
		{"b3c1e0a4-5f0e-4a57-9a0f-3f1c2d4e5f60", nil}, // opaque UUID: not searched
		{"12345678", nil}, // a database key that is also a valid NO number
		{"91234567", nil},
		{"user-8812", nil},
		{"Kari@Example.no", []Identifier{{Kind: KindEmail, Value: "Kari@Example.no", Normalized: "kari@example.no"}}},
		{"CUST-001-1234", []Identifier{{Kind: KindID, Pattern: "customer", Value: "CUST-001-1234", Normalized: "CUST0011234"}}},
	}
	for _, tt := range tests {
		r, err := ParseAccessRequest(req(t, map[string]any{PropUserID: tt.userID}))
		if err != nil {
			t.Fatal(err)
		}
		if got := r.Identifiers(nil, testOpt); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("user-id %q: %+v", tt.userID, got)
		}
	}
	// The user-id's e-mail is deduplicated against the contact info.
	r, _ := ParseAccessRequest(req(t, map[string]any{PropUserID: "KARI@example.no", PropContactInfo: "kari@EXAMPLE.no"}))
	if got := r.Identifiers(nil, testOpt); len(got) != 1 || got[0].Value != "kari@EXAMPLE.no" {
		t.Errorf("dedup with user-id: %+v", got)
	}
	// A phone contact is normalised with the configured region.
	r, _ = ParseAccessRequest(req(t, map[string]any{PropContactInfoType: "phone_number", PropContactInfo: "070-123 45 67"}))
	if got := r.Identifiers(nil, identifiers.Options{DefaultRegion: "SE"}); len(got) != 1 || got[0].Normalized != "+46701234567" {
		t.Errorf("SE contact: %+v", got)
	}
	if got, skipped := r.CollectIdentifiers(nil, identifiers.Options{DefaultRegion: "NO"}); len(got) != 0 || len(skipped) != 1 || skipped[0].From != PropContactInfo {
		t.Errorf("NO reading of a SE number: %+v %+v", got, skipped)
	}
}

// Names must normalise to exactly the terms the index's folded analyzer
// produced, or a phrase query misses them.
func TestNameNormalisationMatchesIndexFold(t *testing.T) {
	t.Parallel()
	analyze, err := foldedAnalyzer()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"Bjørn Ødegård", "ÆSE Ærlig", "Zoë Saldaña-Pérez", "Łukasz Żółć", "François d'Aubigné"} {
		id, ok := Classify(name, testOpt)
		if !ok || id.Kind != KindName {
			t.Fatalf("%q: %+v", name, id)
		}
		if want := strings.Join(analyze([]byte(strings.ToUpper(name))), " "); id.Normalized != want {
			t.Errorf("%q -> %q, index terms of the upper-cased text %q", name, id.Normalized, want)
		}
		if strings.ContainsFunc(id.Normalized, func(r rune) bool { return r > 0x7f }) {
			t.Errorf("%q not folded: %q", name, id.Normalized)
		}
	}
}

func FuzzParseAccessRequest(f *testing.F) {
	f.Add([]byte(`{"gdpr-access-request:access-request-id":"a","gdpr-access-request:user-id":"u","gdpr-access-request:public-key":"k","gdpr-access-request:identifiers":["x",{"kind":"id","value":"y"}]}`))
	f.Add([]byte(`{"gdpr-access-request:delete-request":"true","gdpr-access-request:lang":"en-GB"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		r, err := ParseAccessRequest(raw)
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Problems) == 0 {
				t.Fatalf("error without problems: %v", err)
			}
			return
		}
		if r.ID == "" || r.UserID == "" || r.PublicKey == "" {
			t.Fatalf("accepted without required fields: %+v", r)
		}
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var back AccessRequest
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("own output refused: %v\n%s", err, b)
		}
		_ = r.Identifiers(nil, testOpt)
	})
}
