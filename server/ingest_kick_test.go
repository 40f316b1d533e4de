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
	"strings"
	"testing"
	"time"

	"github.com/docvet/docvet/extractor"
)

// A pushed document and a pulled one are indexed at once: the pipeline's
// poll interval is an hour, so only the Kick after the receiver's and the
// puller's commits can get them indexed within the test's deadline.
func TestIngestKickedByPushAndPull(t *testing.T) {
	content := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "%PDF-1.4 not really a pdf")
	}))
	defer content.Close()
	src := newFakeSource(t, 0, "hr")
	dir := t.TempDir()
	st := openStore(t, dir)
	defer st.Close()
	cfg := Config{
		DataDir: dir, Listen: "127.0.0.1:0",
		Push: PushConfig{ContentBases: []string{content.URL + "/"}},
		Sources: []SourceConfig{{Name: "share", URL: src.url(), ContentBase: src.srv.URL + "/content/",
			Interval: time.Hour, BackoffMin: 5 * time.Millisecond, BackoffMax: 40 * time.Millisecond}},
		Index: IndexConfig{PollInterval: time.Hour},
	}
	srv, err := New(st, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	err = srv.EnableIngest(IngestConfig{
		IndexDir:  cfg.IndexDir(),
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
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("Serve did not stop")
		}
	}()
	base := "http://" + ln.Addr().String()
	token := func(scope string) string {
		tok, err := SignToken(srv.Secret(), "test", []string{scope}, time.Hour, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	do := func(method, path, scope, body string) (int, string) {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token(scope))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	type status struct {
		Index struct {
			State    string     `json:"state"`
			LastPass *time.Time `json:"last_pass"`
			Sources  map[string]struct {
				Documents int64 `json:"documents"`
			} `json:"sources"`
		} `json:"index"`
	}
	waitFor := func(what string, ok func(status) bool) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			code, body := do(http.MethodGet, "/api/status", ScopeRead, "")
			var s status
			if code != http.StatusOK || json.Unmarshal([]byte(body), &s) != nil {
				t.Fatalf("status %d: %s", code, body)
			}
			if ok(s) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 15s (poll interval 1h): %s", what, body)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// The first pass (at start) has run and found nothing; the next poll is
	// an hour away.
	waitFor("first pass", func(s status) bool { return s.Index.State == "running" && s.Index.LastPass != nil })

	if code, body := do(http.MethodPost, "/api/receivers/gdpr-data-type-in/entities", ScopePush,
		`{"gdpr-data-type:data-type-id":"hr","gdpr-data-type:level":"Personal"}`); code != http.StatusOK {
		t.Fatalf("register data type: %d %s", code, body)
	}
	if code, body := do(http.MethodPost, "/api/receivers/custom-documents/entities", ScopePush,
		document("pushed-1", "hr", content.URL+"/pushed-1")); code != http.StatusOK {
		t.Fatalf("push: %d %s", code, body)
	}
	waitFor("pushed document indexed", func(s status) bool { return s.Index.Sources[datasetDocuments].Documents == 1 })

	src.add("pulled-1", "hr")
	if code, body := do(http.MethodPost, "/api/admin/sources/share/pull", ScopeAdmin, ""); code/100 != 2 {
		t.Fatalf("pull now: %d %s", code, body)
	}
	waitFor("pulled document indexed", func(s status) bool { return s.Index.Sources["source:share"].Documents == 1 })
	if n, err := srv.Index().Count(); err != nil || n != 2 {
		t.Fatalf("index count %d, %v", n, err)
	}
}
