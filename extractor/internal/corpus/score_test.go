package corpus

import (
	"reflect"
	"testing"
)

func TestCompareTokensMatchesCompare(t *testing.T) {
	ref, got := "a b b c 12", "b a a d 12 12"
	if a, b := Compare(ref, got), CompareTokens(Tokens(ref), Tokens(got)); a != b {
		t.Fatalf("Compare %+v != CompareTokens %+v", a, b)
	}
}

func TestWords(t *testing.T) {
	got := Words(Tokens("Invoice 2024-01 total 1,200 kr3 Ødegård 42"))
	want := map[string]int{"invoice": 1, "total": 1, "kr3": 1, "ødegård": 1}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Words = %v, want %v", got, want)
	}
}

func TestTopMisses(t *testing.T) {
	ref := map[string]int{"a": 3, "b": 2, "c": 2, "d": 1, "e": 5}
	got := map[string]int{"a": 1, "e": 5, "d": 4}
	for _, tt := range []struct {
		n    int
		want []string
	}{
		{0, []string{}},
		{2, []string{"a", "b"}}, // a, b and c miss 2 each: alphabetical
		{8, []string{"a", "b", "c"}},
	} {
		if m := TopMisses(ref, got, tt.n); !reflect.DeepEqual(m, tt.want) {
			t.Errorf("TopMisses(n=%d) = %q, want %q", tt.n, m, tt.want)
		}
	}
}

func TestBest(t *testing.T) {
	s := func(h, n int) Score { return Score{Hits: h, RefTokens: n} }
	for _, tt := range []struct {
		name   string
		scores []Score
		want   int
	}{
		{"none", nil, -1},
		{"one", []Score{s(1, 2)}, 0},
		{"later better", []Score{s(1, 2), s(3, 4)}, 1},
		{"tie keeps first", []Score{s(1, 2), s(2, 4)}, 0},
		{"later worse", []Score{s(3, 4), s(1, 2)}, 0},
		{"later empty never replaces", []Score{s(0, 3), s(0, 0)}, 0},
		{"first empty counts as 0", []Score{s(0, 0), s(1, 5)}, 1},
		{"first empty, later all missed", []Score{s(0, 0), s(0, 5)}, 0},
		{"best of three", []Score{s(1, 4), s(3, 4), s(2, 4)}, 1},
	} {
		if got := Best(tt.scores); got != tt.want {
			t.Errorf("%s: Best = %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestTally(t *testing.T) {
	var tl Tally
	if tl.Recall() != 1 || tl.Macro() != 1 {
		t.Fatalf("empty tally: recall %v macro %v", tl.Recall(), tl.Macro())
	}
	if r := tl.Add(Score{Hits: 1, RefTokens: 4, GotTokens: 2}); r != 0.25 {
		t.Fatalf("Add returned %v", r)
	}
	tl.Add(Score{Hits: 6, RefTokens: 6, GotTokens: 6})
	tl.Add(Score{}) // empty reference: recall 1
	if tl.Files != 3 || tl.Sum != (Score{Hits: 7, RefTokens: 10, GotTokens: 8}) {
		t.Fatalf("tally %+v", tl)
	}
	if tl.Recall() != 0.7 || tl.Macro() != 0.75 {
		t.Fatalf("micro %v macro %v, want 0.7 0.75", tl.Recall(), tl.Macro())
	}
}

func TestSelect(t *testing.T) {
	keep := Select("misc", "decode(")
	for _, tt := range []struct {
		a    Anchor
		want bool
	}{
		{Anchor{Path: "misc/a.txt", Name: "decode(utf-8)"}, true},
		{Anchor{Path: "misc/a.html", Name: "html-strip(utf-8)"}, false},
		{Anchor{Path: "miscellany/a.txt", Name: "decode(utf-8)"}, false},
		{Anchor{Path: "broken/a.txt", Name: "decode(utf-8)"}, false},
	} {
		if got := keep(tt.a); got != tt.want {
			t.Errorf("Select(misc, decode()(%+v) = %v", tt.a, got)
		}
	}
	if !Select("", "python-email")(Anchor{Path: "broken/x.eml", Name: "python-email"}) {
		t.Error("empty folder must accept any folder")
	}
}
