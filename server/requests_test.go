package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/docvet/docvet/delivery"
	"github.com/docvet/docvet/index"
	"github.com/docvet/docvet/search"
	"github.com/docvet/docvet/store"
	"github.com/docvet/docvet/vetting"
)

// reqEnv is a server under test with an index the request runner searches.
type reqEnv struct {
	*env
	ix *index.Index
}

func newReqEnv(t *testing.T) *reqEnv {
	t.Helper()
	e := &reqEnv{env: newEnv(t, nil)}
	opts, err := e.cfg.IndexOptions()
	if err != nil {
		t.Fatal(err)
	}
	opts.BoltTimeout = time.Second
	e.ix, err = index.Open(filepath.Join(e.dir, "index"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.ix.Close() })
	e.attach()
	e.registerType("hr")
	e.registerType("crm")
	return e
}

// attach gives the (re)started server's runner the test index.
func (e *reqEnv) attach() { e.srv.requests.index = func() *index.Index { return e.ix } }

// addDoc stores a pushed document's entity and ledger row and indexes it.
func (e *reqEnv) addDoc(id, dataType, text string) {
	e.t.Helper()
	ctx := context.Background()
	body, _ := json.Marshal(map[string]any{
		"gdpr-data-type:data-type-id":   dataType,
		"gdpr-document:document_id":     id,
		"gdpr-document:filename":        id + ".txt",
		"gdpr-document:mime-type":       "text/plain",
		"gdpr-document:original-url":    "file://server/share/" + id,
		"gdpr-document:extract-content": "http://files.example:8081/content/" + id,
		"gdpr-document:metadata":        map[string]any{"owner": "team"},
	})
	err := e.st.Update(ctx, func(tx *store.Tx) error {
		if _, err := tx.Put(datasetDocuments, store.Write{ID: id, Body: body}); err != nil {
			return err
		}
		return tx.PutLedger(store.LedgerRow{Source: datasetDocuments, EntityID: id, DataType: dataType, Status: "ok"})
	})
	if err != nil {
		e.t.Fatal(err)
	}
	err = e.ix.Apply(ctx, []index.Doc{{Source: datasetDocuments, EntityID: id, DataType: dataType, DocumentID: id,
		MIMEType: "text/plain", Filename: id + ".txt", OriginalURL: "file://server/share/" + id,
		ExtractContent: "http://files.example:8081/content/" + id, FileSize: int64(len(text)),
		SHA256: strings.Repeat("0", 64), Status: "ok", Text: text}}, nil)
	if err != nil {
		e.t.Fatal(err)
	}
}

func requestJSON(id, userID, email, key string, extra string) string {
	return fmt.Sprintf(`{"gdpr-access-request:access-request-id":%q,"gdpr-access-request:user-id":%q,`+
		`"gdpr-access-request:contactinfo":%q,"gdpr-access-request:public-key":%s%s}`, id, userID, email, jsonString(key), extra)
}

type statusBody struct {
	State       string           `json:"state"`
	Reason      string           `json:"reason"`
	Hits        int64            `json:"hits"`
	HitsPerType map[string]int64 `json:"hits_per_data_type"`
	Decisions   map[string]int64 `json:"decisions_per_data_type"`
}

func (e *reqEnv) status(id string) (int, statusBody) {
	e.t.Helper()
	r := e.get("/api/access-requests/"+id, ScopeSubjects)
	var sb statusBody
	if r.status == 200 {
		if err := json.Unmarshal(r.body, &sb); err != nil {
			e.t.Fatal(err)
		}
	}
	return r.status, sb
}

// search runs the runner once (what a kick does) and returns the state.
func (e *reqEnv) search(id string) statusBody {
	e.t.Helper()
	if pending := e.srv.requests.runOnce(context.Background()); pending {
		e.t.Fatal("runner left requests pending")
	}
	code, sb := e.status(id)
	if code != 200 {
		e.t.Fatalf("status of %s: %d", id, code)
	}
	return sb
}

func TestAccessRequestIntakeRefusesBadKeys(t *testing.T) {
	e := newReqEnv(t)
	r := e.push(arIn, "", "["+
		requestJSON("weak", "u1", "a@example.org", readTestdata("weak-rsa1024.asc"), "")+","+
		requestJSON("junk", "u1", "a@example.org", "-----BEGIN PGP PUBLIC KEY BLOCK-----\nxx\n-----END PGP PUBLIC KEY BLOCK-----", "")+","+
		requestJSON("badmail", "u1", "not-an-address", testPublicKey(), "")+","+
		requestJSON("good", "u1", "a@example.org", testPublicKey(), `,"gdpr-access-request:timestamp":"1999-01-01T00:00:00Z"`)+"]")
	if r.status != 422 {
		t.Fatalf("status %d %s", r.status, r.body)
	}
	pr := r.result(t)
	if pr.Accepted != 1 || len(pr.Rejected) != 3 {
		t.Fatalf("result %+v", pr)
	}
	mustContain(t, "rejections", r.body, "public-key: public key algorithm or size not allowed", `"_id":"junk"`, "gdpr-access-request:contactinfo")
	if bytes.Contains(r.body, []byte("not-an-address")) {
		t.Fatal("a rejection quotes a value")
	}
	for _, id := range []string{"weak", "junk", "badmail"} {
		if _, err := e.st.Get(context.Background(), datasetAccessRequests, id); err == nil {
			t.Fatalf("rejected request %s was stored", id)
		}
		if code, _ := e.status(id); code != 404 {
			t.Fatalf("rejected request %s has a lifecycle row", id)
		}
	}
	// The accepted one is "received", with the server's timestamp.
	if code, sb := e.status("good"); code != 200 || sb.State != store.RequestReceived {
		t.Fatalf("good: %d %+v", code, sb)
	}
	en, err := e.st.Get(context.Background(), datasetAccessRequests, "good")
	if err != nil {
		t.Fatal(err)
	}
	var ar search.AccessRequest
	if err := json.Unmarshal(en.Body, &ar); err != nil {
		t.Fatal(err)
	}
	if time.Since(ar.Timestamp) > time.Minute {
		t.Fatalf("timestamp %v is not the server's", ar.Timestamp)
	}
}

func TestAccessRequestSearchAndWorkbookRoundTrip(t *testing.T) {
	e := newReqEnv(t)
	e.addDoc("d1", "hr", "Contract for Kari Nordmann, kari@example.org, signed.")
	e.addDoc("d2", "hr", "Payslip sent to KARI@EXAMPLE.ORG in March.")
	e.addDoc("d3", "crm", "Call log: +47 912 34 567 called about the order.")
	e.addDoc("d4", "crm", "Unrelated note about ola@example.org.")
	// The subject dataset adds the phone number for user u1.
	if r := e.push("gdpr-subject-in", "", `{"_id":"s1","gdpr-subject:subject-id":"u1","gdpr-subject:identifier":["91234567"]}`); r.status != 200 {
		t.Fatalf("subject push %d %s", r.status, r.body)
	}
	if r := e.push("gdpr-subject-in", "", `{"_id":"s2","gdpr-subject:subject-id":"u1"}`); r.status != 422 {
		t.Fatalf("subject without identifiers: %d %s", r.status, r.body)
	}
	if r := e.get("/api/publishers/gdpr-subject/entities", ScopeRead); r.status != 403 {
		t.Fatalf("subjects publisher with read scope: %d", r.status)
	}
	if r := e.get("/api/publishers/gdpr-subject/entities", ScopeSubjects); r.status != 200 || !bytes.Contains(r.body, []byte(`"s1"`)) {
		t.Fatalf("subjects publisher: %d %s", r.status, r.body)
	}
	if r := e.push(arIn, "", requestJSON("r1", "u1", "kari@example.org", testPublicKey(), "")); r.status != 200 {
		t.Fatalf("push %d %s", r.status, r.body)
	}
	sb := e.search("r1")
	if sb.State != store.RequestAwaitingReview || sb.Hits != 3 || sb.HitsPerType["hr"] != 2 || sb.HitsPerType["crm"] != 1 {
		t.Fatalf("after search: %+v", sb)
	}

	// Point in time: a document indexed after the search is not in the
	// snapshot, and a re-push of the request does not search again.
	e.addDoc("d5", "hr", "Late letter to kari@example.org.")
	if r := e.push(arIn, "", requestJSON("r1", "u1", "kari@example.org", testPublicKey(), `,"gdpr-access-request:title":"again"`)); r.status != 200 {
		t.Fatalf("re-push %d %s", r.status, r.body)
	}
	if sb := e.search("r1"); sb.Hits != 3 || sb.State != store.RequestAwaitingReview {
		t.Fatalf("after re-push: %+v", sb)
	}

	// Download: scope subjects only, an attachment.
	if r := e.get("/api/access-requests/r1/workbook", ScopeRead); r.status != 403 {
		t.Fatalf("workbook with read scope: %d", r.status)
	}
	wb := e.get("/api/access-requests/r1/workbook", ScopeSubjects)
	if wb.status != 200 {
		t.Fatalf("workbook %d %s", wb.status, wb.body)
	}
	key := vettingKey(e.srv.Secret())
	if bytes.Equal(key, e.srv.Secret()) {
		t.Fatal("the workbook key is the JWT secret")
	}
	f, err := excelize.OpenReader(bytes.NewReader(wb.body))
	if err != nil {
		t.Fatal(err)
	}
	rowOf := func(sheet, entity string) int {
		t.Helper()
		want := vetting.RowID(key, "r1", index.DocID(datasetDocuments, entity))
		rows, err := f.GetRows(sheet)
		if err != nil {
			t.Fatal(err)
		}
		col := -1
		for i, h := range rows[0] {
			if h == "row-id" {
				col = i
			}
		}
		for i, r := range rows {
			if col >= 0 && col < len(r) && r[col] == want {
				return i + 1
			}
		}
		return 0
	}
	if rowOf("hr", "d5") != 0 {
		t.Fatal("a document indexed after the search is in the workbook")
	}
	cell := func(sheet, column string, row int) string {
		t.Helper()
		rows, _ := f.GetRows(sheet)
		for i, h := range rows[0] {
			if h == column {
				name, _ := excelize.CoordinatesToCellName(i+1, row)
				return name
			}
		}
		t.Fatalf("no column %s", column)
		return ""
	}
	// Edit: withhold d2 (delete the row), clear d1's file link, type text for d3.
	if err := f.SetCellValue("hr", cell("hr", "extract-content", rowOf("hr", "d1")), ""); err != nil {
		t.Fatal(err)
	}
	if err := f.SetCellStr("crm", cell("crm", "text", rowOf("crm", "d3")), "Redacted call log."); err != nil {
		t.Fatal(err)
	}
	if err := f.RemoveRow("hr", rowOf("hr", "d2")); err != nil {
		t.Fatal(err)
	}
	var edited bytes.Buffer
	if err := f.Write(&edited); err != nil {
		t.Fatal(err)
	}

	// A workbook of another request is refused and changes nothing.
	if r := e.push(arIn, "", requestJSON("r2", "u2", "kari@example.org", testPublicKey(), "")); r.status != 200 {
		t.Fatal(r.status)
	}
	if sb := e.search("r2"); sb.State != store.RequestAwaitingReview {
		t.Fatalf("r2: %+v", sb)
	}
	r := e.do("POST", "/api/access-requests/r2/workbook", e.tokens[ScopeSubjects], "application/octet-stream", bytes.NewReader(edited.Bytes()))
	if r.status != 422 || !bytes.Contains(r.body, []byte(`"problems"`)) {
		t.Fatalf("other request's workbook: %d %s", r.status, r.body)
	}
	if _, sb := e.status("r2"); sb.State != store.RequestAwaitingReview || len(sb.Decisions) != 0 {
		t.Fatalf("r2 after refused upload: %+v", sb)
	}
	// Garbage is refused.
	if r := e.do("POST", "/api/access-requests/r1/workbook", e.tokens[ScopeSubjects], "", strings.NewReader("not a workbook")); r.status != 422 {
		t.Fatalf("garbage upload: %d %s", r.status, r.body)
	}

	// Upload with the reviewer's token.
	tok, err := SignToken(e.srv.Secret(), "reviewer-1", []string{ScopeSubjects}, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	r = e.do("POST", "/api/access-requests/r1/workbook", tok, "application/octet-stream", bytes.NewReader(edited.Bytes()))
	if r.status != 200 {
		t.Fatalf("upload %d %s", r.status, r.body)
	}
	var wr WorkbookResult
	if err := json.Unmarshal(r.body, &wr); err != nil {
		t.Fatal(err)
	}
	if wr.State != store.RequestReviewed || wr.Rows != 3 || wr.Withheld != 1 || wr.FileWithheld != 1 || wr.Text != 1 {
		t.Fatalf("upload result %+v", wr)
	}
	got := map[string]delivery.Decision{}
	if err := e.st.Decisions(context.Background(), "r1", func(d store.Decision) error {
		if d.Reviewer != "reviewer-1" {
			t.Errorf("reviewer %q", d.Reviewer)
		}
		var rd delivery.Decision
		if err := json.Unmarshal(d.Decision, &rd); err != nil {
			return err
		}
		got[rd.IndexID] = rd
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	d1, d2, d3 := got[index.DocID(datasetDocuments, "d1")], got[index.DocID(datasetDocuments, "d2")], got[index.DocID(datasetDocuments, "d3")]
	if len(got) != 3 || !d2.Withheld || !d1.FileWithheld || d1.Withheld || !d3.HasText || d3.Text != "Redacted call log." {
		t.Fatalf("decisions %+v", got)
	}
	if _, sb := e.status("r1"); sb.State != store.RequestReviewed || sb.Decisions["hr"] != 2 || sb.Decisions["crm"] != 1 {
		t.Fatalf("status after upload: %+v", sb)
	}
	// Re-upload of the unedited workbook replaces the decisions; the audit
	// trail keeps both.
	r = e.do("POST", "/api/access-requests/r1/workbook", tok, "", bytes.NewReader(wb.body))
	if r.status != 200 {
		t.Fatalf("re-upload %d %s", r.status, r.body)
	}
	withheld, audit := 0, 0
	_ = e.st.Decisions(context.Background(), "r1", func(d store.Decision) error {
		if bytes.Contains(d.Decision, []byte(`"withheld":true`)) {
			withheld++
		}
		return nil
	})
	_ = e.st.DecisionAudit(context.Background(), "r1", func(store.AuditEntry) error { audit++; return nil })
	if withheld != 0 || audit != 6 {
		t.Fatalf("after re-upload: withheld %d, audit entries %d", withheld, audit)
	}
}

func TestAccessRequestResumeAndFailure(t *testing.T) {
	e := newReqEnv(t)
	e.addDoc("d1", "hr", "Note for kari@example.org")
	// Pushed while no runner searched it (the process stopped right after).
	if r := e.push(arIn, "", requestJSON("r1", "u1", "kari@example.org", testPublicKey(), "")); r.status != 200 {
		t.Fatal(r.status)
	}
	// An opaque user id and no contact info: nothing to search.
	if r := e.push(arIn, "", `{"gdpr-access-request:access-request-id":"r2","gdpr-access-request:user-id":"3f2a9c",`+
		`"gdpr-access-request:public-key":`+jsonString(testPublicKey())+`}`); r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if r := e.get("/api/access-requests/r1/workbook", ScopeSubjects); r.status != 409 {
		t.Fatalf("workbook before search: %d", r.status)
	}
	e.restart()
	e.attach()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.srv.runRequests(ctx); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, sb := e.status("r1")
		_, sb2 := e.status("r2")
		if sb.State == store.RequestAwaitingReview && sb2.State == store.RequestFailed {
			if sb.Hits != 1 || !strings.Contains(sb2.Reason, "no searchable identifier") {
				t.Fatalf("resumed: %+v %+v", sb, sb2)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not resumed: %+v %+v", sb, sb2)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
}
