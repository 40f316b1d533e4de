package sources

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path"
	"strings"
	"sync"
	"testing"
	"time"
)

// memSource is a tiny in-memory Source for handler tests.
type memSource struct {
	mu      sync.Mutex
	docs    []Document
	files   map[string][]byte
	failAt  int // Changes fails before the failAt-th entity (1-based); 0: never
	opened  []string
	openErr error
}

func (m *memSource) Changes(ctx context.Context, since int64, limit int, fn func(Document) error) error {
	n := 0
	for i, d := range m.docs {
		if d.Seq <= since {
			continue
		}
		if m.failAt > 0 && i+1 == m.failAt {
			return errors.New("backend exploded at /secret/path/name.pdf")
		}
		if limit > 0 && n == limit {
			break
		}
		if err := fn(d); err != nil {
			return err
		}
		n++
	}
	return nil
}

func (m *memSource) Open(ctx context.Context, key string) (*Content, error) {
	m.mu.Lock()
	m.opened = append(m.opened, key)
	m.mu.Unlock()
	if m.openErr != nil {
		return nil, m.openErr
	}
	b, ok := m.files[key]
	if !ok {
		return nil, ErrNotFound
	}
	return &Content{ReadSeekCloser: nopCloser{bytes.NewReader(b)}, Size: int64(len(b)), Name: path.Base(key), MIMEType: "text/plain", ModTime: time.Unix(1e9, 0)}, nil
}

func (m *memSource) Rescan(ctx context.Context) (ScanStats, error) {
	return ScanStats{Complete: true, Documents: int64(len(m.files))}, nil
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

func newMem(n int) *memSource {
	m := &memSource{files: map[string][]byte{}}
	for i := 1; i <= n; i++ {
		key := fmt.Sprintf("d/f%d.txt", i)
		m.files[key] = fmt.Appendf(nil, "file %d", i)
		m.docs = append(m.docs, Document{ID: "mem:" + key, Seq: int64(i * 10), DataTypeID: "t", DocumentID: "mem:" + key,
			ExtractContent: URI(ContentURL("http://x", key)), OriginalURL: URI(ContentURL("http://x", key)), MIMEType: "text/plain", FileSize: 6})
	}
	return m
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestEntitiesStreamErrors(t *testing.T) {
	// Failure before the first entity: a clean 500 with a fixed message.
	m := newMem(3)
	m.failAt = 1
	srv := httptest.NewServer(NewHandler(m, HandlerOptions{Logger: quiet()}))
	defer srv.Close()
	resp, err := http.Get(srv.URL + PublisherPath)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 500 || strings.Contains(string(b), "secret") {
		t.Fatalf("early failure: %d %s", resp.StatusCode, b)
	}
	// Failure after entities went out: the response is cut, never a valid
	// (short) JSON array the client would take as complete.
	m.failAt = 3
	resp, err = http.Get(srv.URL + PublisherPath)
	if err != nil {
		return // cut before the headers went out: fine too
	}
	b, rerr := io.ReadAll(resp.Body)
	resp.Body.Close()
	var arr []json.RawMessage
	if rerr == nil && json.Unmarshal(b, &arr) == nil {
		t.Fatalf("mid-stream failure produced a valid array of %d", len(arr))
	}
}

func TestEntitiesSinceAfterEverything(t *testing.T) {
	m := newMem(3)
	srv := httptest.NewServer(NewHandler(m, HandlerOptions{}))
	defer srv.Close()
	for q, want := range map[string]int{"": 3, "?since=10": 2, "?since=-5": 3, "?since=30": 0, "?since=10&limit=1": 1, "?limit=99999999999": 3} {
		resp, err := http.Get(srv.URL + PublisherPath + q)
		if err != nil {
			t.Fatal(err)
		}
		var arr []Document
		err = json.NewDecoder(resp.Body).Decode(&arr)
		resp.Body.Close()
		if err != nil || len(arr) != want || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("%s: %v, %d entities, want %d", q, err, len(arr), want)
		}
	}
}

func TestContentErrorsAreSafe(t *testing.T) {
	m := newMem(1)
	m.openErr = errors.New("read /srv/share/hr/alice.pdf: input/output error")
	srv := httptest.NewServer(NewHandler(m, HandlerOptions{Logger: quiet()}))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/content/d/f1.txt")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 500 || strings.Contains(string(b), "alice") {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
}

func TestContentDispositionNonASCII(t *testing.T) {
	m := newMem(0)
	m.files["Løn 2019 \"final\".txt"] = []byte("x")
	srv := httptest.NewServer(NewHandler(m, HandlerOptions{}))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/content/" + EscapeKey("Løn 2019 \"final\".txt"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if cd := resp.Header.Get("Content-Disposition"); resp.StatusCode != 200 || !strings.HasPrefix(cd, "attachment;") || !strings.Contains(cd, "filename*=utf-8''L%C3%B8n") {
		t.Fatalf("%d %q", resp.StatusCode, cd)
	}
}

func TestValidKey(t *testing.T) {
	for key, want := range map[string]bool{
		"a.txt": true, "dir/sub/a b.pdf": true, "Løn.txt": true, "a:b": true, "x/y..z": true,
		"": false, "/a": false, "a/": false, "a//b": false, ".": false, "..": false, "../a": false, "a/../b": false,
		"a/./b": false, ".hidden": false, "d/.git/config": false, "a\\b": false, "a\x00b": false, "a\nb": false,
		"\xff.txt": false, strings.Repeat("a", 5000): false,
	} {
		if got := ValidKey(key); got != want {
			t.Errorf("ValidKey(%q) = %v, want %v", key, got, want)
		}
	}
}

func TestContentURLRoundTrip(t *testing.T) {
	for _, key := range []string{"a.txt", "dir/with space/#hash?.pdf", "ø/%41.txt", "a;b=c/d&e.txt"} {
		u := ContentURL("https://host/prefix/", key)
		if !strings.HasPrefix(u, "https://host/prefix/content/") {
			t.Fatalf("%q -> %q", key, u)
		}
		m := newMem(0)
		m.files[key] = []byte("ok")
		srv := httptest.NewServer(NewHandler(m, HandlerOptions{}))
		resp, err := http.Get(srv.URL + strings.TrimPrefix(u, "https://host/prefix"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		srv.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%q via %q: %d (opened %q)", key, u, resp.StatusCode, m.opened)
		}
	}
}

// FuzzContentPath: whatever the request path, the handler only ever asks
// the Source to open valid, clean keys.
func FuzzContentPath(f *testing.F) {
	for _, s := range []string{"a.txt", "../etc/passwd", "%2e%2e/x", "..%2fx", "a%00b", "a%5cb", ".git/config", "a//b", "%2fetc", "d/./x"} {
		f.Add(s)
	}
	m := newMem(0)
	h := NewHandler(m, HandlerOptions{Logger: quiet()})
	f.Fuzz(func(t *testing.T, p string) {
		// Parse the request line as the server does.
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader("GET /content/" + p + " HTTP/1.1\r\nHost: x\r\n\r\n")))
		if err != nil {
			t.Skip()
		}
		m.mu.Lock()
		m.opened = m.opened[:0]
		m.mu.Unlock()
		h.ServeHTTP(httptest.NewRecorder(), req)
		m.mu.Lock()
		defer m.mu.Unlock()
		for _, k := range m.opened {
			if !ValidKey(k) || path.Clean(k) != k || strings.HasPrefix(k, "/") || strings.ContainsAny(k, "\\\x00") {
				t.Fatalf("handler opened unsafe key %q for path %q", k, p)
			}
		}
	})
}

func TestPublicURLCheck(t *testing.T) {
	for u, ok := range map[string]bool{"http://127.0.0.1:8081": true, "https://h/p/": true, "": false, "/x": false,
		"ftp://h": false, "http://h/?q=1": false, "http://h/#f": false, "http://u:p@h/": false} {
		if err := CheckPublicURL(u); (err == nil) != ok {
			t.Errorf("CheckPublicURL(%q) = %v", u, err)
		}
	}
}
