package server

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/gopenpgp/v2/crypto"
	"github.com/xuri/excelize/v2"

	"github.com/docvet/docvet/encrypt"
	"github.com/docvet/docvet/extractor"
	"github.com/docvet/docvet/index"
	"github.com/docvet/docvet/notify"
	"github.com/docvet/docvet/notify/smtptest"
	"github.com/docvet/docvet/store"
	"github.com/docvet/docvet/vetting"
)

// The journey tests run the whole access-request lifecycle over HTTP
// against a served docvet: documents pushed with real files from
// ../shared/corpus (parsed by the real extractors), a request with a fresh
// subject key, the reviewers' mail at an in-process SMTP server, the
// workbook downloaded, edited with excelize and uploaded, the encrypted
// delivery fetched from the subject portal and decrypted, the status and
// the audit log checked.

// corpusDir holds the shared real-world documents.
const corpusDir = "../../shared/corpus"

// jBuffer collects output written from several goroutines.
type jBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *jBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *jBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// jContent is the documents' source: it serves /content/{name}; set
// replaces a file's bytes (a document changed at its source).
type jContent struct {
	mu    sync.Mutex
	files map[string][]byte
	gets  map[string]int
	srv   *httptest.Server
}

func newJContent(t *testing.T) *jContent {
	c := &jContent{files: map[string][]byte{}, gets: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /content/{name}", func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		b, ok := c.files[r.PathValue("name")]
		c.gets[r.PathValue("name")]++
		c.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(b)
	})
	c.srv = httptest.NewServer(mux)
	t.Cleanup(c.srv.Close)
	return c
}

func (c *jContent) set(name string, b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.files[name] = b
}

func (c *jContent) url(name string) string { return c.srv.URL + "/content/" + name }

// jDoc is one document of the share.
type jDoc struct {
	id, name, dataType, mime string
	body                     []byte
	meta                     map[string]any
}

// journey is a served docvet with its content server and mail relay.
type journey struct {
	t       *testing.T
	dir     string
	st      *store.Store
	srv     *Server
	base    string
	logs    *jBuffer
	mail    *smtptest.Server
	content *jContent
	tokens  map[string]string // scope -> token of "operator"
	review  string            // token (scope subjects) of the reviewer "reviewer-1"

	stepMu sync.Mutex
	steps  []string
	onStep func(step string)
}

func newJourney(t *testing.T) *journey {
	t.Helper()
	j := &journey{t: t, dir: t.TempDir(), logs: &jBuffer{}, content: newJContent(t), mail: smtptest.NewServer(t)}
	st, err := store.Open(context.Background(), filepath.Join(j.dir, "docvet.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	j.st = st
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	j.base = "http://" + ln.Addr().String()
	now := time.Duration(0)
	cfg := Config{
		DataDir: j.dir,
		Listen:  ln.Addr().String(),
		Push:    PushConfig{ContentBases: []string{j.content.srv.URL + "/content/"}},
		// Only pushes kick the pipeline: no timer passes during the test.
		Index:         IndexConfig{PollInterval: time.Hour},
		Delivery:      DeliveryConfig{PortalURL: j.base, Workers: 2},
		Notifications: NotifyConfig{SubjectDelay: &now},
	}
	log := slog.New(slog.NewJSONHandler(j.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := New(st, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	j.srv = srv
	// STARTTLS to the test relay, trusting its certificate.
	mailer, err := notify.NewSMTP(notify.SMTPOptions{Host: "127.0.0.1", Port: j.mail.Port(), From: "docvet@example.org",
		TLS: notify.TLSStartTLS, TLSConfig: j.mail.TLSConfig(), Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	srv.SetSenders(mailer, nil)
	srv.SetStepHook(func(step string) {
		j.stepMu.Lock()
		j.steps = append(j.steps, step)
		f := j.onStep
		j.stepMu.Unlock()
		if f != nil {
			f(step)
		}
	})
	if err := srv.EnableIngest(IngestConfig{
		IndexDir:  cfg.IndexDir(),
		Extractor: extractor.New(extractor.Options{Pdftotext: "-"}), // our parsers only
		Fetcher:   extractor.NewFetcher(extractor.FetchOptions{}),
	}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("Serve did not stop")
		}
		st.Close()
	})
	j.tokens = map[string]string{}
	for _, sc := range Scopes() {
		tok, err := SignToken(srv.Secret(), "operator", []string{sc}, time.Hour, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		j.tokens[sc] = tok
	}
	if j.review, err = SignToken(srv.Secret(), "reviewer-1", []string{ScopeSubjects}, time.Hour, time.Now()); err != nil {
		t.Fatal(err)
	}
	return j
}

func (j *journey) setOnStep(f func(string)) {
	j.stepMu.Lock()
	j.onStep = f
	j.stepMu.Unlock()
}

func (j *journey) stepsSeen() []string {
	j.stepMu.Lock()
	defer j.stepMu.Unlock()
	return slices.Clone(j.steps)
}

// do sends one request; token "" sends none.
func (j *journey) do(method, p, token, ctype string, body []byte) (int, []byte, http.Header) {
	j.t.Helper()
	req, err := http.NewRequest(method, j.base+p, bytes.NewReader(body))
	if err != nil {
		j.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		j.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		j.t.Fatal(err)
	}
	return res.StatusCode, b, res.Header
}

func (j *journey) get(p, scope string) (int, []byte) {
	j.t.Helper()
	code, b, _ := j.do("GET", p, j.tokens[scope], "", nil)
	return code, b
}

func (j *journey) push(receiver string, v any) {
	j.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		j.t.Fatal(err)
	}
	code, body, _ := j.do("POST", "/api/receivers/"+receiver+"/entities", j.tokens[ScopePush], "application/json", b)
	if code != http.StatusOK {
		j.t.Fatalf("push to %s: %d %s", receiver, code, body)
	}
}

// waitFor polls cond every 20ms for up to d.
func (j *journey) waitFor(what string, d time.Duration, cond func() (bool, string)) {
	j.t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			j.t.Fatalf("%s: not within %s; last: %s", what, d, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (j *journey) registerType(id, description, contacts string) {
	j.t.Helper()
	j.push("gdpr-data-type-in", map[string]any{"gdpr-data-type:data-type-id": id, "gdpr-data-type:level": "Personal",
		"gdpr-data-type:description": description, "gdpr-data-type:contact": contacts})
}

// pushDocs serves the documents and pushes them, then waits until all are
// indexed.
func (j *journey) pushDocs(docs []jDoc) {
	j.t.Helper()
	var ents []map[string]any
	for _, d := range docs {
		j.content.set(d.name, d.body)
		ents = append(ents, map[string]any{
			"_id":                           d.id,
			"gdpr-data-type:data-type-id":   d.dataType,
			"gdpr-document:document_id":     d.id,
			"gdpr-document:extract-content": "~r" + j.content.url(d.name),
			"gdpr-document:original-url":    "~rsmb://fileserver/share/" + d.name,
			"gdpr-document:filesize":        len(d.body),
			"gdpr-document:mime-type":       d.mime,
			"gdpr-document:filename":        d.name,
			"gdpr-document:metadata":        d.meta,
		})
	}
	j.push("custom-documents", ents)
	j.waitFor("documents indexed", 60*time.Second, func() (bool, string) {
		code, b := j.get("/api/status", ScopeRead)
		var s struct {
			Index struct {
				State    string           `json:"state"`
				Pending  int64            `json:"pending"`
				Statuses map[string]int64 `json:"statuses"`
				Sources  map[string]struct {
					Documents int64 `json:"documents"`
				} `json:"sources"`
			} `json:"index"`
		}
		if code != 200 || json.Unmarshal(b, &s) != nil {
			return false, string(b)
		}
		return s.Index.State == "running" && s.Index.Pending == 0 &&
			s.Index.Sources[datasetDocuments].Documents == int64(len(docs)), string(b)
	})
}

// jStatus is GET /api/access-requests/{id}.
type jStatus struct {
	ID          string               `json:"id"`
	State       string               `json:"state"`
	Reason      string               `json:"reason"`
	Hits        int64                `json:"hits"`
	HitsPerType map[string]int64     `json:"hits_per_data_type"`
	Decisions   map[string]int64     `json:"decisions_per_data_type"`
	Delivery    *DeliveryStatus      `json:"delivery"`
	Notify      []NotificationStatus `json:"notifications"`
}

func (j *journey) status(id string) (jStatus, []byte) {
	j.t.Helper()
	code, b := j.get("/api/access-requests/"+id, ScopeSubjects)
	var s jStatus
	if code != 200 {
		j.t.Fatalf("status of request: %d %s", code, b)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		j.t.Fatal(err)
	}
	return s, b
}

func (j *journey) waitState(id, state string, d time.Duration) jStatus {
	j.t.Helper()
	var s jStatus
	j.waitFor("request "+state, d, func() (bool, string) {
		var b []byte
		s, b = j.status(id)
		if s.State == store.RequestFailed {
			j.t.Fatalf("request failed: %s", b)
		}
		return s.State == state, string(b)
	})
	return s
}

// waitMail waits until the relay holds n messages and returns them.
func (j *journey) waitMail(n int) []smtptest.Received {
	j.t.Helper()
	var msgs []smtptest.Received
	j.waitFor(fmt.Sprintf("%d mails", n), 30*time.Second, func() (bool, string) {
		msgs = j.mail.Messages()
		return len(msgs) >= n, fmt.Sprint(len(msgs), " mails")
	})
	return msgs
}

// jKey is a fresh subject key pair (X25519).
type jKey struct {
	public  string
	private []byte
}

func newJKey(t *testing.T, email string) jKey {
	t.Helper()
	k, err := crypto.GenerateKey("Data Subject", email, "x25519", 0)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := k.GetArmoredPublicKey()
	if err != nil {
		t.Fatal(err)
	}
	priv, err := k.Armor()
	if err != nil {
		t.Fatal(err)
	}
	return jKey{public: pub, private: []byte(priv)}
}

// jWorkbook is a downloaded vetting workbook being edited.
type jWorkbook struct {
	t   *testing.T
	f   *excelize.File
	key []byte
	req string
}

func (j *journey) workbook(id string) *jWorkbook {
	j.t.Helper()
	code, b, h := j.do("GET", "/api/access-requests/"+id+"/workbook", j.review, "", nil)
	if code != 200 {
		j.t.Fatalf("workbook: %d %s", code, b)
	}
	if cd := h.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment") {
		j.t.Fatalf("workbook Content-Disposition %q", cd)
	}
	f, err := excelize.OpenReader(bytes.NewReader(b))
	if err != nil {
		j.t.Fatal(err)
	}
	return &jWorkbook{t: j.t, f: f, key: vettingKey(j.srv.Secret()), req: id}
}

// row returns the 1-based row of entity's hit on sheet, 0 when absent.
func (w *jWorkbook) row(sheet, entity string) int {
	w.t.Helper()
	want := vetting.RowID(w.key, w.req, index.DocID(datasetDocuments, entity))
	rows, err := w.f.GetRows(sheet)
	if err != nil {
		w.t.Fatal(err)
	}
	col := slices.Index(rows[0], "row-id")
	for i, r := range rows {
		if col >= 0 && col < len(r) && r[col] == want {
			return i + 1
		}
	}
	return 0
}

func (w *jWorkbook) cell(sheet, column, entity string) string {
	w.t.Helper()
	rows, err := w.f.GetRows(sheet)
	if err != nil {
		w.t.Fatal(err)
	}
	c := slices.Index(rows[0], column)
	if c < 0 {
		w.t.Fatalf("sheet %s has no column %s (columns %q)", sheet, column, rows[0])
	}
	r := w.row(sheet, entity)
	if r == 0 {
		w.t.Fatalf("sheet %s has no row for %s", sheet, entity)
	}
	name, _ := excelize.CoordinatesToCellName(c+1, r)
	return name
}

func (w *jWorkbook) set(sheet, column, entity, value string) {
	w.t.Helper()
	if err := w.f.SetCellStr(sheet, w.cell(sheet, column, entity), value); err != nil {
		w.t.Fatal(err)
	}
}

func (w *jWorkbook) clear(sheet, column, entity string) {
	w.t.Helper()
	if err := w.f.SetCellValue(sheet, w.cell(sheet, column, entity), ""); err != nil {
		w.t.Fatal(err)
	}
}

func (w *jWorkbook) remove(sheet, entity string) {
	w.t.Helper()
	r := w.row(sheet, entity)
	if r == 0 {
		w.t.Fatalf("sheet %s has no row for %s", sheet, entity)
	}
	if err := w.f.RemoveRow(sheet, r); err != nil {
		w.t.Fatal(err)
	}
}

func (w *jWorkbook) bytes() []byte {
	w.t.Helper()
	var b bytes.Buffer
	if err := w.f.Write(&b); err != nil {
		w.t.Fatal(err)
	}
	return b.Bytes()
}

// upload posts the edited workbook as the reviewer.
func (j *journey) upload(id string, wb []byte) WorkbookResult {
	j.t.Helper()
	code, b, _ := j.do("POST", "/api/access-requests/"+id+"/workbook", j.review, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", wb)
	if code != 200 {
		j.t.Fatalf("upload: %d %s", code, b)
	}
	var wr WorkbookResult
	if err := json.Unmarshal(b, &wr); err != nil {
		j.t.Fatal(err)
	}
	return wr
}

var (
	jHrefRE   = regexp.MustCompile(`href="([^"]*)"`)
	jPortalRE = regexp.MustCompile(`/portal/([A-Za-z0-9_-]+)`)
)

// portalLinkFrom finds the portal link in the subject's mail.
func (j *journey) portalLinkFrom(m smtptest.Received) string {
	j.t.Helper()
	p, err := m.Parse()
	if err != nil {
		j.t.Fatal(err)
	}
	for _, body := range []string{html.UnescapeString(p.HTML), p.Text} {
		for _, h := range jHrefRE.FindAllStringSubmatch(body, -1) {
			if strings.HasPrefix(h[1], j.base+"/portal/") {
				return strings.TrimPrefix(h[1], j.base)
			}
		}
		if i := strings.Index(body, j.base+"/portal/"); i >= 0 {
			if m := jPortalRE.FindString(body[i+len(j.base):]); m != "" {
				return m
			}
		}
	}
	j.t.Fatalf("no portal link in the subject's mail: text %q html %q", p.Text, p.HTML)
	return ""
}

// portalGet fetches a portal path without credentials.
func (j *journey) portalGet(p string) []byte {
	j.t.Helper()
	code, b, h := j.do("GET", p, "", "", nil)
	if code != 200 {
		j.t.Fatalf("portal %d: %.200s", code, b)
	}
	if h.Get("Cache-Control") != "no-store" || h.Get("Referrer-Policy") != "no-referrer" {
		j.t.Errorf("portal response headers %v", h)
	}
	return b
}

// jPlain is one decrypted item.
type jPlain struct {
	name string
	body []byte
}

func decryptItem(t *testing.T, id *encrypt.Identity, ct []byte) jPlain {
	t.Helper()
	pt, err := id.Decrypt(bytes.NewReader(ct))
	if err != nil {
		t.Fatalf("decrypt: %v", err)
	}
	b, err := io.ReadAll(pt.Body)
	if err != nil {
		t.Fatalf("decrypt body: %v", err)
	}
	return jPlain{name: pt.Filename, body: b}
}

// jRecord is the delivered JSON of a row.
type jRecord struct {
	DataType      string         `json:"data_type"`
	DocumentID    string         `json:"document_id"`
	Filename      string         `json:"filename"`
	SHA256        string         `json:"sha256"`
	Metadata      map[string]any `json:"metadata"`
	Text          string         `json:"text"`
	TextSource    string         `json:"text_source"`
	FileDelivered bool           `json:"file_delivered"`
	FileWithheld  bool           `json:"file_withheld"`
}

// portalDelivery fetches the portal page, every item it links and the
// bundle, decrypting the items.
type portalDelivery struct {
	page    []byte
	items   map[string]jPlain // item id -> plaintext
	bundle  []byte
	records map[string]jRecord // document id -> record
	files   map[string][]byte  // literal file name -> content (file items)
}

func (j *journey) fetchPortal(link string, ident *encrypt.Identity) portalDelivery {
	j.t.Helper()
	d := portalDelivery{items: map[string]jPlain{}, records: map[string]jRecord{}, files: map[string][]byte{}}
	d.page = j.portalGet(link)
	var bundleHref string
	for _, h := range jHrefRE.FindAllStringSubmatch(string(d.page), -1) {
		href := html.UnescapeString(h[1])
		if strings.Contains(href, "://") || strings.HasPrefix(href, "/") {
			j.t.Errorf("portal page links outside itself: %q", href)
			continue
		}
		// The page's links are relative to /portal/TOKEN.
		abs := path.Join(path.Dir(link), href)
		switch {
		case strings.HasSuffix(href, "/bundle"):
			bundleHref = abs
		case strings.Contains(href, "/items/"):
			id := path.Base(href)
			pt := decryptItem(j.t, ident, j.portalGet(abs))
			d.items[id] = pt
			if strings.HasSuffix(pt.name, ".json") {
				var r jRecord
				if err := json.Unmarshal(pt.body, &r); err != nil {
					j.t.Fatalf("record %s: %v", pt.name, err)
				}
				if _, dup := d.records[r.DocumentID]; dup {
					j.t.Errorf("two records for document %s", r.DocumentID)
				}
				d.records[r.DocumentID] = r
			} else {
				if _, dup := d.files[pt.name]; dup {
					j.t.Errorf("two files named %s", pt.name)
				}
				d.files[pt.name] = pt.body
			}
		}
	}
	if bundleHref == "" {
		j.t.Fatalf("portal page has no bundle link: %s", d.page)
	}
	d.bundle = j.portalGet(bundleHref)
	return d
}

// checkBundle decrypts every item of the bundle zip and checks it holds
// exactly the portal's items, one folder per data type, with index pages.
func checkBundle(t *testing.T, bundle []byte, ident *encrypt.Identity, d portalDelivery, folders []string) {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(bundle), int64(len(bundle)))
	if err != nil {
		t.Fatalf("bundle is not a zip: %v", err)
	}
	seen := map[string]bool{}
	pages := map[string]bool{}
	for _, zf := range zr.File {
		dir, base := path.Split(zf.Name)
		if strings.HasSuffix(base, ".html") {
			pages[zf.Name] = true
			continue
		}
		if !strings.HasSuffix(base, ".pgp") {
			t.Errorf("bundle entry %q is neither a page nor an item", zf.Name)
			continue
		}
		if !slices.Contains(folders, strings.TrimSuffix(dir, "/")) {
			t.Errorf("bundle item %q outside the data-type folders %v", zf.Name, folders)
		}
		rc, err := zf.Open()
		if err != nil {
			t.Fatal(err)
		}
		ct, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		id := strings.TrimSuffix(base, ".pgp")
		want, ok := d.items[id]
		if !ok {
			t.Errorf("bundle item %s is not listed on the portal page", zf.Name)
			continue
		}
		if seen[id] {
			t.Errorf("bundle holds item %s twice", id)
		}
		seen[id] = true
		got := decryptItem(t, ident, ct)
		if got.name != want.name || !bytes.Equal(got.body, want.body) {
			t.Errorf("bundle item %s decrypts to %q (%d bytes), the portal's to %q (%d bytes)", id, got.name, len(got.body), want.name, len(want.body))
		}
	}
	if len(seen) != len(d.items) {
		t.Errorf("bundle holds %d of the portal's %d items", len(seen), len(d.items))
	}
	if !pages["index.html"] {
		t.Errorf("bundle has no index.html: %v", pages)
	}
	for _, f := range folders {
		if !pages[f+"/index.html"] {
			t.Errorf("bundle has no %s/index.html: %v", f, pages)
		}
	}
}

// jAudit is one entry of GET /api/admin/audit.
type jAudit struct {
	Seq     int64           `json:"seq"`
	Actor   string          `json:"actor"`
	Event   string          `json:"event"`
	Request string          `json:"request"`
	Detail  json.RawMessage `json:"detail"`
}

func (j *journey) audit(query string) ([]jAudit, []byte) {
	j.t.Helper()
	code, b := j.get("/api/admin/audit"+query, ScopeAdmin)
	if code != 200 {
		j.t.Fatalf("audit: %d %s", code, b)
	}
	var out struct {
		Entries   []jAudit `json:"entries"`
		Truncated bool     `json:"truncated"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		j.t.Fatal(err)
	}
	if out.Truncated {
		j.t.Fatal("audit log truncated")
	}
	return out.Entries, b
}

func (j *journey) verifyAudit() AuditVerification {
	j.t.Helper()
	code, b := j.get("/api/admin/audit/verify", ScopeAdmin)
	var v AuditVerification
	if code != 200 || json.Unmarshal(b, &v) != nil {
		j.t.Fatalf("audit verify: %d %s", code, b)
	}
	if !v.OK || v.Entries == 0 {
		j.t.Fatalf("audit verify: %s", b)
	}
	return v
}

func readCorpus(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(corpusDir, rel))
	if err != nil {
		t.Skipf("corpus file missing (%v): the journey needs ../shared/corpus", err)
	}
	return b
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func TestJourneyEndToEnd(t *testing.T) {
	j := newJourney(t)
	const (
		subject = "kari.nordmann@example.org"
		reqID   = "AR-2024-0042"
	)
	pdf := readCorpus(t, "pdf/tika_testPDF.pdf")         // name "Content Analysis Toolkit"
	docx := readCorpus(t, "docx/poi_stress009.docx")     // sales@zeeis.cn
	xlsx := readCorpus(t, "xlsx/poi_51626_contact.xlsx") // george@nope.com
	eml := readCorpus(t, "eml/enmime_attachment.eml")    // james@makita.skynet
	letter := []byte("Dear Kari Nordmann,\n\nyour contract renewal is attached. Reply to " + subject + ".\n")
	unrelated := []byte("Minutes of the canteen committee: no names here.\n")
	docs := []jDoc{
		{id: "doc-contract", name: "contract.pdf", dataType: "hr", mime: "application/pdf", body: pdf,
			meta: map[string]any{"owner": "HR department", "case": "C-77", "dept": "legal"}},
		{id: "doc-offer", name: "offer.docx", dataType: "hr", mime: "application/vnd.openxmlformats-officedocument.wordprocessingml.document", body: docx},
		{id: "doc-letter", name: "letter.txt", dataType: "hr", mime: "text/plain", body: letter},
		{id: "doc-contacts", name: "contacts.xlsx", dataType: "crm", mime: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", body: xlsx},
		{id: "doc-mail", name: "mail.eml", dataType: "crm", mime: "message/rfc822", body: eml},
		{id: "doc-canteen", name: "canteen.txt", dataType: "crm", mime: "text/plain", body: unrelated},
	}
	j.registerType("hr", "Personnel files", "hr-lead@example.org, dpo@example.org")
	j.registerType("crm", "Customer records", "crm-owner@example.org")
	j.pushDocs(docs)

	key := newJKey(t, subject)
	ident, err := encrypt.NewIdentity(key.private, nil)
	if err != nil {
		t.Fatal(err)
	}
	j.push(arIn, map[string]any{
		"gdpr-access-request:access-request-id": reqID,
		"gdpr-access-request:user-id":           "u-kari",
		"gdpr-access-request:contactinfo":       subject,
		"gdpr-access-request:public-key":        key.public,
		"gdpr-access-request:lang":              "en",
		"gdpr-access-request:identifiers":       []string{"sales@zeeis.cn", "George@Nope.com", "james@makita.skynet", "Content Analysis Toolkit"},
	})
	st := j.waitState(reqID, store.RequestAwaitingReview, 60*time.Second)
	if st.Hits != 5 || st.HitsPerType["hr"] != 3 || st.HitsPerType["crm"] != 2 {
		t.Fatalf("search found %d hits (%v), want 5 (hr 3, crm 2): the real parsers did not find every identifier", st.Hits, st.HitsPerType)
	}

	// The reviewers are mailed: the two hr contacts and the crm one.
	msgs := j.waitMail(3)
	rcpts := map[string]bool{}
	for _, m := range msgs {
		if !m.TLS {
			t.Errorf("reviewer mail sent without STARTTLS: %s", m)
		}
		for _, to := range m.To {
			rcpts[to] = true
		}
		p, err := m.Parse()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(p.Subject, subject) {
			t.Errorf("reviewer mail subject %q does not name the requester", p.Subject)
		}
	}
	for _, c := range []string{"hr-lead@example.org", "dpo@example.org", "crm-owner@example.org"} {
		if !rcpts[c] {
			t.Errorf("reviewer %s got no mail (got %v)", c, rcpts)
		}
	}
	if len(msgs) != 3 {
		t.Errorf("%d reviewer mails, want 3", len(msgs))
	}

	// Review: withhold the docx (delete its row), withhold the xlsx's file
	// (clear extract-content), type text for the e-mail, edit and clear
	// metadata of the pdf.
	wb := j.workbook(reqID)
	if wb.row("crm", "doc-canteen") != 0 {
		t.Fatal("a document without the subject's identifiers is in the workbook")
	}
	const typed = "=Redacted by the reviewer: the message asked about an order."
	wb.remove("hr", "doc-offer")
	wb.clear("crm", "extract-content", "doc-contacts")
	wb.set("crm", "text", "doc-mail", typed)
	wb.set("hr", "metadata.owner", "doc-contract", "Edited Owner")
	wb.clear("hr", "metadata.case", "doc-contract")
	edited := wb.bytes()

	// After review and before delivery the letter changes at its source.
	changedLetter := append(slices.Clone(letter), []byte("P.S. added after review.\n")...)
	j.setOnStep(func(step string) {
		if step == "reviewed" {
			j.content.set("letter.txt", changedLetter)
		}
	})
	wr := j.upload(reqID, edited)
	if wr.State != store.RequestReviewed || wr.Rows != 5 || wr.Withheld != 1 || wr.FileWithheld != 1 || wr.Text != 1 || wr.MetadataEdited != 1 {
		t.Fatalf("upload result %+v", wr)
	}
	st = j.waitState(reqID, store.RequestDelivered, 60*time.Second)
	ds := st.Delivery
	if ds == nil {
		t.Fatalf("delivered request without delivery counts: %+v", st)
	}
	if ds.Rows != 5 || ds.Delivered != 3 || ds.FileWithheld != 1 || ds.Withheld != 1 || ds.Changed != 1 || ds.Unavailable != 0 ||
		ds.Items != 5 || ds.Bytes <= 0 || ds.BundleBytes <= 0 || ds.PortalExpires == nil {
		t.Errorf("delivery counts %+v; want rows 5, delivered 3 (1 without file), withheld 1, changed 1, items 5", *ds)
	}

	// The subject is mailed the portal link.
	msgs = j.waitMail(4)
	var subjMail *smtptest.Received
	for i := range msgs {
		if slices.Contains(msgs[i].To, subject) {
			if subjMail != nil {
				t.Errorf("the subject got more than one mail")
			}
			subjMail = &msgs[i]
		}
	}
	if subjMail == nil {
		t.Fatalf("no mail to the subject among %v", msgs)
	}
	link := j.portalLinkFrom(*subjMail)

	d := j.fetchPortal(link, ident)
	if len(d.items) != 5 {
		t.Fatalf("portal lists %d items, want 5", len(d.items))
	}
	// Files: byte for byte the originals, under their names.
	if !bytes.Equal(d.files["contract.pdf"], pdf) {
		t.Errorf("contract.pdf: delivered %d bytes, differ from the original %d", len(d.files["contract.pdf"]), len(pdf))
	}
	if !bytes.Equal(d.files["mail.eml"], eml) {
		t.Errorf("mail.eml: delivered %d bytes, differ from the original %d", len(d.files["mail.eml"]), len(eml))
	}
	if len(d.files) != 2 {
		t.Errorf("files delivered: %v, want contract.pdf and mail.eml", slices.Sorted(maps.Keys(d.files)))
	}
	// Records: the pdf's metadata as edited, its extracted text; the
	// xlsx's record without its file; the e-mail's typed text.
	if len(d.records) != 3 {
		t.Errorf("records for %v, want doc-contract, doc-contacts, doc-mail", slices.Sorted(maps.Keys(d.records)))
	}
	rc := d.records["doc-contract"]
	if rc.DataType != "hr" || rc.Filename != "contract.pdf" || rc.SHA256 != sha256Hex(pdf) || !rc.FileDelivered ||
		rc.TextSource != "extracted" || !strings.Contains(strings.Join(strings.Fields(rc.Text), " "), "Content Analysis Toolkit") {
		t.Errorf("contract record %+v", rc)
	}
	if rc.Metadata["owner"] != "Edited Owner" || rc.Metadata["dept"] != "legal" {
		t.Errorf("contract metadata %v: want owner edited, dept kept", rc.Metadata)
	}
	if _, ok := rc.Metadata["case"]; ok {
		t.Errorf("contract metadata %v: the cleared key is delivered", rc.Metadata)
	}
	if r := d.records["doc-contacts"]; r.FileDelivered || !r.FileWithheld || !strings.Contains(strings.ToLower(r.Text), "george@nope.com") {
		t.Errorf("contacts record: file delivered %v withheld %v, text has the address %v", r.FileDelivered, r.FileWithheld,
			strings.Contains(strings.ToLower(r.Text), "george@nope.com"))
	}
	if r := d.records["doc-mail"]; r.Text != typed || r.TextSource != "reviewer" || !r.FileDelivered {
		t.Errorf("mail record: text %q (%s), file delivered %v; want the typed text", r.Text, r.TextSource, r.FileDelivered)
	}
	for _, gone := range []string{"doc-offer", "doc-letter", "doc-canteen"} {
		if _, ok := d.records[gone]; ok {
			t.Errorf("%s was delivered", gone)
		}
	}
	checkBundle(t, d.bundle, ident, d, []string{"crm", "hr"})

	// The delivery listing names items by id, data type, kind and size.
	code, lb := j.get("/api/access-requests/"+reqID+"/delivery", ScopeSubjects)
	var listing DeliveryListing
	if code != http.StatusOK || json.Unmarshal(lb, &listing) != nil || len(listing.Items) != 5 || listing.BundleBytes != int64(len(d.bundle)) {
		t.Errorf("delivery listing %d %s", code, lb)
	}
	kinds := map[string]int{}
	for _, it := range listing.Items {
		kinds[it.DataType+"/"+it.Kind]++
		if it.Size <= 0 || len(it.ID) != 32 {
			t.Errorf("listed item %+v", it)
		}
	}
	if kinds["hr/file"] != 1 || kinds["hr/record"] != 1 || kinds["crm/record"] != 2 || kinds["crm/file"] != 1 {
		t.Errorf("listed kinds %v", kinds)
	}
	if bytes.Contains(lb, []byte("contract.pdf")) {
		t.Error("the listing names a file")
	}

	// Status after the portal visit, the notification log and the audit.
	st, body := j.status(reqID)
	if st.ID != reqID || st.State != store.RequestDelivered || st.Decisions["hr"] != 3 || st.Decisions["crm"] != 2 {
		t.Errorf("final status %s", body)
	}
	kinds = map[string]int{}
	for _, n := range st.Notify {
		if n.Sent == nil || n.Failed {
			t.Errorf("notification %+v not sent", n)
		}
		kinds[n.Kind]++
	}
	if kinds[store.NotifyReviewers] != 3 || kinds[store.NotifySubject] != 1 {
		t.Errorf("notifications %+v: want one per contact (hr has two) and one to the subject", st.Notify)
	}
	entries, _ := j.audit("?request=" + reqID)
	events := map[string]int{}
	for _, e := range entries {
		events[e.Event]++
		if e.Request != AuditRef(j.srv.Secret(), reqID) {
			t.Errorf("audit entry %s names request %q", e.Event, e.Request)
		}
	}
	for _, ev := range []string{"request.received", "request.searched", "request.awaiting-review", "workbook.download",
		"workbook.upload", "request.reviewed", "delivery.started", "delivery.delivered", "notification.sent",
		"portal.view", "portal.item", "portal.bundle"} {
		if events[ev] == 0 {
			t.Errorf("no audit entry %s (have %v)", ev, events)
		}
	}
	if events["notification.sent"] != 4 || events["portal.item"] != 5 || events["delivery.delivered"] != 1 {
		t.Errorf("audit events %v: want 4 notification.sent, 5 portal.item, 1 delivery.delivered", events)
	}
	for _, e := range entries {
		if e.Event == "workbook.upload" || e.Event == "request.reviewed" || e.Event == "workbook.download" {
			if e.Actor != "reviewer-1" {
				t.Errorf("audit %s actor %q, want the reviewer", e.Event, e.Actor)
			}
		}
	}
	j.verifyAudit()

	// The lifecycle hook saw every step once, in order.
	seen := j.stepsSeen()
	want := []string{"received", "searched", "awaiting-review", "reviewed", "delivering", "delivered"}
	last := -1
	for _, w := range want {
		i := slices.Index(seen, w)
		if i < 0 || i < last {
			t.Errorf("steps %v: %s missing or out of order", seen, w)
		}
		last = i
	}
	rows := 0
	for _, s := range seen {
		if s == "delivery.row" {
			rows++
		}
	}
	if rows != 5 {
		t.Errorf("%d delivery.row steps, want 5", rows)
	}
	// The changed letter was fetched again at delivery and not delivered;
	// the withheld file was never fetched again.
	j.content.mu.Lock()
	gets := maps.Clone(j.content.gets)
	j.content.mu.Unlock()
	if gets["letter.txt"] < 2 || gets["offer.docx"] != 1 || gets["contacts.xlsx"] != 1 || gets["canteen.txt"] != 1 {
		t.Errorf("content fetches %v: want letter.txt fetched at delivery, offer/contacts/canteen only by ingestion", gets)
	}
}

// TestJourneyPIICanary runs the journey with canary identifiers and
// document text and asserts none appears in clear in the logs (debug
// level), the metrics or the audit log, and that the portal token never
// appears in the logs.
func TestJourneyPIICanary(t *testing.T) {
	j := newJourney(t)
	const (
		email    = "canary.7f3a9@example.org"
		phone    = "+47 415 99 321"
		name     = "Zyxwvut Qqqcanary"
		userID   = "canary-user-5521"
		reqID    = "canary-req-9911"
		docText  = "quixotic-canary-phrase"
		fileName = "canaryfile-3141.txt"
		typed    = "Reviewer redaction for Zyxwvut Qqqcanary, quixotic-canary-phrase"
	)
	canaries := []string{email, phone, "+4741599321", "41599321", "415 99 321", name, userID, reqID, docText, fileName}
	letter := []byte(fmt.Sprintf("Letter to %s (%s, tel. %s), customer %s. %s.\n", name, email, phone, userID, docText))
	// A real docx, found through its own address (a subject identifier).
	docx := readCorpus(t, "docx/poi_stress009.docx")
	j.registerType("hr", "Personnel files", "hr-lead@example.org")
	j.pushDocs([]jDoc{
		{id: "doc-1", name: fileName, dataType: "hr", mime: "text/plain", body: letter, meta: map[string]any{"owner": name}},
		{id: "doc-2", name: "offer.docx", dataType: "hr", mime: "application/vnd.openxmlformats-officedocument.wordprocessingml.document", body: docx},
	})
	j.push("gdpr-subject-in", map[string]any{"_id": "subject-canary", "gdpr-subject:subject-id": userID,
		"gdpr-subject:identifier": []string{phone, name, "sales@zeeis.cn"}})
	key := newJKey(t, email)
	ident, err := encrypt.NewIdentity(key.private, nil)
	if err != nil {
		t.Fatal(err)
	}
	j.push(arIn, map[string]any{
		"gdpr-access-request:access-request-id": reqID,
		"gdpr-access-request:user-id":           userID,
		"gdpr-access-request:contactinfo":       email,
		"gdpr-access-request:public-key":        key.public,
		"gdpr-access-request:title":             "Request from " + name,
		"gdpr-access-request:identifiers":       []string{name, phone},
	})
	st := j.waitState(reqID, store.RequestAwaitingReview, 60*time.Second)
	if st.Hits != 2 {
		t.Fatalf("search found %d hits, want 2", st.Hits)
	}
	j.waitMail(1)
	wb := j.workbook(reqID)
	wb.set("hr", "text", "doc-1", typed)
	wb.set("hr", "metadata.owner", "doc-1", "Owner "+name)
	if wr := j.upload(reqID, wb.bytes()); wr.State != store.RequestReviewed {
		t.Fatalf("upload %+v", wr)
	}
	j.waitState(reqID, store.RequestDelivered, 60*time.Second)
	msgs := j.waitMail(2)
	var link string
	for _, m := range msgs {
		if slices.Contains(m.To, email) {
			link = j.portalLinkFrom(m)
		}
	}
	if link == "" {
		t.Fatal("no mail to the subject")
	}
	d := j.fetchPortal(link, ident)
	if r := d.records["doc-1"]; r.Text != typed {
		t.Errorf("delivered text %q, want the typed one", r.Text)
	}
	token := strings.TrimPrefix(link, "/portal/")
	// A wrong token too: what is logged about it must not quote it.
	wrong := token[:len(token)-4] + "AAAA"
	if code, _, _ := j.do("GET", "/portal/"+wrong, "", "", nil); code != 404 {
		t.Errorf("wrong token: %d", code)
	}
	// The status API may name the request: it is the operator's view.
	_, statusBody := j.status(reqID)
	if !strings.Contains(string(statusBody), reqID) {
		t.Errorf("status body does not name its request: %s", statusBody)
	}

	code, metrics := j.get("/metrics", ScopeRead)
	if code != 200 || !bytes.Contains(metrics, []byte("docvet_index_documents")) {
		t.Fatalf("metrics: %d %s", code, metrics)
	}
	_, auditBody := j.audit("")
	_, reqAudit := j.audit("?request=" + reqID)
	if !bytes.Contains(reqAudit, []byte("portal.bundle")) {
		t.Errorf("the request's audit entries lack the portal download: %s", reqAudit)
	}
	j.verifyAudit()

	logs := j.logs.String()
	if !strings.Contains(logs, `"msg"`) || len(logs) < 500 {
		t.Fatalf("too little was logged to judge (%d bytes): %s", len(logs), logs)
	}
	outputs := map[string]string{"logs": logs, "metrics": string(metrics), "audit log": string(auditBody) + string(reqAudit)}
	for what, out := range outputs {
		lower := strings.ToLower(out)
		for _, c := range canaries {
			if strings.Contains(out, c) || strings.Contains(lower, strings.ToLower(c)) {
				t.Errorf("%s contain the canary %q: %s", what, c, excerpt(out, c))
			}
		}
	}
	for _, tok := range []string{token, wrong} {
		if strings.Contains(logs, tok) {
			t.Errorf("logs contain a portal token: %s", excerpt(logs, tok))
		}
	}
}

// excerpt shows s around the first match of sub (case-insensitive).
func excerpt(s, sub string) string {
	i := strings.Index(strings.ToLower(s), strings.ToLower(sub))
	if i < 0 {
		return ""
	}
	lo, hi := max(i-200, 0), min(i+len(sub)+200, len(s))
	return s[lo:hi]
}

// TestJourneyNothingFound: a request whose identifiers match nothing still
// asks the data types' contacts; the empty workbook's upload answers it,
// the subject is told and the bundle holds only its index page. A re-push
// that changes its key is refused once it was searched, and so is one after
// a delete.
func TestJourneyNothingFound(t *testing.T) {
	j := newJourney(t)
	const (
		subject = "nobody.here@example.org"
		reqID   = "AR-none"
	)
	j.registerType("hr", "Personnel files", "hr-lead@example.org")
	j.pushDocs([]jDoc{{id: "doc-x", name: "x.txt", dataType: "hr", mime: "text/plain", body: []byte("no one in particular\n")}})
	key := newJKey(t, subject)
	ar := map[string]any{
		"gdpr-access-request:access-request-id": reqID,
		"gdpr-access-request:user-id":           "u-none",
		"gdpr-access-request:contactinfo":       subject,
		"gdpr-access-request:public-key":        key.public,
		"gdpr-access-request:identifiers":       []string{subject},
	}
	j.push(arIn, ar)
	// Nothing found: a person still confirms the empty answer.
	st := j.waitState(reqID, store.RequestAwaitingReview, 60*time.Second)
	if st.Hits != 0 {
		t.Fatalf("hits %d", st.Hits)
	}
	if msgs := j.waitMail(1); len(msgs) != 1 || msgs[0].To[0] != "hr-lead@example.org" {
		t.Fatalf("reviewer mail %+v", msgs)
	}
	wb := j.workbook(reqID)
	if res := j.upload(reqID, wb.bytes()); res.Rows != 0 || res.State != store.RequestReviewed {
		t.Fatalf("empty workbook upload: %+v", res)
	}
	j.waitState(reqID, store.RequestDelivered, 60*time.Second)
	msgs := j.waitMail(2)[1:]
	if len(msgs) != 1 || len(msgs[0].To) != 1 || msgs[0].To[0] != subject {
		t.Fatalf("mail %+v: want the subject's", msgs)
	}
	ident, err := encrypt.NewIdentity(key.private, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := j.fetchPortal(j.portalLinkFrom(msgs[0]), ident)
	if len(d.bundle) == 0 {
		t.Fatal("no bundle for an empty answer")
	}
	zr, err := zip.NewReader(bytes.NewReader(d.bundle), int64(len(d.bundle)))
	if err != nil || len(zr.File) != 1 || zr.File[0].Name != "index.html" {
		t.Fatalf("bundle of an empty answer: %v %v", err, zr)
	}

	// The request was answered to this key: a re-push with another one is
	// refused with the reason, and nothing changes.
	other := newJKey(t, subject)
	ar["gdpr-access-request:public-key"] = other.public
	b, _ := json.Marshal(ar)
	code, body, _ := j.do(http.MethodPost, "/api/receivers/"+arIn+"/entities", j.tokens[ScopePush], "application/json", b)
	if !bytes.Contains(body, []byte("can no longer change")) {
		t.Fatalf("re-push with another key: %d %s", code, body)
	}
	j.push(arIn, map[string]any{"_id": reqID, "_deleted": true, "gdpr-access-request:access-request-id": reqID})
	code, body, _ = j.do(http.MethodPost, "/api/receivers/"+arIn+"/entities", j.tokens[ScopePush], "application/json", b)
	if !bytes.Contains(body, []byte("was deleted")) {
		t.Fatalf("re-push after delete: %d %s", code, body)
	}
}
