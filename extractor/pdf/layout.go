package pdf

import (
	"bytes"
	"math"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Word and line breaks from glyph geometry. Glyphs arrive in content-stream
// order, which for nearly all producers is reading order within a line; a
// glyph starts a new line when it leaves the previous glyph's baseline, and
// a word when the gap along the baseline exceeds wordGap of the font size.
const (
	wordGap     = 0.15 // gap (× font size) that separates words
	lineOffset  = 0.6  // baseline shift (× font size) that starts a new line
	backJump    = 1.0  // backwards move (× font size) that starts a new line
	dupDistance = 0.15 // a repeated glyph this close is fake-bold overprint
)

// pageText accumulates one page's text.
type pageText struct {
	buf       []byte
	lineStart int // offset of the current line in buf
	limit     int // stop collecting beyond this many bytes
	have      bool
	endX      float64 // where the previous glyph ended
	endY      float64
	dirX      float64 // its advance direction
	dirY      float64
	size      float64
	lastX     float64 // its origin and text, for duplicate suppression
	lastY     float64
	last      string
	pending   bool // write a space before the next glyph
	atLine    bool // text is empty or ends with a newline
	vertical  bool
}

func (p *pageText) full() bool { return p.limit > 0 && len(p.buf) > p.limit }

func isBlank(s string) bool {
	for _, r := range s {
		if !unicode.IsSpace(r) && r != 0 {
			return false
		}
	}
	return true
}

// ligatures are expanded as pdftotext does, so "ﬁle" is found as "file".
var ligatures = strings.NewReplacer("\ufb00", "ff", "\ufb01", "fi", "\ufb02", "fl",
	"\ufb03", "ffi", "\ufb04", "ffl", "\ufb05", "st", "\ufb06", "st")

// clean drops control characters and expands ligatures.
func clean(t string) string {
	ok := true
	for i := 0; i < len(t); i++ {
		c := t[i]
		if c < 0x20 || c == 0x7f || c == 0xef { // 0xef: lead byte of U+FB0x
			ok = false
			break
		}
	}
	if ok {
		return t
	}
	t = ligatures.Replace(t)
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return -1
		}
		return r
	}, t)
}

// add places glyph text t with origin (x, y), advance (ax, ay) and font
// size in device space.
func (p *pageText) add(t string, x, y, ax, ay, size float64, vertical bool) {
	if size < 0.01 {
		size = 0.01
	}
	t = clean(t)
	adv := math.Hypot(ax, ay)
	dx, dy := p.dirX, p.dirY
	if adv > 1e-9 {
		dx, dy = ax/adv, ay/adv
	} else if !p.have {
		dx, dy = 1, 0
		if vertical {
			dx, dy = 0, -1
		}
	}
	if t == "" {
		// Unmapped glyph: keep its place so the next glyph's gap is right.
		p.endX, p.endY = x+ax, y+ay
		return
	}
	if isBlank(t) {
		if p.have && !p.atLine {
			p.pending = true
		}
		p.endX, p.endY = x+ax, y+ay
		return
	}
	r, _ := utf8.DecodeRuneInString(t)
	if p.have {
		s := max(size, p.size)
		if t == p.last && math.Abs(x-p.lastX)+math.Abs(y-p.lastY) < dupDistance*s {
			return
		}
		gx, gy := x-p.endX, y-p.endY
		along := gx*p.dirX + gy*p.dirY
		perp := -gx*p.dirY + gy*p.dirX
		turned := dx*p.dirX+dy*p.dirY < 0.95
		switch {
		case math.Abs(perp) > lineOffset*s || along < -backJump*s-adv || turned || vertical != p.vertical:
			if perp < 0 && !turned && unicode.IsLower(r) && p.endsWithHyphen() {
				// A word hyphenated at the line end: join it, as pdftotext does.
				p.buf = p.buf[:len(p.buf)-1]
				p.pending = false
			} else {
				p.newline()
			}
		case along > wordGap*s:
			p.pending = true
		}
	}
	if p.pending && !p.atLine && len(p.buf) > 0 && !unicode.IsSpace(r) {
		p.buf = append(p.buf, ' ')
	}
	p.pending = false
	p.buf = append(p.buf, t...)
	r, _ = utf8.DecodeLastRuneInString(t)
	p.atLine = r == '\n'
	p.have = true
	p.endX, p.endY = x+ax, y+ay
	p.dirX, p.dirY = dx, dy
	p.size = size
	p.lastX, p.lastY, p.last = x, y, t
	p.vertical = vertical
}

// endsWithHyphen reports whether the line ends in a letter and '-'.
func (p *pageText) endsWithHyphen() bool {
	n := len(p.buf)
	if n < 2 || p.pending || p.buf[n-1] != '-' {
		return false
	}
	r, _ := utf8.DecodeLastRune(p.buf[:n-1])
	return unicode.IsLetter(r)
}

func (p *pageText) newline() {
	p.fixLine()
	if len(p.buf) > 0 && !p.atLine {
		p.buf = append(p.buf, '\n')
		p.atLine = true
	}
	p.lineStart = len(p.buf)
	p.pending = false
}

func isRTL(r rune) bool {
	return r >= 0x0590 && r <= 0x08ff || r >= 0xfb1d && r <= 0xfdff || r >= 0xfe70 && r <= 0xfeff
}

// fixLine turns a line of right-to-left script drawn in visual order (left
// to right on the page) into logical order: the line is reversed, then runs
// of left-to-right characters (digits, Latin) are reversed back.
func (p *pageText) fixLine() {
	line := p.buf[p.lineStart:]
	rtl, ltr := 0, 0
	for _, r := range string(line) {
		switch {
		case isRTL(r):
			rtl++
		case unicode.IsLetter(r):
			ltr++
		}
	}
	if rtl == 0 || rtl < ltr || p.dirX < 0 {
		return
	}
	rs := []rune(string(line))
	for i, j := 0, len(rs)-1; i < j; i, j = i+1, j-1 {
		rs[i], rs[j] = rs[j], rs[i]
	}
	for i := 0; i < len(rs); {
		if isRTL(rs[i]) || !(unicode.IsLetter(rs[i]) || unicode.IsDigit(rs[i])) {
			i++
			continue
		}
		j := i
		for j < len(rs) && !isRTL(rs[j]) && (unicode.IsLetter(rs[j]) || unicode.IsDigit(rs[j]) || rs[j] == '.' || rs[j] == ',') {
			j++
		}
		for a, b := i, j-1; a < b; a, b = a+1, b-1 {
			rs[a], rs[b] = rs[b], rs[a]
		}
		i = j
	}
	for i, r := range rs {
		switch r { // mirrored pairs
		case '(':
			rs[i] = ')'
		case ')':
			rs[i] = '('
		}
	}
	p.buf = append(p.buf[:p.lineStart], string(rs)...)
}

// breakBlock ends the current line (between content streams, annotations).
func (p *pageText) breakBlock() {
	if p.have {
		p.newline()
	}
	p.have = false
}

// text returns the page text with one final newline.
func (p *pageText) text() string {
	p.fixLine()
	s := string(bytes.TrimRight(p.buf, " \n\t"))
	if s == "" {
		return ""
	}
	return s + "\n"
}
