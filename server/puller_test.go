package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docvet/docvet/store"
)

// fakeSource is a JSON pull publisher of documents with _updated 1..n.
type fakeSource struct {
	srv        *httptest.Server
	mu         sync.Mutex
	docs       []string // raw entities, _updated = index+1
	fromStart  atomic.Int64
	requests   atomic.Int64
	failNext   atomic.Int64 // answer 503 to this many requests
	breakAfter int          // >0: cut the page with bad JSON after this many entities
	limits     []int
}

func newFakeSource(t *testing.T, n int, dataType string) *fakeSource {
	f := &fakeSource{}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	for i := range n {
		f.add(fmt.Sprintf("doc-%03d", i), dataType)
	}
	return f
}

func (f *fakeSource) add(id, dataType string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var m map[string]any
	json.Unmarshal([]byte(document(id, dataType, f.srv.URL+"/content/"+id)), &m)
	m["_updated"] = len(f.docs) + 1
	b, _ := json.Marshal(m)
	f.docs = append(f.docs, string(b))
}

func (f *fakeSource) url() string { return f.srv.URL + "/entities" }

func (f *fakeSource) serve(w http.ResponseWriter, r *http.Request) {
	f.requests.Add(1)
	if f.failNext.Load() > 0 {
		f.failNext.Add(-1)
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	since, _ := strconv.Atoi(r.URL.Query().Get("since"))
	if since == 0 {
		f.fromStart.Add(1)
	}
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	f.mu.Lock()
	f.limits = append(f.limits, limit)
	var page []string
	for i := since; i < len(f.docs) && (limit == 0 || len(page) < limit); i++ {
		page = append(page, f.docs[i])
	}
	brk := f.breakAfter
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if brk > 0 && len(page) > brk {
		fmt.Fprintf(w, "[%s,{\"_id\":", strings.Join(page[:brk], ","))
		return
	}
	fmt.Fprintf(w, "[%s]", strings.Join(page, ","))
}

func sourceEnv(t *testing.T, src *fakeSource, batch int) *env {
	t.Helper()
	return newEnv(t, func(c *Config) {
		c.Sources = []SourceConfig{{Name: "share", URL: src.url(), BatchSize: batch, BackoffMin: 5 * time.Millisecond, BackoffMax: 40 * time.Millisecond}}
	})
}

func savedSince(t *testing.T, e *env) string {
	t.Helper()
	v, err := e.st.State(context.Background(), sinceKey("share"))
	if err != nil && err != store.ErrNotFound {
		t.Fatal(err)
	}
	return v
}

func TestPullerPages(t *testing.T) {
	src := newFakeSource(t, 25, "hr")
	e := sourceEnv(t, src, 10)
	e.registerType("hr")
	if err := e.srv.PullNow(context.Background(), "share"); err != nil {
		t.Fatal(err)
	}
	if n := len(e.live("source:share")); n != 25 {
		t.Fatalf("%d documents stored", n)
	}
	if s := savedSince(t, e); s != "25" {
		t.Fatalf("since token %q", s)
	}
	// Pages of 10, 10 and 5, then an empty page ends the pull (a short page
	// may be a publisher's cap, not the end).
	if fmt.Sprint(src.limits) != "[10 10 10 10]" || src.requests.Load() != 4 {
		t.Fatalf("requests %d limits %v", src.requests.Load(), src.limits)
	}
	// Nothing new: one request, no new versions.
	last := e.lastSeq("source:share")
	src.add("doc-new", "hr")
	if err := e.srv.PullNow(context.Background(), "share"); err != nil {
		t.Fatal(err)
	}
	if e.lastSeq("source:share") != last+1 || savedSince(t, e) != "26" {
		t.Fatalf("incremental pull: seq %d since %s", e.lastSeq("source:share"), savedSince(t, e))
	}
	// The pulled dataset is published.
	p := e.get("/api/publishers/source:share/entities?since=0&limit=5", ScopeRead)
	var arr []map[string]any
	if err := json.Unmarshal(p.body, &arr); err != nil || len(arr) != 5 {
		t.Fatalf("publisher: %v %s", err, p.body)
	}
	if p := e.get("/api/publishers/source:share/entities?since=abc", ScopeRead); p.status != 400 {
		t.Fatalf("since=abc: %d", p.status)
	}
}

func TestPullerSinceSavedOnlyAfterCommit(t *testing.T) {
	src := newFakeSource(t, 30, "hr")
	src.breakAfter = 4 // every page is cut after 4 entities
	e := sourceEnv(t, src, 10)
	e.registerType("hr")
	err := e.srv.PullNow(context.Background(), "share")
	if err == nil {
		t.Fatal("a broken page was not reported")
	}
	// The 4 complete entities were committed with the token after them.
	if n, s := len(e.live("source:share")), savedSince(t, e); n != 4 || s != "4" {
		t.Fatalf("stored %d, since %q; want 4 and 4", n, s)
	}
	st := e.srv.SourceStatuses()[0]
	if st.LastErrorKind != "decode" || st.ConsecutiveFailures != 1 {
		t.Fatalf("status %+v", st)
	}
	src.mu.Lock()
	src.breakAfter = 0
	src.mu.Unlock()
	if err := e.srv.PullNow(context.Background(), "share"); err != nil {
		t.Fatal(err)
	}
	if n := len(e.live("source:share")); n != 30 {
		t.Fatalf("stored %d", n)
	}
	if src.fromStart.Load() != 1 {
		t.Fatalf("asked from the start %d times", src.fromStart.Load())
	}
}

func TestPullerBackoffAndRecovery(t *testing.T) {
	src := newFakeSource(t, 5, "hr")
	src.failNext.Store(4)
	e := sourceEnv(t, src, 10)
	e.registerType("hr")
	ctx, cancel := context.WithCancel(context.Background())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- e.srv.Serve(ctx, ln) }()
	deadline := time.Now().Add(10 * time.Second)
	sawBackoff := false
	for time.Now().Before(deadline) {
		st := e.srv.SourceStatuses()[0]
		if st.ConsecutiveFailures > 0 && st.Backoff != "" {
			sawBackoff = true
		}
		if st.LastSuccess != nil {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	st := e.srv.SourceStatuses()[0]
	if st.LastSuccess == nil || !sawBackoff || st.LastErrorKind != "http_status" || st.ConsecutiveFailures != 0 {
		t.Fatalf("status %+v (saw backoff %v)", st, sawBackoff)
	}
	if n := len(e.live("source:share")); n != 5 {
		t.Fatalf("stored %d", n)
	}
	// The admin endpoints report and trigger.
	r := e.get("/api/admin/sources", ScopeAdmin)
	mustContain(t, "sources", r.body, `"name":"share"`, `"last_error_kind":"http_status"`)
	before := src.requests.Load()
	src.add("doc-late", "hr")
	if r := e.do("POST", "/api/admin/sources/share/pull", e.tokens[ScopeAdmin], "", nil); r.status != 202 {
		t.Fatalf("trigger: %d", r.status)
	}
	for time.Now().Before(deadline) && !e.live("source:share")["doc-late"] {
		time.Sleep(5 * time.Millisecond)
	}
	if !e.live("source:share")["doc-late"] || src.requests.Load() == before {
		t.Fatal("triggered pull did not happen")
	}
	if r := e.do("POST", "/api/admin/sources/nope/pull", e.tokens[ScopeAdmin], "", nil); r.status != 404 {
		t.Fatalf("unknown source: %d", r.status)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestBackoffBounds(t *testing.T) {
	for f := 1; f < 40; f++ {
		d := backoff(time.Second, 5*time.Minute, f)
		want := time.Second << min(f-1, 9)
		if want > 5*time.Minute {
			want = 5 * time.Minute
		}
		if d < want/2 || d > want {
			t.Fatalf("failure %d: %v not in [%v, %v]", f, d, want/2, want)
		}
	}
}

func TestPullerResumesAfterRestart(t *testing.T) {
	src := newFakeSource(t, 12, "hr")
	e := sourceEnv(t, src, 5)
	e.registerType("hr")
	if err := e.srv.PullNow(context.Background(), "share"); err != nil {
		t.Fatal(err)
	}
	e.restart()
	src.add("doc-after-restart", "hr")
	if err := e.srv.PullNow(context.Background(), "share"); err != nil {
		t.Fatal(err)
	}
	if got := src.fromStart.Load(); got != 1 {
		t.Fatalf("source asked from since=0 %d times, want 1", got)
	}
	if n := len(e.live("source:share")); n != 13 {
		t.Fatalf("stored %d", n)
	}
}

func TestPullerRejectsAndRepullsWhenTypeRegistered(t *testing.T) {
	src := newFakeSource(t, 3, "hr")
	src.add("payroll-1", "payroll")
	src.mu.Lock()
	// One document points outside the source's content base.
	var m map[string]any
	json.Unmarshal([]byte(src.docs[0]), &m)
	m["gdpr-document:extract-content"] = "~rhttp://elsewhere.example/x"
	b, _ := json.Marshal(m)
	src.docs[0] = string(b)
	src.mu.Unlock()
	e := sourceEnv(t, src, 10)
	e.registerType("hr")
	if err := e.srv.PullNow(context.Background(), "share"); err != nil {
		t.Fatal(err)
	}
	if n := len(e.live("source:share")); n != 2 {
		t.Fatalf("stored %d, want 2", n)
	}
	r := e.get("/api/admin/rejections?dataset=source:share", ScopeAdmin)
	mustContain(t, "rejections", r.body, `"entity_id":"payroll-1"`, `unknown data type \"payroll\"`, `"origin":"share"`,
		`"entity_id":"doc-000"`, "not under an allowed content base")
	last := e.lastSeq("source:share")
	e.registerType("payroll") // flags a re-pull from the start
	if err := e.srv.PullNow(context.Background(), "share"); err != nil {
		t.Fatal(err)
	}
	if !e.live("source:share")["payroll-1"] || src.fromStart.Load() != 2 {
		t.Fatalf("payroll-1 stored %v, from start %d", e.live("source:share")["payroll-1"], src.fromStart.Load())
	}
	// The re-pull was idempotent: only payroll-1 is a new version.
	var newer []string
	e.st.Since(context.Background(), "source:share", last, 0, func(en store.Entity) error { newer = append(newer, en.ID); return nil })
	if fmt.Sprint(newer) != "[payroll-1]" {
		t.Fatalf("re-pull wrote new versions of %v", newer)
	}
	r = e.get("/api/admin/rejections?dataset=source:share", ScopeAdmin)
	if strings.Contains(string(r.body), "payroll-1") {
		t.Fatalf("rejection not cleared: %s", r.body)
	}
}

func TestPublisherStreamsAndPages(t *testing.T) {
	e := newEnv(t, nil)
	var ids []string
	for i := range 7 {
		ids = append(ids, fmt.Sprintf("ar%d", i))
	}
	e.push(arIn, "", arArray(ids...))
	var seen []string
	since := "0"
	for range 10 {
		r := e.get("/api/publishers/gdpr-access-request-out/entities?limit=3&since="+since, ScopeSubjects)
		var page []map[string]any
		if err := json.Unmarshal(r.body, &page); err != nil {
			t.Fatalf("%v: %s", err, r.body)
		}
		if len(page) == 0 {
			break
		}
		for _, en := range page {
			seen = append(seen, en["_id"].(string))
			since = fmt.Sprint(en["_updated"])
		}
	}
	if fmt.Sprint(seen) != fmt.Sprint(ids) {
		t.Fatalf("paged %v", seen)
	}
	for _, bad := range []string{"since=-1", "since=1.5", "limit=0", "limit=x"} {
		if r := e.get("/api/publishers/custom-documents/entities?"+bad, ScopeRead); r.status != 400 {
			t.Errorf("%s: %d", bad, r.status)
		}
	}
	if r := e.get("/api/publishers/source:nope/entities", ScopeRead); r.status != 404 {
		t.Errorf("unknown dataset: %d", r.status)
	}
	if r := e.get("/api/publishers/custom-documents/entities", ScopeRead); string(r.body) != "[]" {
		t.Errorf("empty dataset: %q", r.body)
	}
	st := e.get("/api/status", ScopeRead)
	mustContain(t, "status", st.body, `"gdpr-access-request":{"live":7`)
}

// A publisher that caps its pages below batch_size (docvet source
// --max-limit) is read to the end in one pull, not one page per interval.
func TestPullerFollowsCappedPublisher(t *testing.T) {
	src := newFakeSource(t, 25, "hr")
	inner := src.srv.Config.Handler
	src.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		q.Set("limit", "3")
		r.URL.RawQuery = q.Encode()
		inner.ServeHTTP(w, r)
	})
	e := sourceEnv(t, src, 10)
	e.registerType("hr")
	if err := e.srv.PullNow(context.Background(), "share"); err != nil {
		t.Fatal(err)
	}
	if n := len(e.live("source:share")); n != 25 || savedSince(t, e) != "25" {
		t.Fatalf("after one pull: %d of 25 documents stored, since %q, %d requests", n, savedSince(t, e), src.requests.Load())
	}
	// 9 pages of up to 3, then the empty page.
	if got := src.requests.Load(); got != 10 {
		t.Fatalf("%d requests, want 10", got)
	}
}

// A source publishing float _updated values (mtimes, like Sesam's reference
// file-share-service): the since-token is opaque, every entity is stored.
func TestPullerAcceptsOpaqueUpdated(t *testing.T) {
	src := newFakeSource(t, 3, "hr")
	src.mu.Lock()
	for i, d := range src.docs {
		var m map[string]any
		json.Unmarshal([]byte(d), &m)
		m["_updated"] = float64(i+1) + 0.5
		b, _ := json.Marshal(m)
		src.docs[i] = string(b)
	}
	src.mu.Unlock()
	e := sourceEnv(t, src, 10)
	e.registerType("hr")
	if err := e.srv.PullNow(context.Background(), "share"); err != nil {
		t.Fatal(err)
	}
	rj, _ := e.st.Rejections(context.Background(), "source:share", 10)
	if n := len(e.live("source:share")); n != 3 || len(rj) != 0 || savedSince(t, e) != "3.5" {
		t.Fatalf("stored %d, rejections %+v, since %q", n, rj, savedSince(t, e))
	}
}

// A data type registered while a pulled page is in flight: the document
// checked before the registration and committed (rejected) after it is
// re-pulled, although dataTypesChanged found no rejection to act on.
func TestPullerRepullsDocumentRejectedInTypeRace(t *testing.T) {
	var e *env
	src := newFakeSource(t, 1, "late") // doc-000 names data type "late"
	inner := src.srv.Config.Handler
	src.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		src.mu.Lock()
		d := src.docs[0]
		src.mu.Unlock()
		if r.URL.Query().Get("since") != "" {
			inner.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, "[%s", d)
		w.(http.Flusher).Flush()
		time.Sleep(300 * time.Millisecond) // the client has decoded and checked doc-000
		e.registerType("late")             // commits, reloads, finds no rejection yet
		fmt.Fprint(w, "]")
	})
	e = sourceEnv(t, src, 10)
	if err := e.srv.PullNow(context.Background(), "share"); err != nil {
		t.Fatal(err)
	}
	if !e.srv.byName["share"].repull.Load() {
		t.Fatal("no re-pull scheduled for a rejection that raced a registration")
	}
	if err := e.srv.PullNow(context.Background(), "share"); err != nil {
		t.Fatal(err)
	}
	rj, _ := e.st.Rejections(context.Background(), "source:share", 10)
	if n := len(e.live("source:share")); n != 1 || len(rj) != 0 {
		t.Fatalf("doc-000 not stored although its data type is registered (stored %d, rejections %d)", n, len(rj))
	}
}

// An entity over max_entity_bytes whose _id and _updated can be read is
// rejected and skipped; one whose _updated cannot be read stops the source
// with entity_too_large, as before.
func TestPullerSkipsOversizedEntity(t *testing.T) {
	src := newFakeSource(t, 4, "hr")
	src.mu.Lock()
	var m map[string]any
	json.Unmarshal([]byte(src.docs[1]), &m)
	m["Blob"] = strings.Repeat("x", 4096) // sorts before _id and _updated: they come after it
	b, _ := json.Marshal(m)
	src.docs[1] = string(b)
	src.mu.Unlock()
	e := newEnv(t, func(c *Config) {
		c.Limits.MaxEntityBytes = 2048
		c.Sources = []SourceConfig{{Name: "share", URL: src.url(), BatchSize: 10, BackoffMin: 5 * time.Millisecond, BackoffMax: 40 * time.Millisecond}}
	})
	e.registerType("hr")
	if err := e.srv.PullNow(context.Background(), "share"); err != nil {
		t.Fatal(err)
	}
	live := e.live("source:share")
	if len(live) != 3 || live["doc-001"] || savedSince(t, e) != "4" {
		t.Fatalf("stored %v, since %q", live, savedSince(t, e))
	}
	r := e.get("/api/admin/rejections?dataset=source:share", ScopeAdmin)
	mustContain(t, "rejections", r.body, `"entity_id":"doc-001"`, "entity larger than 2048 bytes")
	if strings.Contains(string(r.body), "xxxx") {
		t.Fatalf("rejection echoes content: %s", r.body)
	}
	// Without a readable _updated the source cannot advance past it.
	src.mu.Lock()
	delete(m, "_updated")
	m["_id"] = "doc-big"
	b, _ = json.Marshal(m)
	src.docs = append(src.docs, string(b))
	src.mu.Unlock()
	src.add("doc-after", "hr")
	if err := e.srv.PullNow(context.Background(), "share"); err == nil {
		t.Fatal("an oversized entity without _updated was skipped")
	}
	if st := e.srv.SourceStatuses()[0]; st.LastErrorKind != "entity_too_large" {
		t.Fatalf("status %+v", st)
	}
}

// At shutdown the pullers stop reading, but the entities already received
// are committed with their since-token instead of being rolled back.
func TestShutdownCommitsReceivedPullBatch(t *testing.T) {
	src := newFakeSource(t, 3, "hr")
	sent := make(chan struct{})
	src.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		src.mu.Lock()
		page := strings.Join(src.docs, ",")
		src.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, "[%s,", page)
		w.(http.Flusher).Flush()
		select {
		case sent <- struct{}{}:
		default:
		}
		<-r.Context().Done() // the rest of the page never comes
	})
	e := sourceEnv(t, src, 10)
	e.registerType("hr")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.srv.Serve(ctx, ln) }()
	select {
	case <-sent:
	case <-time.After(10 * time.Second):
		t.Fatal("the puller never asked")
	}
	time.Sleep(200 * time.Millisecond) // the three entities are decoded and checked
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if n, s := len(e.live("source:share")), savedSince(t, e); n != 3 || s != "3" {
		t.Fatalf("after shutdown: %d stored, since %q; want 3 and 3", n, s)
	}
}
