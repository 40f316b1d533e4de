package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/blevesearch/bleve/v2"
	"github.com/docvet/docvet/index"
	"github.com/docvet/docvet/index/identifiers"
	"github.com/docvet/docvet/server"
	"github.com/docvet/docvet/store"
)

// TestMain lets the test binary serve as the sandboxed extraction worker
// ("<test binary> extract-worker", the Pool's default command), so the
// index commands run with the real worker pool.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "extract-worker" {
		os.Exit(exitCode(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr), os.Stderr))
	}
	// The lifecycle crash test's child: docvet serve with a kill hook
	// (cmd_lifecycle_test.go).
	if spec := os.Getenv(lcEnvChild); spec != "" {
		os.Exit(lifecycleChild(spec))
	}
	os.Exit(m.Run())
}

// indexFixture is a data directory whose store holds pulled documents of
// source "share", served by an HTTP content server.
type indexFixture struct {
	dir, config string
	srv         *httptest.Server
}

func newIndexFixture(t *testing.T, docs map[string]string) *indexFixture {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /content/{name}", func(w http.ResponseWriter, r *http.Request) {
		body, ok := docs[r.PathValue("name")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, body)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	cfg := fmt.Sprintf("data_dir: %s\nsources:\n  - name: share\n    url: %s/api/publishers/documents/entities\n    content_base: %s/content/\n",
		filepath.Join(dir, "data"), srv.URL, srv.URL)
	f := &indexFixture{dir: dir, config: filepath.Join(dir, "docvet.yaml"), srv: srv}
	if err := os.WriteFile(f.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), filepath.Join(dir, "data", "docvet.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	err = st.Update(context.Background(), func(tx *store.Tx) error {
		for name, text := range docs {
			b, _ := json.Marshal(map[string]any{
				"gdpr-data-type:data-type-id":   "hr",
				"gdpr-document:document_id":     "share:" + name,
				"gdpr-document:extract-content": "~r" + srv.URL + "/content/" + name,
				"gdpr-document:original-url":    "~rhttp://files.example/" + name,
				"gdpr-document:filesize":        len(text),
				"gdpr-document:filename":        name,
				"gdpr-document:mime-type":       "text/plain",
			})
			if _, err := tx.Put("source:share", store.Write{ID: "share:" + name, Body: b}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestIndexReindexStatus(t *testing.T) {
	f := newIndexFixture(t, map[string]string{"a.txt": "alpha text", "b.txt": "bravo text", "c.txt": "charlie"})
	ctx := context.Background()
	var out, errb bytes.Buffer
	if err := runIndex(ctx, []string{"--config", f.config, "--workers", "1"}, &out, &errb); err != nil {
		t.Fatalf("index: %v\n%s", err, errb.String())
	}
	if !strings.Contains(out.String(), "entities 3: extracted 3,") {
		t.Fatalf("index output: %s", out.String())
	}
	out.Reset()
	if err := runIndex(ctx, []string{"--config", f.config, "--workers", "1"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "entities 0:") {
		t.Fatalf("second index run did something: %s", out.String())
	}

	out.Reset()
	if err := runStatus(ctx, []string{"--config", f.config}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	var status struct {
		Index struct {
			Documents int64            `json:"documents"`
			Statuses  map[string]int64 `json:"statuses"`
			Pending   int64            `json:"pending"`
			Sources   map[string]struct {
				Documents int64 `json:"documents"`
			} `json:"sources"`
		} `json:"index"`
	}
	if err := json.Unmarshal(out.Bytes(), &status); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	if status.Index.Documents != 3 || status.Index.Statuses["ok"] != 3 || status.Index.Pending != 0 ||
		status.Index.Sources["source:share"].Documents != 3 {
		t.Fatalf("status: %s", out.String())
	}

	out.Reset()
	if err := runReindex(ctx, []string{"--config", f.config, "--workers", "1"}, &out, &errb); err != nil {
		t.Fatalf("reindex: %v\n%s", err, errb.String())
	}
	if !strings.Contains(out.String(), "index rebuilt") {
		t.Fatalf("reindex output: %s", out.String())
	}
	out.Reset()
	if err := runIndex(ctx, []string{"--config", f.config, "--workers", "1"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "entities 0:") {
		t.Fatalf("index after reindex did something: %s", out.String())
	}
	if _, err := os.Stat(filepath.Join(f.dir, "data", "index", "index_meta.json")); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(errb.String(), "charlie") || strings.Contains(errb.String(), "a.txt") {
		t.Fatalf("stderr leaks document data: %s", errb.String())
	}
}

// With the service running (it holds the store), docvet status asks it.
func TestStatusFromRunningService(t *testing.T) {
	f := newIndexFixture(t, map[string]string{"a.txt": "alpha"})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := server.LoadConfig(f.config, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listen = ln.Addr().String()
	st, err := store.Open(context.Background(), filepath.Join(cfg.DataDir, "docvet.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv, err := server.New(st, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	defer func() { cancel(); <-done }()

	var out, errb bytes.Buffer
	err = runStatus(context.Background(), []string{"--config", f.config, "--listen", cfg.Listen}, &out, &errb)
	if err != nil {
		t.Fatalf("status: %v %s", err, errb.String())
	}
	var v map[string]any
	if err := json.Unmarshal(out.Bytes(), &v); err != nil || v["datasets"] == nil {
		t.Fatalf("status output: %v %s", err, out.String())
	}
	if _, ok := v["service"]; ok {
		t.Fatalf("status read the store although the service runs: %s", out.String())
	}
}

func TestIndexUsage(t *testing.T) {
	var out, errb bytes.Buffer
	for _, args := range [][]string{{"extra"}, {"--workers", "-1"}, {"--log-level", "loud"}} {
		err := runIndex(context.Background(), append(args, "--data-dir", t.TempDir()), &out, &errb)
		if exitCode(err, &errb) != 2 {
			t.Errorf("%v: err %v, want a usage error", args, err)
		}
	}
}

// docvet index reads the index section: its directory and identifier
// options; changing the identifier options makes the next run rebuild the
// index with the new terms.
func TestIndexConfigIdentifiers(t *testing.T) {
	f := newIndexFixture(t, map[string]string{
		"a.txt": "kunde CUST-001-1234 ringte 912 34 567",
		"b.txt": "ingen identifikatorer her",
	})
	idxDir := filepath.Join(f.dir, "elsewhere", "idx")
	base, err := os.ReadFile(f.config)
	if err != nil {
		t.Fatal(err)
	}
	writeCfg := func(region string) {
		cfg := string(base) + fmt.Sprintf(`index:
  dir: %s
  phone_region: %q
  id_patterns:
    - {name: customer, regexp: '(?i)\bCUST[- ]?\d{3}[- ]?\d{4}\b', strip_separators: true}
`, idxDir, region)
		if err := os.WriteFile(f.config, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	count := func(term string) int {
		t.Helper()
		ix, err := index.Open(idxDir, index.Options{Identifiers: identifiers.Options{DefaultRegion: "XX-any"}})
		if err == nil {
			ix.Close()
			t.Fatal("index opened with other identifier options")
		}
		cfg, err := server.LoadConfig(f.config, func(string) string { return "" })
		if err != nil {
			t.Fatal(err)
		}
		io, err := cfg.IndexOptions()
		if err != nil {
			t.Fatal(err)
		}
		ix, err = index.Open(idxDir, io)
		if err != nil {
			t.Fatal(err)
		}
		defer ix.Close()
		snap, err := ix.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		defer snap.Close()
		q := bleve.NewTermQuery(term)
		q.SetField("identifiers")
		n := 0
		if err := snap.Each(context.Background(), q, func(index.Match) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	ctx := context.Background()
	var out, errb bytes.Buffer
	writeCfg("NO")
	if err := runIndex(ctx, []string{"--config", f.config, "--workers", "1"}, &out, &errb); err != nil {
		t.Fatalf("index: %v\n%s", err, errb.String())
	}
	if _, err := os.Stat(filepath.Join(idxDir, "index_meta.json")); err != nil {
		t.Fatalf("index.dir not used: %v", err)
	}
	if n := count("id:customer:CUST0011234"); n != 1 {
		t.Fatalf("customer id term: %d documents", n)
	}
	if n := count("phone:+4791234567"); n != 1 {
		t.Fatalf("NO phone term: %d documents", n)
	}
	// Region SE: "912 34 567" is no longer a valid national number. The next
	// run finds the index built with other options and rebuilds it.
	writeCfg("SE")
	out.Reset()
	errb.Reset()
	if err := runIndex(ctx, []string{"--config", f.config, "--workers", "1", "--log-level", "info"}, &out, &errb); err != nil {
		t.Fatalf("index: %v\n%s", err, errb.String())
	}
	if !strings.Contains(errb.String(), "identifier-options-changed") {
		t.Fatalf("no rebuild logged: %s", errb.String())
	}
	if n := count("phone:+4791234567"); n != 0 {
		t.Fatalf("stale NO phone term after the region changed: %d documents", n)
	}
	if n := count("id:customer:CUST0011234"); n != 1 {
		t.Fatalf("customer id term after rebuild: %d documents", n)
	}
}
