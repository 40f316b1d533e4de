package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docvet/docvet/extractor"
	"github.com/docvet/docvet/index"
	"github.com/docvet/docvet/store"
)

// The pipeline runs inside Serve: a stored document is indexed, the status
// and metrics report it, and shutdown stops the pipeline.
func TestServeIngestStatusMetrics(t *testing.T) {
	content := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/files/secret-name.txt" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, "hello kari.nordmann@example.no")
	}))
	defer content.Close()
	dir := t.TempDir()
	st, err := store.Open(context.Background(), filepath.Join(dir, "docvet.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	put := func(id, path string, size int) {
		body, _ := json.Marshal(map[string]any{
			"gdpr-data-type:data-type-id":   "hr",
			"gdpr-document:document_id":     id,
			"gdpr-document:extract-content": "~r" + content.URL + path,
			"gdpr-document:original-url":    "~rhttp://files.example" + path,
			"gdpr-document:filesize":        size,
			"gdpr-document:filename":        "secret-name.txt",
			"gdpr-document:mime-type":       "text/plain",
		})
		err := st.Update(context.Background(), func(tx *store.Tx) error {
			_, err := tx.Put(datasetDocuments, store.Write{ID: id, Body: body})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	put("doc-secret-1", "/files/secret-name.txt", len("hello kari.nordmann@example.no"))
	put("doc-secret-2", "/files/missing.txt", 3)

	cfg := Config{DataDir: dir, Listen: "127.0.0.1:0", Push: PushConfig{ContentBases: []string{content.URL + "/files/"}}}
	srv, err := New(st, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	err = srv.EnableIngest(IngestConfig{
		IndexDir:  filepath.Join(dir, "index"),
		Extractor: extractor.New(extractor.Options{Pdftotext: "-"}),
		Fetcher:   extractor.NewFetcher(extractor.FetchOptions{}),
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	base := "http://" + ln.Addr().String()
	tok, err := SignToken(srv.Secret(), "test", []string{ScopeRead}, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	get := func(path, token string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	var status struct {
		Index struct {
			State     string           `json:"state"`
			Documents int64            `json:"documents"`
			Statuses  map[string]int64 `json:"statuses"`
			Pending   int64            `json:"pending"`
			Sources   map[string]struct {
				Documents int64 `json:"documents"`
			} `json:"sources"`
		} `json:"index"`
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, body := get("/api/status", tok)
		if code != http.StatusOK {
			t.Fatalf("status %d: %s", code, body)
		}
		if err := json.Unmarshal([]byte(body), &status); err != nil {
			t.Fatal(err)
		}
		if status.Index.Documents == 2 && status.Index.Pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ingested: %s", body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if status.Index.State != "running" || status.Index.Statuses["ok"] != 1 || status.Index.Statuses["fetch-failed"] != 1 ||
		status.Index.Sources[datasetDocuments].Documents != 2 {
		t.Fatalf("status: %+v", status.Index)
	}
	if idx := srv.Index(); idx == nil {
		t.Fatal("no index while running")
	} else if n, _ := idx.Count(); n != 2 {
		t.Fatalf("index count %d", n)
	}

	if code, _ := get("/metrics", ""); code != http.StatusUnauthorized {
		t.Fatalf("metrics without token: %d", code)
	}
	code, body := get("/metrics", tok)
	if code != http.StatusOK {
		t.Fatalf("metrics: %d %s", code, body)
	}
	for _, want := range []string{
		`docvet_index_documents{source="custom-documents",status="ok"} 1`,
		`docvet_index_documents{source="custom-documents",status="fetch-failed"} 1`,
		`docvet_index_pending{source="custom-documents"} 0`,
		`docvet_ingest_up 1`,
		`docvet_ingest_documents_total{outcome="extracted"} 1`,
		`docvet_dataset_entities{dataset="custom-documents",state="live"} 2`,
		"# TYPE docvet_index_documents gauge",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
	for _, leak := range []string{"secret", "kari", "files"} {
		if strings.Contains(body, leak) {
			t.Errorf("metrics leak %q:\n%s", leak, body)
		}
	}
	// Every sample line is "name{labels} value" or "name value".
	for _, line := range strings.Split(strings.TrimSpace(body), "\n") {
		if strings.HasPrefix(line, "# ") {
			continue
		}
		if f := strings.Fields(line); len(f) != 2 {
			t.Errorf("bad sample line %q", line)
		}
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Serve did not stop")
	}
	if srv.Index() != nil {
		t.Fatal("index still open after shutdown")
	}
	// The index was closed: it opens again.
	idx, err := index.Open(filepath.Join(dir, "index"), index.Options{BoltTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	idx.Close()
}

func TestEscapeLabel(t *testing.T) {
	if got := escapeLabel("a\"b\\c\nd"); got != `a\"b\\c\nd` {
		t.Fatal(got)
	}
}
