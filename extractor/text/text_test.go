package text

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/korean"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/traditionalchinese"
	"golang.org/x/text/encoding/unicode"

	"github.com/docvet/docvet/extractor/doctext"
)

func encode(t *testing.T, e encoding.Encoding, s string) []byte {
	t.Helper()
	b, err := e.NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	return b
}

const (
	french    = "Le cœur a ses raisons que la raison ne connaît point. Été, hiver, château, garçon, déjà vu, naïve.\n"
	german    = "Grüße aus München: Straße, Häuser, Bäume und Öfen sind schön.\n"
	russian   = "Съешь же ещё этих мягких французских булок, да выпей чаю. Москва - столица России.\n"
	arabic    = "اللغة العربية هي أكثر اللغات تحدثا ونطقا ضمن مجموعة اللغات السامية، وإحدى أكثر اللغات انتشارا في العالم.\n"
	japanese_ = "羅生門の下で雨やみを待っていた。広い門の下には、この男のほかに誰もいない。\n"
	korean_   = "운수 좋은 날이었다. 새침하게 흐린 품이 눈이 올 듯하더니 눈은 아니 오고 얼다가 만 비가 내리었다.\n"
	chineseS  = "我们的国家是一个有着悠久历史的国家，人民在这里生活了几千年。这是中国人的家。\n"
	chineseT  = "孫子曰：兵者，國之大事，死生之地，存亡之道，不可不察也。故經之以五事，校之以計而索其情。\n"
)

// encodeCP500 inverts the cp500 table (our encoding is decode-only).
func encodeCP500(s string) []byte {
	t := cp500.(*singleByte).table
	var out []byte
	for _, r := range s {
		for i, x := range t {
			if x == r {
				out = append(out, byte(i))
				break
			}
		}
	}
	return out
}

func TestDetect(t *testing.T) {
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"ascii", []byte("plain ASCII text, nothing else\n"), UTF8},
		{"utf8", []byte(russian), UTF8},
		{"utf8 bom", append([]byte{0xEF, 0xBB, 0xBF}, french...), UTF8},
		{"utf16le bom", append([]byte{0xFF, 0xFE}, encode(t, unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM), french)...), UTF16LE},
		{"utf16be bom", append([]byte{0xFE, 0xFF}, encode(t, unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM), german)...), UTF16BE},
		{"utf16le no bom", encode(t, unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM), french+german), UTF16LE},
		{"utf16be no bom", encode(t, unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM), french+german), UTF16BE},
		{"windows-1252 french", encode(t, charmap.Windows1252, french), Windows1252},
		{"windows-1252 german", encode(t, charmap.Windows1252, german), Windows1252},
		{"windows-1251", encode(t, charmap.Windows1251, russian), "windows-1251"},
		{"cp866", encode(t, charmap.CodePage866, russian), "ibm866"},
		{"windows-1256", encode(t, charmap.Windows1256, arabic), "windows-1256"},
		{"shift_jis", encode(t, japanese.ShiftJIS, japanese_), "shift_jis"},
		{"euc-jp", encode(t, japanese.EUCJP, japanese_), "euc-jp"},
		{"iso-2022-jp", encode(t, japanese.ISO2022JP, japanese_), ISO2022JP},
		{"euc-kr", encode(t, korean.EUCKR, korean_), "euc-kr"},
		{"gb18030", encode(t, simplifiedchinese.GB18030, chineseS), "gb18030"},
		{"big5", encode(t, traditionalchinese.Big5, chineseT), "big5"},
		{"cp500", encode(t, charmap.CodePage037, "Hello world, this is an EBCDIC file with some text in it.\n"), CP500},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Detect(c.data, true); got != c.want {
				t.Errorf("Detect = %q, want %q", got, c.want)
			}
		})
	}
}

func TestDecodeDeclared(t *testing.T) {
	cases := []struct {
		name, declared string
		data           []byte
		want, wantCS   string
	}{
		{"declared latin1", "ISO-8859-1", encode(t, charmap.Windows1252, german), german, Windows1252},
		{"declared quoted", `"windows-1251"`, encode(t, charmap.Windows1251, russian), russian, "windows-1251"},
		{"utf8 beats legacy label", "macintosh", []byte(german), german, UTF8},
		{"lying utf-8 label", "utf-8", encode(t, charmap.Windows1256, arabic), arabic, "windows-1256"},
		{"us-ascii with 8 bit", "us-ascii", encode(t, korean.EUCKR, korean_), korean_, "euc-kr"},
		{"unknown label", "fakescii", encode(t, charmap.Windows1252, french), french, Windows1252},
		{"ks_c_5601-1987", "ks_c_5601-1987", encode(t, korean.EUCKR, korean_), korean_, "euc-kr"},
		{"cp500 label", "IBM500", encodeCP500("[x] ^ ! |\n"), "[x] ^ ! |\n", CP500},
		{"bom beats label", "windows-1252", append([]byte{0xEF, 0xBB, 0xBF}, "ü"...), "ü", UTF8},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, cs, err := Decode(bytes.NewReader(c.data), c.declared)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(r)
			if string(got) != c.want || cs != c.wantCS {
				t.Errorf("got %q (%s), want %q (%s)", got, cs, c.want, c.wantCS)
			}
			if s, cs2 := DecodeBytes(c.data, c.declared); s != c.want || cs2 != c.wantCS {
				t.Errorf("DecodeBytes got %q (%s)", s, cs2)
			}
		})
	}
}

func extract(t *testing.T, data []byte, mime string, max int64) (string, error) {
	t.Helper()
	b := doctext.NewBuilder(max)
	err := Extract(context.Background(), doctext.Input{R: bytes.NewReader(data), Size: int64(len(data)), MIME: mime}, b, doctext.Options{})
	return b.Text(), err
}

// TestExtractLarge streams more than one chunk of multi-byte text through
// the transform and checks no rune is split at a chunk boundary.
func TestExtractLarge(t *testing.T) {
	src := strings.Repeat(russian, 3000) // ~450 KB of 2-byte runes
	for _, c := range []struct {
		name string
		data []byte
	}{
		{"utf8", []byte(src)},
		{"windows-1251", encode(t, charmap.Windows1251, src)},
		{"utf16le", encode(t, unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM), src)},
	} {
		got, err := extract(t, c.data, "text/plain", 0)
		if err != nil || got != src {
			t.Errorf("%s: err=%v equal=%v len=%d/%d", c.name, err, got == src, len(got), len(src))
		}
	}
}

func TestExtractMIMECharset(t *testing.T) {
	data := encode(t, charmap.Windows1251, "Привет")
	got, err := extract(t, data, "text/csv; charset=windows-1251", 0)
	if err != nil || got != "Привет" {
		t.Errorf("got %q, %v", got, err)
	}
}

func TestExtractLimit(t *testing.T) {
	got, err := extract(t, []byte(strings.Repeat("abcdé", 100000)), "", 1000)
	var le *doctext.LimitError
	if !errors.As(err, &le) || le.Limit != "max_chars" {
		t.Fatalf("err = %v, want max_chars limit", err)
	}
	if n := len([]rune(got)); n != 1000 {
		t.Errorf("kept %d runes, want 1000", n)
	}
}

func TestExtractEmptyAndCancel(t *testing.T) {
	if got, err := extract(t, nil, "", 0); err != nil || got != "" {
		t.Errorf("empty: %q %v", got, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	b := doctext.NewBuilder(0)
	err := Extract(ctx, doctext.Input{R: strings.NewReader("x"), Size: 1}, b, doctext.Options{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancel: %v", err)
	}
}

func TestCompleteRunes(t *testing.T) {
	p := []byte("aé")
	if n := completeRunes(p[:2]); n != 1 {
		t.Errorf("cut inside é: %d", n)
	}
	if n := completeRunes(p); n != 3 {
		t.Errorf("complete: %d", n)
	}
}

func FuzzText(f *testing.F) {
	for _, s := range [][]byte{
		[]byte("hello"), {0xFF, 0xFE, 'a', 0}, {0xEF, 0xBB, 0xBF, 'x'}, []byte("\x1b$B$3$s\x1b(B"),
		{0x82, 0xa0, 0x82, 0xa2}, {0xC0, 0xE0, 0xFF}, {0x40, 0xC1, 0x81, 0x40, 0x40},
	} {
		f.Add(s, "")
	}
	f.Add([]byte("caf\xe9"), "utf-8")
	seeds, _ := filepath.Glob("testdata/seed/*")
	for _, s := range seeds {
		if d, err := os.ReadFile(s); err == nil {
			f.Add(d, "")
		}
	}
	f.Add([]byte("x"), "utf-16")
	f.Fuzz(func(t *testing.T, data []byte, cs string) {
		b := doctext.NewBuilder(1 << 20)
		err := Extract(context.Background(), doctext.Input{R: bytes.NewReader(data), Size: int64(len(data)), MIME: "text/plain; charset=" + cs}, b, doctext.Options{})
		if err != nil {
			t.Fatalf("Extract: %v", err)
		}
		if len(data) > 0 && b.Len() == 0 && len(bytes.TrimLeft(data, "\xef\xbb\xbf\xff\xfe")) > 1 {
			t.Fatalf("no text from %d bytes", len(data))
		}
	})
}

func BenchmarkExtractCorpus(b *testing.B) {
	benchCorpus(b, "misc", ".txt", ".csv")
}
