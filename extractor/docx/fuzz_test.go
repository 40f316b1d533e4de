package docx

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/docvet/docvet/extractor/doctext"
)

// storedDocx builds an uncompressed DOCX, so the fuzzer's mutations reach
// the XML instead of breaking the deflate stream.
func storedDocx(t testing.TB, body string) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range [][2]string{
		{"word/document.xml", `<w:document ` + wNS + `><w:body>` + body + `</w:body></w:document>`},
		{"word/comments.xml", `<w:comments ` + wNS + `><w:comment w:author="A"><w:p><w:r><w:t>c</w:t></w:r></w:p></w:comment></w:comments>`},
	} {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: f[0], Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write([]byte(f[1]))
	}
	_ = zw.Close()
	return buf.Bytes()
}

func FuzzDocx(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/seeds/*.docx")
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		if s := stored(data); s != nil {
			f.Add(s)
		}
	}
	f.Add(storedDocx(f, `<w:p><w:r><w:t>a</w:t><w:tab/></w:r><w:del><w:r><w:delText>d</w:delText></w:r></w:del></w:p>`+
		`<w:tbl><w:tr><w:tc><w:p><mc:AlternateContent><mc:Choice><w:r><w:t>x</w:t></w:r></mc:Choice><mc:Fallback><w:r><w:t>y</w:t></w:r></mc:Fallback></mc:AlternateContent></w:p></w:tc></w:tr></w:tbl>`+
		`<w:p><w:ruby><w:rt><w:r><w:t>r</w:t></w:r></w:rt><w:rubyBase><w:r><w:t>b</w:t></w:r></w:rubyBase></w:ruby></w:p>`))
	lim := doctext.Limits{MaxChars: 1 << 20, MaxZipEntryBytes: 8 << 20, MaxZipTotalBytes: 16 << 20, MaxXMLDepth: 64}
	f.Fuzz(func(t *testing.T, data []byte) {
		b := doctext.NewBuilder(lim.MaxChars)
		err := Extract(context.Background(), doctext.Input{R: bytes.NewReader(data), Size: int64(len(data))}, b, doctext.Options{Limits: lim})
		if b.Len() > lim.MaxChars {
			t.Fatalf("text over the cap: %d", b.Len())
		}
		if err != nil && !errors.Is(err, doctext.ErrMalformed) && !errors.Is(err, doctext.ErrLimit) &&
			!errors.Is(err, doctext.ErrEncrypted) && !errors.Is(err, doctext.ErrUnsupported) {
			t.Fatalf("unclassified error: %v", err)
		}
	})
}

// stored re-packs a zip with every entry uncompressed, so the fuzzer's
// mutations reach the XML instead of breaking deflate streams and
// checksums. It returns nil for an unreadable zip.
func stored(data []byte) []byte {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			return nil
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: f.Name, Method: zip.Store})
		if err == nil {
			_, err = io.Copy(w, rc)
		}
		rc.Close()
		if err != nil {
			return nil
		}
	}
	if zw.Close() != nil {
		return nil
	}
	return buf.Bytes()
}
