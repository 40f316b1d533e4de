package docx

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"unicode"

	"github.com/docvet/docvet/extractor/doctext"
)

const corpusDir = "../../../shared/corpus"

// Floors: the achieved corpus recall (see TestCorpusRecall's log) minus a
// small margin; a drop below either is a regression. minWordRecall counts
// only tokens with a letter, which no tool renders differently.
const (
	minRecall     = 0.998
	minWordRecall = 0.998
)

// reference is one corpus file with its usable anchor texts.
type reference struct {
	doc  string
	refs []string
}

// corpusRefs lists the files of format with at least one successful anchor
// (the primary one and/or LibreOffice's .lo.txt). Recall is taken against
// the better of the two: each anchor has its own artefacts (docx2txt spells
// € as "Euro", prints raw XML for pretty-printed parts and repeats
// mc:Fallback text; LibreOffice drops text boxes).
func corpusRefs(t testing.TB, format, primary string) []reference {
	f, err := os.Open(filepath.Join(corpusDir, "reference", "ANCHORS.tsv"))
	if err != nil {
		t.Skipf("corpus not present: %v", err)
	}
	defer f.Close()
	ok := map[string]map[string]string{} // rel path -> anchor -> reference file
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		c := strings.Split(sc.Text(), "\t")
		if len(c) < 5 || c[1] != format || c[4] != "ok" || strings.HasPrefix(c[0], "broken/") {
			continue
		}
		if ok[c[0]] == nil {
			ok[c[0]] = map[string]string{}
		}
		ok[c[0]][c[2]] = c[3]
	}
	var out []reference
	for rel, anchors := range ok {
		ref := reference{doc: filepath.Join(corpusDir, rel)}
		for _, a := range []string{primary, "libreoffice-7.4"} {
			if r, found := anchors[a]; found {
				ref.refs = append(ref.refs, filepath.Join(corpusDir, r))
			}
		}
		if len(ref.refs) > 0 {
			out = append(out, ref)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].doc < out[j].doc })
	return out
}

// tokens counts lower-cased word tokens (maximal letter/digit runs).
func tokens(s string) map[string]int {
	m := map[string]int{}
	for _, w := range strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	}) {
		m[w]++
	}
	return m
}

// words keeps the tokens that contain a letter: number rendering differs
// between tools (grouping, decimals, dates), words must not.
func words(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for w, n := range m {
		if strings.IndexFunc(w, unicode.IsLetter) >= 0 {
			out[w] = n
		}
	}
	return out
}

// recall returns matched and total reference tokens (multiset) and the
// most frequent misses; wordsOnly ignores tokens without a letter.
func recall(got, ref string, wordsOnly bool) (hit, total int, misses []string) {
	g, r := tokens(got), tokens(ref)
	if wordsOnly {
		g, r = words(g), words(r)
	}
	type miss struct {
		w string
		n int
	}
	var ms []miss
	for w, n := range r {
		total += n
		h := min(n, g[w])
		hit += h
		if h < n {
			ms = append(ms, miss{w, n - h})
		}
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].n > ms[j].n || ms[i].n == ms[j].n && ms[i].w < ms[j].w })
	for i := 0; i < len(ms) && i < 8; i++ {
		misses = append(misses, ms[i].w)
	}
	return hit, total, misses
}

func extractFile(t testing.TB, name string) (*doctext.Builder, error) {
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	b := doctext.NewBuilder(0)
	err = Extract(context.Background(), doctext.Input{R: f, Size: st.Size()}, b, doctext.Options{})
	return b, err
}

func TestCorpusRecall(t *testing.T) {
	refs := corpusRefs(t, "docx", "docx2txt")
	if len(refs) == 0 {
		t.Skip("no docx references")
	}
	dump := os.Getenv("DOCVET_DUMP") // a folder: write our text there to compare by eye
	type sum struct {
		hit, total int
		macro      float64
	}
	var all, wrd sum
	add := func(s *sum, h, n int) float64 {
		s.hit += h
		s.total += n
		rc := 1.0
		if n > 0 {
			rc = float64(h) / float64(n)
		}
		s.macro += rc
		return rc
	}
	for _, r := range refs {
		b, err := extractFile(t, r.doc)
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(r.doc), err)
			continue
		}
		if dump != "" {
			_ = os.WriteFile(filepath.Join(dump, filepath.Base(r.doc)+".txt"), []byte(b.Text()), 0o644)
		}
		// Take the anchor we agree with best, for all tokens and for words.
		var best [2]struct {
			h, n   int
			misses []string
		}
		for i, rf := range r.refs {
			data, err := os.ReadFile(rf)
			if err != nil {
				t.Fatal(err)
			}
			for k, wordsOnly := range []bool{false, true} {
				h, n, m := recall(b.Text(), string(data), wordsOnly)
				if i == 0 || n > 0 && float64(h)/float64(n) > float64(best[k].h)/float64(max(best[k].n, 1)) {
					best[k].h, best[k].n, best[k].misses = h, n, m
				}
			}
		}
		ra := add(&all, best[0].h, best[0].n)
		rw := add(&wrd, best[1].h, best[1].n)
		t.Logf("%-58.58s tokens %.4f (%d/%d) words %.4f; misses %q %q", filepath.Base(r.doc), ra, best[0].h, best[0].n, rw, best[0].misses, best[1].misses)
	}
	micro := float64(all.hit) / float64(max(all.total, 1))
	wmicro := float64(wrd.hit) / float64(max(wrd.total, 1))
	t.Logf("docx: %d files; token recall micro %.4f macro %.4f; word (has a letter) recall micro %.4f macro %.4f",
		len(refs), micro, all.macro/float64(len(refs)), wmicro, wrd.macro/float64(len(refs)))
	if micro < minRecall || wmicro < minWordRecall {
		t.Errorf("recall below floor: tokens %.4f (floor %.3f), words %.4f (floor %.3f)", micro, minRecall, wmicro, minWordRecall)
	}
}

// BenchmarkCorpus extracts every corpus/docx file (all of them, one pass per
// iteration) and reports files/s and input MB/s; bench/office.sh compares
// it with the anchor tool on the same files.
func BenchmarkCorpus(b *testing.B) {
	names, _ := filepath.Glob(filepath.Join(corpusDir, "docx", "*.docx"))
	if len(names) == 0 {
		b.Skip("corpus not present")
	}
	var docs [][]byte
	var size int64
	for _, n := range names {
		data, err := os.ReadFile(n)
		if err != nil {
			b.Fatal(err)
		}
		docs = append(docs, data)
		size += int64(len(data))
	}
	b.ReportAllocs()
	b.SetBytes(size)
	for b.Loop() {
		for _, d := range docs {
			bl := doctext.NewBuilder(0)
			if err := Extract(context.Background(), doctext.Input{R: bytes.NewReader(d), Size: int64(len(d))}, bl, doctext.Options{}); err != nil && !errors.Is(err, doctext.ErrLimit) {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(len(docs)*b.N)/b.Elapsed().Seconds(), "files/s")
}
