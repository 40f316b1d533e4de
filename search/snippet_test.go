package search

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/docvet/docvet/extractor/doctext"
)

// spanOf returns the rune span of the n-th (0-based) occurrence of sub in text.
func spanOf(t *testing.T, text, sub string, n int) span {
	t.Helper()
	off := 0
	for i := 0; ; i++ {
		k := strings.Index(text[off:], sub)
		if k < 0 {
			t.Fatalf("%q not in text", sub)
		}
		if i == n {
			s := utf8.RuneCountInString(text[:off+k])
			return span{s, s + utf8.RuneCountInString(sub)}
		}
		off += k + len(sub)
	}
}

func highlighted(sn Snippet) []string {
	r := []rune(sn.Text)
	var out []string
	for _, h := range sn.Highlights {
		out = append(out, string(r[h.Start:h.End]))
	}
	return out
}

func TestSnippetMultiByte(t *testing.T) {
	// Multi-byte runes before, inside and after the match: offsets are runes.
	pre := strings.Repeat("æøå ", 40) // 160 runes, 280 bytes
	text := pre + "Møte: Bjørn Ødegård 😀 sa ja.\n\nNeste linje " + strings.Repeat("ÆØÅ ", 40)
	sp := spanOf(t, text, "Bjørn Ødegård", 0)
	sn := makeSnippets(text, []span{sp}, nil, 3)
	if len(sn) != 1 {
		t.Fatalf("%d snippets", len(sn))
	}
	got := sn[0]
	if h := highlighted(got); len(h) != 1 || h[0] != "Bjørn Ødegård" {
		t.Fatalf("highlights %q in %q", h, got.Text)
	}
	if !strings.HasPrefix(got.Text, "…") || !strings.HasSuffix(got.Text, "…") {
		t.Errorf("cut ends not marked: %q", got.Text)
	}
	if strings.Contains(got.Text, "\n") || strings.Contains(got.Text, "  ") {
		t.Errorf("white space not collapsed: %q", got.Text)
	}
	// Word boundaries: no partial word at the ends.
	body := strings.TrimSuffix(strings.TrimPrefix(got.Text, "…"), "…")
	for _, w := range []string{strings.Fields(body)[0], strings.Fields(body)[len(strings.Fields(body))-1]} {
		if w != "æøå" && w != "ÆØÅ" && !strings.Contains(text, " "+w+" ") {
			t.Errorf("end word %q cut", w)
		}
	}
	if n := utf8.RuneCountInString(got.Text); n < 100 || n > 200 {
		t.Errorf("snippet of %d runes: %q", n, got.Text)
	}
	if !utf8.ValidString(got.Text) {
		t.Error("invalid UTF-8")
	}
}

func TestSnippetMergeLimitAndLocation(t *testing.T) {
	filler := strings.Repeat("lorem ipsum dolor sit amet ", 20) // 540 runes
	text := "Kari Ødegård og kari@example.no " + filler + "tre: Kari Ødegård " + filler + "fire " + filler + "fem Kari Ødegård " + filler
	spans := []span{
		spanOf(t, text, "Kari Ødegård", 0), spanOf(t, text, "kari@example.no", 0), // close: one snippet
		spanOf(t, text, "Kari Ødegård", 1),
		spanOf(t, text, "Kari Ødegård", 2),
	}
	total := utf8.RuneCountInString(text)
	half := int64(total / 2)
	segs := []doctext.Segment{{Location: "page 1", Offset: 0, Length: half}, {Location: "page 2", Offset: half, Length: int64(total) - half}}
	sn := makeSnippets(text, spans, segs, 2)
	if len(sn) != 2 {
		t.Fatalf("%d snippets, want 2 (limit)", len(sn))
	}
	if h := highlighted(sn[0]); len(h) != 2 || h[0] != "Kari Ødegård" || h[1] != "kari@example.no" {
		t.Errorf("merged snippet highlights %q", h)
	}
	if strings.HasPrefix(sn[0].Text, "…") {
		t.Errorf("snippet at text start marked as cut: %q", sn[0].Text)
	}
	if sn[0].Location != "page 1" {
		t.Errorf("location %q", sn[0].Location)
	}
	all := makeSnippets(text, spans, segs, 10)
	if len(all) != 3 || all[2].Location != "page 2" || highlighted(all[2])[0] != "Kari Ødegård" {
		t.Fatalf("snippets %+v", all)
	}
	// Overlapping spans merge into one highlight.
	ov := makeSnippets(text, []span{{0, 4}, {2, 12}}, nil, 3)
	if len(ov) != 1 || len(ov[0].Highlights) != 1 || highlighted(ov[0])[0] != "Kari Ødegård" {
		t.Fatalf("overlap: %+v", ov)
	}
}

func TestSnippetEdges(t *testing.T) {
	for _, text := range []string{"Ø", "ØØ", "a\tØ\r\nb", "😀😀😀"} {
		n := utf8.RuneCountInString(text)
		sn := makeSnippets(text, []span{{n - 1, n}}, nil, 3)
		if len(sn) != 1 || len(sn[0].Highlights) != 1 {
			t.Fatalf("%q: %+v", text, sn)
		}
		if h := highlighted(sn[0])[0]; h != string([]rune(text)[n-1:]) {
			t.Errorf("%q: highlight %q", text, h)
		}
	}
	// Spans beyond the text (stale offsets) do not panic.
	_ = makeSnippets("abc", []span{{1, 10}}, nil, 3)
	_ = makeSnippets("abc", []span{{10, 12}}, nil, 3)
	if makeSnippets("abc", nil, nil, 3) != nil || makeSnippets("abc", []span{{0, 1}}, nil, 0) != nil {
		t.Error("no spans or no limit must give no snippets")
	}
}

// Bleve reports byte offsets; a hit in multi-byte text must be located in
// runes end to end (index -> Run -> snippet).
func TestRunSnippetsInMultiByteText(t *testing.T) {
	e := newEnv(t)
	text := "Søknad fra 日本語テキスト — Ødegård, Bjørn søker om å få innsyn. " + strings.Repeat("Ærlig talt ", 30) +
		"E-post: KARI.NORDMANN@example.no 😀 slutt."
	segs := []doctext.Segment{{Location: "page 1", Offset: 0, Length: 60}, {Location: "page 2", Offset: 60, Length: int64(utf8.RuneCountInString(text)) - 60}}
	e.add(tdoc{id: "mb", text: text, segs: segs})
	res := e.run(Query{Identifiers: kari})
	if len(res.Hits) != 1 {
		t.Fatalf("hits %+v", res.Hits)
	}
	sn := res.Hits[0].Snippets
	if len(sn) != 2 {
		t.Fatalf("snippets %+v", sn)
	}
	if h := highlighted(sn[0]); len(h) != 1 || h[0] != "Ødegård, Bjørn" || sn[0].Location != "page 1" {
		t.Errorf("first snippet %+v highlights %q", sn[0], h)
	}
	if h := highlighted(sn[1]); len(h) != 1 || h[0] != "KARI.NORDMANN@example.no" || sn[1].Location != "page 2" {
		t.Errorf("second snippet %+v highlights %q", sn[1], h)
	}
}

func FuzzSnippets(f *testing.F) {
	f.Add("Bjørn Ødegård 😀 kari@example.no", 0, 5, 14, 20)
	f.Add("\x00\xff\xfeØ", 1, 2, 0, 3)
	f.Fuzz(func(t *testing.T, text string, a, b, c, d int) {
		if len(text) > 4096 {
			return
		}
		n := utf8.RuneCountInString(text)
		clamp := func(x int) int {
			if x < 0 {
				x = -x
			}
			if n == 0 {
				return 0
			}
			return x % (n + 1)
		}
		s1 := span{clamp(a), clamp(b)}
		s2 := span{clamp(c), clamp(d)}
		for _, sn := range makeSnippets(text, []span{s1, s2}, nil, 3) {
			r := []rune(sn.Text)
			for _, h := range sn.Highlights {
				if h.Start < 0 || h.End > len(r) || h.Start >= h.End {
					t.Fatalf("bad highlight %+v in %q", h, sn.Text)
				}
			}
		}
	})
}
