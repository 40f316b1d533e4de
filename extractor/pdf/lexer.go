package pdf

import (
	"bytes"
	"strconv"
)

// The content-stream and CMap tokenizer. The library's own lexer panics on
// malformed input, cannot skip inline image data and reads streams without
// a size bound, so content streams and CMaps are tokenized here from a
// size-checked byte slice.

type kind uint8

const (
	kNull kind = iota
	kNum
	kBool
	kStr
	kName
	kArr
	kDict
	kOp
)

// object is one operand (or an operator, kind kOp, with the keyword in s).
type object struct {
	k kind
	n float64
	s string
	a []object
	d map[string]object
}

const (
	maxNesting  = 32      // array/dict nesting in one operand
	maxElements = 1 << 20 // elements in one operand array (TJ arrays are long, not this long)
)

type lexer struct {
	b   []byte
	pos int
}

func isWhite(c byte) bool {
	return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\f' || c == 0
}

func isDelimiter(c byte) bool {
	switch c {
	case '(', ')', '<', '>', '[', ']', '{', '}', '/', '%':
		return true
	}
	return false
}

func (l *lexer) skipSpace() {
	for l.pos < len(l.b) {
		c := l.b[l.pos]
		if isWhite(c) {
			l.pos++
			continue
		}
		if c == '%' {
			for l.pos < len(l.b) && l.b[l.pos] != '\n' && l.b[l.pos] != '\r' {
				l.pos++
			}
			continue
		}
		return
	}
}

// next returns the next object or operator; ok is false at the end.
func (l *lexer) next() (object, bool) {
	return l.read(0)
}

func (l *lexer) read(depth int) (object, bool) {
	l.skipSpace()
	if l.pos >= len(l.b) {
		return object{}, false
	}
	c := l.b[l.pos]
	switch {
	case c == '/':
		l.pos++
		return object{k: kName, s: l.name()}, true
	case c == '(':
		l.pos++
		return object{k: kStr, s: l.literal()}, true
	case c == '<':
		if l.pos+1 < len(l.b) && l.b[l.pos+1] == '<' {
			l.pos += 2
			return l.dict(depth), true
		}
		l.pos++
		return object{k: kStr, s: l.hex()}, true
	case c == '[':
		l.pos++
		return l.array(depth), true
	case c == ']' || c == '>' || c == ')' || c == '{' || c == '}':
		l.pos++
		if c == '>' && l.pos < len(l.b) && l.b[l.pos] == '>' {
			l.pos++
			return object{k: kOp, s: ">>"}, true
		}
		return object{k: kOp, s: string(c)}, true
	case c == '+' || c == '-' || c == '.' || (c >= '0' && c <= '9'):
		start := l.pos
		l.pos++
		for l.pos < len(l.b) && !isWhite(l.b[l.pos]) && !isDelimiter(l.b[l.pos]) {
			l.pos++
		}
		tok := l.b[start:l.pos]
		if f, ok := parseNum(tok); ok {
			return object{k: kNum, n: f}, true
		}
		return object{k: kOp, s: string(tok)}, true
	default:
		start := l.pos
		for l.pos < len(l.b) && !isWhite(l.b[l.pos]) && !isDelimiter(l.b[l.pos]) {
			l.pos++
		}
		if l.pos == start { // lone delimiter-like byte; skip it
			l.pos++
			return object{k: kOp, s: string(c)}, true
		}
		kw := string(l.b[start:l.pos])
		switch kw {
		case "true":
			return object{k: kBool, n: 1}, true
		case "false":
			return object{k: kBool}, true
		case "null":
			return object{}, true
		}
		return object{k: kOp, s: kw}, true
	}
}

// parseNum parses PDF numbers, tolerating the "--5" and "5-" forms some
// producers write.
func parseNum(tok []byte) (float64, bool) {
	s := string(tok)
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return f, true
	}
	neg := false
	for len(s) > 0 && (s[0] == '-' || s[0] == '+') {
		neg = neg != (s[0] == '-')
		s = s[1:]
	}
	if i := bytes.IndexAny([]byte(s), "+-"); i > 0 {
		s = s[:i]
	}
	if s == "" || s == "." {
		return 0, len(tok) > 0 && (tok[0] == '-' || tok[0] == '+' || tok[0] == '.')
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, false
	}
	if neg {
		f = -f
	}
	return f, true
}

func unhexByte(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

func (l *lexer) name() string {
	start := l.pos
	plain := true
	for l.pos < len(l.b) && !isWhite(l.b[l.pos]) && !isDelimiter(l.b[l.pos]) {
		if l.b[l.pos] == '#' {
			plain = false
		}
		l.pos++
	}
	raw := l.b[start:l.pos]
	if plain {
		return string(raw)
	}
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		if raw[i] == '#' && i+2 < len(raw) {
			h, lo := unhexByte(raw[i+1]), unhexByte(raw[i+2])
			if h >= 0 && lo >= 0 {
				out = append(out, byte(h<<4|lo))
				i += 2
				continue
			}
		}
		out = append(out, raw[i])
	}
	return string(out)
}

func (l *lexer) literal() string {
	var out []byte
	depth := 1
	for l.pos < len(l.b) {
		c := l.b[l.pos]
		l.pos++
		switch c {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return string(out)
			}
		case '\\':
			if l.pos >= len(l.b) {
				return string(out)
			}
			e := l.b[l.pos]
			l.pos++
			switch e {
			case 'n':
				c = '\n'
			case 'r':
				c = '\r'
			case 't':
				c = '\t'
			case 'b':
				c = '\b'
			case 'f':
				c = '\f'
			case '\r':
				if l.pos < len(l.b) && l.b[l.pos] == '\n' {
					l.pos++
				}
				continue
			case '\n':
				continue
			default:
				if e >= '0' && e <= '7' {
					v := int(e - '0')
					for k := 0; k < 2 && l.pos < len(l.b) && l.b[l.pos] >= '0' && l.b[l.pos] <= '7'; k++ {
						v = v*8 + int(l.b[l.pos]-'0')
						l.pos++
					}
					c = byte(v)
				} else {
					c = e
				}
			}
		}
		out = append(out, c)
	}
	return string(out)
}

func (l *lexer) hex() string {
	var out []byte
	hi := -1
	for l.pos < len(l.b) {
		c := l.b[l.pos]
		l.pos++
		if c == '>' {
			break
		}
		v := unhexByte(c)
		if v < 0 {
			continue
		}
		if hi < 0 {
			hi = v
		} else {
			out = append(out, byte(hi<<4|v))
			hi = -1
		}
	}
	if hi >= 0 {
		out = append(out, byte(hi<<4))
	}
	return string(out)
}

func (l *lexer) array(depth int) object {
	arr := object{k: kArr}
	for {
		if depth >= maxNesting || len(arr.a) >= maxElements {
			l.skipTo(']')
			return arr
		}
		o, ok := l.read(depth + 1)
		if !ok {
			return arr
		}
		if o.k == kOp {
			if o.s == "]" {
				return arr
			}
			// An operator inside an array means the array was never closed;
			// keep going: the content is what matters.
			continue
		}
		arr.a = append(arr.a, o)
	}
}

func (l *lexer) dict(depth int) object {
	d := object{k: kDict, d: map[string]object{}}
	var key string
	haveKey := false
	for {
		if depth >= maxNesting || len(d.d) >= maxElements {
			return d
		}
		o, ok := l.read(depth + 1)
		if !ok {
			return d
		}
		if o.k == kOp && o.s == ">>" {
			return d
		}
		if !haveKey {
			if o.k == kName {
				key, haveKey = o.s, true
			}
			continue
		}
		d.d[key] = o
		haveKey = false
	}
}

func (l *lexer) skipTo(c byte) {
	if i := bytes.IndexByte(l.b[l.pos:], c); i >= 0 {
		l.pos += i + 1
	} else {
		l.pos = len(l.b)
	}
}

// skipInlineImage skips the binary data after the ID operator up to the EI
// operator that ends it.
func (l *lexer) skipInlineImage() {
	if l.pos < len(l.b) && isWhite(l.b[l.pos]) {
		l.pos++
	}
	for {
		i := bytes.Index(l.b[l.pos:], []byte("EI"))
		if i < 0 {
			l.pos = len(l.b)
			return
		}
		at := l.pos + i
		before := at == 0 || isWhite(l.b[at-1])
		after := at+2 >= len(l.b) || isWhite(l.b[at+2]) || isDelimiter(l.b[at+2])
		l.pos = at + 2
		if before && after {
			return
		}
	}
}
