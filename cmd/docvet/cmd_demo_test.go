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
		// the .pdf that is really a Word file is reported as what it is
		"settlement.pdf           wordprocessingml.document  ok",
		"contract-4711.pdf        application/pdf            ok",
		"ticket-8812.eml          message/rfc822             ok",
		"deleted  fileshare:support/notes.txt",
		"deleted  fileshare:marketing/newsletter.html",
		"new      fileshare:marketing/archive/newsletter.html",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("demo output lacks %q\n%s", want, got)
		}
	}
	if strings.Contains(got, " failed ") {
		t.Errorf("a sample document failed to extract:\n%s", got)
	}
}
