package zipsafe

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"encoding/xml"
	"errors"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docvet/docvet/extractor/doctext"
)

type entry struct {
	name string
	data []byte
}

func zipOf(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		w, err := zw.Create(e.name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// dna returns n pseudo-random bytes over a four-letter alphabet: they
// deflate about 4:1, under the default ratio limit.
func dna(n int) []byte {
	b := make([]byte, n)
	x := uint32(88172645)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = "ACGT"[x%4]
	}
	return b
}

func input(b []byte) doctext.Input {
	return doctext.Input{R: bytes.NewReader(b), Size: int64(len(b))}
}

func limitName(err error) string {
	var le *doctext.LimitError
	if errors.As(err, &le) {
		return le.Limit
	}
	return ""
}

func TestOpenChecks(t *testing.T) {
	small := doctext.Limits{MaxZipEntries: 3, MaxZipEntryBytes: 1 << 20, MaxZipTotalBytes: 3 << 19, MaxZipRatio: 50}
	zeros := func(n int) []byte { return make([]byte, n) }
	rnd := func(n int) []byte { // incompressible
		b := make([]byte, n)
		x := uint32(2463534242)
		for i := range b {
			x ^= x << 13
			x ^= x >> 17
			x ^= x << 5
			b[i] = byte(x)
		}
		return b
	}
	tests := []struct {
		name    string
		data    []byte
		lim     doctext.Limits
		wantErr error
		limit   string
	}{
		{"ok", zipOf(t, entry{"a.xml", []byte("<a/>")}), small, nil, ""},
		{"not a zip", []byte("%PDF-1.7 ..."), small, doctext.ErrMalformed, ""},
		{"empty input", nil, small, doctext.ErrMalformed, ""},
		{"truncated zip", zipOf(t, entry{"a.xml", rnd(4096)})[:3000], small, doctext.ErrMalformed, ""},
		{"too many entries", zipOf(t, entry{"a", nil}, entry{"b", nil}, entry{"c", nil}, entry{"d", nil}), small, doctext.ErrLimit, "zip_entries"},
		{"entry too big", zipOf(t, entry{"a", rnd(1<<20 + 1)}), small, doctext.ErrLimit, "zip_entry_bytes"},
		{"total too big", zipOf(t, entry{"a", rnd(1 << 19)}, entry{"b", rnd(1 << 19)}, entry{"c", rnd(1<<19 + 1)}), small, doctext.ErrLimit, "zip_total_bytes"},
		{"ratio", zipOf(t, entry{"word/document.xml", zeros(1 << 20)}), small, doctext.ErrLimit, "zip_ratio"},
		{"ratio of a non-XML entry checked on open", zipOf(t, entry{"word/media/blank.bmp", zeros(1 << 20)}), small, nil, ""},
		{"small entries exempt from ratio", zipOf(t, entry{"a", zeros(MinRatioBytes - 1)}), small, nil, ""},
		{"duplicate names", zipOf(t, entry{"word/document.xml", nil}, entry{"WORD/Document.xml", nil}), small, doctext.ErrMalformed, ""},
		{"input too big", zipOf(t, entry{"a", rnd(1000)}), doctext.Limits{MaxInputBytes: 100}, doctext.ErrLimit, "input_bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Open(input(tt.data), tt.lim)
			if tt.wantErr == nil && err != nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if got := limitName(err); got != tt.limit {
				t.Errorf("limit = %q, want %q", got, tt.limit)
			}
		})
	}
}

func TestOpenPart(t *testing.T) {
	data := zipOf(t, entry{"word/document.xml", []byte("<d>hello</d>")}, entry{`word\media\x.bin`, []byte("x")})
	r, err := Open(input(data), doctext.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"word/document.xml", "/Word/Document.XML", "word/media/x.bin"} {
		if !r.Has(name) {
			t.Errorf("Has(%q) = false", name)
		}
	}
	got, err := r.ReadAll("/word/document.xml", 0)
	if err != nil || string(got) != "<d>hello</d>" {
		t.Fatalf("ReadAll = %q, %v", got, err)
	}
	if _, err := r.ReadAll("word/document.xml", 5); limitName(err) != "zip_entry_bytes" {
		t.Errorf("ReadAll over max: %v", err)
	}
	if _, err := r.Open("missing.xml"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Open missing: %v", err)
	}
	if r.Size("word/document.xml") != 12 || r.Size("nope") != -1 {
		t.Errorf("Size wrong")
	}
}

// TestCountingLimits: the limits hold while reading even if the header
// checks were passed (e.g. a header that lies).
func TestCountingLimits(t *testing.T) {
	data := zipOf(t, entry{"a", dna(256 << 10)}, entry{"b", dna(256 << 10)})
	for _, tc := range []struct {
		name  string
		set   func(*doctext.Limits)
		limit string
	}{
		{"entry", func(l *doctext.Limits) { l.MaxZipEntryBytes = 1000 }, "zip_entry_bytes"},
		{"total", func(l *doctext.Limits) { l.MaxZipTotalBytes = 300 << 10 }, "zip_total_bytes"},
		{"ratio", func(l *doctext.Limits) { l.MaxZipRatio = 2 }, "zip_ratio"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Open(input(data), doctext.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			var n int64
			for i, name := range []string{"a", "b"} {
				rc, err := r.Open(name)
				if err != nil {
					t.Fatal(err)
				}
				if i == 0 {
					tc.set(&r.lim) // as if the header checks had been passed by lying headers
				}
				m, err := io.Copy(io.Discard, rc)
				n += m
				rc.Close()
				if err != nil {
					if got := limitName(err); got != tc.limit {
						t.Fatalf("err = %v, want limit %s", err, tc.limit)
					}
					return
				}
			}
			t.Fatalf("read %d bytes without hitting %s", n, tc.limit)
		})
	}
}

// TestLyingHeader: an entry that inflates to more than its declared size
// fails instead of producing the extra bytes.
func TestLyingHeader(t *testing.T) {
	real := bytes.Repeat([]byte("A"), 1<<20)
	var comp bytes.Buffer
	fw, _ := flate.NewWriter(&comp, flate.BestCompression)
	_, _ = fw.Write(real)
	_ = fw.Close()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateRaw(&zip.FileHeader{Name: "word/document.xml", Method: zip.Deflate,
		CRC32: crc32.ChecksumIEEE(real), CompressedSize64: uint64(comp.Len()), UncompressedSize64: 100})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = w.Write(comp.Bytes())
	_ = zw.Close()
	r, err := Open(input(buf.Bytes()), doctext.Limits{})
	if err != nil {
		t.Fatal(err) // declared 100 bytes: passes the header checks
	}
	rc, err := r.Open("word/document.xml")
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, rc)
	if !errors.Is(err, doctext.ErrMalformed) && !errors.Is(err, doctext.ErrLimit) {
		t.Fatalf("read %d bytes, err %v", n, err)
	}
	if n > 64<<10 {
		t.Errorf("produced %d bytes past a 100-byte header", n)
	}
}

func TestEncryptedCorpus(t *testing.T) {
	files, _ := filepath.Glob("../../../shared/corpus/broken/*protected*")
	files2, _ := filepath.Glob("testdata/*.ole")
	files = append(files, files2...)
	n := 0
	for _, f := range files {
		if ext := filepath.Ext(f); ext != ".docx" && ext != ".xlsx" && ext != ".ole" {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		n++
		if _, err := Open(input(data), doctext.Limits{}); !errors.Is(err, doctext.ErrEncrypted) {
			t.Errorf("%s: err = %v, want ErrEncrypted", filepath.Base(f), err)
		}
	}
	if n == 0 {
		t.Skip("no encrypted samples")
	}
	// OLE2 magic without a readable compound file.
	bad := append([]byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1}, make([]byte, 600)...)
	if _, err := Open(input(bad), doctext.Limits{}); !errors.Is(err, doctext.ErrMalformed) {
		t.Errorf("broken OLE2: err = %v", err)
	}
}

func tokens(t *testing.T, doc string, maxDepth int) (string, error) {
	t.Helper()
	d := NewDecoder(strings.NewReader(doc), maxDepth)
	var sb strings.Builder
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return sb.String(), nil
		}
		if err != nil {
			return sb.String(), err
		}
		if cd, ok := tok.(xml.CharData); ok {
			sb.Write(cd)
		}
	}
}

func TestDecoder(t *testing.T) {
	tests := []struct {
		name, doc string
		depth     int
		want      string
		err       error
	}{
		{"plain", `<?xml version="1.0"?><a><b>x</b>&amp;<c/></a>`, 0, "x&", nil},
		{"predefined entities only", `<a>&lt;&#65;&gt;</a>`, 0, "<A>", nil},
		{"depth ok", "<a><b><c/></b></a>", 3, "", nil},
		{"depth exceeded", "<a><b><c/></b></a>", 2, "", doctext.ErrLimit},
		{"billion laughs", `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><a>&lol2;</a>`, 0, "", doctext.ErrMalformed},
		{"xxe", `<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>`, 0, "", doctext.ErrMalformed},
		{"lowercase doctype", `<!doctype a><a/>`, 0, "", doctext.ErrMalformed},
		{"undefined entity", `<a>&x;</a>`, 0, "", doctext.ErrMalformed},
		{"unclosed", `<a><b>x</b>`, 0, "x", doctext.ErrMalformed},
		{"latin1", `<?xml version="1.0" encoding="ISO-8859-1"?><a>caf` + "\xe9" + `</a>`, 0, "café", nil},
		{"unknown charset", `<?xml version="1.0" encoding="x-nope"?><a/>`, 0, "", doctext.ErrUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tokens(t, tt.doc, tt.depth)
			if tt.err == nil && err != nil || tt.err != nil && !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if strings.Contains(got, "lol") || strings.Contains(got, "root") {
				t.Errorf("entity expanded: %q", got)
			}
			if tt.err == nil && got != tt.want {
				t.Errorf("text = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDecoderSkip(t *testing.T) {
	d := NewDecoder(strings.NewReader(`<a><skip><x>no</x></skip><k>yes</k></a>`), 0)
	var got strings.Builder
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch tt := tok.(type) {
		case xml.StartElement:
			if tt.Name.Local == "skip" {
				if err := d.Skip(); err != nil {
					t.Fatal(err)
				}
			}
		case xml.CharData:
			got.Write(tt)
		}
	}
	if got.String() != "yes" {
		t.Errorf("got %q", got.String())
	}
}

func TestCheckProlog(t *testing.T) {
	tests := []struct {
		name, doc string
		err       error
	}{
		{"ok", `<?xml version="1.0"?><!-- c --><a><!DOCTYPE inside is not a prolog/></a>`, nil},
		{"doctype", `<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>`, doctext.ErrMalformed},
		{"empty", ``, nil},
		{"endless prolog", `<?xml version="1.0"?>` + strings.Repeat("<!-- pad -->", prologMax/10) + `<!DOCTYPE a><a/>`, doctext.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckProlog(strings.NewReader(tt.doc))
			if tt.err == nil && err != nil || tt.err != nil && !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
		})
	}
}

func TestLazyRatio(t *testing.T) {
	data := zipOf(t, entry{"word/document.xml", []byte("<d/>")}, entry{"word/media/blank.bmp", make([]byte, 1<<20)})
	r, err := Open(input(data), doctext.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Open("word/media/blank.bmp"); limitName(err) != "zip_ratio" {
		t.Errorf("Open bomb-like entry: %v", err)
	}
	if limitName(r.CheckAllRatios()) != "zip_ratio" {
		t.Errorf("CheckAllRatios passed")
	}
	if _, err := r.ReadAll("word/document.xml", 0); err != nil {
		t.Errorf("document: %v", err)
	}
}
