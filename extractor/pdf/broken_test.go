package pdf

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docvet/docvet/extractor/doctext"
)

// TestBrokenCorpus runs every broken PDF of the shared corpus under a
// per-file deadline: each must end with an error or an empty/partial result,
// never hang and never panic; the expected status is checked where the
// anchors say what the file is.
func TestBrokenCorpus(t *testing.T) {
	dir := needCorpus(t)
	files, _ := filepath.Glob(filepath.Join(dir, "broken", "*.pdf"))
	if len(files) == 0 {
		t.Skip("no broken PDFs in corpus")
	}
	// Files with a user password (pdftotext: "Incorrect password").
	userPassword := map[string]bool{}
	for rel, st := range anchorStatus(t, dir) {
		if strings.HasPrefix(rel, "broken/") && st == "FAILED-rc=1" {
			userPassword[filepath.Base(rel)] = true
		}
	}
	// Not user-password failures of pdftotext: "Couldn't read xref table".
	delete(userPassword, "pdfjs_Brotli-Prototype-FileA.pdf")
	delete(userPassword, "pdfjs_REDHAT-1531897-0.pdf")
	x := New(Config{Engine: EngineGo, Pdftotext: "-"})
	for _, path := range files {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			b := doctext.NewBuilder(0)
			start := time.Now()
			err = x.Extract(ctx, doctext.Input{R: strings.NewReader(string(data)), Size: int64(len(data))}, b, doctext.Options{})
			t.Logf("%.2fs chars=%d err=%v warnings=%q", time.Since(start).Seconds(), b.Len(), err, b.Warnings())
			if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
				t.Fatalf("did not finish before the deadline")
			}
			if userPassword[name] && !errors.Is(err, doctext.ErrEncrypted) {
				t.Errorf("user-password PDF: err = %v, want ErrEncrypted", err)
			}
			if err == nil && len(b.Warnings()) == 0 && b.Len() > 0 && !acceptedClean[name] {
				t.Errorf("broken file read as clean ok: %d chars", b.Len())
			}
		})
	}
}

// acceptedClean lists broken/ files whose damage a reader may repair
// completely (pdftotext reads them fully too).
var acceptedClean = map[string]bool{
	"pdfjs_helloworld-bad.pdf":                true,
	"pdfplumber_malformed-from-issue-932.pdf": true,
	"pdfminer_zen_of_python_corrupted.pdf":    true,
	"pdfjs_xref_command_missing.pdf":          true,
	// pdftotext times out on its giant content-stream token; the lexer here
	// reads past it and finds the page's text.
	"pdfjs_bomb_giant.pdf": true,
}
