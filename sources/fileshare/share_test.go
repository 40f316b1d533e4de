package fileshare

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/docvet/docvet/extractor/sniff"
	"github.com/docvet/docvet/sources"
	"github.com/docvet/docvet/sources/sourcetest"
	"github.com/docvet/docvet/store"
)

const testPublicURL = "http://docvet-test.invalid:8081"

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

type harness struct {
	t       *testing.T
	root    string
	dbPath  string
	opt     Options
	st      *store.Store
	share   *Share
	closers []func()
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	dir := t.TempDir()
	h := &harness{
		t:      t,
		root:   filepath.Join(dir, "share"),
		dbPath: filepath.Join(dir, "state", "fileshare.db"),
		opt:    Options{DataType: "hr-documents", PublicURL: testPublicURL, Logger: quietLogger()},
	}
	if err := os.MkdirAll(h.root, 0o755); err != nil {
		t.Fatal(err)
	}
	h.open()
	t.Cleanup(func() { h.st.Close() })
	return h
}

func (h *harness) open() {
	h.t.Helper()
	st, err := store.Open(context.Background(), h.dbPath, store.Options{Synchronous: "NORMAL"})
	if err != nil {
		h.t.Fatal(err)
	}
	sh, err := New(h.root, st, h.opt)
	if err != nil {
		h.t.Fatal(err)
	}
	h.st, h.share = st, sh
}

func (h *harness) Source() sources.Source { return h.share }

func (h *harness) path(name string) string { return filepath.Join(h.root, filepath.FromSlash(name)) }

func (h *harness) Write(name string, data []byte) {
	h.t.Helper()
	p := h.path(name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		h.t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) Remove(name string) {
	h.t.Helper()
	if err := os.Remove(h.path(name)); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) Move(from, to string) {
	h.t.Helper()
	if err := os.MkdirAll(filepath.Dir(h.path(to)), 0o755); err != nil {
		h.t.Fatal(err)
	}
	if err := os.Rename(h.path(from), h.path(to)); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) Restart() {
	h.t.Helper()
	if err := h.st.Close(); err != nil {
		h.t.Fatal(err)
	}
	h.open()
}

func (h *harness) ID(name string) string  { return "fileshare:" + name }
func (h *harness) Key(name string) string { return name }

func (h *harness) rescan() sources.ScanStats {
	h.t.Helper()
	st, err := h.share.Rescan(context.Background())
	if err != nil {
		h.t.Fatalf("rescan: %v", err)
	}
	return st
}

func (h *harness) all() map[string]sources.Document {
	h.t.Helper()
	m := map[string]sources.Document{}
	if err := h.share.Changes(context.Background(), 0, 0, func(d sources.Document) error {
		m[d.ID] = d
		return nil
	}); err != nil {
		h.t.Fatal(err)
	}
	return m
}

func TestSourceSuite(t *testing.T) {
	sourcetest.Run(t, func(t *testing.T) sourcetest.Harness { return newHarness(t) })
}

// The suite again with batches of one file and one worker, so batch
// boundaries and transaction splits are exercised.
func TestSourceSuiteTinyBatches(t *testing.T) {
	sourcetest.Run(t, func(t *testing.T) sourcetest.Harness {
		h := newHarness(t)
		h.opt.BatchSize, h.opt.Workers = 1, 1
		h.Restart()
		return h
	})
}

func TestEntityShape(t *testing.T) {
	h := newHarness(t)
	h.opt.OriginalURLBase = "smb://fileserver/hr/"
	h.opt.IDPrefix = "hr"
	h.Restart()
	h.Write("2019/contract 4711 #1.txt", []byte("hello"))
	h.rescan()
	d, ok := h.all()["hr:2019/contract 4711 #1.txt"]
	if !ok {
		t.Fatalf("not listed: %v", h.all())
	}
	if d.ExtractContent != testPublicURL+"/content/2019/contract%204711%20%231.txt" {
		t.Fatalf("extract-content %q", d.ExtractContent)
	}
	if d.OriginalURL != "smb://fileserver/hr/2019/contract%204711%20%231.txt" {
		t.Fatalf("original-url %q", d.OriginalURL)
	}
	if d.Filename != "contract 4711 #1.txt" || d.MIMEType != "text/plain" || d.FileSize != 5 || d.DataTypeID != "hr-documents" {
		t.Fatalf("entity %+v", d)
	}
	md := d.Metadata
	if md["path"] != "2019/contract 4711 #1.txt" || md["sha256"] != "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824" {
		t.Fatalf("metadata %v", md)
	}
	if _, ok := md["modified"].(string); !ok {
		t.Fatalf("metadata modified %v", md["modified"])
	}
	// The published JSON carries the ~r transit prefix.
	srv := httptest.NewServer(sources.NewHandler(h.share, sources.HandlerOptions{}))
	defer srv.Close()
	resp, body := do(t, "GET", srv.URL+sources.PublisherPath, "")
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte(`"gdpr-document:extract-content":"~r`+testPublicURL)) ||
		!bytes.Contains(body, []byte(`"gdpr-document:document_id":"hr:2019/contract 4711 #1.txt"`)) {
		t.Fatalf("published: %s", body)
	}
}

// Changing an option that shapes the entities (here the public URL)
// re-publishes every document, without re-reading the files.
func TestOptionChangeRepublishes(t *testing.T) {
	h := newHarness(t)
	h.Write("a.txt", []byte("a"))
	h.Write("b.txt", []byte("b"))
	h.rescan()
	h.opt.PublicURL = "https://docvet.example/fs"
	h.Restart()
	st := h.rescan()
	if st.Changed != 2 || st.Read != 0 || st.Unchanged != 2 {
		t.Fatalf("option change: %+v", st)
	}
	if d := h.all()["fileshare:a.txt"]; d.ExtractContent != "https://docvet.example/fs/content/a.txt" {
		t.Fatalf("extract-content %q", d.ExtractContent)
	}
	if st := h.rescan(); st.Changed != 0 {
		t.Fatalf("second rescan: %+v", st)
	}
}

// Rewriting a file with the same bytes and the same modification time (a
// restore from backup, a chmod) changes its ctime, so the file is re-read,
// but nothing is published: the entity is identical. (With a new mtime the
// "modified" metadata changes and the document is republished, by design.)
func TestRewriteSameBytesPublishesNothing(t *testing.T) {
	h := newHarness(t)
	h.Write("a.txt", []byte("same"))
	fi, err := os.Stat(h.path("a.txt"))
	if err != nil {
		t.Fatal(err)
	}
	h.rescan()
	h.Write("a.txt", []byte("same"))
	if err := os.Chtimes(h.path("a.txt"), fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	st := h.rescan()
	if st.Read != 1 || st.Changed != 0 {
		t.Fatalf("rewrite with same bytes and mtime: %+v", st)
	}
}

func TestSniffBeatsExtension(t *testing.T) {
	h := newHarness(t)
	// A minimal DOCX made here, and a real one from the corpus when present.
	var docx bytes.Buffer
	zw := zip.NewWriter(&docx)
	for _, name := range []string{"[Content_Types].xml", "word/document.xml"} {
		w, _ := zw.Create(name)
		w.Write([]byte("<x/>"))
	}
	must(t, zw.Close())
	h.Write("lies/report.pdf", docx.Bytes())
	want := map[string]string{"lies/report.pdf": sniff.DOCX, "lies/real.txt": sniff.PDF, "lies/archive.pdf": sniff.Zip}
	if real, err := os.ReadFile(corpusFile(t, "docx")); err == nil {
		h.Write("lies/corpus.pdf", real)
		want["lies/corpus.pdf"] = sniff.DOCX
	}
	h.Write("lies/real.txt", []byte("%PDF-1.4\n%fake but a pdf header\n"))
	var zb bytes.Buffer
	zb.Write([]byte("PK\x05\x06" + strings.Repeat("\x00", 18))) // empty zip archive
	h.Write("lies/archive.pdf", zb.Bytes())
	h.rescan()
	m := h.all()
	for name, want := range want {
		if got := m["fileshare:"+name].MIMEType; got != want {
			t.Errorf("%s: mime %q, want %q", name, got, want)
		}
	}
	c, err := h.share.Open(context.Background(), "lies/report.pdf")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.MIMEType != sniff.DOCX {
		t.Fatalf("Open mime %q", c.MIMEType)
	}
}

func corpusFile(t *testing.T, ext string) string {
	t.Helper()
	var found string
	filepath.WalkDir("../../../shared/corpus", func(p string, d os.DirEntry, err error) error {
		if err != nil || found != "" {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, "."+ext) && !strings.Contains(p, "broken") {
			found = p
			return filepath.SkipAll
		}
		return nil
	})
	return found
}

func do(t *testing.T, method, url, rawPath string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rawPath != "" {
		// Send the path exactly as written (no client-side cleaning).
		req.URL.Opaque = rawPath
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// TestTraversal: nothing outside the root, no symlink (even pointing
// inside), no hidden or special file is listed or served, whatever the
// encoding of the request path.
func TestTraversal(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("symlinks need privileges on Windows")
	}
	base := t.TempDir()
	secretDir := filepath.Join(base, "secret")
	os.MkdirAll(secretDir, 0o755)
	os.WriteFile(filepath.Join(secretDir, "passwd.txt"), []byte("SECRET"), 0o644)
	os.WriteFile(filepath.Join(base, "outside.txt"), []byte("SECRET"), 0o644)

	h := newHarness(t)
	h.Write("ok.txt", []byte("public"))
	h.Write("dir/inner.txt", []byte("inner"))
	h.Write(".hidden.txt", []byte("hidden"))
	h.Write(".git/config", []byte("hidden dir"))
	h.Write("back\\slash.txt", []byte("bad name"))
	must(t, os.Symlink(filepath.Join(base, "outside.txt"), h.path("link-out.txt")))
	must(t, os.Symlink("ok.txt", h.path("link-in.txt")))
	must(t, os.Symlink(secretDir, h.path("dirlink-out")))
	must(t, os.Symlink("dir", h.path("dirlink-in")))
	must(t, os.Symlink("../../secret/passwd.txt", h.path("dir/rel-out.txt")))
	fifo := h.path("fifo")
	fifoErr := mkfifo(fifo)

	st := h.rescan()
	m := h.all()
	if len(m) != 2 || m["fileshare:ok.txt"].Deleted || m["fileshare:dir/inner.txt"].Deleted {
		t.Fatalf("listed %v", keys(m))
	}
	if st.Symlinks != 5 || st.Hidden != 2 || st.BadNames != 1 {
		t.Fatalf("stats %+v", st)
	}
	if fifoErr == nil && st.Special != 1 {
		t.Fatalf("fifo not counted as special: %+v", st)
	}

	srv := httptest.NewServer(sources.NewHandler(h.share, sources.HandlerOptions{Logger: quietLogger()}))
	defer srv.Close()
	if resp, body := do(t, "GET", srv.URL+"/content/ok.txt", ""); resp.StatusCode != 200 || string(body) != "public" {
		t.Fatalf("ok.txt: %d %q", resp.StatusCode, body)
	}
	if resp, body := do(t, "GET", srv.URL+"/content/dir/inner.txt", ""); resp.StatusCode != 200 || string(body) != "inner" {
		t.Fatalf("dir/inner.txt: %d %q", resp.StatusCode, body)
	}
	for _, p := range []string{
		"/content/link-out.txt",
		"/content/link-in.txt",
		"/content/dirlink-out/passwd.txt",
		"/content/dirlink-in/inner.txt",
		"/content/dir/rel-out.txt",
		"/content/.hidden.txt",
		"/content/.git/config",
		"/content/%2ehidden.txt",
		"/content/back%5Cslash.txt",
		"/content/back\\slash.txt",
		"/content/fifo",
		"/content/dir",
		"/content/",
		"/content/../outside.txt",
		"/content/dir/../../outside.txt",
		"/content/%2e%2e/outside.txt",
		"/content/%2E%2E/%2E%2E/secret/passwd.txt",
		"/content/..%2foutside.txt",
		"/content/..%2Foutside.txt",
		"/content/dir%2f..%2f..%2foutside.txt",
		"/content/%2e%2e%2f%2e%2e%2fsecret%2fpasswd.txt",
		"/content/ok.txt%00",
		"/content/ok.txt%00.pdf",
		"/content/%00",
		"/content//etc/passwd",
		"/content/%2fetc%2fpasswd",
		"/content/" + strings.ReplaceAll(base, "/", "%2f") + "%2foutside.txt",
		"/content/..%5c..%5coutside.txt",
		"/content/%2e/ok.txt",
	} {
		resp, body := do(t, "GET", srv.URL, p)
		if resp.StatusCode == 200 || bytes.Contains(body, []byte("SECRET")) || bytes.Contains(body, []byte("hidden")) {
			t.Errorf("%s: %d %q", p, resp.StatusCode, body)
		}
	}
	// Unclean but harmless spellings are redirected by the mux to the clean
	// path of a public file, never to anything else.
	for p, want := range map[string]string{"/content/./ok.txt": "public", "/content/dir/./inner.txt": "inner", "/content/dir//inner.txt": "inner"} {
		if resp, body := do(t, "GET", srv.URL, p); resp.StatusCode != 200 || string(body) != want {
			t.Errorf("%s: %d %q", p, resp.StatusCode, body)
		}
	}
	// Direct Open applies the same rules.
	for _, key := range []string{"link-in.txt", "dirlink-in/inner.txt", "dir/rel-out.txt", ".hidden.txt", "fifo"} {
		if _, err := h.share.Open(context.Background(), key); !errors.Is(err, sources.ErrNotFound) {
			t.Errorf("Open(%q): %v", key, err)
		}
	}
}

// A listed file that is replaced by a symlink after the scan is not served.
func TestSymlinkSwapAfterScan(t *testing.T) {
	base := t.TempDir()
	os.WriteFile(filepath.Join(base, "outside.txt"), []byte("SECRET"), 0o644)
	h := newHarness(t)
	h.Write("a.txt", []byte("A"))
	h.Write("d/b.txt", []byte("B"))
	h.rescan()
	h.Remove("a.txt")
	must(t, os.Symlink(filepath.Join(base, "outside.txt"), h.path("a.txt")))
	must(t, os.RemoveAll(h.path("d")))
	must(t, os.Symlink(base, h.path("d")))
	os.WriteFile(filepath.Join(base, "b.txt"), []byte("SECRET"), 0o644)
	for _, key := range []string{"a.txt", "d/b.txt"} {
		if c, err := h.share.Open(context.Background(), key); !errors.Is(err, sources.ErrNotFound) {
			if c != nil {
				c.Close()
			}
			t.Fatalf("Open(%q) after swap: %v", key, err)
		}
	}
	// And the next rescan publishes both as deleted.
	st := h.rescan()
	if st.Deleted != 2 || st.Symlinks != 2 {
		t.Fatalf("after swap: %+v", st)
	}
}

// A walk that fails at the root publishes no deletion, and neither does an
// empty root (an unmounted share) unless allowed.
func TestFailedWalkDoesNotDelete(t *testing.T) {
	h := newHarness(t)
	h.Write("a.txt", []byte("a"))
	h.Write("d/b.txt", []byte("b"))
	h.rescan()
	count := func() store.Counts {
		c, err := h.st.Count(context.Background(), h.share.Dataset())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	// Root gone (unmounted, renamed).
	moved := h.root + ".away"
	must(t, os.Rename(h.root, moved))
	st, err := h.share.Rescan(context.Background())
	if err == nil || st.Complete || count().Deleted != 0 {
		t.Fatalf("missing root: err %v, stats %+v, counts %+v", err, st, count())
	}
	// Root present but empty (mount point without its mount).
	must(t, os.Mkdir(h.root, 0o755))
	st, err = h.share.Rescan(context.Background())
	if !errors.Is(err, ErrEmptyRoot) || st.Complete || count().Deleted != 0 {
		t.Fatalf("empty root: err %v, stats %+v, counts %+v", err, st, count())
	}
	must(t, os.Remove(h.root))
	must(t, os.Rename(moved, h.root))

	// Cancelled half-way: nothing deleted, later rescan fine.
	h.Remove("a.txt")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.share.Rescan(ctx); !errors.Is(err, context.Canceled) || count().Deleted != 0 {
		t.Fatalf("cancelled: %v %+v", err, count())
	}
	if st := h.rescan(); st.Deleted != 1 {
		t.Fatalf("after recovery: %+v", st)
	}

	// Allowed empty root: everything is deleted.
	h2 := newHarness(t)
	h2.opt.AllowEmptyRoot = true
	h2.Restart()
	h2.Write("x.txt", []byte("x"))
	h2.rescan()
	h2.Remove("x.txt")
	if st := h2.rescan(); st.Deleted != 1 {
		t.Fatalf("allowed empty root: %+v", st)
	}
}

// An unreadable subdirectory or file keeps its known documents instead of
// deleting them, and is counted.
func TestUnreadableKept(t *testing.T) {
	h := newHarness(t)
	h.Write("a.txt", []byte("a"))
	h.Write("locked/b.txt", []byte("b"))
	h.Write("locked/sub/c.txt", []byte("c"))
	h.Write("f.txt", []byte("f"))
	h.rescan()
	// Running as root, permissions do not stop reads: simulate them.
	locked := map[string]bool{}
	lock := func(name string, mode os.FileMode) {
		if os.Geteuid() == 0 {
			locked[name] = true
			return
		}
		must(t, os.Chmod(h.path(name), 0))
		t.Cleanup(func() { os.Chmod(h.path(name), mode) })
	}
	unlock := func(name string, mode os.FileMode) {
		delete(locked, name)
		os.Chmod(h.path(name), mode)
	}
	h.share.failHook = func(key string) error {
		if locked[key] {
			return &os.PathError{Op: "open", Path: key, Err: os.ErrPermission}
		}
		return nil
	}
	lock("locked", 0o755)
	h.Write("f.txt", []byte("F2"))
	lock("f.txt", 0o644)
	h.Remove("a.txt")
	st := h.rescan()
	if st.Deleted != 1 || st.Unreadable != 2 || st.Kept != 3 || !st.Complete {
		t.Fatalf("stats %+v", st)
	}
	m := h.all()
	for _, id := range []string{"fileshare:locked/b.txt", "fileshare:locked/sub/c.txt", "fileshare:f.txt"} {
		if m[id].Deleted {
			t.Fatalf("%s deleted although it could not be checked", id)
		}
	}
	if m["fileshare:f.txt"].FileSize != 1 {
		t.Fatal("unreadable f.txt lost its known version")
	}
	if !m["fileshare:a.txt"].Deleted {
		t.Fatal("a.txt not deleted")
	}
	// Readable again: the change to f.txt is published.
	unlock("locked", 0o755)
	unlock("f.txt", 0o644)
	if st := h.rescan(); st.Changed != 1 || st.Deleted != 0 || st.Unreadable != 0 {
		t.Fatalf("after unlock: %+v", st)
	}
}

func TestRescanNeverConcurrent(t *testing.T) {
	h := newHarness(t)
	h.Write("a.txt", []byte("a"))
	h.share.scanning <- struct{}{} // a rescan is running
	if _, err := h.share.Rescan(context.Background()); !errors.Is(err, sources.ErrRescanRunning) {
		t.Fatalf("concurrent rescan: %v", err)
	}
	srv := httptest.NewServer(sources.NewHandler(h.share, sources.HandlerOptions{Logger: quietLogger()}))
	defer srv.Close()
	if resp, _ := do(t, "POST", srv.URL+"/rescan", ""); resp.StatusCode != http.StatusConflict {
		t.Fatalf("POST /rescan while running: %d", resp.StatusCode)
	}
	<-h.share.scanning
	resp, body := do(t, "POST", srv.URL+"/rescan", "")
	var st sources.ScanStats
	if resp.StatusCode != 200 || json.Unmarshal(body, &st) != nil || st.Changed != 1 {
		t.Fatalf("POST /rescan: %d %s", resp.StatusCode, body)
	}
}

func TestNewValidates(t *testing.T) {
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "s.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	os.WriteFile(file, nil, 0o644)
	ok := Options{DataType: "x", PublicURL: "http://127.0.0.1:8081"}
	for name, tc := range map[string]struct {
		root string
		opt  func(o *Options)
	}{
		"missing root":   {filepath.Join(dir, "nope"), func(*Options) {}},
		"root is a file": {file, func(*Options) {}},
		"no data type":   {dir, func(o *Options) { o.DataType = "" }},
		"no public url":  {dir, func(o *Options) { o.PublicURL = "" }},
		"relative url":   {dir, func(o *Options) { o.PublicURL = "/content" }},
		"ftp url":        {dir, func(o *Options) { o.PublicURL = "ftp://x" }},
		"url with query": {dir, func(o *Options) { o.PublicURL = "http://x/?a=b" }},
		"bad original":   {dir, func(o *Options) { o.OriginalURLBase = "fileserver/hr" }},
		"bad prefix":     {dir, func(o *Options) { o.IDPrefix = "a:b" }},
	} {
		o := ok
		tc.opt(&o)
		if _, err := New(tc.root, st, o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := New(dir, st, ok); err != nil {
		t.Fatal(err)
	}
}

func TestAuxRoundTrip(t *testing.T) {
	a := aux{fp: fingerprint{size: 5, mtime: -3, ctime: 1 << 60, ino: 1<<64 - 1, dev: 7}, cfg: "abcd", sha: strings.Repeat("a", 64), mime: "text/plain"}
	b, ok := parseAux(a.String())
	if !ok || b != a {
		t.Fatalf("%+v -> %q -> %+v %v", a, a.String(), b, ok)
	}
	for _, bad := range []string{"", "1", "2 5 -3 0 1 7 abcd " + strings.Repeat("a", 64) + " text/plain", "1 x 1 1 1 1 c " + strings.Repeat("a", 64) + " t/p", "1 1 1 1 1 1 c short t/p"} {
		if _, ok := parseAux(bad); ok {
			t.Errorf("parseAux(%q) accepted", bad)
		}
	}
}

func keys(m map[string]sources.Document) []string {
	var out []string
	for k, d := range m {
		if !d.Deleted {
			out = append(out, k)
		}
	}
	return out
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Logs carry counts and error kinds, never file names or paths.
func TestLogsHaveNoPaths(t *testing.T) {
	var buf bytes.Buffer
	h := newHarness(t)
	h.opt.Logger = slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h.Restart()
	h.Write("secretdir/alice-salary.txt", []byte("x"))
	h.Write("bob-contract.txt", []byte("y"))
	must(t, os.Symlink("/etc/passwd", h.path("carol-link")))
	h.rescan()
	h.share.failHook = func(key string) error {
		return &os.PathError{Op: "open", Path: key, Err: os.ErrPermission}
	}
	h.Write("bob-contract.txt", []byte("changed"))
	h.rescan()
	h.share.failHook = nil
	srv := httptest.NewServer(sources.NewHandler(h.share, sources.HandlerOptions{Logger: h.opt.Logger}))
	defer srv.Close()
	do(t, "GET", srv.URL+"/content/secretdir/alice-salary.txt", "")
	do(t, "GET", srv.URL+"/content/nope/dave.txt", "")
	if buf.Len() == 0 {
		t.Fatal("nothing logged")
	}
	for _, s := range []string{"alice", "bob", "carol", "dave", "secretdir", h.root} {
		if strings.Contains(buf.String(), s) {
			t.Fatalf("log contains %q:\n%s", s, buf.String())
		}
	}
}
