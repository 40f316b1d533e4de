package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// The demo is the README's first command: it must run end to end and show
// every step. Extraction runs in-process here because the test binary is not
// docvet and cannot serve as an extract-worker.
func TestDemo(t *testing.T) {
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"demo", "--in-process", "--dir", t.TempDir()}, nil, &out, &errOut)
	if err != nil {
		t.Fatalf("demo: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errOut.String())
	}
	got := out.String()
	for _, want := range []string{
		"scanned 7 documents",
		"1 hidden",
		"pulled 7 documents",
		"legal/settlement.pdf             ok",
		"support/notes.txt                ok",
		"-> contract-4711.pdf, invoices-2023.xlsx, ticket-8812.eml",
		"-> invoices-2023.xlsx, performance-review.docx",
		"-> contract-4711.pdf, notes.txt, performance-review.docx",
		"deleted  fileshare:support/notes.txt",
		"deleted  fileshare:marketing/newsletter.html",
		"new      fileshare:marketing/archive/newsletter.html",
		"2 removed from index and ledger, 1 extracted",
		"the index now holds 6 documents",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("demo output lacks %q\n%s", want, got)
		}
	}
	// Every sample document is fully read (the .pdf that is really a Word
	// file included).
	for _, bad := range []string{" failed ", " partial ", " empty ", " unsupported ", "fetch-failed"} {
		if strings.Contains(got, bad) {
			t.Errorf("a sample document was not fully read (%q):\n%s", bad, got)
		}
	}
}
