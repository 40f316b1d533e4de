package pdf

import (
	"math"
	"strings"

	lpdf "github.com/ledongthuc/pdf"
)

// matrix is a PDF transformation matrix [a b c d e f].
type matrix [6]float64

var identity = matrix{1, 0, 0, 1, 0, 0}

// mul returns m × n (apply m first, then n).
func (m matrix) mul(n matrix) matrix {
	return matrix{
		m[0]*n[0] + m[1]*n[2],
		m[0]*n[1] + m[1]*n[3],
		m[2]*n[0] + m[3]*n[2],
		m[2]*n[1] + m[3]*n[3],
		m[4]*n[0] + m[5]*n[2] + n[4],
		m[4]*n[1] + m[5]*n[3] + n[5],
	}
}

// apply transforms the vector (x, y) without translation.
func (m matrix) vec(x, y float64) (float64, float64) {
	return x*m[0] + y*m[2], x*m[1] + y*m[3]
}

type gstate struct {
	ctm    matrix
	font   *font
	fs     float64
	tc, tw float64
	th     float64
	tl     float64
	rise   float64
}

const (
	maxFormDepth = 12
	maxGStack    = 256
	maxOperands  = 1 << 16
)

// interp runs one content stream (a page, form or appearance stream).
type interp struct {
	d     *doc
	out   *pageText
	res   lpdf.Value
	fonts map[string]*font // by resource name, for this resource dict
	xobjs map[string]lpdf.Value
	refs  map[string]string // XObject resource name -> "id gen"
	forms []string          // refs of the forms being run (cycle check)
	depth int
	props map[string]string // Properties resource name -> "id gen"
}

// run interprets data with the given resources and initial CTM.
func (in *interp) run(data []byte, ctm matrix) {
	g := gstate{ctm: ctm, th: 1}
	var stack []gstate
	var tm, tlm matrix
	var ops []object
	var marked []bool // per open marked-content sequence: hidden optional content
	hidden := 0
	l := &lexer{b: data}
	in.d.interpreted += int64(len(data))
	for {
		o, ok := l.next()
		if !ok {
			return
		}
		if o.k != kOp {
			if len(ops) < maxOperands {
				ops = append(ops, o)
			}
			continue
		}
		in.d.ops++
		if in.d.ops&4095 == 0 && in.d.stopped() {
			return
		}
		if in.out.full() {
			return
		}
		num := func(i int) float64 {
			if i < len(ops) {
				return ops[i].n
			}
			return 0
		}
		n := len(ops)
		switch o.s {
		case "q":
			if len(stack) < maxGStack {
				stack = append(stack, g)
			}
		case "Q":
			if len(stack) > 0 {
				g = stack[len(stack)-1]
				stack = stack[:len(stack)-1]
			}
		case "cm":
			if n >= 6 {
				g.ctm = matrix{num(n - 6), num(n - 5), num(n - 4), num(n - 3), num(n - 2), num(n - 1)}.mul(g.ctm)
			}
		case "BT":
			tm, tlm = identity, identity
		case "Tc":
			g.tc = num(n - 1)
		case "Tw":
			g.tw = num(n - 1)
		case "Tz":
			g.th = num(n-1) / 100
		case "TL":
			g.tl = num(n - 1)
		case "Ts":
			g.rise = num(n - 1)
		case "Tf":
			if n >= 2 {
				g.font = in.font(ops[n-2].s)
				g.fs = ops[n-1].n
			}
		case "Td", "TD":
			if n >= 2 {
				tx, ty := num(n-2), num(n-1)
				if o.s == "TD" {
					g.tl = -ty
				}
				tlm = matrix{1, 0, 0, 1, tx, ty}.mul(tlm)
				tm = tlm
			}
		case "Tm":
			if n >= 6 {
				tlm = matrix{num(n - 6), num(n - 5), num(n - 4), num(n - 3), num(n - 2), num(n - 1)}
				tm = tlm
			}
		case "T*":
			tlm = matrix{1, 0, 0, 1, 0, -g.tl}.mul(tlm)
			tm = tlm
		case "BMC":
			marked = append(marked, false)
		case "BDC":
			h := n >= 2 && ops[0].k == kName && ops[0].s == "OC" && in.ocHidden(ops[1])
			if h {
				hidden++
			}
			if len(marked) < 1<<16 {
				marked = append(marked, h)
			}
		case "EMC":
			if k := len(marked); k > 0 {
				if marked[k-1] {
					hidden--
				}
				marked = marked[:k-1]
			}
		case "Tj", "'", "\"":
			if o.s != "Tj" {
				if o.s == "\"" && n >= 3 {
					g.tw, g.tc = num(n-3), num(n-2)
				}
				tlm = matrix{1, 0, 0, 1, 0, -g.tl}.mul(tlm)
				tm = tlm
			}
			if n >= 1 && ops[n-1].k == kStr && hidden == 0 {
				in.show(&g, &tm, ops[n-1].s)
			}
		case "TJ":
			if n >= 1 && ops[n-1].k == kArr && hidden == 0 {
				for _, e := range ops[n-1].a {
					switch e.k {
					case kStr:
						in.show(&g, &tm, e.s)
					case kNum:
						adj := -e.n / 1000 * g.fs
						if g.font != nil && g.font.vertical {
							tm = matrix{1, 0, 0, 1, 0, adj}.mul(tm)
						} else {
							tm = matrix{1, 0, 0, 1, adj * g.th, 0}.mul(tm)
						}
					}
				}
			}
		case "Do":
			if n >= 1 && ops[n-1].k == kName && hidden == 0 {
				in.do(ops[n-1].s, g.ctm)
			}
		case "gs":
			if n >= 1 && ops[n-1].k == kName {
				in.extGState(&g, ops[n-1].s)
			}
		case "BI":
			// Inline image: the dictionary runs to ID, then binary data to EI.
			for {
				t, ok := l.next()
				if !ok || t.k == kOp && t.s == "ID" {
					break
				}
			}
			l.skipInlineImage()
		}
		ops = ops[:0]
	}
}

// show renders a string: each code becomes a positioned glyph.
func (in *interp) show(g *gstate, tm *matrix, s string) {
	f := g.font
	if f == nil {
		f = in.d.defaultFont()
	}
	fs := g.fs
	f.decode(s, func(c code) {
		trm := matrix{fs * g.th, 0, 0, fs, 0, g.rise}.mul(*tm).mul(g.ctm)
		m := tm.mul(g.ctm)
		var ax, ay, tx, ty float64
		if f.vertical {
			ty = -c.width/1000*fs + g.tc
			if c.space {
				ty += g.tw
			}
			ax, ay = m.vec(0, ty)
		} else {
			tx = (c.width/1000*fs + g.tc) * g.th
			if c.space {
				tx += g.tw * g.th
			}
			ax, ay = m.vec(tx, 0)
		}
		sx, sy := m.vec(0, fs*f.sizeScale)
		size := math.Hypot(sx, sy)
		if f.vertical {
			sx, sy = m.vec(fs*f.sizeScale, 0)
			size = math.Hypot(sx, sy)
		}
		in.out.add(c.text, trm[4], trm[5], ax, ay, size, f.vertical)
		*tm = matrix{1, 0, 0, 1, tx, ty}.mul(*tm)
	})
}

func (in *interp) font(name string) *font {
	if f, ok := in.fonts[name]; ok {
		return f
	}
	if in.fonts == nil {
		in.fonts = map[string]*font{}
	}
	f := in.d.font(in.res, name)
	in.fonts[name] = f
	return f
}

func (in *interp) extGState(g *gstate, name string) {
	gs := in.res.Key("ExtGState").Key(name)
	fv := gs.Key("Font")
	if fv.Kind() == lpdf.Array && fv.Len() == 2 {
		g.font = in.d.fontFromValue(fv.Index(0), "")
		g.fs = fv.Index(1).Float64()
	}
}

// do runs a form XObject. Images are skipped without reading their data.
func (in *interp) do(name string, ctm matrix) {
	if in.depth >= maxFormDepth {
		in.d.warn("form XObjects nested too deep; inner ones skipped")
		return
	}
	xd := in.res.Key("XObject")
	x, ok := in.xobjs[name]
	if !ok {
		x = xd.Key(name)
		if in.xobjs == nil {
			in.xobjs = map[string]lpdf.Value{}
		}
		in.xobjs[name] = x
	}
	if x.Kind() != lpdf.Stream || x.Key("Subtype").Name() != "Form" {
		return
	}
	if oc := x.Key("OC"); !oc.IsNull() && in.d.ocOff() != nil {
		if r := refMap(x)["OC"]; r != "" && in.d.ocValueHidden(oc, r) {
			return
		}
	}
	if in.refs == nil {
		in.refs = refMap(xd)
	}
	ref := in.refs[name]
	for _, r := range in.forms {
		if ref != "" && r == ref {
			in.d.warn("form XObject cycle skipped")
			return
		}
	}
	in.runForm(x, ref, ctm)
}

// runForm interprets a form or appearance stream x under ctm.
func (in *interp) runForm(x lpdf.Value, ref string, ctm matrix) {
	data, err := in.d.formData(x, ref)
	if err != nil || len(data) == 0 {
		return
	}
	fm := identity
	if m := x.Key("Matrix"); m.Len() == 6 {
		for i := range 6 {
			fm[i] = m.Index(i).Float64()
		}
	}
	res := x.Key("Resources")
	sub := &interp{d: in.d, out: in.out, res: res, forms: append(in.forms, ref), depth: in.depth + 1}
	if res.IsNull() {
		sub.res, sub.fonts, sub.xobjs, sub.refs = in.res, in.fonts, in.xobjs, in.refs
	}
	sub.run(data, fm.mul(ctm))
}

// refMap maps the keys of dictionary v whose values are indirect
// references to "id gen". The library does not expose object identity, but
// its textual form of a dictionary keeps references unresolved ("5 0 R"),
// which is what cycle detection needs.
func refMap(v lpdf.Value) map[string]string {
	out := map[string]string{}
	if v.Kind() != lpdf.Dict {
		return out
	}
	s := v.String()
	if !strings.HasPrefix(s, "<<") {
		return out
	}
	s = strings.TrimSuffix(s[2:], ">>")
	for len(s) > 0 {
		s = strings.TrimLeft(s, " ")
		if !strings.HasPrefix(s, "/") {
			break
		}
		end := strings.IndexByte(s, ' ')
		if end < 0 {
			break
		}
		key := s[1:end]
		s = s[end+1:]
		if ref, rest, ok := parseRef(s); ok {
			out[key] = ref
			s = rest
			continue
		}
		s = skipValue(s)
	}
	return out
}

// refList returns the references of array v's elements ("" for direct ones).
func refList(v lpdf.Value) []string {
	n := v.Len()
	out := make([]string, n)
	s := v.String()
	if !strings.HasPrefix(s, "[") {
		return out
	}
	s = strings.TrimSuffix(s[1:], "]")
	for i := 0; i < n && len(s) > 0; i++ {
		s = strings.TrimLeft(s, " ")
		if ref, rest, ok := parseRef(s); ok {
			out[i] = ref
			s = rest
			continue
		}
		s = skipValue(s)
	}
	return out
}

// parseRef parses "id gen R" at the start of s.
func parseRef(s string) (ref, rest string, ok bool) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 || i >= len(s) || s[i] != ' ' {
		return "", s, false
	}
	j := i + 1
	for j < len(s) && s[j] >= '0' && s[j] <= '9' {
		j++
	}
	if j == i+1 {
		return "", s, false
	}
	if !strings.HasPrefix(s[j:], " R") || (j+2 < len(s) && s[j+2] != ' ' && s[j+2] != ']' && s[j+2] != '>') {
		return "", s, false
	}
	return s[:j], s[j+2:], true
}

// skipValue skips one value of the library's textual form.
func skipValue(s string) string {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			for i++; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' {
					i++
				}
			}
		case '[':
			depth++
		case ']':
			depth--
		case '<':
			if i+1 < len(s) && s[i+1] == '<' {
				depth++
				i++
			}
		case '>':
			if i+1 < len(s) && s[i+1] == '>' {
				depth--
				i++
			}
		case ' ':
			if depth <= 0 {
				return s[i+1:]
			}
		}
	}
	return ""
}

// ocHidden reports whether the marked content with properties o (a name in
// the Properties resources, or an inline dict) is optional content that is
// off in the default configuration; pdftotext does not extract it either.
func (in *interp) ocHidden(o object) bool {
	if o.k != kName || in.d.ocOff() == nil {
		return false
	}
	pd := in.res.Key("Properties")
	if in.props == nil {
		in.props = refMap(pd)
	}
	ref := in.props[o.s]
	if ref == "" {
		return false
	}
	return in.d.ocValueHidden(pd.Key(o.s), ref)
}
