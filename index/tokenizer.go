package index

import (
	"sync"

	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/tokenizer/unicode"
	"github.com/blevesearch/bleve/v2/registry"
)

// tokenizerType is the tokenizer of both text analyzers: Bleve's unicode
// tokenizer (UAX #29 word boundaries, the same tokens) with a memo that
// lets the second analysis of the same text reuse the first one's token
// boundaries. Every document's text is analysed twice, for text and for
// text_folded, one field right after the other; word segmentation was ~10%
// of the ingestion pipeline's CPU, half of it repeated work.
const tokenizerType = "docvet_unicode"

// memoTokenizer tokenizes like unicode.UnicodeTokenizer. A text it has not
// seen is segmented and its token spans remembered; the next Tokenize of
// the same bytes (normally the folded field of the same document) takes the
// spans and forgets them. The memo is keyed by the full text, so what it
// returns never depends on which goroutine or document stored it.
type memoTokenizer struct {
	seg  *unicode.UnicodeTokenizer
	memo *tokenMemo
}

func (t memoTokenizer) Tokenize(input []byte) analysis.TokenStream {
	if spans, ok := t.memo.take(input); ok {
		return tokensFromSpans(input, spans)
	}
	ts := t.seg.Tokenize(input)
	t.memo.put(input, ts)
	return ts
}

// span is a token without its term: the term is input[start:end], the
// position is its index + 1 (the unicode tokenizer numbers every token).
type span struct {
	start, end int32
	typ        analysis.TokenType
}

func tokensFromSpans(input []byte, spans []span) analysis.TokenStream {
	toks := make([]analysis.Token, len(spans))
	ts := make(analysis.TokenStream, len(spans))
	for i, s := range spans {
		toks[i] = analysis.Token{Term: input[s.start:s.end], Start: int(s.start), End: int(s.end), Position: i + 1, Type: s.typ}
		ts[i] = &toks[i]
	}
	return ts
}

// Memo bounds: a ring of memoSlots texts, memoBudget bytes in all (key
// copies plus spans); a text needing more than a quarter of the budget is
// not remembered (it is simply segmented twice).
const (
	memoSlots  = 64
	memoBudget = 32 << 20
	spanBytes  = 16 // size of a span, rounded
)

type tokenMemo struct {
	mu    sync.Mutex
	m     map[string]int // text -> slot
	ring  [memoSlots]memoEntry
	next  int
	bytes int
}

type memoEntry struct {
	key   string
	spans []span
	size  int
}

// sharedMemo is process-wide: analyzers are built per index mapping (and
// again when an index is reopened), while the memo only depends on bytes.
var sharedMemo = &tokenMemo{m: make(map[string]int)}

func (m *tokenMemo) take(input []byte) ([]span, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	i, ok := m.m[string(input)]
	if !ok {
		return nil, false
	}
	spans := m.ring[i].spans
	m.drop(i)
	return spans, true
}

func (m *tokenMemo) put(input []byte, ts analysis.TokenStream) {
	size := len(input) + spanBytes*len(ts)
	if size > memoBudget/4 {
		return
	}
	spans := make([]span, len(ts))
	for i, t := range ts {
		if t.Position != i+1 {
			return // not the unicode tokenizer's numbering: do not remember
		}
		spans[i] = span{start: int32(t.Start), end: int32(t.End), typ: t.Type}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.m[string(input)]; ok {
		return // the same text is being analysed elsewhere; one copy is enough
	}
	// Slots fill in ring order, so the oldest is at next: free slots from
	// there until next is free and the text fits the budget.
	for j := 0; j < memoSlots && (m.ring[m.next].key != "" || m.bytes+size > memoBudget); j++ {
		if k := (m.next + j) % memoSlots; m.ring[k].key != "" {
			m.drop(k)
		}
	}
	key := string(input)
	m.ring[m.next] = memoEntry{key: key, spans: spans, size: size}
	m.m[key] = m.next
	m.bytes += size
	m.next = (m.next + 1) % memoSlots
}

func (m *tokenMemo) drop(i int) {
	delete(m.m, m.ring[i].key)
	m.bytes -= m.ring[i].size
	m.ring[i] = memoEntry{}
}

func registerTokenizer() error {
	return registry.RegisterTokenizer(tokenizerType,
		func(map[string]interface{}, *registry.Cache) (analysis.Tokenizer, error) {
			return memoTokenizer{seg: unicode.NewUnicodeTokenizer(), memo: sharedMemo}, nil
		})
}
