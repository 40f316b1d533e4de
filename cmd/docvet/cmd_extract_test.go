package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docvet/docvet/extractor"
)

func TestRunExtractInProcess(t *testing.T) {
	dir := t.TempDir()
	txt := filepath.Join(dir, "note.txt")
	if err := os.WriteFile(txt, []byte("Jane Example, born 1970\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "blob.bin")
	if err := os.WriteFile(bin, []byte{0, 1, 2, 3, 0, 0, 0, 7}, 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	err := runExtract(context.Background(), []string{"--json", "--in-process", "--workers", "2", txt, bin, filepath.Join(dir, "missing.pdf")}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "1 of 3 files could not be read") {
		t.Fatalf("err = %v", err)
	}
	var got []map[string]any
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		got = append(got, m)
	}
	if len(got) != 3 {
		t.Fatalf("got %d lines: %s", len(got), out.String())
	}
	if got[0]["file"] != txt || got[0]["status"] != "ok" || got[0]["mime"] != "text/plain" ||
		!strings.Contains(got[0]["text"].(string), "Jane Example") || len(got[0]["sha256"].(string)) != 64 {
		t.Errorf("text file: %v", got[0])
	}
	if got[1]["status"] != "unsupported" || got[1]["reason"] != "unsupported format application/octet-stream" {
		t.Errorf("binary file: %v", got[1])
	}
	if got[2]["file"] != filepath.Join(dir, "missing.pdf") || got[2]["error"] == nil {
		t.Errorf("missing file: %v", got[2])
	}

	// Plain output names status, hash and text.
	out.Reset()
	if err := runExtract(context.Background(), []string{"--in-process", txt}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"== " + txt, "status: ok", "sha256: ", "mime:   text/plain", "Jane Example"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("plain output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestRunExtractUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := runExtract(context.Background(), nil, &out, &errOut); !errors.Is(err, errUsage) {
		t.Errorf("no files: %v", err)
	}
	if err := runExtract(context.Background(), []string{"--workers", "0", "x"}, &out, &errOut); !errors.Is(err, errUsage) {
		t.Errorf("workers 0: %v", err)
	}
	if err := runExtractWorker(context.Background(), []string{"x"}, strings.NewReader(""), &out); !errors.Is(err, errUsage) {
		t.Errorf("worker args: %v", err)
	}
}

// TestPrintResultStripsControls: document text cannot drive the terminal
// (ESC/CSI/OSC sequences); tabs and newlines stay.
func TestPrintResultStripsControls(t *testing.T) {
	var out bytes.Buffer
	printResult(&out, "a.txt", extractor.Result{Status: "ok", Text: "name\tErika\x1b]0;pwned\x07\x1b[2J\r\nnext\u009b31m line\x7f\n"})
	got := out.String()
	if strings.ContainsAny(got, "\x1b\x07\r\x7f\u009b") {
		t.Fatalf("control characters in output: %q", got)
	}
	if !strings.Contains(got, "name\tErika]0;pwned[2J\nnext31m line\n") {
		t.Fatalf("text mangled: %q", got)
	}
}
