package pdf

import (
	"strconv"
	"strings"
	"sync"
)

type glyphLine struct {
	name string
	r    rune
}

// glyphLines parses glyphListData once, on first use.
var glyphLines = sync.OnceValue(func() []glyphLine {
	out := make([]glyphLine, 0, 4300)
	for line := range strings.SplitSeq(glyphListData, "\n") {
		name, hex, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		v, err := strconv.ParseUint(hex, 16, 32)
		if err != nil {
			continue
		}
		out = append(out, glyphLine{name, rune(v)})
	}
	return out
})

// standardEncoding is Adobe StandardEncoding (PDF 32000-1 Annex D): the
// default for non-symbolic Type1 fonts without an /Encoding.
var standardEncoding = func() [256]rune {
	var t [256]rune
	for c := 0x20; c < 0x7f; c++ {
		t[c] = rune(c)
	}
	t[0x27] = 0x2019
	t[0x60] = 0x2018
	hi := map[int]rune{
		0xa1: 0xa1, 0xa2: 0xa2, 0xa3: 0xa3, 0xa4: 0x2044, 0xa5: 0xa5, 0xa6: 0x192, 0xa7: 0xa7,
		0xa8: 0xa4, 0xa9: 0x27, 0xaa: 0x201c, 0xab: 0xab, 0xac: 0x2039, 0xad: 0x203a, 0xae: 0xfb01,
		0xaf: 0xfb02, 0xb1: 0x2013, 0xb2: 0x2020, 0xb3: 0x2021, 0xb4: 0xb7, 0xb6: 0xb6, 0xb7: 0x2022,
		0xb8: 0x201a, 0xb9: 0x201e, 0xba: 0x201d, 0xbb: 0xbb, 0xbc: 0x2026, 0xbd: 0x2030, 0xbf: 0xbf,
		0xc1: 0x60, 0xc2: 0xb4, 0xc3: 0x2c6, 0xc4: 0x2dc, 0xc5: 0xaf, 0xc6: 0x2d8, 0xc7: 0x2d9,
		0xc8: 0xa8, 0xca: 0x2da, 0xcb: 0xb8, 0xcd: 0x2dd, 0xce: 0x2db, 0xcf: 0x2c7, 0xd0: 0x2014,
		0xe1: 0xc6, 0xe3: 0xaa, 0xe8: 0x141, 0xe9: 0xd8, 0xea: 0x152, 0xeb: 0xba, 0xf1: 0xe6,
		0xf5: 0x131, 0xf8: 0x142, 0xf9: 0xf8, 0xfa: 0x153, 0xfb: 0xdf,
	}
	for c, r := range hi {
		t[c] = r
	}
	return t
}()

// symbolEncoding covers the Greek letters and common signs of the Symbol
// font's built-in encoding; other codes fall back to ASCII.
var symbolEncoding = func() [256]rune {
	var t [256]rune
	for c := 0x20; c < 0x7f; c++ {
		t[c] = rune(c)
	}
	upper := "ΑΒΧΔΕΦΓΗΙϑΚΛΜΝΟΠΘΡΣΤΥςΩΞΨΖ"
	lower := "αβχδεφγηιϕκλμνοπθρστυϖωξψζ"
	i := 0
	for _, r := range upper {
		t[0x41+i] = r
		i++
	}
	i = 0
	for _, r := range lower {
		t[0x61+i] = r
		i++
	}
	t[0x22] = 0x2200
	t[0x24] = 0x2203
	t[0x27] = 0x220b
	t[0x2a] = 0x2217
	t[0x2d] = 0x2212
	t[0x40] = 0x2245
	t[0x5c] = 0x2234
	t[0x5e] = 0x22a5
	t[0x60] = 0xf8e5
	t[0x7e] = 0x223c
	t[0xb0] = 0xb0
	t[0xb1] = 0xb1
	t[0xb4] = 0xd7
	t[0xb7] = 0x2022
	t[0xb8] = 0xf7
	t[0xb9] = 0x2260
	t[0xba] = 0x2261
	t[0xbb] = 0x2248
	t[0xbc] = 0x2026
	t[0xa3] = 0x2264
	t[0xb3] = 0x2265
	t[0xae] = 0x2192
	t[0xac] = 0x2190
	t[0xd6] = 0x221a
	t[0xe5] = 0x2211
	t[0xf2] = 0x222b
	t[0xa5] = 0x221e
	t[0xd1] = 0x2207
	t[0xb6] = 0x2202
	return t
}()

// Advance widths (1/1000 em) of the printable ASCII range 0x20..0x7e of the
// standard 14 fonts, which PDFs may use without a /Widths array. Bold and
// italic variants are close enough to their regular face for word-gap
// detection, which is all positions are used for.
var helveticaWidths = [95]uint16{
	278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278,
	556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556,
	1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778,
	667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556,
	333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556,
	556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584,
}

var timesWidths = [95]uint16{
	250, 333, 408, 500, 500, 833, 778, 180, 333, 333, 500, 564, 250, 333, 250, 278,
	500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 278, 278, 564, 564, 564, 444,
	921, 722, 667, 667, 722, 611, 556, 722, 722, 333, 389, 722, 611, 889, 722, 722,
	556, 722, 667, 556, 611, 722, 722, 944, 722, 722, 611, 333, 278, 333, 469, 500,
	333, 444, 500, 444, 500, 444, 333, 500, 500, 278, 278, 500, 278, 778, 500, 500,
	500, 500, 333, 389, 278, 500, 500, 722, 500, 500, 444, 480, 200, 480, 541,
}

// standardWidth estimates the width of code c (decoded to r) in the
// standard font named base.
func standardWidth(base string, r rune) float64 {
	b := strings.ToLower(base)
	switch {
	case strings.Contains(b, "courier") || strings.Contains(b, "mono"):
		return 600
	case r >= 0x20 && r < 0x7f:
		if strings.Contains(b, "times") || strings.Contains(b, "serif") && !strings.Contains(b, "sans") {
			return float64(timesWidths[r-0x20])
		}
		return float64(helveticaWidths[r-0x20])
	}
	return 500
}
