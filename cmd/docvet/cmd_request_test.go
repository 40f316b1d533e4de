package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docvet/docvet/search"
	"github.com/docvet/docvet/server"
	"github.com/docvet/docvet/store"
)

// apiServer is a core server over a new store in dir, behind an httptest
// server, for the commands that talk to docvet serve.
func apiServer(t *testing.T, dir string) (*store.Store, *server.Server, *httptest.Server) {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(dir, "docvet.db"), store.Options{Synchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	srv, err := server.New(st, server.Config{DataDir: dir, Listen: "127.0.0.1:0"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return st, srv, hs
}

func TestRequestAndVetCommands(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	st, srv, hs := apiServer(t, dir)
	tok, err := server.SignToken(srv.Secret(), "cli-reviewer", []string{server.ScopePush, server.ScopeSubjects}, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tokFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokFile, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	conn := []string{"--server", hs.URL, "--token-file", tokFile}
	key := filepath.Join("..", "..", "server", "testdata", "subject-x25519.asc")
	weak := filepath.Join("..", "..", "server", "testdata", "weak-rsa1024.asc")
	var out, errb bytes.Buffer
	runCmd := func(f func(context.Context, []string, io.Writer, io.Writer) error, args ...string) error {
		out.Reset()
		errb.Reset()
		return f(ctx, args, &out, &errb)
	}

	// A weak key is refused before anything is sent.
	err = runCmd(runRequest, append([]string{"create", "--id", "r1", "--user-id", "u1", "--email", "kari@example.org", "--key", weak}, conn...)...)
	if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "public key") {
		t.Fatalf("weak key: %v", err)
	}
	if _, err := st.RequestState(ctx, "r1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatal("a refused request was stored")
	}
	err = runCmd(runRequest, append([]string{"create", "--id", "r1", "--user-id", "u1", "--email", "kari@example.org",
		"--phone", "+47 912 34 567", "--identifier", "Kari Nordmann", "--lang", "no", "--key", key}, conn...)...)
	if err != nil {
		t.Fatal(err, errb.String())
	}
	if err := runCmd(runRequest, append([]string{"status", "r1"}, conn...)...); err != nil || !strings.Contains(out.String(), "request r1: received") {
		t.Fatalf("status: %v %s", err, out.String())
	}
	en, err := st.Get(ctx, "gdpr-access-request", "r1")
	if err != nil {
		t.Fatal(err)
	}
	var ar search.AccessRequest
	if err := ar.UnmarshalJSON(en.Body); err != nil || ar.Lang != "no" || len(ar.GivenIdentifiers) != 2 {
		t.Fatalf("stored request %+v %v", ar, err)
	}

	// Stand in for the runner: a snapshot with one hit.
	res := search.Result{RequestID: "r1", SearchedAt: time.Now().UTC(), DataTypes: []string{"hr"},
		Hits: []search.Hit{{IndexID: "ix1", Source: "custom-documents", EntityID: "d1", DataType: "hr", DocumentID: "d1",
			MIMEType: "text/plain", OriginalURL: "file://s/d1", ExtractContent: "http://files.example/d1", SHA256: strings.Repeat("0", 64),
			Status: "ok", Matched: []search.Matched{{Kind: search.KindEmail, Value: "kari@example.org", Count: 1}}, Count: 1}}}
	if err := search.Save(ctx, st, res, false); err != nil {
		t.Fatal(err)
	}
	if err := st.Update(ctx, func(tx *store.Tx) error { return tx.PutRequestState("r1", store.RequestAwaitingReview, "") }); err != nil {
		t.Fatal(err)
	}
	wb := filepath.Join(dir, "r1.xlsx")
	if err := runCmd(runVet, append([]string{"export", "r1", "-o", wb}, conn...)...); err != nil {
		t.Fatal(err, errb.String())
	}
	if fi, err := os.Stat(wb); err != nil || fi.Mode().Perm() != 0o600 || fi.Size() < 1000 {
		t.Fatalf("workbook file: %v %v", fi, err)
	}
	if err := runCmd(runVet, append([]string{"import", "r1", wb}, conn...)...); err != nil ||
		!strings.Contains(out.String(), "1 rows (1 kept") || !strings.Contains(out.String(), "request is reviewed") {
		t.Fatalf("import: %v %s %s", err, out.String(), errb.String())
	}
	// Not a workbook: refused with the problem listed.
	bad := filepath.Join(dir, "bad.xlsx")
	os.WriteFile(bad, []byte("nope"), 0o600)
	if err := runCmd(runVet, append([]string{"import", "r1", bad}, conn...)...); err == nil || errb.Len() == 0 {
		t.Fatalf("bad workbook: %v %q", err, errb.String())
	}
	if err := runCmd(runRequest, append([]string{"status", "nope"}, conn...)...); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("unknown request: %v", err)
	}
}
