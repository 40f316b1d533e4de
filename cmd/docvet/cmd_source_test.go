package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestSourceUsageErrors(t *testing.T) {
	root := t.TempDir()
	for name, args := range map[string][]string{
		"no kind":        {},
		"unknown kind":   {"ftp"},
		"no root":        {"fileshare", "--data-type", "x"},
		"no data type":   {"fileshare", "--root", root},
		"missing root":   {"fileshare", "--root", filepath.Join(root, "nope"), "--data-type", "x"},
		"state in root":  {"fileshare", "--root", root, "--data-type", "x", "--state", filepath.Join(root, "sub", "s.db")},
		"no public url":  {"fileshare", "--root", root, "--data-type", "x", "--state", filepath.Join(t.TempDir(), "s.db"), "--listen", ":0"},
		"bad interval":   {"fileshare", "--root", root, "--data-type", "x", "--rescan-interval", "-1s"},
		"unknown flag":   {"fileshare", "--root", root, "--data-type", "x", "--bogus"},
		"extra argument": {"fileshare", "--root", root, "--data-type", "x", "extra"},
		"bad public url": {"fileshare", "--root", root, "--data-type", "x", "--state", filepath.Join(t.TempDir(), "s.db"), "--listen", "127.0.0.1:0", "--public-url", "ftp://x"},
	} {
		err := runSource(context.Background(), args, io.Discard, io.Discard)
		if !errors.Is(err, errUsage) {
			t.Errorf("%s: %v, want a usage error", name, err)
		}
	}
}

func TestSourceFileshareServesAndStops(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "hr"), 0o755)
	os.WriteFile(filepath.Join(root, "hr", "a.txt"), []byte("hello"), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- runSource(ctx, []string{"fileshare", "--root", root, "--data-type", "hr-docs", "--listen", "127.0.0.1:0",
			"--state", filepath.Join(t.TempDir(), "state.db"), "--original-url-base", "smb://fs/hr"}, &stdout, &stderr)
	}()
	re := regexp.MustCompile(`publishing at (http://127\.0\.0\.1:\d+)/api/publishers/documents/entities`)
	var base string
	for deadline := time.Now().Add(10 * time.Second); base == ""; time.Sleep(20 * time.Millisecond) {
		if m := re.FindStringSubmatch(stdout.String()); m != nil {
			base = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("no startup line; stdout %q stderr %q", stdout.String(), stderr.String())
		}
	}
	var ents []map[string]any
	for deadline := time.Now().Add(10 * time.Second); len(ents) == 0; time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get(base + "/api/publishers/documents/entities")
		if err != nil {
			t.Fatal(err)
		}
		json.NewDecoder(resp.Body).Decode(&ents)
		resp.Body.Close()
		if time.Now().After(deadline) {
			t.Fatal("initial scan published nothing")
		}
	}
	e := ents[0]
	if e["_id"] != "fileshare:hr/a.txt" || e["gdpr-document:extract-content"] != "~r"+base+"/content/hr/a.txt" ||
		e["gdpr-document:original-url"] != "~rsmb://fs/hr/hr/a.txt" {
		t.Fatalf("entity %v", e)
	}
	resp, err := http.Get(base + "/content/hr/a.txt")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "hello" {
		t.Fatalf("content %q", b)
	}
	if strings.Contains(stderr.String(), root) || strings.Contains(stderr.String(), "a.txt") {
		t.Fatalf("log mentions paths: %s", stderr.String())
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("stop: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("did not stop after cancel")
	}
}
