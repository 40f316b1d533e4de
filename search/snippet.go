package search

import (
	"cmp"
	"slices"
	"sort"
	"unicode"
	"unicode/utf8"

	"github.com/docvet/docvet/extractor/doctext"
)

// Snippet shaping, in runes.
const (
	snippetContext = 80  // context on each side of a match (~160 around it)
	snippetMaxSpan = 400 // longest stretch one snippet may cover before a new one starts
)

// span is a matched range [start, end) of a document's text, in runes
// (in bytes before bytesToRunes).
type span struct{ start, end int }

// makeSnippets returns up to limit snippets of text around spans (rune
// offsets), in document order: each match with ~snippetContext runes either
// side, neighbouring matches merged into one snippet, the ends trimmed to
// word boundaries, white space collapsed, and the matched ranges as
// highlights in runes relative to the snippet text. The location is that of
// the segment holding the snippet's first match.
func makeSnippets(text string, spans []span, segs []doctext.Segment, limit int) []Snippet {
	if limit <= 0 || len(spans) == 0 {
		return nil
	}
	spans = mergeSpans(spans)
	// Group matches whose context windows touch.
	type group struct {
		from, to int // spans[from:to]
	}
	var groups []group
	for i := 0; i < len(spans) && len(groups) < limit; {
		j := i + 1
		for j < len(spans) && spans[j].start-snippetContext <= spans[j-1].end+snippetContext &&
			spans[j].end-spans[i].start <= snippetMaxSpan {
			j++
		}
		groups = append(groups, group{i, j})
		i = j
	}
	// Rune -> byte offsets of every window edge, in one pass.
	type edge struct{ lo, hi int } // rune offsets of the window
	edges := make([]edge, len(groups))
	var need []int
	for k, g := range groups {
		lo := max0(spans[g.from].start - snippetContext)
		hi := spans[g.to-1].end + snippetContext
		edges[k] = edge{lo, hi}
		need = append(need, lo, hi)
	}
	byteAt, total := runeToByte(text, need)

	out := make([]Snippet, 0, len(groups))
	for k, g := range groups {
		lo, hi := edges[k].lo, min(edges[k].hi, total)
		win := []rune(text[byteAt[lo]:byteAt[hi]])
		// Trim to word boundaries, never into a match.
		first, last := spans[g.from].start-lo, spans[g.to-1].end-lo
		s, e := 0, len(win)
		if lo > 0 {
			for i := 0; i < first; i++ {
				if unicode.IsSpace(win[i]) {
					s = i + 1
					break
				}
			}
		}
		if hi < total {
			for i := len(win) - 1; i >= last; i-- {
				if unicode.IsSpace(win[i]) {
					e = i
					break
				}
			}
		}
		hls := make([]span, 0, g.to-g.from)
		for _, sp := range spans[g.from:g.to] {
			hls = append(hls, span{sp.start - lo - s, sp.end - lo - s})
		}
		sn := render(win[s:e], hls, lo+s > 0, lo+e < total)
		sn.Location = locate(segs, spans[g.from].start)
		out = append(out, sn)
	}
	return out
}

// render collapses white space and control characters into single spaces,
// trims the ends, marks cut ends with an ellipsis and maps the highlights.
func render(win []rune, hls []span, cutStart, cutEnd bool) Snippet {
	out := make([]rune, 0, len(win)+2)
	if cutStart {
		out = append(out, '…')
	}
	// Map every highlight edge through the collapsing.
	starts := make([]int, len(hls))
	ends := make([]int, len(hls))
	h0, h1 := 0, 0 // next highlight start / end to map
	lead := len(out)
	for i := 0; i <= len(win); i++ {
		for h0 < len(hls) && hls[h0].start <= i {
			starts[h0] = len(out)
			h0++
		}
		for h1 < len(hls) && hls[h1].end <= i {
			ends[h1] = len(out)
			h1++
		}
		if i == len(win) {
			break
		}
		r := win[i]
		if unicode.IsSpace(r) || unicode.IsControl(r) || r == utf8.RuneError {
			if len(out) == lead || out[len(out)-1] == ' ' {
				continue
			}
			r = ' '
		}
		out = append(out, r)
	}
	// Drop trailing space (never inside a highlight: highlights end on a
	// matched rune, which is not a space).
	for len(out) > lead && out[len(out)-1] == ' ' {
		out = out[:len(out)-1]
	}
	n := len(out)
	if cutEnd {
		out = append(out, '…')
	}
	sn := Snippet{Text: string(out)}
	for i := range hls {
		st, en := min(starts[i], n), min(ends[i], n)
		if en > st {
			sn.Highlights = append(sn.Highlights, Highlight{Start: st, End: en})
		}
	}
	return sn
}

// mergeSpans sorts spans and merges overlapping or touching ones.
func mergeSpans(spans []span) []span {
	s := slices.Clone(spans)
	slices.SortFunc(s, func(a, b span) int { return cmp.Or(cmp.Compare(a.start, b.start), cmp.Compare(a.end, b.end)) })
	out := s[:0]
	for _, sp := range s {
		if sp.end <= sp.start {
			continue
		}
		if n := len(out); n > 0 && sp.start <= out[n-1].end {
			out[n-1].end = max(out[n-1].end, sp.end)
			continue
		}
		out = append(out, sp)
	}
	return out
}

// runeToByte maps the rune offsets in need to byte offsets of text (offsets
// past the end map to len(text)) and returns the text's length in runes
// (counted up to the largest offset needed, or to the end).
func runeToByte(text string, need []int) (map[int]int, int) {
	pts := slices.Clone(need)
	slices.Sort(pts)
	pts = slices.Compact(pts)
	out := make(map[int]int, len(pts))
	b, r, k := 0, 0, 0
	for k < len(pts) && b < len(text) {
		for k < len(pts) && pts[k] <= r {
			out[pts[k]] = b
			k++
		}
		if k == len(pts) {
			break
		}
		_, sz := utf8.DecodeRuneInString(text[b:])
		b += sz
		r++
	}
	total := r
	if b >= len(text) {
		for ; k < len(pts); k++ {
			out[pts[k]] = len(text)
		}
		out[total] = len(text)
	} else {
		// Not at the end: total is only needed as an upper bound for the
		// windows, which are all below r here.
		total = r + utf8.RuneCountInString(text[b:])
		out[total] = len(text)
	}
	return out, total
}

// locate returns the location of the segment containing rune offset off.
func locate(segs []doctext.Segment, off int) string {
	o := int64(off)
	i := sort.Search(len(segs), func(i int) bool { return segs[i].Offset+segs[i].Length > o })
	for ; i < len(segs); i++ {
		if segs[i].Offset <= o && o < segs[i].Offset+segs[i].Length {
			return segs[i].Location
		}
		if segs[i].Offset > o {
			break
		}
	}
	// Segments not sorted (or the match is in a gap): scan.
	for _, s := range segs {
		if s.Offset <= o && o < s.Offset+s.Length {
			return s.Location
		}
	}
	return ""
}

func max0(n int) int { return max(n, 0) }
