package html

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/text/encoding/charmap"

	"github.com/docvet/docvet/extractor/doctext"
)

func extract(t testing.TB, data []byte, mime string, max int64) (string, error) {
	t.Helper()
	b := doctext.NewBuilder(max)
	err := Extract(context.Background(), doctext.Input{R: bytes.NewReader(data), Size: int64(len(data)), MIME: mime}, b, doctext.Options{})
	return b.Text(), err
}

func TestVisibleText(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"title and body", "<html><head><title>My  Title</title><meta name=x content=y></head><body><p>Hello <b>wor</b>ld</p></body></html>", "My Title\nHello world"},
		{"script style noscript template", "<p>a</p><script>var x='<p>no</p>';</script><style>p{}</style><noscript>ns</noscript><template><p>tpl</p></template><p>b</p>", "a\nb"},
		{"entities", "<p>Fish &amp; Chips &lt;3 &eacute;t&#233; &nbsp;x</p>", "Fish & Chips <3 été x"},
		{"blocks and cells", "<div>one</div><div>two<br>three</div><table><tr><td>c1</td><td>c2</td></tr><tr><td>c3</td></tr></table>", "one\ntwo\nthree\nc1\tc2\nc3"},
		{"whitespace", "<p>  lots \n\n of\t space  </p>", "lots of space"},
		{"pre keeps", "<pre>a  b\n c</pre><p>d</p>", "a  b\n c\nd"},
		{"comments", "<p>x<!-- secret --->y</p>", "xy"},
		{"unclosed", "<p>unclosed <b>bold", "unclosed bold"},
		{"mailto text", `<a href="mailto:ola@example.no">Ola Nordmann &lt;ola@example.no&gt;</a>`, "Ola Nordmann <ola@example.no>"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := extract(t, []byte(c.in), "text/html", 0)
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}

func TestCharsets(t *testing.T) {
	w1251, _ := charmap.Windows1251.NewEncoder().String("Привет, мир! Как дела у тебя сегодня?")
	w1256, _ := charmap.Windows1256.NewEncoder().String("اللغة العربية هي أكثر اللغات تحدثا")
	cases := []struct{ name, in, mime, want string }{
		{"meta charset", `<meta charset="windows-1251"><p>` + w1251, "", "Привет, мир! Как дела у тебя сегодня?"},
		{"http-equiv", `<meta http-equiv="Content-Type" content="text/html; charset=windows-1251"><p>` + w1251, "", "Привет, мир! Как дела у тебя сегодня?"},
		{"mime beats meta", `<meta charset="utf-8"><p>` + w1251, "text/html; charset=windows-1251", "Привет, мир! Как дела у тебя сегодня?"},
		{"lying utf-8", `<meta charset="utf-8"><p>` + w1256, "", "اللغة العربية هي أكثر اللغات تحدثا"},
		{"utf-16le bom", "\xff\xfe<\x00p\x00>\x00h\x00i\x00", "", "hi"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := extract(t, []byte(c.in), c.mime, 0)
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}

// TestDeepNesting: the tokenizer is flat, so 200k nested elements are fine.
func TestDeepNesting(t *testing.T) {
	n := 200000
	in := strings.Repeat("<div><span>", n) + "deep text" + strings.Repeat("</span></div>", n)
	got, err := extract(t, []byte(in), "", 0)
	if err != nil || got != "deep text" {
		t.Errorf("got %q, %v", got, err)
	}
}

func TestLimit(t *testing.T) {
	in := "<p>" + strings.Repeat("word ", 100000)
	got, err := extract(t, []byte(in), "", 500)
	var le *doctext.LimitError
	if !errors.As(err, &le) {
		t.Fatalf("err = %v", err)
	}
	if len(got) != 500 {
		t.Errorf("kept %d", len(got))
	}
}

func FuzzHTML(f *testing.F) {
	for _, s := range []string{
		"<p>a</p>", "<script>x</script>y", "<meta charset=utf-16><p>x", "<title>t</title><pre> a </pre>",
		"<table><td>1<td>2", "<!--", "<template><template></template>", "\xff\xfe<\x00", "&#xFFFFFF;&amp",
	} {
		f.Add([]byte(s))
	}
	seeds, _ := filepath.Glob("testdata/seed/*")
	for _, s := range seeds {
		if d, err := os.ReadFile(s); err == nil {
			f.Add(d)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		b := doctext.NewBuilder(1 << 20)
		err := Extract(context.Background(), doctext.Input{R: bytes.NewReader(data), Size: int64(len(data))}, b, doctext.Options{})
		if err != nil {
			t.Fatalf("Extract: %v", err)
		}
	})
}

func BenchmarkExtractCorpus(b *testing.B) { benchCorpus(b, "misc", ".html") }
