package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docvet/docvet/store"
)

// env is a server under test with tokens for every scope.
type env struct {
	t      testing.TB
	dir    string
	st     *store.Store
	srv    *Server
	http   *httptest.Server
	tokens map[string]string
	cfg    Config
}

func testConfig(dir string) Config {
	return Config{
		DataDir: dir,
		Listen:  "127.0.0.1:0",
		Push:    PushConfig{ContentBases: []string{"http://files.example:8081/content/"}},
	}
}

func openStore(t testing.TB, dir string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(dir, "docvet.db"), store.Options{Synchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func newEnv(t *testing.T, mutate func(*Config)) *env {
	t.Helper()
	dir := t.TempDir()
	cfg := testConfig(dir)
	if mutate != nil {
		mutate(&cfg)
	}
	e := &env{t: t, dir: dir, cfg: cfg}
	e.start()
	t.Cleanup(e.stop)
	return e
}

func (e *env) start() {
	e.t.Helper()
	e.st = openStore(e.t, e.dir)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(testWriter{e.t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	srv, err := New(e.st, e.cfg, log)
	if err != nil {
		e.t.Fatal(err)
	}
	e.srv = srv
	e.http = httptest.NewServer(srv.Handler())
	e.tokens = map[string]string{}
	for _, sc := range Scopes() {
		tok, err := SignToken(srv.Secret(), "test", []string{sc}, time.Hour, time.Now())
		if err != nil {
			e.t.Fatal(err)
		}
		e.tokens[sc] = tok
	}
}

func (e *env) stop() {
	if e.http != nil {
		e.http.Close()
		e.http = nil
	}
	if e.st != nil {
		e.st.Close()
		e.st = nil
	}
}

// restart closes the store and the server and opens new ones on the same
// data directory, as a process restart would.
func (e *env) restart() {
	e.stop()
	e.start()
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

type resp struct {
	status int
	body   []byte
}

func (r resp) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response is not a JSON object: %v: %s", err, r.body)
	}
	return m
}

func (r resp) result(t *testing.T) PushResult {
	t.Helper()
	var pr PushResult
	if err := json.Unmarshal(r.body, &pr); err != nil {
		t.Fatalf("response is not a push result: %v: %s", err, r.body)
	}
	return pr
}

func (e *env) do(method, path, token, contentType string, body io.Reader) resp {
	e.t.Helper()
	req, err := http.NewRequest(method, e.http.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := e.http.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{res.StatusCode, b}
}

// push posts body to a receiver with the given query string.
func (e *env) push(receiver, query, body string) resp {
	e.t.Helper()
	path := "/api/receivers/" + receiver + "/entities"
	if query != "" {
		path += "?" + query
	}
	return e.do("POST", path, e.tokens[ScopePush], "application/json", strings.NewReader(body))
}

func (e *env) get(path, scope string) resp {
	e.t.Helper()
	return e.do("GET", path, e.tokens[scope], "", nil)
}

// live returns the live ids of a dataset.
func (e *env) live(dataset string) map[string]bool {
	e.t.Helper()
	out := map[string]bool{}
	err := e.st.Since(context.Background(), dataset, 0, 0, func(en store.Entity) error {
		if !en.Deleted {
			out[en.ID] = true
		}
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

func (e *env) lastSeq(dataset string) int64 {
	e.t.Helper()
	c, err := e.st.Count(context.Background(), dataset)
	if err != nil {
		e.t.Fatal(err)
	}
	return c.LastSeq
}

// testPublicKey is a valid subject key (Curve25519, no expiry) for
// access requests; testdata/weak-rsa1024.asc is one the policy refuses.
var testPublicKey = sync.OnceValue(func() string { return readTestdata("subject-x25519.asc") })

func readTestdata(name string) string {
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		panic(err)
	}
	return string(b)
}

// jsonString encodes s as a JSON string.
func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func accessRequest(id string) string {
	return fmt.Sprintf(`{"_id":%q,"gdpr-access-request:access-request-id":%q,"gdpr-access-request:user-id":"u-%s","gdpr-access-request:public-key":%s}`, id, id, id, jsonString(testPublicKey()))
}

func arArray(ids ...string) string {
	var parts []string
	for _, id := range ids {
		parts = append(parts, accessRequest(id))
	}
	return "[" + strings.Join(parts, ",") + "]"
}

func document(id, dataType, extract string) string {
	m := map[string]any{
		"_id":                           id,
		"gdpr-data-type:data-type-id":   dataType,
		"gdpr-document:document_id":     id,
		"gdpr-document:extract-content": "~r" + extract,
		"gdpr-document:original-url":    "~rsmb://fileserver/" + id,
		"gdpr-document:filesize":        1234,
		"gdpr-document:mime-type":       "application/pdf",
		"gdpr-document:filename":        id + ".pdf",
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func (e *env) registerType(id string) {
	e.t.Helper()
	r := e.push("gdpr-data-type-in", "", fmt.Sprintf(`{"gdpr-data-type:data-type-id":%q,"gdpr-data-type:level":"Personal"}`, id))
	if r.status != 200 {
		e.t.Fatalf("register data type: %d %s", r.status, r.body)
	}
}

func mustContain(t *testing.T, what string, got []byte, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !bytes.Contains(got, []byte(w)) {
			t.Errorf("%s: %s does not contain %q", what, got, w)
		}
	}
}
