package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/docvet/docvet/store"
)

const arIn = "gdpr-access-request-in"

func q(seq, req, prev string, first, last bool) string {
	s := "is_full=true&sequence_id=" + seq + "&request_id=" + req
	if prev != "" {
		s += "&previous_request_id=" + prev
	}
	if first {
		s += "&is_first=true"
	}
	if last {
		s += "&is_last=true"
	}
	return s
}

func wantLive(t *testing.T, e *env, dataset string, ids ...string) {
	t.Helper()
	got := slices.Sorted(maps.Keys(e.live(dataset)))
	slices.Sort(ids)
	if !slices.Equal(got, ids) {
		t.Fatalf("live %s = %v, want %v", dataset, got, ids)
	}
}

func TestFullSyncSequence(t *testing.T) {
	e := newEnv(t, nil)
	ds := datasetAccessRequests
	if r := e.push(arIn, "", arArray("a", "b", "c")); r.status != 200 {
		t.Fatalf("incremental: %d %s", r.status, r.body)
	}
	wantLive(t, e, ds, "a", "b", "c")

	// First batch: nothing is deleted before is_last.
	if r := e.push(arIn, q("s1", "r1", "", true, false), arArray("a")); r.status != 200 {
		t.Fatalf("first: %d %s", r.status, r.body)
	}
	wantLive(t, e, ds, "a", "b", "c")
	// Middle batch with a new entity.
	if r := e.push(arIn, q("s1", "r2", "r1", false, false), arArray("b", "d")); r.status != 200 {
		t.Fatalf("middle: %d %s", r.status, r.body)
	}
	wantLive(t, e, ds, "a", "b", "c", "d")
	// Last batch (empty): c was not seen in the sequence and is deleted.
	r := e.push(arIn, q("s1", "r3", "r2", false, true), "[]")
	if r.status != 200 {
		t.Fatalf("last: %d %s", r.status, r.body)
	}
	if pr := r.result(t); pr.Deleted != 1 {
		t.Fatalf("deleted = %d, want 1: %s", pr.Deleted, r.body)
	}
	wantLive(t, e, ds, "a", "b", "d")
	c, err := e.st.Get(context.Background(), ds, "c")
	if err != nil || !c.Deleted {
		t.Fatalf("c should be a tombstone: %+v %v", c, err)
	}

	// Incremental pushes never delete what they do not mention.
	if r := e.push(arIn, "sequence_id=x&request_id=y", arArray("e")); r.status != 200 {
		t.Fatalf("incremental: %d %s", r.status, r.body)
	}
	wantLive(t, e, ds, "a", "b", "d", "e")
	// An explicit _deleted entity is a delete.
	if r := e.push(arIn, "", `{"_id":"e","_deleted":true}`); r.status != 200 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	wantLive(t, e, ds, "a", "b", "d")

	// A one-request full sync (first and last) replaces everything.
	r = e.push(arIn, q("s2", "only", "", true, true), arArray("z"))
	if r.status != 200 || r.result(t).Deleted != 3 {
		t.Fatalf("single-request full sync: %d %s", r.status, r.body)
	}
	wantLive(t, e, ds, "z")
}

func TestFullSyncKeepsRejectedButHeldEntities(t *testing.T) {
	e := newEnv(t, nil)
	ds := datasetAccessRequests
	e.push(arIn, "", arArray("a", "b"))
	// b's new version lacks user-id: rejected, but the sender still holds b,
	// so the full sync must not delete the stored version.
	bad := `[` + accessRequest("a") + `,{"_id":"b","gdpr-access-request:access-request-id":"b","gdpr-access-request:public-key":"k"}]`
	r := e.push(arIn, q("s", "r1", "", true, true), bad)
	if r.status != 422 {
		t.Fatalf("status %d %s", r.status, r.body)
	}
	wantLive(t, e, ds, "a", "b")
}

func TestPushConflicts(t *testing.T) {
	cases := []struct {
		name  string
		setup []string // queries pushed first (each must succeed)
		query string
		want  string
	}{
		{"unknown sequence without is_first", nil, q("nope", "r1", "r0", false, false), "unknown sequence_id"},
		{"replaced sequence", []string{q("s1", "a1", "", true, false), q("s2", "b1", "", true, false)}, q("s1", "a2", "a1", false, false), "unknown sequence_id"},
		{"previous_request_id mismatch", []string{q("s1", "r1", "", true, false)}, q("s1", "r3", "r2", false, false), "previous_request_id"},
		{"missing previous_request_id", []string{q("s1", "r1", "", true, false)}, q("s1", "r2", "", false, false), "previous_request_id"},
		{"request after is_last", []string{q("s1", "r1", "", true, true)}, q("s1", "r2", "r1", false, false), "already ended"},
		{"incremental inside a full sequence", []string{q("s1", "r1", "", true, false)}, "is_full=false&sequence_id=s1&request_id=r2&previous_request_id=r1", "is_full=false"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			for i, sq := range tc.setup {
				if r := e.push(arIn, sq, arArray(fmt.Sprintf("setup%d", i))); r.status != 200 {
					t.Fatalf("setup push %d: %d %s", i, r.status, r.body)
				}
			}
			before := e.lastSeq(datasetAccessRequests)
			r := e.push(arIn, tc.query, arArray("new"))
			if r.status != 409 {
				t.Fatalf("status %d, want 409: %s", r.status, r.body)
			}
			mustContain(t, "409 body", r.body, tc.want, "is_first=true")
			if e.live(datasetAccessRequests)["new"] || e.lastSeq(datasetAccessRequests) != before {
				t.Fatal("a refused request changed the dataset")
			}
			// The sender recovers by restarting the sequence.
			if r := e.push(arIn, q("again", "x1", "", true, true), arArray("new")); r.status != 200 {
				t.Fatalf("restart: %d %s", r.status, r.body)
			}
			wantLive(t, e, datasetAccessRequests, "new")
		})
	}
}

func TestPushRetryIsIdempotent(t *testing.T) {
	e := newEnv(t, nil)
	ds := datasetAccessRequests
	e.push(arIn, "", arArray("old"))
	for i := range 2 { // the first request, retried
		r := e.push(arIn, q("s", "r1", "", true, false), arArray("a"))
		if r.status != 200 {
			t.Fatalf("try %d: %d %s", i, r.status, r.body)
		}
	}
	seq := e.lastSeq(ds)
	for i := range 2 { // a middle request, retried
		r := e.push(arIn, q("s", "r2", "r1", false, false), arArray("b"))
		if r.status != 200 {
			t.Fatalf("try %d: %d %s", i, r.status, r.body)
		}
		if i == 1 && r.result(t).Changed != 0 {
			t.Fatalf("retry wrote new versions: %s", r.body)
		}
	}
	if got := e.lastSeq(ds); got != seq+1 {
		t.Fatalf("sequence moved from %d to %d, want one new version", seq, got)
	}
	for i := range 2 { // the last request, retried after the sequence ended
		r := e.push(arIn, q("s", "r3", "r2", false, true), arArray("c"))
		if r.status != 200 {
			t.Fatalf("last try %d: %d %s", i, r.status, r.body)
		}
		if pr := r.result(t); i == 1 && !pr.Duplicate {
			t.Fatalf("retried last request not reported as duplicate: %s", r.body)
		}
	}
	wantLive(t, e, ds, "a", "b", "c")
	// A late incremental entity is not swept by a retried is_last.
	e.push(arIn, "", arArray("late"))
	e.push(arIn, q("s", "r3", "r2", false, true), arArray("c"))
	wantLive(t, e, ds, "a", "b", "c", "late")
}

func TestPushStateSurvivesRestart(t *testing.T) {
	e := newEnv(t, nil)
	e.push(arIn, "", arArray("gone"))
	if r := e.push(arIn, q("s", "r1", "", true, false), arArray("a")); r.status != 200 {
		t.Fatal(r.status)
	}
	e.restart()
	if r := e.push(arIn, q("s", "r2", "r1", false, true), arArray("b")); r.status != 200 {
		t.Fatalf("after restart: %d %s", r.status, r.body)
	}
	wantLive(t, e, datasetAccessRequests, "a", "b")
}

func TestPushBadInput(t *testing.T) {
	const base = "http://files.example:8081/content/"
	good := document("good", "hr", base+"good.pdf")
	cases := []struct {
		name        string
		contentType string
		query       string
		body        string
		status      int
		want        []string // in the response
		wantIDs     []string // rejected ids recorded in the store
		kept        bool     // the "good" entity was committed
	}{
		{name: "malformed JSON", body: "[" + good + `,{"_id":"x",}]`, status: 400,
			want: []string{"malformed JSON at byte", "entity index 1"}, kept: true},
		{name: "truncated body", body: "[" + good + `,{"_id":"x"`, status: 400,
			want: []string{"entity index 1", "unexpected end"}, kept: true},
		{name: "not JSON at all", body: "hello", status: 400, want: []string{"expected a JSON array or object"}},
		{name: "wrong content type", contentType: "text/plain", body: "[" + good + "]", status: 415, want: []string{"application/json"}},
		{name: "missing required field", body: "[" + good + `,{"_id":"nomime","gdpr-data-type:data-type-id":"hr","gdpr-document:document_id":"d","gdpr-document:extract-content":"~r` + base + `x","gdpr-document:original-url":"~rsmb://s/x","gdpr-document:filesize":1}]`,
			status: 422, want: []string{`"_id":"nomime"`, `"index":1`, "missing gdpr-document:mime-type"}, wantIDs: []string{"nomime"}, kept: true},
		{name: "unknown data type", body: "[" + document("unk", "payroll", base+"u.pdf") + "," + good + "]", status: 422,
			want: []string{`"_id":"unk"`, `unknown data type \"payroll\"`, `"index":0`}, wantIDs: []string{"unk"}, kept: true},
		{name: "extract-content outside content base", body: "[" + good + "," + document("evil", "hr", "http://169.254.169.254/latest/meta-data") + "]",
			status: 422, want: []string{`"_id":"evil"`, "not under an allowed content base"}, wantIDs: []string{"evil"}, kept: true},
		{name: "extract-content escaping with dot segments", body: "[" + good + "," + document("dots", "hr", base+"../admin/x") + "]",
			status: 422, want: []string{`"_id":"dots"`, "not under an allowed content base"}, wantIDs: []string{"dots"}, kept: true},
		{name: "entity not an object", body: "[" + good + `,42]`, status: 422, want: []string{`"index":1`, "not a JSON object"}, kept: true},
		{name: "bad boolean parameter", query: "is_full=maybe", body: "[" + good + "]", status: 400, want: []string{"is_full"}},
		{name: "full sync without sequence_id", query: "is_full=true&is_first=true", body: "[" + good + "]", status: 400, want: []string{"sequence_id"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			e.registerType("hr")
			ct := tc.contentType
			if ct == "" {
				ct = "application/json"
			}
			path := "/api/receivers/custom-documents/entities"
			if tc.query != "" {
				path += "?" + tc.query
			}
			r := e.do("POST", path, e.tokens[ScopePush], ct, strings.NewReader(tc.body))
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			t.Logf("%d %s", r.status, r.body)
			r.json(t) // always a JSON body
			mustContain(t, "response", r.body, tc.want...)
			if got := e.live(datasetDocuments)["good"]; got != tc.kept {
				t.Fatalf("good entity kept = %v, want %v", got, tc.kept)
			}
			rj, err := e.st.Rejections(context.Background(), datasetDocuments, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range tc.wantIDs {
				if !slices.ContainsFunc(rj, func(r store.Rejection) bool { return r.EntityID == id && r.Origin == "push" }) {
					t.Errorf("no rejection recorded for %s: %+v", id, rj)
				}
			}
			// Property values never appear in error responses.
			if bytes.Contains(r.body, []byte("smb://")) || bytes.Contains(r.body, []byte("application/pdf")) {
				t.Errorf("response echoes property values: %s", r.body)
			}
			// The service keeps serving.
			if h := e.get("/healthz", ""); h.status != 200 {
				t.Fatalf("healthz after bad input: %d", h.status)
			}
		})
	}
}

func TestRejectionListedAndCleared(t *testing.T) {
	e := newEnv(t, nil)
	const base = "http://files.example:8081/content/"
	r := e.push("custom-documents", "", document("d1", "finance", base+"d1.pdf"))
	if r.status != 422 {
		t.Fatalf("status %d %s", r.status, r.body)
	}
	adm := e.get("/api/admin/rejections?dataset=custom-documents", ScopeAdmin)
	if adm.status != 200 {
		t.Fatalf("rejections: %d %s", adm.status, adm.body)
	}
	mustContain(t, "rejections", adm.body, `"entity_id":"d1"`, `unknown data type \"finance\"`)
	e.registerType("finance")
	if r := e.push("custom-documents", "", document("d1", "finance", base+"d1.pdf")); r.status != 200 {
		t.Fatalf("valid version: %d %s", r.status, r.body)
	}
	adm = e.get("/api/admin/rejections?dataset=custom-documents", ScopeAdmin)
	if got := adm.json(t)["count"]; got != float64(0) {
		t.Fatalf("rejection not cleared: %s", adm.body)
	}
}

// bigBody streams n bytes of a syntactically valid JSON array.
type bigBody struct{ n, off int64 }

func (b *bigBody) Read(p []byte) (int, error) {
	if b.off >= b.n {
		return 0, io.EOF
	}
	for i := range p {
		switch {
		case b.off >= b.n:
			return i, nil
		case b.off == 0:
			p[i] = '['
		default:
			p[i] = ' '
		}
		b.off++
	}
	return len(p), nil
}

func TestPushOverLimit(t *testing.T) {
	e := newEnv(t, nil)
	r := e.do("POST", "/api/receivers/gdpr-access-request-in/entities", e.tokens[ScopePush], "application/json", &bigBody{n: 50 << 20})
	if r.status != 413 {
		t.Fatalf("status %d, want 413: %s", r.status, r.body)
	}
	mustContain(t, "413", r.body, "exceeds")
	// Still serving, and normal pushes work.
	if h := e.get("/healthz", ""); h.status != 200 {
		t.Fatalf("healthz: %d", h.status)
	}
	if r := e.push(arIn, "", arArray("a")); r.status != 200 {
		t.Fatalf("push after 413: %d %s", r.status, r.body)
	}
	// An over-limit body that is valid JSON up to the cut stores nothing.
	big := "[" + accessRequest("x") + "," + strings.Repeat(" ", 17<<20) + accessRequest("y") + "]"
	r = e.push(arIn, "", big)
	if r.status != 413 || e.live(datasetAccessRequests)["x"] {
		t.Fatalf("status %d, x stored %v", r.status, e.live(datasetAccessRequests)["x"])
	}
}

func TestDataTypePush(t *testing.T) {
	e := newEnv(t, nil)
	r := e.push("gdpr-data-type-in", "", `[
		{"_id":"ignored","gdpr-data-type:data-type-id":"hr","gdpr-data-type:level":"SENSITIVE","gdpr-data-type:contact":"a@example.com, b@example.org","gdpr-data-type:purpose-id":"p1,p2","gdpr-data-type:description-en":"HR","x-extra":1},
		{"gdpr-data-type:data-type-id":"bad","gdpr-data-type:level":"secret"},
		{"gdpr-data-type:data-type-id":"mail","gdpr-data-type:level":"related","gdpr-data-type:contact":"not-an-address"},
		{"gdpr-data-type:level":"related"}
	]`)
	if r.status != 422 {
		t.Fatalf("status %d %s", r.status, r.body)
	}
	pr := r.result(t)
	if pr.Accepted != 1 || len(pr.Rejected) != 3 {
		t.Fatalf("result %s", r.body)
	}
	mustContain(t, "rejections", r.body, "gdpr-data-type:level must be one of", "gdpr-data-type:contact", "missing gdpr-data-type:data-type-id")
	if bytes.Contains(r.body, []byte("not-an-address")) || bytes.Contains(r.body, []byte("secret")) {
		t.Fatalf("values echoed: %s", r.body)
	}
	en, err := e.st.Get(context.Background(), datasetDataTypes, "hr")
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	json.Unmarshal(en.Body, &body)
	if body["gdpr-data-type:level"] != "sensitive" || body["gdpr-data-type:contact"] != "a@example.com,b@example.org" ||
		fmt.Sprint(body["gdpr-data-type:purpose-id"]) != "[p1 p2]" || body["x-extra"] == nil {
		t.Fatalf("stored data type %s", en.Body)
	}
	// Published under both names.
	for _, name := range []string{"gdpr-data-type", "gdpr-data-type-out"} {
		p := e.get("/api/publishers/"+name+"/entities", ScopeRead)
		mustContain(t, name, p.body, `"_id":"hr"`)
	}
}

func TestAccessRequestPush(t *testing.T) {
	e := newEnv(t, nil)
	r := e.push(arIn, "", `[{"gdpr-access-request:access-request-id":"ar1","gdpr-access-request:user-id":"u","gdpr-access-request:public-key":`+jsonString(testPublicKey())+`,"gdpr-access-request:lang":"nb","custom":"kept"},
		{"_id":"ar2","gdpr-access-request:access-request-id":"ar2","gdpr-access-request:public-key":"k"},
		{"_id":"ar3","gdpr-access-request:access-request-id":"ar3","gdpr-access-request:user-id":7,"gdpr-access-request:public-key":"k"}]`)
	if r.status != 422 {
		t.Fatalf("status %d %s", r.status, r.body)
	}
	mustContain(t, "rejections", r.body, `"_id":"ar2"`, "gdpr-access-request:user-id: is required", `"_id":"ar3"`, "user-id: must be a string")
	en, err := e.st.Get(context.Background(), datasetAccessRequests, "ar1")
	if err != nil || !bytes.Contains(en.Body, []byte(`"custom":"kept"`)) {
		t.Fatalf("ar1: %s %v", en.Body, err)
	}
}

// _updated is the sender's opaque since-token (SPEC §2): a string, float or
// huge number does not make a pushed document invalid.
func TestPushAcceptsOpaqueUpdated(t *testing.T) {
	e := newEnv(t, nil)
	e.registerType("hr")
	for i, upd := range []string{`"2024-01-01T00:00:00Z#17"`, `1712345678.25`, `123456789012345678901234567890`} {
		id := fmt.Sprintf("d%d", i)
		doc := strings.Replace(document(id, "hr", "http://files.example:8081/content/"+id), "{", `{"_updated":`+upd+`,`, 1)
		if r := e.push("custom-documents", "", doc); r.status != 200 {
			t.Fatalf("_updated %s: %d %s", upd, r.status, r.body)
		}
	}
	wantLive(t, e, datasetDocuments, "d0", "d1", "d2")
}

// errAfter yields its data, then fails as a dropped connection does.
type errAfter struct{ r io.Reader }

func (f *errAfter) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, errors.New("connection reset by peer")
	}
	return n, err
}

// A body that breaks off (client gone) is not a syntax error: nothing of it
// is committed, not even the complete entities before the break.
func TestPushReadErrorStoresNothing(t *testing.T) {
	e := newEnv(t, nil)
	body := "[" + accessRequest("r1") + "," + accessRequest("r2")[:20]
	req := httptest.NewRequest("POST", "/api/receivers/gdpr-access-request-in/entities", &errAfter{strings.NewReader(body)})
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+e.tokens[ScopePush])
	rec := httptest.NewRecorder()
	e.srv.Handler().ServeHTTP(rec, req)
	if rec.Code != 400 || !strings.Contains(rec.Body.String(), "nothing was stored") {
		t.Fatalf("status %d body %s", rec.Code, rec.Body.String())
	}
	wantLive(t, e, datasetAccessRequests)
	// The same body cut by a syntax error keeps the complete entity.
	if r := e.push(arIn, "", body); r.status != 400 {
		t.Fatalf("syntax error: %d %s", r.status, r.body)
	}
	wantLive(t, e, datasetAccessRequests, "r1")
}

// A sender that reuses fixed sequence_id/request_id for one-request full
// syncs: a new body is a new sync (stored and swept), only an identical body
// is a retry.
func TestFullSyncReusedIDsWithNewBody(t *testing.T) {
	e := newEnv(t, nil)
	ds := datasetAccessRequests
	fixed := q("s", "r1", "", true, true)
	if r := e.push(arIn, fixed, arArray("a", "b")); r.status != 200 {
		t.Fatalf("first sync: %d %s", r.status, r.body)
	}
	wantLive(t, e, ds, "a", "b")
	r := e.push(arIn, fixed, arArray("b", "c"))
	if r.status != 200 || r.result(t).Duplicate || r.result(t).Deleted != 1 {
		t.Fatalf("second sync: %d %s", r.status, r.body)
	}
	wantLive(t, e, ds, "b", "c")
	// An identical resend is still an idempotent retry.
	if r := e.push(arIn, fixed, arArray("b", "c")); r.status != 200 || !r.result(t).Duplicate {
		t.Fatalf("retry: %d %s", r.status, r.body)
	}
	// Inside a sequence, a request reusing the last ids with another body is
	// out of sequence, not a retry.
	e.push(arIn, q("t", "r1", "", true, false), arArray("x"))
	e.push(arIn, q("t", "r2", "r1", false, false), arArray("y"))
	if r := e.push(arIn, q("t", "r2", "r1", false, false), arArray("z")); r.status != 409 {
		t.Fatalf("changed middle request: %d %s", r.status, r.body)
	}
	wantLive(t, e, ds, "b", "c", "x", "y")
}

// Concurrent data type registrations: the cache never ends older than the
// store (reloads read and swap as one step).
func TestConcurrentDataTypeRegistrations(t *testing.T) {
	for round := range 20 { // the race is timing-dependent: many rounds

		e := newEnv(t, nil)
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				r := e.push("gdpr-data-type-in", "", fmt.Sprintf(`{"gdpr-data-type:data-type-id":"t%d","gdpr-data-type:level":"personal"}`, i))
				if r.status != 200 {
					t.Errorf("%d %s", r.status, r.body)
				}
			})
		}
		wg.Wait()
		if n := e.srv.types.count(); n != 8 {
			t.Fatalf("round %d: cache knows %d of 8 registered data types (store has %d)", round, n, len(e.live(datasetDataTypes)))
		}
	}
}
