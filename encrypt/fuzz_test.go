package encrypt

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// fuzzKey is a fixed test-only key (testdata/fuzz-key.asc, Ed25519/Cv25519,
// no passphrase), so the checked-in seed messages in
// testdata/fuzz/FuzzDecrypt are encrypted to it and reach the decryption
// and literal-data code, not only the packet parser.
func fuzzIdentity(t testing.TB) *Identity {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "fuzz-key.asc"))
	if err != nil {
		t.Fatal(err)
	}
	id, err := NewIdentity(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

var decryptSentinels = []error{ErrWrongKey, ErrIntegrity, ErrNotEncrypted, ErrUnsupported}

// FuzzDecrypt: any input yields a sentinel error or a plaintext whose body
// ends in io.EOF or a sentinel error; never a panic.
func FuzzDecrypt(f *testing.F) {
	id := fuzzIdentity(f)
	f.Add([]byte{})
	f.Add([]byte("-----BEGIN PGP MESSAGE-----\n\nwcBMA\n-----END PGP MESSAGE-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		pt, err := id.Decrypt(bytes.NewReader(data))
		if err != nil {
			if !isSentinel(err) {
				t.Fatalf("Decrypt error without a sentinel: %v", err)
			}
			return
		}
		// Bounded: a compressed message may expand.
		n, err := io.Copy(io.Discard, io.LimitReader(pt.Body, 16<<20))
		if err != nil && !isSentinel(err) {
			t.Fatalf("body error without a sentinel after %d bytes: %v", n, err)
		}
	})
}

func isSentinel(err error) bool {
	for _, s := range decryptSentinels {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// TestFuzzSeedsDecrypt keeps the seed corpus meaningful: the valid seed
// messages decrypt with the fuzz key.
func TestFuzzSeedsDecrypt(t *testing.T) {
	t.Parallel()
	id := fuzzIdentity(t)
	b, err := os.ReadFile(filepath.Join("testdata", "fuzz", "FuzzDecrypt", "valid-small"))
	if err != nil {
		t.Fatal(err)
	}
	// The corpus file format: a header line, then []byte("...").
	msg := parseCorpusBytes(t, b)
	pt, body, err := decryptBytes(id, msg)
	if err != nil {
		t.Fatalf("valid seed: %v", err)
	}
	if pt.Filename == "" || len(body) == 0 {
		t.Errorf("valid seed: name %q, %d bytes", pt.Filename, len(body))
	}
}

func parseCorpusBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	_, body, ok := strings.Cut(string(b), "\n")
	body = strings.TrimSpace(body)
	if !ok || !strings.HasPrefix(body, "[]byte(") || !strings.HasSuffix(body, ")") {
		t.Fatalf("not a corpus file")
	}
	s, err := strconv.Unquote(body[len("[]byte(") : len(body)-1])
	if err != nil {
		t.Fatal(err)
	}
	return []byte(s)
}
