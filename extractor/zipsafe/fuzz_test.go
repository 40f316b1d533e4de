package zipsafe

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"

	"github.com/docvet/docvet/extractor/doctext"
)

func FuzzOpen(f *testing.F) {
	f.Add(zipOf(f, entry{"a.xml", []byte("<a>x</a>")}, entry{"b/c.xml", []byte(`<?xml version="1.0"?><r><s/></r>`)}))
	if data, err := os.ReadFile("testdata/encryptAES.ole"); err == nil {
		f.Add(data)
	}
	lim := doctext.Limits{MaxZipEntryBytes: 1 << 20, MaxZipTotalBytes: 4 << 20, MaxXMLDepth: 32}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Open(doctext.Input{R: bytes.NewReader(data), Size: int64(len(data))}, lim)
		if err != nil {
			if !errors.Is(err, doctext.ErrMalformed) && !errors.Is(err, doctext.ErrLimit) &&
				!errors.Is(err, doctext.ErrEncrypted) && !errors.Is(err, doctext.ErrUnsupported) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		var total int64
		for _, name := range r.Names() {
			rc, err := r.Open(name)
			if err != nil {
				continue
			}
			d := NewDecoder(rc, lim.MaxXMLDepth)
			for {
				if _, err := d.Token(); err != nil {
					break
				}
			}
			n, _ := io.Copy(io.Discard, rc)
			total += n
			rc.Close()
		}
		if total > lim.MaxZipTotalBytes {
			t.Fatalf("read %d bytes over the total limit", total)
		}
	})
}

func FuzzDecoder(f *testing.F) {
	for _, s := range []string{`<a><b x="1">t</b></a>`, `<?xml version="1.0" encoding="ISO-8859-1"?><a/>`,
		`<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>`, `<a xmlns:w="u"><w:t>&amp;</w:t></a>`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d := NewDecoder(bytes.NewReader(data), 16)
		for i := 0; ; i++ {
			_, err := d.Token()
			if err != nil {
				break
			}
			if d.Depth() > 16 {
				t.Fatalf("depth %d over limit", d.Depth())
			}
		}
		_ = CheckProlog(bytes.NewReader(data))
	})
}
