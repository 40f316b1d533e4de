package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The demo is the README's first command: it must run end to end and show
// every step. Extraction runs in-process here because the test binary is not
// docvet and cannot serve as an extract-worker.
func TestDemo(t *testing.T) {
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"demo", "--in-process", "--dir", dir}, nil, &out, &errOut)
	if err != nil {
		t.Fatalf("demo: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errOut.String())
	}
	got := out.String()
	p := func(elem ...string) string { return filepath.Join(append([]string{dir}, elem...)...) }
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
		// The journey.
		"public key   " + p("subject", "public.asc"),
		"private key  " + p("subject", "private.asc"),
		"it reached awaiting-review with 3 hits",
		"hr-documents     3 hits",
		"downloaded the vetting workbook: " + p("review", "AR-demo.xlsx"),
		"Uploaded " + p("review", "AR-demo-reviewed.xlsx") + ": accepted 3 rows (2 kept, 1 withheld, 1 file withheld, 1 with replacement text); request reviewed",
		"3 rows: 2 delivered (1 of them without the file), 1 withheld, 0 changed since review, 0 unavailable",
		"3 encrypted items",
		"delivery store  " + p("data", "delivery"),
		"reviewer " + p("mail", "01-reviewer.txt") + "  to privacy@fjordvik.example.com",
		"subject  " + p("mail", "02-subject.txt") + "  to kari.nordmann@example.no",
		"a page listing 3 encrypted items and the bundle",
		"and downloaded the bundle",
		"      hr-documents/contract-4711.pdf\n      hr-documents/contract-4711.pdf.json\n      hr-documents/index.html\n      hr-documents/ticket-8812.eml.json\n      index.html\n",
		"contract-4711.pdf is byte-identical to the share's hr/2019/contract-4711.pdf",
		"carries the reviewer's text",
		"14. Audit log intact: ",
		"request.received, request.searched, request.awaiting-review",
		"delivery.delivered",
		"portal.bundle",
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

	// The subject's side: exactly the approved items, the delivered file
	// identical to the sample share's (the embedded original, not the
	// demo's copy of it).
	decrypted := p("subject", "decrypted")
	var files []string
	err = filepath.WalkDir(decrypted, func(path string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			rel, _ := filepath.Rel(decrypted, path)
			files = append(files, filepath.ToSlash(rel))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"hr-documents/contract-4711.pdf", "hr-documents/contract-4711.pdf.json",
		"hr-documents/index.html", "hr-documents/ticket-8812.eml.json", "index.html"}
	if !slices.Equal(files, want) {
		t.Errorf("decrypted files = %q, want %q (withheld: the invoices; file withheld: the ticket)", files, want)
	}
	orig, err := sampleShare.ReadFile("sample-share/hr/2019/contract-4711.pdf")
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(decrypted, "hr-documents", "contract-4711.pdf")); err != nil || !bytes.Equal(b, orig) {
		t.Errorf("decrypted contract-4711.pdf differs from the sample share's (err %v)", err)
	}
	type record struct {
		Text          string `json:"text"`
		TextSource    string `json:"text_source"`
		FileDelivered bool   `json:"file_delivered"`
		FileWithheld  bool   `json:"file_withheld"`
	}
	readRecord := func(name string) record {
		t.Helper()
		var r record
		b, err := os.ReadFile(filepath.Join(decrypted, "hr-documents", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return r
	}
	if r := readRecord("contract-4711.pdf.json"); r.Text != demoTypedText || r.TextSource != "reviewer" || !r.FileDelivered {
		t.Errorf("contract record = %+v, want the reviewer's text and the file", r)
	}
	if r := readRecord("ticket-8812.eml.json"); r.FileDelivered || !r.FileWithheld || r.TextSource != "extracted" ||
		!strings.Contains(r.Text, "INV-1001") {
		t.Errorf("ticket record = %+v, want the extracted text without the file", r)
	}

	// The artefacts named in the output exist; the mails carry the
	// workbook notice and the portal link.
	for _, f := range []string{p("review", "AR-demo.xlsx"), p("review", "AR-demo-reviewed.xlsx"), p("subject", "bundle.zip"),
		p("subject", "portal.html"), p("subject", "public.asc")} {
		if st, err := os.Stat(f); err != nil || st.Size() == 0 {
			t.Errorf("artefact %s missing or empty (%v)", f, err)
		}
	}
	if st, err := os.Stat(p("subject", "private.asc")); err != nil {
		t.Error(err)
	} else if st.Mode().Perm() != 0o600 {
		t.Errorf("private key file mode %v, want 0600", st.Mode().Perm())
	}
	if b, err := os.ReadFile(p("mail", "02-subject.txt")); err != nil || !strings.Contains(string(b), "/portal/") {
		t.Errorf("subject mail without portal link (%v):\n%s", err, b)
	}
	if b, err := os.ReadFile(p("mail", "01-reviewer.txt")); err != nil || !strings.Contains(string(b), "AR-demo") {
		t.Errorf("reviewer mail without the request (%v):\n%s", err, b)
	}
}
