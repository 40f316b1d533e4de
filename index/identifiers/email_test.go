package identifiers

import (
	"testing"

	"golang.org/x/text/unicode/norm"
)

// An address written with combining marks (NFD, as macOS file names and
// some PDF extractors give it) and the precomposed one are one address:
// Find and Normalize both return the NFC form, lower-cased.
func TestEmailUnicodeForms(t *testing.T) {
	const composed = "k\u00e5re.\u00f8deg\u00e5rd@b\u00e5t.example.no" // kåre.ødegård@båt.example.no
	decomposed := norm.NFD.String(composed)
	if decomposed == composed {
		t.Fatal("test data: NFD form equals NFC form")
	}
	upperNFD := norm.NFD.String("K\u00c5RE.\u00d8DEG\u00c5RD@B\u00c5T.EXAMPLE.NO")

	for _, tc := range []struct{ name, written string }{
		{"composed", composed},
		{"decomposed", decomposed},
		{"decomposed upper case", upperNFD},
		{"mailto decomposed", "mailto:" + decomposed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, ok := Normalize(KindEmail, tc.written, Options{})
			if !ok || v != composed {
				t.Fatalf("Normalize(%q) = %q, %v; want %q", tc.written, v, ok, composed)
			}
			if !norm.NFC.IsNormalString(v) {
				t.Fatalf("Normalize(%q) = %q is not NFC", tc.written, v)
			}
			text := "Til: " + tc.written + ", takk."
			ids := Find(text, Options{})
			if len(ids) != 1 || ids[0].Kind != KindEmail || ids[0].Value != composed {
				t.Fatalf("Find(%q) = %+v; want one e-mail %q", text, ids, composed)
			}
			// The span is the address as written (rune offsets of the text,
			// combining marks counted), and it normalises to the same value.
			checkSpans(t, text, ids, Options{})
			wantLen := len([]rune(tc.written))
			if tc.name == "mailto decomposed" {
				wantLen -= len("mailto:")
			}
			if ids[0].Offset+ids[0].Length != len([]rune("Til: "+tc.written)) || ids[0].Length != wantLen {
				t.Fatalf("span %d+%d does not cover the written address (%d runes)", ids[0].Offset, ids[0].Length, wantLen)
			}
			if Term(KindEmail, v) != ids[0].Term() {
				t.Fatalf("terms differ: %q vs %q", Term(KindEmail, v), ids[0].Term())
			}
		})
	}
}

// The fingerprint carries the rules' Version, so an index whose e-mail
// terms were built before NFC folding is rebuilt rather than searched with
// composed terms it does not hold.
func TestVersionBumpedForNFC(t *testing.T) {
	if Version == "identifiers-1" {
		t.Fatal("Version must change when e-mail values change (NFC): indexes built with identifiers-1 hold unfolded terms")
	}
}
