package corpus

import (
	"sort"
	"strings"
	"unicode"
)

// CompareTokens scores got against ref, both token multisets (from Tokens,
// or Words of them). Compare is CompareTokens of the two texts' Tokens.
func CompareTokens(ref, got map[string]int) Score {
	var s Score
	for w, n := range ref {
		s.RefTokens += n
		s.Hits += min(n, got[w])
	}
	for _, n := range got {
		s.GotTokens += n
	}
	return s
}

// Words keeps the tokens of m that contain a letter: tools render numbers
// differently (grouping, decimals, dates), words they must not.
func Words(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for w, n := range m {
		if strings.IndexFunc(w, unicode.IsLetter) >= 0 {
			out[w] = n
		}
	}
	return out
}

// TopMisses returns up to n tokens that ref has more of than got, the most
// missed first (ties alphabetically), to show what a low recall is made of.
func TopMisses(ref, got map[string]int, n int) []string {
	type miss struct {
		w string
		n int
	}
	var ms []miss
	for w, c := range ref {
		if d := c - got[w]; d > 0 {
			ms = append(ms, miss{w, d})
		}
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].n > ms[j].n || ms[i].n == ms[j].n && ms[i].w < ms[j].w })
	out := make([]string, 0, min(n, len(ms)))
	for i := 0; i < len(ms) && i < n; i++ {
		out = append(out, ms[i].w)
	}
	return out
}

// Best returns the index of the score to keep when one text is scored
// against several anchors of the same file: the first, replaced by a later
// one only with a strictly higher recall. A later score without reference
// tokens never replaces; a first one without any counts as recall 0, so an
// anchor that saw tokens of the kind wins over one that saw none. It
// returns -1 for no scores.
func Best(scores []Score) int {
	if len(scores) == 0 {
		return -1
	}
	b := 0
	for i := 1; i < len(scores); i++ {
		s := scores[i]
		cur := float64(scores[b].Hits) / float64(max(scores[b].RefTokens, 1))
		if s.RefTokens > 0 && s.Recall() > cur {
			b = i
		}
	}
	return b
}

// Tally sums the scores of several files: Sum is the token-weighted
// (micro) total, Macro the mean of the per-file recalls.
type Tally struct {
	Sum     Score
	Files   int
	recalls float64
}

// Add counts one file's score and returns its recall.
func (t *Tally) Add(s Score) float64 {
	r := s.Recall()
	t.Sum.Add(s)
	t.Files++
	t.recalls += r
	return r
}

// Recall is the token-weighted recall over all files (1 for none).
func (t Tally) Recall() float64 { return t.Sum.Recall() }

// Macro is the mean of the per-file recalls (1 for no files).
func (t Tally) Macro() float64 {
	if t.Files == 0 {
		return 1
	}
	return t.recalls / float64(t.Files)
}
