package text

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"mime"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/ianaindex"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/korean"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/traditionalchinese"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
)

// SampleSize is how many leading bytes Decode inspects to choose a charset.
const SampleSize = 64 << 10

// scoreSize bounds the bytes decoded per candidate when scoring legacy
// charsets: enough for a stable verdict, cheap enough to try nine of them.
const scoreSize = 16 << 10

// Canonical charset names returned by Decode and Detect (WHATWG spelling
// where one exists).
const (
	UTF8        = "utf-8"
	UTF16LE     = "utf-16le"
	UTF16BE     = "utf-16be"
	Windows1252 = "windows-1252"
	CP500       = "ibm500"
	ISO2022JP   = "iso-2022-jp"
)

var (
	utf16le = unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM)
	utf16be = unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM)
)

// Lookup returns the encoding for a charset label (MIME, HTML or IANA name;
// case-insensitive, quotes and spaces ignored) and its canonical name, or
// nil when the label is unknown or unsupported.
func Lookup(label string) (encoding.Encoding, string) {
	l := strings.ToLower(strings.Trim(strings.TrimSpace(label), `"'`))
	if l == "" {
		return nil, ""
	}
	switch l {
	case "cp500", "ibm500", "ibm-500", "csibm500", "ebcdic-cp-be", "ebcdic-cp-ch", "ebcdic-international-500":
		return cp500, CP500
	case "cp037", "ibm037", "ibm-037", "csibm037", "ebcdic-cp-us", "ebcdic-cp-ca":
		return charmap.CodePage037, "ibm037"
	case "utf-16", "utf16", "ucs-2", "unicode":
		return utf16le, UTF16LE // no BOM (Decode strips one first): little endian is what Windows writes
	case "utf-16le", "utf16le":
		return utf16le, UTF16LE
	case "utf-16be", "utf16be":
		return utf16be, UTF16BE
	case "latin-1", "latin1", "l1":
		return charmap.Windows1252, Windows1252
	case "cp932", "ms932", "ms_kanji", "sjis", "x-sjis":
		return japanese.ShiftJIS, "shift_jis"
	case "cp949", "uhc", "ks_c_5601", "ksc5601", "x-windows-949":
		return korean.EUCKR, "euc-kr"
	case "cp950", "big5-hkscs", "x-big5":
		return traditionalchinese.Big5, "big5"
	case "cp936", "gb_2312", "euc-cn", "x-euc-cn":
		return simplifiedchinese.GBK, "gbk"
	}
	if e, err := htmlindex.Get(l); err == nil && e != nil {
		n, _ := htmlindex.Name(e)
		if n == "replacement" { // WHATWG maps some unsafe labels to U+FFFD output
			return nil, ""
		}
		return e, n
	}
	if e, err := ianaindex.IANA.Encoding(l); err == nil && e != nil {
		n, _ := ianaindex.IANA.Name(e)
		return e, strings.ToLower(n)
	}
	if strings.HasPrefix(l, "x-") {
		return Lookup(l[2:])
	}
	return nil, ""
}

// CharsetParam returns the charset parameter of a MIME type such as
// "text/plain; charset=ISO-8859-1", or "" when there is none.
func CharsetParam(mediaType string) string {
	if mediaType == "" {
		return ""
	}
	if _, params, err := mime.ParseMediaType(mediaType); err == nil {
		return params["charset"]
	}
	// Lenient fallback for malformed parameter lists.
	low := strings.ToLower(mediaType)
	i := strings.Index(low, "charset=")
	if i < 0 {
		return ""
	}
	v := mediaType[i+len("charset="):]
	if j := strings.IndexAny(v, "; \t"); j >= 0 {
		v = v[:j]
	}
	return strings.Trim(v, `"'`)
}

// Decode returns a reader that yields r's text as UTF-8 (invalid input
// replaced by U+FFFD, a leading BOM removed) and the charset it chose.
// declared is a charset label from the transport (MIME header, <meta>), or "".
// The rule is documented in the package comment.
func Decode(r io.Reader, declared string) (io.Reader, string, error) {
	br := bufio.NewReaderSize(r, SampleSize)
	sample, err := br.Peek(SampleSize)
	eof := false
	switch {
	case err == nil:
	case errors.Is(err, io.EOF):
		eof = true
	case errors.Is(err, bufio.ErrBufferFull):
	default:
		return nil, "", err
	}
	enc, name, bom := choose(sample, eof, declared)
	if bom > 0 {
		if _, err := br.Discard(bom); err != nil {
			return nil, "", err
		}
	}
	return transform.NewReader(br, enc.NewDecoder()), name, nil
}

// DecodeBytes converts p to a UTF-8 string with the same rule as Decode.
func DecodeBytes(p []byte, declared string) (string, string) {
	sample := p
	if len(sample) > SampleSize {
		sample = sample[:SampleSize]
	}
	enc, name, bom := choose(sample, len(p) <= SampleSize, declared)
	p = p[bom:]
	if name == UTF8 && utf8.Valid(p) {
		return string(p), name
	}
	out, _, err := transform.Bytes(enc.NewDecoder(), p)
	if err != nil { // decoders replace bad input; this is defensive only
		return strings.ToValidUTF8(string(p), "\uFFFD"), name
	}
	return string(out), name
}

// Detect names the charset of a text sample with no declared charset. eof
// says the sample is the whole input (so a cut multi-byte sequence at the
// end is a real error, not a truncation).
func Detect(sample []byte, eof bool) string {
	_, name, _ := choose(sample, eof, "")
	return name
}

// choose applies the detection rule; bom is the number of leading bytes to
// drop.
func choose(sample []byte, eof bool, declared string) (enc encoding.Encoding, name string, bom int) {
	switch {
	case bytes.HasPrefix(sample, []byte{0xEF, 0xBB, 0xBF}):
		return unicode.UTF8, UTF8, 3
	case bytes.HasPrefix(sample, []byte{0xFF, 0xFE}):
		return utf16le, UTF16LE, 2
	case bytes.HasPrefix(sample, []byte{0xFE, 0xFF}):
		return utf16be, UTF16BE, 2
	}
	if declared != "" {
		if e, n := Lookup(declared); e != nil {
			switch {
			case n == UTF16LE || n == UTF16BE:
				// A declared UTF-16 without BOM: trust the NUL pattern for
				// the byte order when there is one.
				if d := utf16ByNULs(sample); d != "" {
					n = d
				}
				if n == UTF16BE {
					return utf16be, n, 0
				}
				return utf16le, n, 0
			case n == UTF8:
				if validUTF8(sample, eof) {
					return unicode.UTF8, UTF8, 0
				}
				// Declared UTF-8 but not UTF-8 (mislabelled page or mail):
				// detect instead of producing replacement characters.
			case n == ISO2022JP || n == "iso-2022-kr":
				return e, n, 0
			case isASCIILabel(declared) && hasNonASCII(sample):
				// "us-ascii" with 8-bit bytes: the label is certainly
				// wrong, so detect.
			default:
				// Valid UTF-8 containing multi-byte sequences is almost
				// never an accident, so it beats a declared legacy charset
				// (a common mislabelling; us-ascii labels land here too).
				if hasNonASCII(sample) && validUTF8(sample, eof) {
					return unicode.UTF8, UTF8, 0
				}
				return e, n, 0
			}
		}
	}
	return detect(sample, eof)
}

func hasNonASCII(p []byte) bool {
	for _, c := range p {
		if c >= 0x80 {
			return true
		}
	}
	return false
}

// validUTF8 reports whether p is valid UTF-8, ignoring a multi-byte sequence
// cut at the end of a sample that is not the whole input.
func validUTF8(p []byte, eof bool) bool {
	if !eof {
		for k := 1; k <= 3 && k <= len(p); k++ {
			if utf8.RuneStart(p[len(p)-k]) {
				if !utf8.FullRune(p[len(p)-k:]) {
					p = p[:len(p)-k]
				}
				break
			}
		}
	}
	return utf8.Valid(p)
}

// utf16ByNULs recognises UTF-16 without BOM from NUL bytes at odd (LE) or
// even (BE) offsets, which is what mostly-Latin UTF-16 text looks like.
func utf16ByNULs(sample []byte) string {
	n := len(sample) &^ 1
	if n > 4096 {
		n = 4096
	}
	if n < 4 {
		return ""
	}
	var odd, even int
	for i := 0; i < n; i += 2 {
		if sample[i] == 0 {
			even++
		}
		if sample[i+1] == 0 {
			odd++
		}
	}
	pairs := n / 2
	switch {
	case odd*5 > pairs && even*50 < pairs:
		return UTF16LE
	case even*5 > pairs && odd*50 < pairs:
		return UTF16BE
	}
	return ""
}

func detect(sample []byte, eof bool) (encoding.Encoding, string, int) {
	if d := utf16ByNULs(sample); d == UTF16LE {
		return utf16le, d, 0
	} else if d == UTF16BE {
		return utf16be, d, 0
	}
	if isISO2022JP(sample) {
		return japanese.ISO2022JP, ISO2022JP, 0
	}
	if validUTF8(sample, eof) {
		return unicode.UTF8, UTF8, 0
	}
	if isEBCDIC(sample) {
		return cp500, CP500, 0
	}
	s := sample
	if len(s) > scoreSize {
		s = s[:scoreSize]
	}
	best, bestScore := candidates[0], 0.0
	for i, c := range candidates {
		sc := c.score(s)
		if i == 0 || sc > bestScore {
			best, bestScore = c, sc
		}
	}
	if bestScore <= 0 {
		return charmap.Windows1252, Windows1252, 0
	}
	return best.enc, best.name, 0
}

// isISO2022JP: 7-bit data with JIS escape sequences.
func isISO2022JP(p []byte) bool {
	if hasNonASCII(p) {
		return false
	}
	return bytes.Contains(p, []byte("\x1b$B")) || bytes.Contains(p, []byte("\x1b$@")) ||
		bytes.Contains(p, []byte("\x1b(J")) || bytes.Contains(p, []byte("\x1b(I"))
}

// isEBCDIC: lots of 0x40 (EBCDIC space) and nearly everything in the EBCDIC
// letter, digit, space and line-end positions. ASCII text has almost no
// bytes there (0x81-0xE9 are non-ASCII), so this cannot fire on it.
func isEBCDIC(p []byte) bool {
	if len(p) < 16 {
		return false
	}
	var space, common int
	for _, c := range p {
		switch {
		case c == 0x40:
			space++
			common++
		case c >= 0x81 && c <= 0x89, c >= 0x91 && c <= 0x99, c >= 0xA2 && c <= 0xA9,
			c >= 0xC1 && c <= 0xC9, c >= 0xD1 && c <= 0xD9, c >= 0xE2 && c <= 0xE9,
			c >= 0xF0 && c <= 0xF9, c == 0x0D, c == 0x25, c == 0x15, c == 0x4B, c == 0x6B, c == 0x7D, c == 0x60:
			common++
		}
	}
	return space*12 > len(p) && common*100 > len(p)*90
}

func isASCIILabel(l string) bool {
	switch strings.ToLower(strings.Trim(strings.TrimSpace(l), `"'`)) {
	case "us-ascii", "ascii", "us", "ansi_x3.4-1968", "iso646-us", "csascii", "iso-ir-6", "646", "cp367", "ibm367":
		return true
	}
	return false
}
