package pdf

import (
	"sort"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// cmap is a parsed CMap: a ToUnicode map (code -> text) or an embedded
// encoding CMap of a Type0 font (code -> CID), with its codespace ranges that
// say how many bytes each code takes.
type cmap struct {
	space     []codeRange
	uni       map[uint32]string
	uniRanges []uniRange
	cid       map[uint32]uint32
	cidRanges []cidRange
	usecmap   string
	wmode     int
	entries   int
}

type codeRange struct {
	lo, hi uint32
	n      int
}

type uniRange struct {
	lo, hi uint32
	dst    []uint16 // UTF-16 of the first code; the last unit counts up
	arr    []string // or one text per code
}

type cidRange struct {
	lo, hi, cid uint32
}

const maxCMapEntries = 1 << 20

func codeOf(s string) uint32 {
	var v uint32
	for i := 0; i < len(s) && i < 4; i++ {
		v = v<<8 | uint32(s[i])
	}
	return v
}

// utf16Text decodes a ToUnicode destination string (UTF-16BE; a lone odd
// byte is taken as Latin-1, which broken producers write).
func utf16Text(s string) string {
	if len(s)%2 == 1 {
		if len(s) == 1 {
			return string(rune(s[0]))
		}
		s = "\x00" + s
	}
	u := make([]uint16, len(s)/2)
	for i := range u {
		u[i] = uint16(s[2*i])<<8 | uint16(s[2*i+1])
	}
	return string(utf16.Decode(u))
}

// parseCMap parses CMap program text; it never fails: whatever it
// recognises is kept.
func parseCMap(data []byte) *cmap {
	m := &cmap{}
	l := &lexer{b: data}
	var stk []object
	for {
		o, ok := l.next()
		if !ok {
			break
		}
		if o.k != kOp {
			if len(stk) < 3*maxCMapEntries {
				stk = append(stk, o)
			}
			continue
		}
		switch o.s {
		case "endcodespacerange":
			for i := 0; i+1 < len(stk); i += 2 {
				lo, hi := stk[i], stk[i+1]
				if lo.k != kStr || hi.k != kStr || len(lo.s) == 0 || len(lo.s) > 4 {
					continue
				}
				m.space = append(m.space, codeRange{codeOf(lo.s), codeOf(hi.s), len(lo.s)})
			}
		case "endbfchar":
			for i := 0; i+1 < len(stk) && m.entries < maxCMapEntries; i += 2 {
				src, dst := stk[i], stk[i+1]
				if src.k != kStr {
					continue
				}
				var t string
				switch dst.k {
				case kStr:
					t = utf16Text(dst.s)
				case kName:
					t = glyphText(dst.s)
				default:
					continue
				}
				if m.uni == nil {
					m.uni = map[uint32]string{}
				}
				m.uni[codeOf(src.s)] = t
				m.entries++
			}
		case "endbfrange":
			for i := 0; i+2 < len(stk) && m.entries < maxCMapEntries; i += 3 {
				lo, hi, dst := stk[i], stk[i+1], stk[i+2]
				if lo.k != kStr || hi.k != kStr {
					continue
				}
				r := uniRange{lo: codeOf(lo.s), hi: codeOf(hi.s)}
				if r.hi < r.lo {
					continue
				}
				switch dst.k {
				case kStr:
					s := dst.s
					if len(s)%2 == 1 {
						s = "\x00" + s
					}
					for j := 0; j+1 < len(s); j += 2 {
						r.dst = append(r.dst, uint16(s[j])<<8|uint16(s[j+1]))
					}
					if len(r.dst) == 0 {
						continue
					}
				case kArr:
					for _, e := range dst.a {
						r.arr = append(r.arr, utf16Text(e.s))
					}
				default:
					continue
				}
				m.uniRanges = append(m.uniRanges, r)
				m.entries++
			}
		case "endcidchar":
			for i := 0; i+1 < len(stk) && m.entries < maxCMapEntries; i += 2 {
				src, dst := stk[i], stk[i+1]
				if src.k != kStr || dst.k != kNum {
					continue
				}
				if m.cid == nil {
					m.cid = map[uint32]uint32{}
				}
				m.cid[codeOf(src.s)] = uint32(dst.n)
				m.entries++
			}
		case "endcidrange":
			for i := 0; i+2 < len(stk) && m.entries < maxCMapEntries; i += 3 {
				lo, hi, dst := stk[i], stk[i+1], stk[i+2]
				if lo.k != kStr || hi.k != kStr || dst.k != kNum {
					continue
				}
				m.cidRanges = append(m.cidRanges, cidRange{codeOf(lo.s), codeOf(hi.s), uint32(dst.n)})
				m.entries++
			}
		case "usecmap":
			if n := len(stk); n > 0 && stk[n-1].k == kName {
				m.usecmap = stk[n-1].s
			}
		case "def":
			if n := len(stk); n >= 2 && stk[n-2].k == kName && stk[n-2].s == "WMode" && stk[n-1].k == kNum {
				m.wmode = int(stk[n-1].n)
			}
		}
		stk = stk[:0]
	}
	sort.Slice(m.uniRanges, func(i, j int) bool { return m.uniRanges[i].lo < m.uniRanges[j].lo })
	sort.Slice(m.cidRanges, func(i, j int) bool { return m.cidRanges[i].lo < m.cidRanges[j].lo })
	return m
}

// next splits the first code off s using the codespace ranges; def is the
// code length when no range matches.
func (m *cmap) next(s string, def int) (uint32, int) {
	if len(m.space) > 0 {
		for n := 1; n <= 4 && n <= len(s); n++ {
			c := codeOf(s[:n])
			for _, r := range m.space {
				if r.n == n && c >= r.lo && c <= r.hi {
					return c, n
				}
			}
		}
		// No range matched: take the shortest declared length.
		def = 4
		for _, r := range m.space {
			def = min(def, r.n)
		}
	}
	n := min(def, len(s))
	return codeOf(s[:n]), n
}

// text maps a code to Unicode text; ok is false if the CMap has no entry.
func (m *cmap) text(code uint32) (string, bool) {
	if t, ok := m.uni[code]; ok {
		return t, true
	}
	rs := m.uniRanges
	// Ranges are sorted by lo; find the last range with lo <= code and scan
	// back a little for overlapping ranges.
	i := sort.Search(len(rs), func(i int) bool { return rs[i].lo > code }) - 1
	for k := i; k >= 0 && k > i-8; k-- {
		r := rs[k]
		if code < r.lo || code > r.hi {
			continue
		}
		off := code - r.lo
		if r.arr != nil {
			if int(off) < len(r.arr) {
				return r.arr[off], true
			}
			return "", true
		}
		u := append([]uint16(nil), r.dst...)
		u[len(u)-1] += uint16(off)
		return string(utf16.Decode(u)), true
	}
	return "", false
}

// cidOf maps a code to a CID through cidchar/cidrange entries.
func (m *cmap) cidOf(code uint32) (uint32, bool) {
	if c, ok := m.cid[code]; ok {
		return c, true
	}
	rs := m.cidRanges
	i := sort.Search(len(rs), func(i int) bool { return rs[i].lo > code }) - 1
	for k := i; k >= 0 && k > i-8; k-- {
		if code >= rs[k].lo && code <= rs[k].hi {
			return rs[k].cid + code - rs[k].lo, true
		}
	}
	return 0, false
}

// glyphText maps a glyph name to text: the glyph list, uniXXXX, uXXXX[XX],
// ligature names joined by '_' and suffixed variants like "a.sc".
func glyphText(name string) string {
	if r, ok := glyphRune(name); ok {
		return string(r)
	}
	base := name
	if i := strings.IndexByte(base, '.'); i > 0 {
		base = base[:i]
	}
	if base != name {
		if r, ok := glyphRune(base); ok {
			return string(r)
		}
	}
	if strings.Contains(base, "_") {
		var sb strings.Builder
		for _, part := range strings.Split(base, "_") {
			r, ok := glyphRune(part)
			if !ok {
				return ""
			}
			sb.WriteRune(r)
		}
		return sb.String()
	}
	if strings.HasPrefix(base, "uni") && len(base) >= 7 && (len(base)-3)%4 == 0 {
		var sb strings.Builder
		for i := 3; i+4 <= len(base); i += 4 {
			r, ok := hexRune(base[i : i+4])
			if !ok {
				return ""
			}
			sb.WriteRune(r)
		}
		return sb.String()
	}
	if len(base) >= 5 && len(base) <= 7 && base[0] == 'u' {
		if r, ok := hexRune(base[1:]); ok {
			return string(r)
		}
	}
	return ""
}

func hexRune(s string) (rune, bool) {
	var v rune
	for i := 0; i < len(s); i++ {
		h := unhexByte(s[i])
		if h < 0 {
			return 0, false
		}
		v = v<<4 | rune(h)
	}
	if !utf8.ValidRune(v) {
		return 0, false
	}
	return v, true
}

// glyphRune looks a name up in the generated glyph list (sorted, so a
// binary search over the lines avoids building a 4,000-entry map at start).
func glyphRune(name string) (rune, bool) {
	if name == "" {
		return 0, false
	}
	if len(name) == 1 && (name[0] >= 'a' && name[0] <= 'z' || name[0] >= 'A' && name[0] <= 'Z') {
		return rune(name[0]), true
	}
	lines := glyphLines()
	i := sort.Search(len(lines), func(i int) bool { return lines[i].name >= name })
	if i < len(lines) && lines[i].name == name {
		return lines[i].r, true
	}
	return 0, false
}
