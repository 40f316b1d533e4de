package delivery

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ProtonMail/gopenpgp/v2/crypto"

	"github.com/docvet/docvet/encrypt"
	"github.com/docvet/docvet/extractor"
	"github.com/docvet/docvet/index"
	"github.com/docvet/docvet/search"
	"github.com/docvet/docvet/store"
	"github.com/docvet/docvet/vetting"
)

const corpusPDF = "../../shared/corpus/pdf"

// fixture is a request ready for delivery: documents served over HTTP,
// indexed, a snapshot of hits and the reviewer's decisions.
type fixture struct {
	st      *store.Store
	ix      *index.Index
	blobs   *Blobs
	srv     *httptest.Server
	files   map[string][]byte // path → bytes served
	mu      sync.Mutex
	failOn  atomic.Int64 // the fetch (1-based) that fails with 503; 0: none
	fetches atomic.Int64
	pub     string
	priv    []byte
	res     search.Result
	byName  map[string]*search.Hit
}

func corpusFile(t *testing.T) ([]byte, string) {
	t.Helper()
	ents, err := os.ReadDir(corpusPDF)
	if err != nil {
		t.Skipf("corpus not available (%v): ../shared must sit beside the repository", err)
	}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".pdf") {
			b, err := os.ReadFile(filepath.Join(corpusPDF, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			return b, e.Name()
		}
	}
	t.Skip("no pdf in the corpus")
	return nil, ""
}

func genKey(t testing.TB, typ string, bits int) (string, []byte) {
	t.Helper()
	k, err := crypto.GenerateKey("Subject", "subject@example.org", typ, bits)
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
	return pub, []byte(priv)
}

func sha(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// newFixture builds seven hits covering every outcome:
//
//	keep      file kept, delivered with its file
//	nofile    file withheld, metadata edited
//	gone      withheld by the reviewer
//	typed     reviewer typed text, file kept
//	changed   the file at the source changed since review
//	missing   the source answers 404
//	reindexed the index holds another version than the reviewed one
func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	pdf, pdfName := corpusFile(t)
	dir := t.TempDir()
	st, err := store.Open(ctx, filepath.Join(dir, "docvet.db"), store.Options{Synchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ix, err := index.Open(filepath.Join(dir, "idx"), index.Options{BoltTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ix.Close() })
	blobs, err := NewBlobs(filepath.Join(dir, "delivery"))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{st: st, ix: ix, blobs: blobs, files: map[string][]byte{}, byName: map[string]*search.Hit{}}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n := f.fetches.Add(1); n == f.failOn.Load() {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		f.mu.Lock()
		b, ok := f.files[r.URL.Path]
		f.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	}))
	t.Cleanup(f.srv.Close)
	f.pub, f.priv = genKey(t, "x25519", 0)

	type doc struct {
		name, file string
		body       []byte
		text       string
		meta       map[string]any
		dec        *Decision
	}
	docs := []doc{
		{name: "keep", file: pdfName, body: pdf, text: "Annual report for Kari Nordmann", meta: map[string]any{"owner": "hr"},
			dec: &Decision{}},
		{name: "nofile", file: "contract.txt", body: []byte("contract of Kari"), text: "contract of Kari",
			meta: map[string]any{"owner": "legal", "author": map[string]any{"name": "Ola", "dept": "x"}, "dc.title": "t"},
			dec: &Decision{FileWithheld: true, Metadata: []vetting.MetadataEdit{
				{Key: "owner", Value: "Legal dept"}, {Key: "author.dept", Cleared: true}, {Key: `dc\.title`, Value: "Contract"}}}},
		{name: "gone", file: "other.txt", body: []byte("about someone else too"), text: "about someone else too",
			dec: &Decision{Withheld: true}},
		{name: "typed", file: "notes.txt", body: []byte("notes with a third party"), text: "notes with a third party",
			dec: &Decision{HasText: true, Text: "Redacted notes about Kari"}},
		{name: "changed", file: "changed.txt", body: []byte("version 1"), text: "version 1", dec: &Decision{}},
		{name: "missing", file: "missing.txt", body: []byte("was here"), text: "was here", dec: &Decision{}},
		{name: "reindexed", file: "re.txt", body: []byte("old text"), text: "old text", dec: &Decision{FileWithheld: true}},
	}
	var idocs []index.Doc
	var decisions []store.Decision
	for i, d := range docs {
		p := "/files/" + d.name + "/" + d.file
		f.files[p] = d.body
		dt := "hr"
		if i%2 == 1 {
			dt = "crm"
		}
		h := search.Hit{
			IndexID: index.DocID("source:share", d.name), Source: "source:share", EntityID: d.name, DataType: dt,
			DocumentID: d.name, Filename: d.file, MIMEType: "application/octet-stream", FileSize: int64(len(d.body)),
			OriginalURL: f.srv.URL + p, ExtractContent: f.srv.URL + p, SHA256: sha(d.body), Status: "ok", Metadata: d.meta,
		}
		f.res.Hits = append(f.res.Hits, h)
		indexed := index.Doc{Source: h.Source, EntityID: h.EntityID, DataType: dt, DocumentID: d.name, Filename: d.file,
			SHA256: h.SHA256, Status: "ok", Text: d.text, ExtractContent: h.ExtractContent, FileSize: h.FileSize}
		if d.name == "reindexed" {
			indexed.SHA256, indexed.Text = sha([]byte("new text")), "new text"
		}
		idocs = append(idocs, indexed)
		dec := *d.dec
		dec.IndexID = h.IndexID
		b, _ := json.Marshal(dec)
		decisions = append(decisions, store.Decision{RowID: "row-" + d.name, DataType: dt, Decision: b, What: json.RawMessage(`["kept"]`)})
	}
	for i := range f.res.Hits {
		f.byName[f.res.Hits[i].EntityID] = &f.res.Hits[i]
	}
	f.files["/files/changed/changed.txt"] = []byte("version 2")
	delete(f.files, "/files/missing/missing.txt")
	if err := ix.Apply(ctx, idocs, nil); err != nil {
		t.Fatal(err)
	}
	f.res.RequestID = "req-1"
	if err := st.Update(ctx, func(tx *store.Tx) error {
		if err := tx.PutRequestState("req-1", store.RequestAwaitingReview, ""); err != nil {
			return err
		}
		if err := tx.ReplaceDecisions("req-1", "", "reviewer", decisions); err != nil {
			return err
		}
		return tx.PutRequestState("req-1", store.RequestDelivering, "")
	}); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) deliverer(workers int) *Deliverer {
	base := f.srv.URL + "/files/"
	return New(f.st, f.blobs, extractor.NewFetcher(extractor.FetchOptions{}), Options{
		Workers:      workers,
		AllowedBases: func(string) []string { return []string{base} },
	})
}

func (f *fixture) job(t *testing.T, finished *int) Job {
	snap, err := f.ix.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { snap.Close() })
	return Job{RequestID: "req-1", PublicKey: f.pub, Language: "en", Result: &f.res, Texts: snap,
		Titles: map[string]string{"hr": "Human resources"},
		Finish: func(tx *store.Tx, s Summary) error { *finished++; return nil }}
}

func decryptItem(t *testing.T, priv []byte, r io.Reader) (string, []byte) {
	t.Helper()
	id, err := encrypt.NewIdentity(priv, nil)
	if err != nil {
		t.Fatal(err)
	}
	pt, err := id.Decrypt(r)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(pt.Body)
	if err != nil {
		t.Fatal(err)
	}
	return pt.Filename, b
}

func TestDeliverOutcomes(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	finished := 0
	sum, err := f.deliverer(3).Deliver(ctx, f.job(t, &finished))
	if err != nil {
		t.Fatal(err)
	}
	want := Summary{Rows: 7, Delivered: 3, FileWithheld: 1, Withheld: 1, Changed: 2, Unavailable: 1, Items: 5}
	sum.Bytes, sum.Bundle = 0, store.Bundle{}
	if sum != want {
		t.Fatalf("summary %+v\nwant    %+v", sum, want)
	}
	if finished != 1 {
		t.Fatalf("Finish ran %d times", finished)
	}
	rs, err := f.st.RequestState(ctx, "req-1")
	if err != nil || rs.State != store.RequestDelivered {
		t.Fatalf("state %q, %v", rs.State, err)
	}
	outcomes := map[string]string{}
	f.st.DeliveryRows(ctx, "req-1", func(r store.DeliveryRow) error {
		for name, h := range f.byName {
			if h.IndexID == r.RowID {
				outcomes[name] = r.Outcome + "/" + r.Reason
			}
		}
		return nil
	})
	wantOutcomes := map[string]string{
		"keep": "delivered/", "nofile": "delivered/" + reasonFileWithheld, "gone": "withheld/", "typed": "delivered/",
		"changed": "changed/" + reasonChanged, "missing": "unavailable/" + reasonGone, "reindexed": "changed/" + reasonChanged,
	}
	for k, v := range wantOutcomes {
		if outcomes[k] != v {
			t.Errorf("%s: outcome %q, want %q", k, outcomes[k], v)
		}
	}

	// Every item decrypts with the subject's key to what was approved.
	files := map[string][]byte{}
	records := map[string]record{}
	err = f.st.DeliveryItems(ctx, "req-1", func(it store.DeliveryItem) error {
		b, err := f.blobs.Open(it.Blob)
		if err != nil {
			return err
		}
		defer b.Close()
		name, body := decryptItem(t, f.priv, b)
		if it.Kind == store.ItemFile {
			files[name] = body
			return nil
		}
		var rec record
		if err := json.Unmarshal(body, &rec); err != nil {
			t.Fatalf("record %s: %v", name, err)
		}
		if name != rec.Filename+".json" {
			t.Errorf("record literal name %q for %q", name, rec.Filename)
		}
		records[rec.DocumentID] = rec
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	keep := f.byName["keep"]
	if !bytes.Equal(files[keep.Filename], f.files["/files/keep/"+keep.Filename]) {
		t.Errorf("delivered file differs from the source (%d files: %v)", len(files), len(files[keep.Filename]))
	}
	if string(files["notes.txt"]) != "notes with a third party" || len(files) != 2 {
		t.Errorf("files delivered: %d", len(files))
	}
	if r := records["keep"]; r.Text != "Annual report for Kari Nordmann" || r.TextSource != "extracted" || !r.FileDelivered || r.DataTypeTitle != "Human resources" {
		t.Errorf("keep record %+v", r)
	}
	r := records["nofile"]
	if r.FileDelivered || !r.FileWithheld || r.Metadata["owner"] != "Legal dept" || r.Metadata["dc.title"] != "Contract" {
		t.Errorf("nofile record %+v", r)
	}
	if a, _ := r.Metadata["author"].(map[string]any); a["name"] != "Ola" || a["dept"] != nil {
		t.Errorf("nofile author %v", r.Metadata["author"])
	}
	if f.byName["nofile"].Metadata["owner"] != "legal" {
		t.Error("ApplyMetadata changed the snapshot's metadata")
	}
	if r := records["typed"]; r.Text != "Redacted notes about Kari" || r.TextSource != "reviewer" {
		t.Errorf("typed record %+v", r)
	}

	// The bundle: index.html, a folder per data type with its page and
	// every item, which decrypts.
	b, err := f.st.Bundle(ctx, "req-1")
	if err != nil {
		t.Fatal(err)
	}
	bf, err := f.blobs.Open(b.Blob)
	if err != nil {
		t.Fatal(err)
	}
	defer bf.Close()
	zr, err := zip.NewReader(bf, b.Size)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	pgp := 0
	for _, zf := range zr.File {
		names[zf.Name] = true
		if strings.HasSuffix(zf.Name, ".pgp") {
			pgp++
			rc, _ := zf.Open()
			decryptItem(t, f.priv, rc)
			rc.Close()
		}
	}
	if pgp != 5 || !names["index.html"] || !names["hr/index.html"] || !names["crm/index.html"] {
		t.Fatalf("bundle entries %v", names)
	}
	top, _ := zr.Open("index.html")
	page, _ := io.ReadAll(top)
	for _, leak := range []string{"Kari", "contract.txt", "req-1", keep.Filename} {
		if bytes.Contains(page, []byte(leak)) {
			t.Errorf("bundle index.html names %q", leak)
		}
	}
	if !bytes.Contains(page, []byte("Human resources")) {
		t.Error("bundle index.html lacks the data type title")
	}

	// Delivering again is refused: the request is delivered.
	if _, err := f.deliverer(1).Deliver(ctx, f.job(t, &finished)); !errors.Is(err, ErrNotDelivering) {
		t.Fatalf("second Deliver = %v, want ErrNotDelivering", err)
	}
}

// TestDeliverResumes stops a delivery part way (the source fails) and
// resumes it: every row ends up recorded once, with one set of items.
func TestDeliverResumes(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	finished := 0
	f.failOn.Store(2) // the second download fails: transient
	_, err := f.deliverer(1).Deliver(ctx, f.job(t, &finished))
	if !errors.Is(err, ErrRowsPending) {
		t.Fatalf("Deliver = %v, want ErrRowsPending", err)
	}
	rs, _ := f.st.RequestState(ctx, "req-1")
	if rs.State != store.RequestDelivering || finished != 0 {
		t.Fatalf("after a failed run: state %q, finished %d", rs.State, finished)
	}
	before := 0
	f.st.DeliveryRows(ctx, "req-1", func(store.DeliveryRow) error { before++; return nil })
	if before != 6 { // every row but typed, whose download failed
		t.Fatalf("the failed run recorded %d rows, want 6", before)
	}
	sum, err := f.deliverer(2).Deliver(ctx, f.job(t, &finished))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Rows != 7 || sum.Items != 5 || finished != 1 {
		t.Fatalf("after resume: %+v, finished %d", sum, finished)
	}
	// Blobs of the failed run that no row names are swept; the others stay.
	n, err := f.blobs.Sweep(ctx, 0, f.st.BlobReferenced)
	if err != nil {
		t.Fatal(err)
	}
	left := 0
	filepath.WalkDir(f.blobs.Dir(), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			left++
		}
		return nil
	})
	if left != 6 { // 5 items + the bundle
		t.Fatalf("%d blobs left after sweeping %d, want 6", left, n)
	}
}

// TestDeliverGivesUp: a row whose source keeps failing is recorded as
// unavailable after GiveUpAfter, and the request completes.
func TestDeliverGivesUp(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.mu.Lock()
	f.files["/files/keep/"+f.byName["keep"].Filename] = nil // replaced below
	f.mu.Unlock()
	broken := f.byName["keep"].ExtractContent
	var brokenHits atomic.Int64
	f.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f.srv.URL+r.URL.Path == broken {
			brokenHits.Add(1)
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		f.mu.Lock()
		b, ok := f.files[r.URL.Path]
		f.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	})
	now := time.Now()
	d := f.deliverer(2)
	d.opt.Now = func() time.Time { return now }
	d.opt.GiveUpAfter = time.Hour
	finished := 0
	if _, err := d.Deliver(ctx, f.job(t, &finished)); !errors.Is(err, ErrRowsPending) {
		t.Fatalf("first run: %v", err)
	}
	if d.Failing("req-1") != 1 {
		t.Fatalf("failing rows %d", d.Failing("req-1"))
	}
	// Right after a failure the row waits (backoff): no new download.
	if _, err := d.Deliver(ctx, f.job(t, &finished)); !errors.Is(err, ErrRowsPending) || brokenHits.Load() != 1 {
		t.Fatalf("second run: %v, %d downloads of the failing file", err, brokenHits.Load())
	}
	now = now.Add(2 * time.Hour)
	sum, err := d.Deliver(ctx, f.job(t, &finished))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Unavailable != 2 || sum.Delivered != 2 || d.Failing("req-1") != 0 {
		t.Fatalf("summary %+v, failing %d", sum, d.Failing("req-1"))
	}
}

func TestDeliverRefusesWeakKey(t *testing.T) {
	f := newFixture(t)
	f.pub, _ = genKey(t, "rsa", 1024)
	finished := 0
	_, err := f.deliverer(1).Deliver(context.Background(), f.job(t, &finished))
	if !errors.Is(err, ErrKey) {
		t.Fatalf("Deliver = %v, want ErrKey", err)
	}
	if f.fetches.Load() != 0 {
		t.Fatal("documents were fetched for a key that cannot be used")
	}
}

func TestApplyMetadata(t *testing.T) {
	md := map[string]any{"a": "1", "n": map[string]any{"x": "2", "y": "3"}, "list": []any{"p", "q"}, `k.v`: "4"}
	tests := []struct {
		name  string
		edits []vetting.MetadataEdit
		check func(map[string]any) bool
	}{
		{"set", []vetting.MetadataEdit{{Key: "a", Value: "new"}}, func(m map[string]any) bool { return m["a"] == "new" }},
		{"clear", []vetting.MetadataEdit{{Key: "a", Cleared: true}}, func(m map[string]any) bool { _, ok := m["a"]; return !ok }},
		{"nested", []vetting.MetadataEdit{{Key: "n.x", Cleared: true}}, func(m map[string]any) bool {
			n := m["n"].(map[string]any)
			_, ok := n["x"]
			return !ok && n["y"] == "3"
		}},
		{"escaped dot", []vetting.MetadataEdit{{Key: `k\.v`, Value: "5"}}, func(m map[string]any) bool { return m["k.v"] == "5" && m["k"] == nil }},
		{"clear below scalar", []vetting.MetadataEdit{{Key: "a.b", Cleared: true}}, func(m map[string]any) bool { return m["a"] == "1" }},
		{"array as text", []vetting.MetadataEdit{{Key: "list", Value: `["p"]`}}, func(m map[string]any) bool { return m["list"] == `["p"]` }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ApplyMetadata(md, tc.edits)
			if !tc.check(got) {
				t.Fatalf("got %v", got)
			}
			if md["a"] != "1" || md["n"].(map[string]any)["x"] != "2" {
				t.Fatal("input changed")
			}
		})
	}
}

func TestItemName(t *testing.T) {
	tests := map[string]string{
		"report.pdf":           "report.pdf",
		"a/b/../c.txt":         "c.txt",
		`C:\Users\x\evil.exe`:  "evil.exe",
		".bashrc":              "bashrc",
		"..":                   "document",
		"":                     "document",
		"gnp.\u202eexe":        "gnp.exe",
		"tab\tname\n.txt":      "tabname.txt",
		"  spaced.docx ":       "spaced.docx",
		"Ødegård kontrakt.pdf": "Ødegård kontrakt.pdf",
		"/":                    "document",
		"dir/.hidden.txt":      "hidden.txt",
	}
	for in, want := range tests {
		if got := itemName(&search.Hit{Filename: in}); got != want {
			t.Errorf("itemName(%q) = %q, want %q", in, got, want)
		}
	}
	if got := itemName(&search.Hit{DocumentID: "doc-7"}); got != "doc-7" {
		t.Errorf("document id fallback: %q", got)
	}
}
