package vetting

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzImport: no input may panic or hang Import; anything accepted must be
// consistent with the manifest. Seeds: small exported workbooks in
// testdata/seed-*.xlsx (go test -run TestWriteSeeds -update rewrites them)
// plus one generated now.
func FuzzImport(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/seed-*.xlsx")
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(exportBytes(f, testInput(testResult(2, 1))))
	f.Add([]byte("PK\x03\x04"))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := Import(bytes.NewReader(b), int64(len(b)), ImportInput{RequestID: "req-1", MaxBytes: 1 << 20, UnzipSizeLimit: 8 << 20}, testKey)
		if err != nil {
			if _, ok := err.(*ValidationError); !ok {
				t.Fatalf("error is not a ValidationError: %T %v", err, err)
			}
			return
		}
		if d.RequestID != "req-1" {
			t.Fatalf("accepted workbook of %q", d.RequestID)
		}
	})
}

var update = os.Getenv("DOCVET_UPDATE_SEEDS") != ""

// TestWriteSeeds rewrites the checked-in fuzz seeds when
// DOCVET_UPDATE_SEEDS=1 (they are exports with the test key).
func TestWriteSeeds(t *testing.T) {
	if !update {
		t.Skip("set DOCVET_UPDATE_SEEDS=1 to rewrite testdata/seed-*.xlsx")
	}
	in := testInput(testResult(1, 1))
	if err := os.WriteFile("testdata/seed-small.xlsx", exportBytes(t, in), 0o644); err != nil {
		t.Fatal(err)
	}
	in.DataType = "mail"
	in.Lang = "no"
	if err := os.WriteFile("testdata/seed-scoped-no.xlsx", exportBytes(t, in), 0o644); err != nil {
		t.Fatal(err)
	}
}
