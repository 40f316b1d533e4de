package corpus

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrNoCorpus is returned by Dir when the corpus cannot be found.
var ErrNoCorpus = errors.New("corpus not found (set DOCVET_CORPUS or put shared/ beside the repo)")

// Dir locates the corpus: $DOCVET_CORPUS, else ../shared/corpus next to the
// module root found by walking up from the working directory.
func Dir() (string, error) {
	if d := os.Getenv("DOCVET_CORPUS"); d != "" {
		if _, err := os.Stat(filepath.Join(d, "reference", "ANCHORS.tsv")); err == nil {
			return d, nil
		}
		return "", ErrNoCorpus
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			c := filepath.Join(filepath.Dir(d), "shared", "corpus")
			if _, err := os.Stat(filepath.Join(c, "reference", "ANCHORS.tsv")); err == nil {
				return c, nil
			}
			return "", ErrNoCorpus
		}
		if filepath.Dir(d) == d {
			return "", ErrNoCorpus
		}
	}
}

// Anchor is one row of reference/ANCHORS.tsv.
type Anchor struct {
	Path      string // relative to the corpus, e.g. "pdf/x.pdf"
	Format    string // pdf, docx, xlsx, eml, misc
	Name      string // pdftotext, docx2txt, xlsx2csv-a, python-email, decode(cp1252), ...
	Reference string // relative to the corpus
	Status    string // ok, EMPTY, FAILED-...
	Seconds   string
}

// Primary reports whether a is the primary anchor of its format (the one
// the recall target is measured against): not the -layout or LibreOffice one.
func (a Anchor) Primary() bool {
	return a.Name != "pdftotext-layout" && a.Name != "libreoffice-7.4"
}

// Anchors reads ANCHORS.tsv and returns every file's anchors, the primary
// one first (pdftotext -layout and LibreOffice rows follow).
func Anchors(dir string) (map[string][]Anchor, error) {
	f, err := os.Open(filepath.Join(dir, "reference", "ANCHORS.tsv"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string][]Anchor{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	first := true
	for sc.Scan() {
		if first {
			first = false
			continue
		}
		c := strings.Split(sc.Text(), "\t")
		if len(c) < 7 {
			continue
		}
		a := Anchor{Path: c[0], Format: c[1], Name: c[2], Reference: c[3], Status: c[4], Seconds: c[6]}
		if a.Primary() {
			out[a.Path] = append([]Anchor{a}, out[a.Path]...)
		} else {
			out[a.Path] = append(out[a.Path], a)
		}
	}
	return out, sc.Err()
}

// Reference reads the primary reference text of a, or ok=false when the
// anchor did not succeed.
func Reference(dir string, a Anchor) (string, bool) {
	if a.Status != "ok" {
		return "", false
	}
	b, err := os.ReadFile(filepath.Join(dir, a.Reference))
	if err != nil {
		return "", false
	}
	return strings.TrimPrefix(string(b), "\uFEFF"), true
}

// Tokens splits s into lower-cased word tokens (letters, digits, combining
// marks) and counts them. A token touching U+FFFD is dropped: in a reference
// it is a fragment of a word the anchor failed to decode.
func Tokens(s string) map[string]int {
	m := map[string]int{}
	s = strings.ToLower(s)
	start := -1
	for i, r := range s + " " {
		if unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r) {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 {
			bad := r == utf8.RuneError || (start > 0 && strings.HasSuffix(s[:start], "\uFFFD"))
			if !bad {
				m[s[start:i]]++
			}
			start = -1
		}
	}
	return m
}

// Score compares got with ref as token multisets. Hits is the multiset
// intersection; recall = Hits/RefTokens, precision = Hits/GotTokens.
type Score struct {
	Hits, RefTokens, GotTokens int
}

// Compare scores got against ref.
func Compare(ref, got string) Score {
	return CompareTokens(Tokens(ref), Tokens(got))
}

// Add accumulates another score (token-weighted totals).
func (s *Score) Add(o Score) {
	s.Hits += o.Hits
	s.RefTokens += o.RefTokens
	s.GotTokens += o.GotTokens
}

// Recall is the share of reference tokens found (1 for an empty reference).
func (s Score) Recall() float64 {
	if s.RefTokens == 0 {
		return 1
	}
	return float64(s.Hits) / float64(s.RefTokens)
}

// Precision is the share of our tokens that the reference has.
func (s Score) Precision() float64 {
	if s.GotTokens == 0 {
		return 1
	}
	return float64(s.Hits) / float64(s.GotTokens)
}

var (
	emailRe = regexp.MustCompile(`[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}`)
	phoneRe = regexp.MustCompile(`\+?\d[\d ().-]{7,}\d`)
	// decimalRe matches plain decimal numbers ("6.1699999999999998"), which
	// the phone pattern also matches but which are no identifiers: xlsx2csv
	// prints raw floats where we print what Excel displays.
	decimalRe = regexp.MustCompile(`^\d+\.\d+$`)
)

// IdentifiersMissing lists the e-mail addresses and phone-like numbers of
// ref that got lacks (e-mails case-insensitively, numbers by their digits).
func IdentifiersMissing(ref, got string) []string {
	var miss []string
	lg := strings.ToLower(got)
	for _, e := range emailRe.FindAllString(ref, -1) {
		if !strings.Contains(lg, strings.ToLower(e)) {
			miss = append(miss, e)
		}
	}
	dg := digits(got)
	for _, p := range phoneRe.FindAllString(ref, -1) {
		if decimalRe.MatchString(p) {
			continue
		}
		if !strings.Contains(dg, digits(p)) {
			miss = append(miss, p)
		}
	}
	return miss
}

func digits(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
}
