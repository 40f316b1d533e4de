package pdf

import (
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	lpdf "github.com/ledongthuc/pdf"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/korean"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/traditionalchinese"
)

// font is what text extraction needs from a PDF font: how to split a
// string into codes, each code's text and advance width (1/1000 text
// space units), and the writing direction.
type font struct {
	simple bool
	// simple fonts
	text   [256]string
	widths [256]float64
	// composite (Type0) fonts
	enc       *cmap       // embedded encoding CMap, nil for predefined ones
	charset   charsetCMap // predefined CMap decoded through a character set
	cidWidths map[uint32]float64
	dw        float64
	toUni     *cmap
	gidUni    map[uint16]rune // from an embedded TrueType cmap
	cidToGID  []uint16        // nil: identity
	vertical  bool
	scale     float64 // glyph space to 1/1000 text space (Type3 FontMatrix)
	// sizeScale converts the font size to the em height (Type3 only).
	sizeScale float64
}

// charsetCMap describes a predefined (non-embedded) CMap whose codes are a
// known character encoding, so text can be decoded without CID tables.
type charsetCMap struct {
	kind int // one of the cs* constants
	dec  encoding.Encoding
	or   uint16 // OR-ed into 2-byte codes first (JIS/GB/KSC row-cell "H" CMaps)
}

const (
	csIdentity = iota
	csMultiByte
	csUTF16
	csUTF8
	csUTF32
)

func predefinedCMap(name string) (charsetCMap, bool) {
	switch {
	case strings.HasPrefix(name, "Identity-"):
		return charsetCMap{kind: csIdentity}, true
	case strings.Contains(name, "UCS2") || strings.Contains(name, "UTF16"):
		return charsetCMap{kind: csUTF16}, true
	case strings.Contains(name, "UTF8"):
		return charsetCMap{kind: csUTF8}, true
	case strings.Contains(name, "UTF32"):
		return charsetCMap{kind: csUTF32}, true
	case strings.Contains(name, "RKSJ"):
		return charsetCMap{kind: csMultiByte, dec: japanese.ShiftJIS}, true
	case strings.HasPrefix(name, "EUC-") || strings.HasPrefix(name, "Ext-") || strings.HasPrefix(name, "Add-"):
		return charsetCMap{kind: csMultiByte, dec: japanese.EUCJP}, true
	case name == "H" || name == "V":
		return charsetCMap{kind: csMultiByte, dec: japanese.EUCJP, or: 0x8080}, true
	case strings.HasPrefix(name, "GB") && strings.Contains(name, "EUC"), strings.HasPrefix(name, "GBK"):
		return charsetCMap{kind: csMultiByte, dec: simplifiedchinese.GBK}, true
	case name == "GB-H" || name == "GB-V":
		return charsetCMap{kind: csMultiByte, dec: simplifiedchinese.GBK, or: 0x8080}, true
	case strings.Contains(name, "B5"):
		return charsetCMap{kind: csMultiByte, dec: traditionalchinese.Big5}, true
	case strings.HasPrefix(name, "KSC") && (strings.Contains(name, "EUC") || strings.Contains(name, "UHC")):
		return charsetCMap{kind: csMultiByte, dec: korean.EUCKR}, true
	case name == "KSC-H" || name == "KSC-V":
		return charsetCMap{kind: csMultiByte, dec: korean.EUCKR, or: 0x8080}, true
	}
	return charsetCMap{}, false
}

// code is one decoded character code.
type code struct {
	text  string
	width float64 // 1/1000 text space units
	space bool    // single-byte code 32: word spacing applies
}

// decode splits s into codes and calls fn for each.
func (f *font) decode(s string, fn func(c code)) {
	if f.simple {
		for i := 0; i < len(s); i++ {
			c := s[i]
			fn(code{text: f.text[c], width: f.widths[c] * f.scale, space: c == ' '})
		}
		return
	}
	for len(s) > 0 {
		var cd uint32
		var n int
		var txt string
		var haveText bool
		switch {
		case f.enc != nil:
			cd, n = f.enc.next(s, 2)
		case f.charset.kind == csMultiByte:
			n = mbLen(f.charset.dec, s)
			cd = codeOf(s[:n])
		case f.charset.kind == csUTF16:
			n = min(2, len(s))
			if n == 2 && s[0] >= 0xd8 && s[0] <= 0xdb && len(s) >= 4 {
				n = 4
			}
			cd = codeOf(s[:n])
		case f.charset.kind == csUTF8:
			_, n = utf8.DecodeRuneInString(s)
			cd = codeOf(s[:min(n, 4)])
		case f.charset.kind == csUTF32:
			n = min(4, len(s))
			cd = codeOf(s[:n])
		default: // Identity
			n = min(2, len(s))
			cd = codeOf(s[:n])
		}
		raw := s[:n]
		s = s[n:]
		if f.toUni != nil {
			txt, haveText = f.toUni.text(cd)
		}
		cid := cd
		if f.enc != nil {
			cid, _ = f.enc.cidOf(cd)
		}
		if !haveText {
			txt = f.charsetText(raw, cd)
			if txt == "" && f.gidUni != nil {
				gid := cid
				if f.cidToGID != nil {
					gid = 0
					if int(cid) < len(f.cidToGID) {
						gid = uint32(f.cidToGID[cid])
					}
				}
				if r, ok := f.gidUni[uint16(gid)]; ok && gid < 1<<16 {
					txt = string(r)
				}
			}
		}
		w := f.dw
		if f.charset.kind == csIdentity || f.enc != nil {
			if cw, ok := f.cidWidths[cid]; ok {
				w = cw
			}
		} else if n == 1 {
			w = f.dw / 2
		}
		fn(code{text: txt, width: w, space: n == 1 && raw[0] == ' '})
	}
}

func (f *font) charsetText(raw string, cd uint32) string {
	switch f.charset.kind {
	case csMultiByte:
		b := []byte(raw)
		if f.charset.or != 0 && len(b) == 2 {
			b[0] |= byte(f.charset.or >> 8)
			b[1] |= byte(f.charset.or)
		}
		out, err := f.charset.dec.NewDecoder().Bytes(b)
		if err != nil || !utf8.Valid(out) {
			return ""
		}
		return strings.ReplaceAll(string(out), "\ufffd", "")
	case csUTF16:
		u := make([]uint16, 0, 2)
		for i := 0; i+1 < len(raw); i += 2 {
			u = append(u, uint16(raw[i])<<8|uint16(raw[i+1]))
		}
		return string(utf16.Decode(u))
	case csUTF8:
		if utf8.ValidString(raw) {
			return raw
		}
	case csUTF32:
		if utf8.ValidRune(rune(cd)) {
			return string(rune(cd))
		}
	}
	return ""
}

// mbLen is the byte length of the first character of s in a double-byte
// character set (lead bytes >= 0x81, Shift-JIS single-byte katakana aside).
func mbLen(dec encoding.Encoding, s string) int {
	c := s[0]
	if dec == japanese.ShiftJIS {
		if (c >= 0x81 && c <= 0x9f) || (c >= 0xe0 && c <= 0xfc) {
			return min(2, len(s))
		}
		return 1
	}
	if c >= 0x81 {
		if dec == japanese.EUCJP && c == 0x8f {
			return min(3, len(s))
		}
		return min(2, len(s))
	}
	if c >= 0x21 && c <= 0x7e && len(s) >= 2 && s[1] >= 0x21 && s[1] <= 0x7e && dec != nil {
		// Row-cell codes of the plain "H" CMaps are 7-bit pairs.
		return 2
	}
	return 1
}

// fontLoader builds fonts; it needs the document to read streams under the
// limits.
type fontLoader struct {
	d *doc
}

func (fl fontLoader) load(v lpdf.Value) *font {
	subtype := v.Key("Subtype").Name()
	if subtype == "Type0" {
		return fl.loadType0(v)
	}
	f := &font{simple: true, scale: 1, sizeScale: 1}
	base := v.Key("BaseFont").Name()
	if i := strings.IndexByte(base, '+'); i == 6 {
		base = base[i+1:]
	}
	desc := v.Key("FontDescriptor")
	flags := desc.Key("Flags").Int64()
	symbolic := flags&4 != 0 && flags&32 == 0

	// Base encoding.
	table := &standardEncoding
	if subtype == "TrueType" {
		table = &winAnsiEncoding
	}
	lb := strings.ToLower(base)
	if strings.Contains(lb, "symbol") {
		table = &symbolEncoding
	} else if symbolic && subtype == "TrueType" {
		table = &winAnsiEncoding
	}
	encV := v.Key("Encoding")
	var diffs lpdf.Value
	named := false
	switch encV.Kind() {
	case lpdf.Name:
		table = namedEncoding(encV.Name(), table)
		named = true
	case lpdf.Dict:
		if be := encV.Key("BaseEncoding"); be.Kind() == lpdf.Name {
			table = namedEncoding(be.Name(), table)
			named = true
		}
		diffs = encV.Key("Differences")
	}
	for c := range 256 {
		if r := table[c]; r != 0 {
			f.text[c] = string(r)
		}
	}
	if ff := desc.Key("FontFile"); !named && ff.Kind() == lpdf.Stream {
		// An embedded Type 1 font's own encoding is the base encoding.
		if prog, err := fl.d.readStream(ff); err == nil {
			for c, name := range type1Encoding(prog) {
				if t := glyphText(name); t != "" {
					f.text[c] = t
				}
			}
		}
	}
	if diffs.Kind() == lpdf.Array {
		c := -1
		n := diffs.Len()
		for i := 0; i < n; i++ {
			x := diffs.Index(i)
			switch x.Kind() {
			case lpdf.Integer, lpdf.Real:
				c = int(x.Float64())
			case lpdf.Name:
				if c >= 0 && c < 256 {
					if t := glyphText(x.Name()); t != "" {
						f.text[c] = t
					} else if subtype == "Type3" || !isGenericName(x.Name()) {
						f.text[c] = ""
					}
				}
				c++
			}
		}
	}
	if tu := v.Key("ToUnicode"); tu.Kind() == lpdf.Stream {
		if data, err := fl.d.readStream(tu); err == nil {
			m := parseCMap(data)
			for c := range 256 {
				if t, ok := m.text(uint32(c)); ok {
					f.text[c] = t
				}
			}
		}
	}

	// Widths.
	if subtype == "Type3" {
		fm := v.Key("FontMatrix")
		if fm.Len() == 6 {
			a, d := fm.Index(0).Float64(), fm.Index(3).Float64()
			if a != 0 {
				f.scale = a * 1000
			}
			if d != 0 {
				f.sizeScale = abs(d) * 1000
			}
		}
	}
	missing := desc.Key("MissingWidth").Float64()
	ws := v.Key("Widths")
	first := int(v.Key("FirstChar").Int64())
	nw := ws.Len()
	for c := range 256 {
		i := c - first
		if ws.Kind() == lpdf.Array && i >= 0 && i < nw {
			f.widths[c] = ws.Index(i).Float64()
		} else if nw > 0 || missing != 0 {
			f.widths[c] = missing
		} else {
			r, _ := utf8.DecodeRuneInString(f.text[c])
			f.widths[c] = standardWidth(base, r)
		}
	}
	return f
}

// isGenericName reports glyph names like "g12", "cid34", "glyph7" that
// carry no meaning; the base encoding's character is a better guess.
func isGenericName(n string) bool {
	i := 0
	for i < len(n) && (n[i] >= 'a' && n[i] <= 'z' || n[i] >= 'A' && n[i] <= 'Z') {
		i++
	}
	if i == len(n) || i == 0 {
		return false
	}
	for j := i; j < len(n); j++ {
		if n[j] < '0' || n[j] > '9' {
			return false
		}
	}
	return true
}

func namedEncoding(n string, def *[256]rune) *[256]rune {
	switch n {
	case "WinAnsiEncoding":
		return &winAnsiEncoding
	case "MacRomanEncoding":
		return &macRomanEncoding
	case "StandardEncoding":
		return &standardEncoding
	case "PDFDocEncoding":
		return &pdfDocEncoding
	}
	return def
}

func (fl fontLoader) loadType0(v lpdf.Value) *font {
	f := &font{dw: 1000, scale: 1, sizeScale: 1}
	encV := v.Key("Encoding")
	switch encV.Kind() {
	case lpdf.Name:
		n := encV.Name()
		if cs, ok := predefinedCMap(n); ok {
			f.charset = cs
		}
		f.vertical = strings.HasSuffix(n, "-V") || n == "V"
	case lpdf.Stream:
		if data, err := fl.d.readStream(encV); err == nil {
			m := parseCMap(data)
			if len(m.space) == 0 && m.cid == nil && m.cidRanges == nil {
				// Only "usecmap /Identity-H" or similar.
				if cs, ok := predefinedCMap(m.usecmap); ok {
					f.charset = cs
				}
			} else {
				f.enc = m
			}
			f.vertical = m.wmode == 1
		}
	}
	desc := v.Key("DescendantFonts").Index(0)
	if dw := desc.Key("DW"); dw.Kind() == lpdf.Integer || dw.Kind() == lpdf.Real {
		f.dw = dw.Float64()
	}
	if w := desc.Key("W"); w.Kind() == lpdf.Array {
		f.cidWidths = map[uint32]float64{}
		n := w.Len()
		for i := 0; i < n && len(f.cidWidths) < maxCMapEntries; {
			first := w.Index(i)
			if i+1 >= n {
				break
			}
			second := w.Index(i + 1)
			if second.Kind() == lpdf.Array {
				c := uint32(first.Int64())
				for j := 0; j < second.Len(); j++ {
					f.cidWidths[c+uint32(j)] = second.Index(j).Float64()
				}
				i += 2
				continue
			}
			if i+2 >= n {
				break
			}
			lo, hi, wd := uint32(first.Float64()), uint32(second.Float64()), w.Index(i+2).Float64()
			if hi >= lo && hi-lo < 1<<16 {
				for c := lo; c <= hi; c++ {
					f.cidWidths[c] = wd
				}
			}
			i += 3
		}
	}
	if tu := v.Key("ToUnicode"); tu.Kind() == lpdf.Stream {
		if data, err := fl.d.readStream(tu); err == nil {
			f.toUni = parseCMap(data)
		}
	} else if ff := desc.Key("FontDescriptor").Key("FontFile2"); ff.Kind() == lpdf.Stream && (f.charset.kind == csIdentity || f.enc != nil) {
		// No ToUnicode: invert the embedded TrueType font's cmap.
		if prog, err := fl.d.readStream(ff); err == nil {
			f.gidUni = trueTypeCmap(prog)
		}
		if m := desc.Key("CIDToGIDMap"); m.Kind() == lpdf.Stream {
			if data, err := fl.d.readStream(m); err == nil {
				f.cidToGID = make([]uint16, len(data)/2)
				for i := range f.cidToGID {
					f.cidToGID[i] = uint16(data[2*i])<<8 | uint16(data[2*i+1])
				}
			}
		}
	} else if tu.Kind() == lpdf.Name {
		if cs, ok := predefinedCMap(tu.Name()); ok && cs.kind != csIdentity && f.charset.kind == csIdentity && f.enc == nil {
			// e.g. /ToUnicode /Identity-H is meaningless; others name a charset.
			f.charset = cs
		}
	}
	return f
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
