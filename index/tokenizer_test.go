package index

import (
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/tokenizer/unicode"
)

var tokenizerTexts = []string{
	"",
	"   ",
	"Bjørn Ødegård <Bjorn.Odegard@Example.NO> ringte +47 912 34 567 den 2024-03-01.",
	"Straße Müller ÆRØ åse l'homme can't e-mail 3.14 1,000,000 kr 12:30",
	"日本語のテキスト 中文 한국어 mixed with English words",
	"emoji 👍🏽 and tabs\tand\nnewlines\r\n",
	strings.Repeat("kontrakt avtale lønn ", 2000),
}

func tokensOf(ts analysis.TokenStream) []analysis.Token {
	out := make([]analysis.Token, len(ts))
	for i, t := range ts {
		out[i] = *t
		out[i].Term = append([]byte(nil), t.Term...)
	}
	return out
}

// TestMemoTokenizerSameTokens: the first and the second Tokenize of a text
// (segmented, then from the memo) both give exactly the unicode tokenizer's
// tokens, with terms pointing into the caller's own input.
func TestMemoTokenizerSameTokens(t *testing.T) {
	memo := &tokenMemo{m: map[string]int{}}
	tk := memoTokenizer{seg: unicode.NewUnicodeTokenizer(), memo: memo}
	ref := unicode.NewUnicodeTokenizer()
	for _, text := range tokenizerTexts {
		want := tokensOf(ref.Tokenize([]byte(text)))
		first := []byte(text)
		got1 := tk.Tokenize(first)
		if _, ok := memo.m[text]; !ok && len(want) > 0 {
			t.Errorf("%.20q: not remembered after the first analysis", text)
		}
		second := []byte(text)
		got2 := tk.Tokenize(second)
		if !reflect.DeepEqual(tokensOf(got1), want) || !reflect.DeepEqual(tokensOf(got2), want) {
			t.Fatalf("%.20q: tokens differ from the unicode tokenizer's", text)
		}
		for _, tok := range got2 {
			if len(tok.Term) > 0 && &tok.Term[0] != &second[tok.Start] {
				t.Fatalf("%.20q: memo term does not point into the second input", text)
			}
		}
		if _, ok := memo.m[text]; ok {
			t.Errorf("%.20q: still remembered after the second analysis", text)
		}
	}
	if memo.bytes != 0 || len(memo.m) != 0 {
		t.Errorf("memo not empty: %d bytes, %d texts", memo.bytes, len(memo.m))
	}
}

// TestMemoBounded: texts never taken (queries analysed for one field only)
// are evicted; the memo stays within its slots and budget, and a text too
// large for it is not remembered.
func TestMemoBounded(t *testing.T) {
	memo := &tokenMemo{m: map[string]int{}}
	tk := memoTokenizer{seg: unicode.NewUnicodeTokenizer(), memo: memo}
	for i := range 3 * memoSlots {
		tk.Tokenize(fmt.Appendf(nil, "query %d words", i))
	}
	if len(memo.m) != memoSlots {
		t.Fatalf("%d texts remembered, want %d", len(memo.m), memoSlots)
	}
	big := []byte(strings.Repeat("a ", memoBudget/8))
	tk.Tokenize(big)
	if _, ok := memo.m[string(big)]; ok {
		t.Fatal("a text over a quarter of the budget was remembered")
	}
	mid := strings.Repeat("b ", memoBudget/(4*(2+spanBytes/2))-64)
	for i := range 8 {
		tk.Tokenize([]byte(fmt.Sprint(i, mid)))
		if memo.bytes > memoBudget {
			t.Fatalf("memo holds %d bytes, budget %d", memo.bytes, memoBudget)
		}
	}
	total := 0
	for _, e := range memo.ring {
		total += e.size
	}
	if total != memo.bytes || len(memo.m) > memoSlots {
		t.Fatalf("accounting: ring %d bytes, counter %d, %d texts", total, memo.bytes, len(memo.m))
	}
}

// TestMemoTokenizerConcurrent: many goroutines analysing the same and
// different texts, in any order, always get the unicode tokenizer's tokens.
func TestMemoTokenizerConcurrent(t *testing.T) {
	memo := &tokenMemo{m: map[string]int{}}
	tk := memoTokenizer{seg: unicode.NewUnicodeTokenizer(), memo: memo}
	ref := unicode.NewUnicodeTokenizer()
	want := make([][]analysis.Token, len(tokenizerTexts))
	for i, s := range tokenizerTexts {
		want[i] = tokensOf(ref.Tokenize([]byte(s)))
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 300 {
				k := (g + i) % len(tokenizerTexts)
				if got := tokensOf(tk.Tokenize([]byte(tokenizerTexts[k]))); !reflect.DeepEqual(got, want[k]) {
					t.Errorf("goroutine %d text %d: tokens differ", g, k)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// TestAnalyzersUnchangedByMemo: the mapping's analyzers give the same
// terms as the same chain over Bleve's plain unicode tokenizer, whether the
// text analyser or the folded one runs first.
func TestAnalyzersUnchangedByMemo(t *testing.T) {
	m, err := NewMapping()
	if err != nil {
		t.Fatal(err)
	}
	text, folded := m.AnalyzerNamed(AnalyzerText), m.AnalyzerNamed(AnalyzerFolded)
	if text == nil || folded == nil {
		t.Fatal("analyzers missing")
	}
	terms := func(ts analysis.TokenStream) []string {
		var out []string
		for _, t := range ts {
			out = append(out, fmt.Sprintf("%s@%d:%d-%d", t.Term, t.Position, t.Start, t.End))
		}
		return out
	}
	ref := unicode.NewUnicodeTokenizer()
	for _, s := range tokenizerTexts {
		var wantText, wantFolded []string
		for _, tok := range ref.Tokenize([]byte(s)) {
			lower := strings.ToLower(string(tok.Term))
			if r := []rune(lower); len(r) > maxTokenRunes {
				lower = string(r[:maxTokenRunes])
			}
			wantText = append(wantText, fmt.Sprintf("%s@%d:%d-%d", lower, tok.Position, tok.Start, tok.End))
			f := string(Fold([]byte(lower)))
			wantFolded = append(wantFolded, fmt.Sprintf("%s@%d:%d-%d", f, tok.Position, tok.Start, tok.End))
		}
		for _, order := range []string{"text first", "folded first"} {
			var gotText, gotFolded []string
			if order == "text first" {
				gotText = terms(text.Analyze([]byte(s)))
				gotFolded = terms(folded.Analyze([]byte(s)))
			} else {
				gotFolded = terms(folded.Analyze([]byte(s)))
				gotText = terms(text.Analyze([]byte(s)))
			}
			if !reflect.DeepEqual(gotText, wantText) || !reflect.DeepEqual(gotFolded, wantFolded) {
				t.Fatalf("%.20q (%s):\ntext   %v\nwant   %v\nfolded %v\nwant   %v", s, order, gotText, wantText, gotFolded, wantFolded)
			}
		}
	}
}

// TestFoldMemo: the memo returns exactly Fold's result, a slice the caller
// may change without changing later results, also after it was cleared and
// under concurrent use.
func TestFoldMemo(t *testing.T) {
	m := &foldMemo{m: map[string]string{}}
	terms := []string{"ødegård", "åse", "ærø", "straße", "müller", "café", "plain", "", "ǆemal", "ﬁne",
		strings.Repeat("é", 40) /* over foldMemoTerm bytes */}
	for i := range 3 * foldMemoMax / 2 {
		terms = append(terms, fmt.Sprintf("ø%d", i))
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := range 2 {
				for i := range terms {
					term := terms[(i*(g+1)+round)%len(terms)]
					want := string(Fold([]byte(term)))
					got := m.fold([]byte(term))
					if string(got) != want {
						t.Errorf("fold(%q) = %q, want %q", term, got, want)
						return
					}
					for j := range got {
						got[j] = 'X' // the caller owns it
					}
				}
			}
		}()
	}
	wg.Wait()
	if len(m.m) > foldMemoMax {
		t.Fatalf("memo holds %d terms, max %d", len(m.m), foldMemoMax)
	}
	if _, ok := m.m[strings.Repeat("é", 40)]; ok {
		t.Fatal("a term over foldMemoTerm bytes was remembered")
	}
}
