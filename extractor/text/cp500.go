package text

import (
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/transform"
)

// cp500 is EBCDIC "International" (IBM code page 500). golang.org/x/text
// ships only code page 037, which differs from 500 in seven punctuation
// positions, so the table is derived from 037 with those swapped.
var cp500 encoding.Encoding = newSingleByte(func() [256]rune {
	var t [256]rune
	d := charmap.CodePage037
	for i := 0; i < 256; i++ {
		t[i] = d.DecodeByte(byte(i))
	}
	t[0x4A], t[0x4F], t[0x5A], t[0x5F] = '[', '!', ']', '^'
	t[0xB0], t[0xBA], t[0xBB] = '¢', '¬', '|'
	return t
}())

// singleByte is a decode-only single-byte encoding over a 256-rune table.
type singleByte struct{ table [256]rune }

func newSingleByte(t [256]rune) encoding.Encoding { return &singleByte{table: t} }

func (s *singleByte) NewDecoder() *encoding.Decoder {
	return &encoding.Decoder{Transformer: &sbDecoder{t: &s.table}}
}

// NewEncoder is not needed (we only read); it replaces everything it cannot
// map, which is acceptable for a decode-only table.
func (s *singleByte) NewEncoder() *encoding.Encoder {
	return encoding.Replacement.NewEncoder()
}

type sbDecoder struct {
	transform.NopResetter
	t *[256]rune
}

func (d *sbDecoder) Transform(dst, src []byte, atEOF bool) (nDst, nSrc int, err error) {
	for nSrc < len(src) {
		r := d.t[src[nSrc]]
		if nDst+utf8.RuneLen(r) > len(dst) {
			return nDst, nSrc, transform.ErrShortDst
		}
		nDst += utf8.EncodeRune(dst[nDst:], r)
		nSrc++
	}
	return nDst, nSrc, nil
}
