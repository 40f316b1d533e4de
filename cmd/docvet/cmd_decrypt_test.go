package main

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/docvet/docvet/encrypt"
)

// testKeys makes an Ed25519/Cv25519 key pair: a recipient and the
// armored private key file (protected with passphrase when not empty).
func testKeys(t *testing.T, dir, passphrase string) (*encrypt.Recipient, string) {
	t.Helper()
	e, err := openpgp.NewEntity("Kari Nordmann", "", "kari@example.org", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		t.Fatal(err)
	}
	var pub bytes.Buffer
	w, _ := armor.Encode(&pub, openpgp.PublicKeyType, nil)
	e.Serialize(w)
	w.Close()
	r, err := encrypt.NewRecipient(pub.String(), time.Now(), encrypt.Policy{})
	if err != nil {
		t.Fatal(err)
	}
	if passphrase != "" {
		if err := e.EncryptPrivateKeys([]byte(passphrase), nil); err != nil {
			t.Fatal(err)
		}
	}
	var priv bytes.Buffer
	w, _ = armor.Encode(&priv, openpgp.PrivateKeyType, nil)
	if err := e.SerializePrivateWithoutSigning(w, nil); err != nil {
		t.Fatal(err)
	}
	w.Close()
	keyFile := filepath.Join(dir, "private.asc")
	if err := os.WriteFile(keyFile, priv.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return r, keyFile
}

func sealed(t *testing.T, r *encrypt.Recipient, name, content string) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := r.Encrypt(&b, name, time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(content))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// listFiles returns every file under dir, relative, slash-separated.
func listFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	slices.Sort(out)
	return out
}

func TestDecryptBundle(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	r, keyFile := testKeys(t, tmp, "")
	tampered := sealed(t, r, "tampered.pdf", strings.Repeat("x", 5000))
	tampered[len(tampered)-10] ^= 1

	type entry struct{ name, content string }
	entries := []struct {
		name string
		data []byte
	}{
		{"index.html", []byte("<h1>Your data</h1>")},
		{"hr-documents/", nil},
		{"hr-documents/index.html", []byte("<h1>HR</h1>")},
		{"hr-documents/item-1.pgp", sealed(t, r, "report.pdf", "hr report")},
		{"hr-documents/item-2.pgp", sealed(t, r, "../../../etc/report.pdf", "second report")}, // literal path escape
		{"hr-documents/item-3.pgp", sealed(t, r, "report.pdf", "third report")},               // duplicate name
		{"hr-documents/item-4.pgp", tampered},
		{"hr-documents/item-5.pgp", sealed(t, r, "\x1b\x07..", "no name left")},
		{"mail/index.html", []byte("<h1>Mail</h1>")},
		{"mail/item-6.pgp", sealed(t, r, "Re: møte\x00.eml", "mail body")},
		{"../../evil.html", []byte("zip slip")},
		{"/abs/../mail/x.pgp", sealed(t, r, ".bashrc", "hidden")},
		{"mail/notes.txt", []byte("unknown")},
		{"a/b/c.pgp", sealed(t, r, "deep.txt", "too deep")},
	}
	var zb bytes.Buffer
	zw := zip.NewWriter(&zb)
	for _, e := range entries {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: e.name, Method: zip.Deflate})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(e.data)
	}
	zw.Close()
	bundle := filepath.Join(tmp, "delivery.download") // detected by content, not by name
	os.WriteFile(bundle, zb.Bytes(), 0o600)

	out := filepath.Join(tmp, "out")
	var stdout, stderr bytes.Buffer
	err := runDecrypt(context.Background(), []string{"--key", keyFile, bundle, "-o", out}, &stdout, &stderr)
	if err == nil || errors.Is(err, errUsage) {
		t.Fatalf("err = %v, want a failure for the tampered item", err)
	}
	t.Logf("stderr:\n%s", stderr.String())
	want := []string{
		"evil.html",
		"hr-documents/index.html",
		"hr-documents/item-7", // the 7th entry decrypted had no usable name
		"hr-documents/report (2).pdf",
		"hr-documents/report (3).pdf",
		"hr-documents/report.pdf",
		"index.html",
		"mail/Re_ møte.eml",
		"mail/bashrc",
		"mail/index.html",
	}
	got := listFiles(t, out)
	if !slices.Equal(got, want) {
		t.Errorf("files:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	contents := map[string]string{
		"hr-documents/report.pdf":     "hr report",
		"hr-documents/report (2).pdf": "second report",
		"hr-documents/report (3).pdf": "third report",
		"mail/Re_ møte.eml":           "mail body",
		"index.html":                  "<h1>Your data</h1>",
		"evil.html":                   "zip slip",
	}
	for name, c := range contents {
		if b, err := os.ReadFile(filepath.Join(out, filepath.FromSlash(name))); err != nil || string(b) != c {
			t.Errorf("%s: %q, %v", name, b, err)
		}
	}
	// One stdout line per file written, each a path under out.
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != len(want) {
		t.Errorf("%d stdout lines, want %d:\n%s", len(lines), len(want), stdout.String())
	}
	for _, l := range lines {
		if _, err := os.Stat(l); err != nil || !strings.HasPrefix(l, out) {
			t.Errorf("stdout line %q: %v", l, err)
		}
	}
	for _, s := range []string{"item-4.pgp", "integrity", "notes.txt", "skipped", "a/b/c.pgp"} {
		if !strings.Contains(stderr.String(), s) {
			t.Errorf("stderr does not mention %q", s)
		}
	}
	if strings.Contains(stderr.String(), "tampered.pdf") {
		t.Errorf("stderr names the tampered item's decrypted file name")
	}
	// Times come from the literal packet.
	if st, err := os.Stat(filepath.Join(out, "hr-documents", "report.pdf")); err != nil || !st.ModTime().Equal(time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Errorf("mod time: %v %v", st.ModTime(), err)
	}

	// A second run into the same directory overwrites nothing.
	stdout.Reset()
	runDecrypt(context.Background(), []string{"--key", keyFile, "-o", out, bundle}, &stdout, &stderr)
	if b, _ := os.ReadFile(filepath.Join(out, "hr-documents", "report.pdf")); string(b) != "hr report" {
		t.Errorf("report.pdf overwritten: %q", b)
	}
	if _, err := os.Stat(filepath.Join(out, "index (2).html")); err != nil {
		t.Errorf("second index: %v", err)
	}
}

func TestDecryptItems(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	r, keyFile := testKeys(t, tmp, "pass phrase")
	passFile := filepath.Join(tmp, "pass")
	os.WriteFile(passFile, []byte("pass phrase\n"), 0o600)

	good := filepath.Join(tmp, "a.pgp")
	os.WriteFile(good, sealed(t, r, "letter.txt", "dear Kari"), 0o600)
	big := strings.Repeat("0123456789abcdef", 20000)
	bad := sealed(t, r, "partial.bin", big)
	bad[len(bad)/2] ^= 0x20
	badFile := filepath.Join(tmp, "b.pgp")
	os.WriteFile(badFile, bad, 0o600)
	plainFile := filepath.Join(tmp, "c.pgp")
	os.WriteFile(plainFile, []byte("not encrypted"), 0o600)

	out := filepath.Join(tmp, "out")
	var stdout, stderr bytes.Buffer
	err := runDecrypt(context.Background(), []string{"--key", keyFile, "--passphrase-file", passFile, "-o", out, badFile, good, plainFile, filepath.Join(tmp, "missing.pgp")}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "3 of 4") {
		t.Fatalf("err = %v", err)
	}
	if got := listFiles(t, out); !slices.Equal(got, []string{"letter.txt"}) {
		t.Errorf("files %v: the tampered item must leave nothing behind", got)
	}
	if strings.TrimSpace(stdout.String()) != filepath.Join(out, "letter.txt") {
		t.Errorf("stdout %q", stdout.String())
	}

	// Usage and key errors.
	for _, tc := range []struct {
		args  []string
		usage bool
		want  error
	}{
		{[]string{"-o", out, good}, true, nil},
		{[]string{"--key", keyFile, good}, true, nil},
		{[]string{"--key", keyFile, "-o", out}, true, nil},
		{[]string{"--bogus"}, true, nil},
		{[]string{"--key", keyFile, "-o", out, good}, false, encrypt.ErrPassphrase},
		{[]string{"--key", good, "-o", out, good}, false, encrypt.ErrPrivateKeyParse},
	} {
		err := runDecrypt(context.Background(), tc.args, &stdout, &stderr)
		if errors.Is(err, errUsage) != tc.usage || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%v: err = %v", tc.args, err)
		}
	}
}

func TestSafeName(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"report.pdf":                      "report.pdf",
		"../../etc/passwd":                "passwd",
		`..\..\windows\system.ini`:        "system.ini",
		"..":                              "",
		".":                               "",
		"":                                "",
		"...pdf":                          "pdf",
		".bashrc":                         "bashrc",
		"a\x00b\nc\x1b.txt":               "abc.txt",
		"x\u202egnp.exe":                  "xgnp.exe",
		"CON":                             "_CON",
		"nul.txt":                         "_nul.txt",
		"what?.pdf":                       "what_.pdf",
		"trailing. . ":                    "trailing",
		"Søknad – 履歴書.docx":               "Søknad – 履歴書.docx",
		"bad\xffutf8":                     "badutf8",
		strings.Repeat("é", 150) + ".pdf": strings.Repeat("é", 98) + ".pdf",
	}
	for in, want := range tests {
		if got := safeName(in); got != want {
			t.Errorf("safeName(%q) = %q, want %q", in, got, want)
		}
	}
	for _, tc := range []struct {
		in, dir, base string
		ok            bool
	}{
		{"index.html", ".", "index.html", true},
		{"hr/item.pgp", "hr", "item.pgp", true},
		{"../../x.html", ".", "x.html", true},
		{"/etc/passwd", "etc", "passwd", true},
		{`hr\..\..\x.pgp`, ".", "x.pgp", true},
		{"/abs/../mail/x.pgp", "mail", "x.pgp", true},
		{"a/b/c.pgp", "a", "c.pgp", false},
		{"../..", ".", "", false},
	} {
		dir, base, ok := bundlePath(tc.in)
		if dir != tc.dir || base != tc.base || ok != tc.ok {
			t.Errorf("bundlePath(%q) = %q %q %v", tc.in, dir, base, ok)
		}
	}
}
